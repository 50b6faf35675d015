// `gemma-tune blacklist` and `train --exclude` end to end on the tiny Gemma 4 checkpoint: rows are listed by the
// threshold's direction (WER above, chrF below), from a fresh generation or an existing predictions.csv, and training
// leaves the listed rows out.
#include <gtest/gtest.h>

#include <filesystem>

#include "cli/tiny_setup.h"
#include "data/csv_reader.h"
#include "test_util.h"

namespace fs = std::filesystem;
using gt::test::quote;
using gt::test::run_cli;
using gt::test::TinySetup;

namespace {
size_t csv_rows(const fs::path& p) { return gt::data::read_csv_file(p.string()).rows.size(); }
}  // namespace

TEST(BlacklistCli, ThresholdsPickRowsAndTrainingExcludesThem) {
  TinySetup s;
  const std::string model = " --model " + quote(s.model) + " --data " + quote(s.data) + " --device cpu";
  const fs::path all = s.tmp / "all.csv";
  // Every WER is >= 0 > -1: all 8 training rows are listed; the eval files are kept beside the list.
  auto r = run_cli("blacklist" + model + " --max-new-tokens 4 --threshold -1 --out " + quote(all));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(csv_rows(all), 8u);
  EXPECT_NE(r.out.find("8 of 8 rows have wer > -1"), std::string::npos) << r.out;
  const fs::path predictions = s.tmp / "all-eval" / "predictions.csv";
  ASSERT_TRUE(fs::exists(predictions));
  // From the predictions: no WER exceeds 1e9, no chrF is below 0, every chrF is below 101.
  const fs::path none = s.tmp / "none.csv";
  auto p = run_cli("blacklist --predictions " + quote(predictions) + " --threshold 1e9 --out " + quote(none));
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_EQ(csv_rows(none), 0u);
  auto c = run_cli("blacklist --predictions " + quote(predictions) + " --metric chrf --threshold 0 --out " + quote(none));
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(csv_rows(none), 0u);
  auto c2 = run_cli("blacklist --predictions " + quote(predictions) + " --metric chrf --threshold 101 --out " +
                    quote(none));
  ASSERT_EQ(c2.exit_code, 0) << c2.err;
  EXPECT_EQ(csv_rows(none), 8u);

  // Training leaves listed rows out.
  const fs::path two = s.tmp / "two.csv";
  gt::test::write_file(two, "id,reference\ntrain.jsonl:1,Blue.\ntrain.jsonl:3,Four.\n");
  auto t = run_cli(s.train_args("--max-steps 1 --save-every 0 --exclude " + quote(two)));
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.err.find("6 examples"), std::string::npos) << t.err;
  EXPECT_NE(t.err.find("2 excluded"), std::string::npos) << t.err;
  auto every = run_cli(s.train_args("--max-steps 1 --exclude " + quote(all)));
  EXPECT_EQ(every.exit_code, 1);
  EXPECT_NE(every.err.find("every usable row is listed in --exclude"), std::string::npos) << every.err;
  // Rows with their own id are listed by it.
  const fs::path with_ids = s.tmp / "with-ids";
  gt::test::write_file(with_ids / "train.jsonl",
                       "{\"id\": \"sky\", \"prompt\": \"What colour is the sky?\", \"response\": \"Blue.\"}\n"
                       "{\"id\": 7, \"prompt\": \"Name a fruit.\", \"response\": \"An apple.\"}\n"
                       "{\"prompt\": \"Two plus two?\", \"response\": \"Four.\"}\n");
  gt::test::write_file(two, "id\nsky\n7\n");
  auto by_id = run_cli("train --model " + quote(s.model) + " --data " + quote(with_ids) + " --out " + quote(s.runs) +
                       " --max-steps 1 --save-every 0 --batch-size 1 --exclude " + quote(two));
  ASSERT_EQ(by_id.exit_code, 0) << by_id.err;
  EXPECT_NE(by_id.err.find("1 examples, 0 skipped, 2 excluded"), std::string::npos) << by_id.err;
  gt::test::write_file(two, "row\ntrain.jsonl:1\n");
  auto no_id = run_cli(s.train_args("--max-steps 1 --exclude " + quote(two)));
  EXPECT_EQ(no_id.exit_code, 1);
  EXPECT_NE(no_id.err.find("no \"id\" column"), std::string::npos) << no_id.err;
  auto bad_metric = run_cli("blacklist --predictions " + quote(predictions) + " --metric bleu");
  EXPECT_EQ(bad_metric.exit_code, 1);
  EXPECT_NE(bad_metric.err.find("--metric"), std::string::npos);
}
