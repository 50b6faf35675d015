// `gemma-tune train --data gs://...` end to end against the Cloud Storage stand-in (tests/io/gcs_standin.h, found by
// the program through STORAGE_EMULATOR_HOST), and `--data bq://...` / `--bq-query` against the BigQuery one
// (BIGQUERY_EMULATOR_HOST; a resumed query run reads the job it ran, never a new one): a streamed run; the same run through dropped connections and 503s gives
// the same losses; a run stopped after step 3 and resumed gives the same losses again (the shuffle buffer and stream
// position come back from the checkpoint, nothing is read twice); `eval --data gs://...` gives the loss of the same
// rows read from a local file; --epochs without --max-steps is refused with the reason.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>

#include "io/bigquery_standin.h"
#include "io/gcs_standin.h"
#include "tiny_setup.h"

using gt::test::BigQueryStandin;
using gt::test::GcsStandin;
using gt::test::quote;
using gt::test::run_cli;
using gt::test::run_named;
using gt::test::step_losses;
using gt::test::TinySetup;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

struct StreamSetup {
  TinySetup tiny;
  GcsStandin gcs;
  gt::test::ScopedEnv env{"STORAGE_EMULATOR_HOST", gcs.base()};
  StreamSetup() {
    // Twelve rows (the tiny set, then four again) in three shards, one gzip-compressed.
    std::string rows[3];
    for (int k = 0; k < 12; ++k) rows[k / 5] += std::string(gt::test::kRows[k % 8]) + "\n";
    gcs.put("bkt", "set/train-0.jsonl", rows[0]);
    gcs.put("bkt", "set/train-1.jsonl", rows[1]);
    gt::test::write_file(tiny.tmp / "plain", rows[2]);
    EXPECT_EQ(gt::test::run_shell("gzip -c < " + quote(tiny.tmp / "plain") + " > " + quote(tiny.tmp / "packed")).exit_code, 0);
    gcs.put("bkt", "set/train-2.jsonl.gz", gt::test::read_file(tiny.tmp / "packed"));
    gcs.put("bkt", "val/validation.jsonl", gt::test::read_file(tiny.data / "validation.jsonl"));
  }
  std::string args(const std::string& name, const std::string& extra = "") const {
    return "train --model " + quote(tiny.model) + " --data 'gs://bkt/set/train-*' --out " + quote(tiny.runs) +
           " --batch-size 2 --max-seq-len 64 --lr 1e-2 --seed 5 --shuffle-buffer 4 --stream-workers 2 --max-steps 8"
           " --name " + name + " " + extra;
  }
};

// A tiny Gemma 4 with the real tokenizer and its audio and vision towers, in `dir`/model.
fs::path real_tokenizer_model(const gt::test::TempDir& dir) {
  const fs::path model = dir / "model";
  const auto r = run_cli("init-random --family gemma4 --size tiny --dtype float32 --seed 2 --out " + quote(model) +
                         " --tokenizer " + quote(gt::test::real_tokenizer_json()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return model;
}

// `eval <args> --data <remote>` and `eval <args> --data <local>` give the same loss over the same tokens.
void expect_same_eval(const std::string& args, const std::string& remote, const fs::path& local) {
  const auto from_bucket = run_cli(args + " --data " + remote);
  ASSERT_EQ(from_bucket.exit_code, 0) << from_bucket.err;
  const auto from_disk = run_cli(args + " --data " + quote(local));
  ASSERT_EQ(from_disk.exit_code, 0) << from_disk.err;
  const json a = json::parse(from_bucket.out), b = json::parse(from_disk.out);
  EXPECT_EQ(a["tokens"], b["tokens"]);
  EXPECT_NEAR(a["loss"].get<double>(), b["loss"].get<double>(), 1e-9);
}

}  // namespace

TEST(StreamTrainCli, FaultsAndAResumeLeaveTheLossesUnchanged) {
  StreamSetup s;
  const auto clean = run_cli(s.args("clean"));
  ASSERT_EQ(clean.exit_code, 0) << clean.err;
  const fs::path clean_run = run_named(s.tiny.runs, "clean");
  const std::vector<double> expected = step_losses(clean_run);
  ASSERT_EQ(expected.size(), 8u);  // 12 rows, batch 2: epoch 0 and two batches of epoch 1
  const json meta = json::parse(gt::test::read_file(clean_run / "metadata.json"));
  EXPECT_EQ(meta["data_source"], "gs://bkt/set/train-*");
  EXPECT_NE(meta["train_summary"].get<std::string>().find("3 shard(s)"), std::string::npos) << meta.dump();
  EXPECT_NE(clean.err.find("shards      gs://bkt/set/train-*: 3 object(s)"), std::string::npos) << clean.err;
  EXPECT_NE(clean.err.find("epoch 1, 16 rows ("), std::string::npos) << "the progress line shows the stream: " << clean.err;

  s.gcs.set_faults([](GcsStandin::Faults& f) {
    f.drop_after = 200;  // every read is cut after 200 bytes and resumed
    f.fail_next = 2;     // and the first two requests get a 503
  });
  const auto faulty = run_cli(s.args("faulty"));
  ASSERT_EQ(faulty.exit_code, 0) << faulty.err;
  const std::vector<double> got = step_losses(run_named(s.tiny.runs, "faulty"));
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-6) << "step " << i + 1;

  const auto stopped = gt::test::run_stopped_after(3, s.args("parts"));
  ASSERT_EQ(stopped.exit_code, 130) << stopped.err;
  const fs::path parts = run_named(s.tiny.runs, "parts");
  const json state = json::parse(gt::test::read_file(parts / "checkpoints/step-3/trainer_state.json"));
  ASSERT_TRUE(state.contains("stream")) << state.dump();
  EXPECT_FALSE(state["stream"]["buffer"]["rows"].empty()) << "the shuffle buffer is saved with its rows";
  const auto resumed = run_cli("train --resume " + quote(parts));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const std::vector<double> again = step_losses(parts);
  ASSERT_EQ(again.size(), expected.size());
  for (size_t i = 0; i < again.size(); ++i) EXPECT_NEAR(again[i], expected[i], 1e-6) << "step " << i + 1;
}

TEST(StreamTrainCli, EvalOfAStreamedFileEqualsTheLocalCopy) {
  StreamSetup s;
  expect_same_eval("eval --model " + quote(s.tiny.model) + " --json", "gs://bkt/val/validation.jsonl",
                   s.tiny.data / "validation.jsonl");
}

TEST(StreamTrainCli, EpochsWithoutMaxStepsIsRefusedWithTheReason) {
  StreamSetup s;
  const auto r = run_cli("train --model " + quote(s.tiny.model) + " --data 'gs://bkt/set/train-*' --out " +
                         quote(s.tiny.runs) + " --epochs 2");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--max-steps"), std::string::npos) << r.err;
}

TEST(StreamTrainCli, BigQueryTablesAndQueriesTrainAndAQueryIsNotRunAgainOnResume) {
  TinySetup tiny;
  BigQueryStandin bq;
  gt::test::ScopedEnv env("BIGQUERY_EMULATOR_HOST", bq.base());
  bq.set_default_page_size(3);  // several pages
  const json fields = json::array({{{"name", "id"}, {"type", "INTEGER"}, {"mode", "NULLABLE"}},
                                   {{"name", "prompt"}, {"type", "STRING"}, {"mode", "NULLABLE"}},
                                   {{"name", "response"}, {"type", "STRING"}, {"mode", "NULLABLE"}}});
  std::vector<json> rows;
  for (int k = 0; k < 10; ++k) {
    const json r = json::parse(gt::test::kRows[k % 8]);
    if (!r.contains("prompt")) continue;  // the conversation row has no prompt column
    rows.push_back(BigQueryStandin::row({std::to_string(k), r["prompt"], r["response"]}));
  }
  bq.add_table("proj.ds.train", fields, rows);
  const std::string sql = "SELECT id, prompt, response FROM `proj.ds.train`";
  bq.add_query(sql, "proj.ds.train");
  auto args = [&](const std::string& data, const std::string& name, const std::string& extra) {
    return "train --model " + quote(tiny.model) + " --data " + data + " --out " + quote(tiny.runs) +
           " --batch-size 2 --max-seq-len 64 --lr 1e-2 --seed 5 --shuffle-buffer 3 --max-steps 6 --name " + name +
           " " + extra;
  };
  const auto table = run_cli(args("bq://proj.ds.train", "table", ""));
  ASSERT_EQ(table.exit_code, 0) << table.err;
  const std::vector<double> from_table = step_losses(run_named(tiny.runs, "table"));
  ASSERT_EQ(from_table.size(), 6u);
  // 503s on the row pages and dropped replies change nothing.
  bq.set_faults([](BigQueryStandin::Faults& f) {
    f.fail_next = 2;
    f.fail_only = "/data";
    f.drop_next = 2;
  });
  const auto faulty = run_cli(args("bq://proj.ds.train", "faulty", ""));
  ASSERT_EQ(faulty.exit_code, 0) << faulty.err;
  const std::vector<double> through_faults = step_losses(run_named(tiny.runs, "faulty"));
  ASSERT_EQ(through_faults.size(), from_table.size());
  for (size_t i = 0; i < through_faults.size(); ++i) EXPECT_NEAR(through_faults[i], from_table[i], 1e-6) << i;

  const std::string query = "--bq-query '" + sql + "'";
  // With a validation file in Cloud Storage: the query is the training data only.
  GcsStandin gcs;
  gt::test::ScopedEnv gcs_env("STORAGE_EMULATOR_HOST", gcs.base());
  gcs.put("bkt", "val/validation.jsonl", gt::test::read_file(tiny.data / "validation.jsonl"));
  const auto whole = run_cli(args("bq://proj", "query", query + " --val-data gs://bkt/val/validation.jsonl"));
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  EXPECT_EQ(bq.jobs_created(), 1);
  EXPECT_NE(gt::test::read_file(run_named(tiny.runs, "query") / "metrics.jsonl").find("eval_loss"), std::string::npos);
  // The query's rows are the table's, in the same order: the same losses.
  const std::vector<double> from_query = step_losses(run_named(tiny.runs, "query"));
  ASSERT_EQ(from_query.size(), from_table.size());
  for (size_t i = 0; i < from_query.size(); ++i) EXPECT_NEAR(from_query[i], from_table[i], 1e-6) << i;

  const auto stopped = gt::test::run_stopped_after(2, args("bq://proj", "parts", query));
  ASSERT_EQ(stopped.exit_code, 130) << stopped.err;
  EXPECT_EQ(bq.jobs_created(), 2);
  const fs::path parts = run_named(tiny.runs, "parts");
  const auto resumed = run_cli("train --resume " + quote(parts));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(bq.jobs_created(), 2) << "the resumed run reads the job it ran";
  const std::vector<double> again = step_losses(parts);
  ASSERT_EQ(again.size(), from_table.size());
  for (size_t i = 0; i < again.size(); ++i) EXPECT_NEAR(again[i], from_table[i], 1e-6) << i;
}

TEST(StreamTrainCli, ImagesInTheBucketAreFetchedOnceAndEvalEqualsTheLocalCopy) {
  gt::test::TempDir tmp("stream-images");
  const fs::path model = real_tokenizer_model(tmp);
  GcsStandin gcs;
  gt::test::ScopedEnv env("STORAGE_EMULATOR_HOST", gcs.base());
  const fs::path images = gt::test::source_path("data/sample-image/images");
  const char* captions[] = {"One red circle.", "Two red squares.", "Three red triangles."};
  std::string remote = "image_path,caption\n", local = remote;
  for (int i = 0; i < 3; ++i) {
    const std::string name = "shape-0" + std::to_string(i) + ".png";
    gcs.put("bkt", "img/images/" + name, gt::test::read_file(images / name));
    remote += "images/" + name + "," + captions[i] + "\n";  // relative: beside the CSV in the bucket
    local += (images / name).string() + "," + captions[i] + "\n";
  }
  gcs.put("bkt", "img/val.csv", remote);
  gt::test::write_file(tmp / "val.csv", local);
  expect_same_eval("eval --model " + quote(model) + " --modality image --image-token-budget 70 --json",
                   "gs://bkt/img/val.csv", tmp / "val.csv");
  // Probed when its row became an example, decoded when its batch was built: fetched once.
  int media_reads = 0;
  for (const auto& r : gcs.requests())
    if (r.target.find("shape-0") != std::string::npos && r.target.find("alt=media") != std::string::npos) ++media_reads;
  EXPECT_EQ(media_reads, 3);
}

TEST(StreamTrainCli, ClipsInTheBucketEvalAsTheLocalCopyAndBadOnesNameTheirUrl) {
  gt::test::TempDir tmp("stream-audio");
  const fs::path model = real_tokenizer_model(tmp);
  GcsStandin gcs;
  gt::test::ScopedEnv env("STORAGE_EMULATOR_HOST", gcs.base());
  const fs::path clips = gt::test::source_path("data/sample-audio/clips");
  const char* texts[] = {"one two three", "red green blue", "hello world"};
  std::string remote = "audio_path,text\n", local = remote;
  for (int i = 0; i < 3; ++i) {
    const std::string name = "00" + std::to_string(i + 1) + ".wav";
    gcs.put("bkt", "asr/clips/" + name, gt::test::read_file(clips / name));
    remote += "gs://bkt/asr/clips/" + name + "," + texts[i] + "\n";  // absolute gs:// URLs this time
    local += (clips / name).string() + "," + texts[i] + "\n";
  }
  gcs.put("bkt", "asr/clips/broken.wav", "RIFF, but not a clip");
  gcs.put("bkt", "asr/val.csv", remote + "gs://bkt/asr/clips/broken.wav,broken\n");
  gt::test::write_file(tmp / "val.csv", local);
  expect_same_eval("eval --model " + quote(model) + " --modality audio --json", "gs://bkt/asr/val.csv",
                   tmp / "val.csv");
  // Training on it: the broken clip is skipped and recorded by its URL (not the temporary file FFmpeg read it from).
  const auto train = run_cli("train --model " + quote(model) + " --modality audio --data gs://bkt/asr/val.csv --out " +
                             quote(tmp / "runs") + " --max-steps 1 --batch-size 2 --max-seq-len 512 --name clips");
  ASSERT_EQ(train.exit_code, 0) << train.err;
  const std::string skipped = gt::test::read_file(run_named(tmp / "runs", "clips") / "skipped.jsonl");
  EXPECT_NE(skipped.find("gs://bkt/asr/clips/broken.wav"), std::string::npos) << skipped;
  EXPECT_EQ(skipped.find("gemma-tune-clip-"), std::string::npos) << skipped;
}

// --cache-dir: the first epoch stores each shard whole on the way; later epochs and later runs read them from the
// disk (no request for their bytes), with the same losses; a cache smaller than the dataset keeps to its budget and
// changes nothing either.
TEST(StreamTrainCli, ADiskCacheServesLaterEpochsAndRunsWithTheSameLosses) {
  StreamSetup s;
  const auto shard_reads = [&] {
    int n = 0;
    for (const auto& r : s.gcs.requests())
      n += r.target.find("alt=media") != std::string::npos && r.path.find("set%2Ftrain-") != std::string::npos;
    return n;
  };
  const auto clean = run_cli(s.args("plain"));
  ASSERT_EQ(clean.exit_code, 0) << clean.err;
  const std::vector<double> expected = step_losses(run_named(s.tiny.runs, "plain"));
  ASSERT_EQ(expected.size(), 8u);
  EXPECT_EQ(shard_reads(), 6) << "without a cache, epoch 1 reads every shard again";

  const fs::path cache = s.tiny.tmp / "cache";
  for (const char* name : {"cached", "again"}) {
    const int before = shard_reads();
    const auto r = run_cli(s.args(name, "--cache-dir " + quote(cache) + " --cache-size 1M"));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(shard_reads() - before, std::string(name) == "cached" ? 3 : 0) << name;
    const std::vector<double> got = step_losses(run_named(s.tiny.runs, name));
    ASSERT_EQ(got.size(), expected.size()) << name;
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-6) << name << ", step " << i + 1;
    EXPECT_NE(r.err.find("disk cache  " + cache.string()), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(", disk cache "), std::string::npos) << "the progress line shows the cache: " << r.err;
  }
  const std::string metrics = gt::test::read_file(run_named(s.tiny.runs, "again") / "metrics.jsonl");
  EXPECT_NE(metrics.find("\"cache_hits\""), std::string::npos) << metrics;

  // Room for one shard only: entries come and go, the folder keeps to its budget, the losses stay.
  const fs::path small = s.tiny.tmp / "small-cache";
  const auto r = run_cli(s.args("small", "--cache-dir " + quote(small) + " --cache-size 1K"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<double> got = step_losses(run_named(s.tiny.runs, "small"));
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-6) << "step " << i + 1;
  uint64_t held = 0;
  for (const auto& e : fs::directory_iterator(small / "objects")) held += fs::file_size(e.path());
  EXPECT_GT(held, 0u);
  EXPECT_LE(held, 1024u);

  // A folder of the user's that is not a cache is refused, untouched.
  gt::test::write_file(s.tiny.tmp / "mine" / "notes.txt", "keep me");
  const auto refused = run_cli(s.args("refused", "--cache-dir " + quote(s.tiny.tmp / "mine")));
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find((s.tiny.tmp / "mine").string()), std::string::npos) << refused.err;
  EXPECT_EQ(gt::test::read_file(s.tiny.tmp / "mine" / "notes.txt"), "keep me");
  const auto bad_size = run_cli(s.args("bad-size", "--cache-dir " + quote(cache) + " --cache-size 12Q"));
  EXPECT_NE(bad_size.exit_code, 0);
  EXPECT_NE(bad_size.err.find("--cache-size"), std::string::npos) << bad_size.err;
}

namespace {

// Every file under `dir` whose bytes contain `needle`, as a list for the failure message.
std::string files_containing(const fs::path& dir, const std::string& needle) {
  std::string found;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && gt::test::read_file(e.path()).find(needle) != std::string::npos)
      found += e.path().string() + "\n";
  return found;
}

}  // namespace

// Issue #13, secrets: a run whose data and validation URLs carry credentials (user:password@, token=, a signed URL's
// signature) trains from them, and no output of the run holds them: neither stdout and stderr, nor any file of the
// run folder (config.yaml, metadata.json, metrics, checkpoints, adapter), nor `runs show`. A resume needs the URLs
// again (their credentials were never stored) and is refused without them, naming each key.
TEST(StreamTrainCli, CredentialsInUrlsReachNoOutputOfTheRun) {
  StreamSetup s;
  const std::string secrets[] = {"fakeuser", "s3cr3tpass", "T0KEN-SECRET", "SIGN4TURE-SECRET"};
  const std::string object = s.gcs.base() + "/download/storage/v1/b/bkt/o/";
  const std::string train = "http://fakeuser:s3cr3tpass@" + object.substr(7) + "set%2Ftrain-0.jsonl?alt=media&token=T0KEN-SECRET";
  const std::string val = object + "val%2Fvalidation.jsonl?alt=media&X-Goog-Signature=SIGN4TURE-SECRET";
  const std::string args = "train --model " + quote(s.tiny.model) + " --data '" + train + "' --val-data '" + val +
                           "' --out " + quote(s.tiny.runs) + " --batch-size 2 --max-seq-len 64 --max-steps 3 "
                           "--eval-every 2 --name secret";
  const auto r = gt::test::run_stopped_after(1, args + " --live 0");
  ASSERT_EQ(r.exit_code, 130) << r.err;
  const fs::path run = s.tiny.only_run();
  EXPECT_NE(gt::test::read_file(run / "config.yaml").find("REDACTED"), std::string::npos);

  // Resuming needs the URLs with their credentials again; without them it is refused, naming each key.
  const auto refused = run_cli("train --resume " + quote(run));
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_NE(refused.err.find("data: the run's URL"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("give --data again"), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("give --val-data again"), std::string::npos) << refused.err;
  const auto resumed = run_cli("train --resume " + quote(run) + " --data '" + train + "' --val-data '" + val + "'");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("at step 1"), std::string::npos) << resumed.err;
  for (const std::string& secret : secrets) {
    SCOPED_TRACE(secret);
    for (const auto* out : {&r.out, &r.err, &refused.err, &resumed.out, &resumed.err})
      EXPECT_EQ(out->find(secret), std::string::npos) << *out;
    EXPECT_EQ(files_containing(run, secret), "");
  }
  // The history a page would load, from the run folder.
  auto shown = run_cli("runs show " + quote(run) + " --json");
  for (const std::string& secret : secrets) EXPECT_EQ(shown.out.find(secret), std::string::npos) << shown.out;
}
