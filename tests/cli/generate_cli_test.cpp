// `gemma-tune generate` and `eval --generate` end to end on a tiny Gemma 4 checkpoint (CPU, seconds): prompt
// rendering (token counts worked out with the 311-token tokenizer), streaming vs --json, --messages files, the
// refusals, and the files eval --generate writes, whose corpus figures are checked against their own rows and whose
// loss must equal plain eval's.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <sstream>

#include "cli/tiny_setup.h"
#include "data/csv_reader.h"
#include "test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using gt::test::quote;
using gt::test::read_json;
using gt::test::run_cli;
using gt::test::TinySetup;

namespace {

std::string gen(const TinySetup& s, const std::string& extra) {
  return "generate --model " + quote(s.model) + " --device cpu --temperature 0 " + extra;
}

}  // namespace

TEST(GenerateCli, RendersTheChatPromptAndStreamsWhatJsonReports) {
  TinySetup s;
  // <bos> <|turn> user \n h i <turn|> \n <|turn> model \n: "user" and "model" are merges, "hi" is one merge too.
  auto r = run_cli(gen(s, "--prompt hi --max-new-tokens 6 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["prompt_tokens"], 10);
  EXPECT_LE(j["ids"].size(), 6u);
  EXPECT_EQ(j["stopped"].get<bool>(), j["ids"].size() < 6u);
  EXPECT_TRUE(j["tokens_per_s"].is_number());
  // --raw: <bos> hi.
  auto raw = run_cli(gen(s, "--raw --prompt hi --max-new-tokens 3 --json"));
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_EQ(json::parse(raw.out)["prompt_tokens"], 2);
  // A system message is its own Gemma 4 turn: <|turn> system \n b e <turn|> \n before the user turn (+7).
  auto sys = run_cli(gen(s, "--system be --prompt hi --max-new-tokens 3 --json"));
  ASSERT_EQ(sys.exit_code, 0) << sys.err;
  EXPECT_EQ(json::parse(sys.out)["prompt_tokens"], 17);
  // The streamed text is the --json text (greedy: the same tokens).
  auto streamed = run_cli(gen(s, "--prompt hi --max-new-tokens 6"));
  ASSERT_EQ(streamed.exit_code, 0) << streamed.err;
  EXPECT_EQ(streamed.out, j["text"].get<std::string>() + "\n");
  EXPECT_NE(streamed.err.find("sampling greedy"), std::string::npos) << streamed.err;
}

TEST(GenerateCli, MessagesFileGivesOneAnswerPerConversationAndBadLinesAreNamed) {
  TinySetup s;
  const fs::path f = s.tmp / "prompts.jsonl";
  gt::test::write_file(f, R"({"messages": [{"role": "user", "content": "hi"}]})"
                          "\n\n"
                          R"({"prompt": "hi"})"
                          "\n"
                          R"({"messages": [{"role": "system", "content": "be"}, {"role": "user", "content": "hi"}]})"
                          "\n");
  for (const char* batch : {"1", "3"}) {
    auto r = run_cli(gen(s, "--messages " + quote(f) + " --max-new-tokens 4 --json --batch-size " + batch));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    std::istringstream lines(r.out);
    std::vector<json> rows;
    for (std::string line; std::getline(lines, line);) rows.push_back(json::parse(line));
    ASSERT_EQ(rows.size(), 3u) << r.out;
    EXPECT_EQ(rows[0]["prompt_tokens"], 10);
    EXPECT_EQ(rows[1]["ids"], rows[0]["ids"]);  // the same conversation written two ways
    EXPECT_EQ(rows[2]["prompt_tokens"], 17);
    EXPECT_EQ(rows[2]["source"].get<std::string>(), f.string() + ":4") << "the line of the file";
  }
  gt::test::write_file(f, R"({"messages": [{"role": "user", "content": "hi"}, {"role": "model", "content": "x"}]})"
                          "\n");
  auto bad = run_cli(gen(s, "--messages " + quote(f)));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find(f.string() + ":1: the last message must be the user's"), std::string::npos) << bad.err;
}

TEST(GenerateCli, RefusesContradictoryOptions) {
  TinySetup s;
  struct Case {
    std::string args, message;
  } cases[] = {
      {"", "exactly one of --prompt"},
      {"--prompt hi --messages x.jsonl", "exactly one of --prompt"},
      {"--raw --prompt hi --image a.png", "--raw takes a --prompt only"},
      {"--prompt hi --top-p 0", "--top-p"},
      {"--prompt hi --image /no/such.png", "--prompt: no usable row"},
  };
  for (const Case& c : cases) {
    auto r = run_cli(gen(s, c.args));
    EXPECT_EQ(r.exit_code, 1) << c.args;
    EXPECT_NE(r.err.find(c.message), std::string::npos) << c.args << ": " << r.err;
  }
}

TEST(EvalGenerateCli, WritesPredictionsAndMetricsThatAgreeWithEachOther) {
  TinySetup s;
  auto trained = run_cli(s.train_args("--max-steps 4 --save-every 0"));
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const fs::path adapter = s.only_run() / "adapter";
  const fs::path out = s.tmp / "eval";
  const std::string common = "--model " + quote(s.model) + " --data " + quote(s.data) + " --device cpu";
  auto r = run_cli("eval --generate " + common + " --adapter " + quote(adapter) +
                   " --compare-adapter --max-new-tokens 8 --json --out " + quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json m = read_json(out / "metrics.json");
  EXPECT_EQ(json::parse(r.out), m);
  EXPECT_EQ(m["rows"], 3);  // the validation split
  for (const char* side : {"base", "adapter"})
    for (const char* k : {"wer", "cer", "chrf", "exact_match", "loss", "perplexity", "generated_tokens"})
      EXPECT_TRUE(m[side].contains(k)) << side << " " << k;
  // The loss is plain eval's on the same rows.
  auto plain = run_cli("eval " + common + " --adapter " + quote(adapter) + " --json");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_NEAR(m["adapter"]["loss"].get<double>(), json::parse(plain.out)["loss"].get<double>(), 1e-9);

  // predictions.csv: a row per example, references from the dataset's answers, per-row figures whose word errors
  // add up to the corpus WER's reference words.
  const std::string text = gt::test::read_file(out / "predictions.csv");
  gt::data::CsvFile t = gt::data::parse_csv(text, "predictions.csv");
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.header[0], "id");
  EXPECT_EQ(t.rows[0].fields.at("reference"), "Blue.");
  EXPECT_EQ(t.rows[2].fields.at("reference"), "Four.");
  EXPECT_EQ(t.rows[0].fields.at("id"), "validation.jsonl:1");
  for (const char* c : {"prediction_base", "wer_base", "prediction_adapter", "chrf_adapter", "stopped_adapter"})
    EXPECT_TRUE(t.rows[0].fields.count(c)) << c;
  EXPECT_EQ(m["adapter"]["word_errors"]["reference_words"], 4);  // blue / an apple / four

  auto again = run_cli("eval --generate " + common + " --out " + quote(out));
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("exists and is not empty"), std::string::npos) << again.err;
  auto completion = run_cli("eval --generate " + common + " --mode completion --out " + quote(s.tmp / "e2"));
  EXPECT_EQ(completion.exit_code, 1);
  EXPECT_NE(completion.err.find("--mode completion"), std::string::npos) << completion.err;
}

TEST(CliExitCodes, UsageErrorsAreTwoHelpIsZero) {
  EXPECT_EQ(run_cli("runs").exit_code, 2);  // a command without its subcommand
  auto unknown = run_cli("generate --model x --prompt hi --bogus");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("--bogus"), std::string::npos) << unknown.err;
  EXPECT_EQ(run_cli("generate --help").exit_code, 0);
  EXPECT_EQ(run_cli("--version").exit_code, 0);
}
