// `gemma-tune runs list|show|clean` and `gemma-tune verify` through the binary, on run folders written by a real
// tiny training (completed, failed) next to hand-made ones (cancelled, running elsewhere, a folder that is no run).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>

#include "test_util.h"

namespace fs = std::filesystem;
using gt::test::run_cli;
using nlohmann::json;

namespace {

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

// Two real runs of a tiny Gemma 4 (one completed with an adapter and a manifest, one failed on its data), trained
// once per test program; each test works on its own copy.
const fs::path& trained_runs() {
  static gt::test::TempDir tmp{"runs-cli-src"};
  static const fs::path runs = [] {
    const fs::path model = tmp / "model", data = tmp / "data", out = tmp / "runs";
    const std::string tokenizer = gt::test::fixture("data/gemma4-tiny/tokenizer.json").string();
    auto r = run_cli("init-random --family gemma4 --size tiny --vocab-size 320 --dtype float32 --out " + quote(model) +
                     " --tokenizer '" + tokenizer + "' --seed 3");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string rows;
    for (int i = 0; i < 4; ++i) rows += "{\"prompt\": \"Name a fruit.\", \"response\": \"An apple.\"}\n";
    gt::test::write_file(data / "train.jsonl", rows);
    gt::test::write_file(data / "validation.jsonl", rows);
    const std::string common = " --out " + quote(out) + " --batch-size 2 --max-seq-len 64 --max-steps 2";
    r = run_cli("train --model " + quote(model) + " --data " + quote(data) + common + " --name good");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    gt::test::write_file(tmp / "bad/train.jsonl", "not json\n");
    r = run_cli("train --model " + quote(model) + " --data " + quote(tmp / "bad") + common + " --name bad");
    EXPECT_EQ(r.exit_code, 1) << r.err;
    return out;
  }();
  return runs;
}

// A copy of the trained runs and two hand-made ones under runs/; a folder without metadata.json sits beside them.
struct RunsSetup {
  gt::test::TempDir tmp{"runs-cli"};
  fs::path runs = tmp / "runs";
  fs::path completed, failed;

  RunsSetup() {
    fs::copy(trained_runs(), runs, fs::copy_options::recursive);
    for (const auto& e : fs::directory_iterator(runs)) {
      const std::string n = e.path().filename().string();
      if (n.find("-good") != std::string::npos) completed = e.path();
      if (n.find("-bad") != std::string::npos) failed = e.path();
    }
    EXPECT_FALSE(completed.empty());
    EXPECT_FALSE(failed.empty());
    // Older than the real ones (started 2020), so they list last.
    gt::test::write_file(runs / "20200101-000000-stopped/metadata.json",
                         R"({"status": "cancelled", "started_at": "2020-01-01T00:00:00Z", "steps": 1})");
    gt::test::write_file(runs / "20200101-000000-stopped/config.yaml", "model: \"m\"\ndata: \"d\"\nmax_steps: 4\n");
    gt::test::write_file(runs / "20200101-000001-remote/metadata.json",
                         R"({"status": "running", "started_at": "2020-01-01T00:00:01Z", "pid": 1, "host": "no-such-host.invalid"})");
    gt::test::write_file(runs / "keep-me/notes.txt", "not a run folder\n");
  }
  std::string dir() const { return " --dir " + quote(runs); }
};

}  // namespace

TEST(RunsCli, ListPrintsATableNewestFirstAndJson) {
  RunsSetup s;
  auto r = run_cli("runs list" + s.dir());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string& t = r.out;
  for (const char* want : {"RUN", "STATUS", "completed", "failed", "cancelled", "running?", "model", "2/2", "1/4", "text"})
    EXPECT_NE(t.find(want), std::string::npos) << want << "\n" << t;
  EXPECT_EQ(t.find("keep-me"), std::string::npos) << t;
  EXPECT_LT(t.find("-good"), t.find("20200101-000000-stopped")) << t;
  EXPECT_LT(t.find("20200101-000001-remote"), t.find("20200101-000000-stopped")) << t;

  r = run_cli("runs list --json" + s.dir());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 4u);
  EXPECT_EQ(j[2]["name"], "20200101-000001-remote");
  EXPECT_EQ(j[2]["status"], "running?");
  EXPECT_EQ(j[3]["status"], "cancelled");
  for (const json& run : j) {
    if (run["name"].get<std::string>().find("-good") == std::string::npos) continue;
    EXPECT_EQ(run["status"], "completed");
    EXPECT_EQ(run["model"], "model");
    EXPECT_EQ(run["steps_done"], 2);
    EXPECT_EQ(run["steps_planned"], 2);
    EXPECT_TRUE(run["best_eval_loss"].is_number());
    EXPECT_EQ(run["adapter"], true);
  }

  r = run_cli("runs list --dir " + quote(s.tmp / "nowhere"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no such folder"), std::string::npos) << r.err;
}

TEST(RunsCli, ShowDescribesOneRun) {
  RunsSetup s;
  auto r = run_cli("runs show good" + s.dir());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* want : {"status      completed", "integrity   ok,", "adapter     adapter/", "checkpoints step-2",
                           "eval        best", "max_steps: 2", "last train  step 2"})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;

  r = run_cli("runs show --json " + quote(s.failed));  // a path works too
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_FALSE(j["error"].get<std::string>().empty());
  EXPECT_EQ(j["skipped_rows"], 1);
  EXPECT_EQ(j["integrity"]["manifest"], false);

  r = run_cli("runs show nothing-like-this" + s.dir());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no run"), std::string::npos) << r.err;
}

TEST(RunsCli, CleanListsAsksAndDeletesOnlyFailedAndCancelledRuns) {
  RunsSetup s;
  auto r = run_cli("runs clean --dry-run" + s.dir());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(s.failed.filename().string()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("20200101-000000-stopped"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("-good"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("would delete 2 run folder(s)"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(s.failed));

  r = run_cli("runs clean" + s.dir(), "n\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("nothing deleted"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(s.failed));
  r = run_cli("runs clean" + s.dir(), "");  // no answer at all
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--yes"), std::string::npos) << r.err;
  EXPECT_TRUE(fs::exists(s.runs / "20200101-000000-stopped"));

  r = run_cli("runs clean" + s.dir(), "y\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("deleted 2 of 2"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(s.failed));
  EXPECT_FALSE(fs::exists(s.runs / "20200101-000000-stopped"));
  EXPECT_TRUE(fs::exists(s.completed / "adapter/adapter_model.safetensors"));
  EXPECT_TRUE(fs::exists(s.runs / "20200101-000001-remote/metadata.json"));  // may be running elsewhere
  EXPECT_TRUE(fs::exists(s.runs / "keep-me/notes.txt"));

  r = run_cli("runs clean --yes --include-incomplete" + s.dir());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("nothing to clean"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(s.completed));
}

TEST(RunsCli, VerifyChecksTheManifest) {
  RunsSetup s;
  auto r = run_cli("verify " + quote(s.completed));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(s.completed.string() + ": "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" files verified"), std::string::npos) << r.out;

  gt::test::write_file(s.completed / "adapter/adapter_config.json", "{}\n");
  fs::remove(s.completed / "config.yaml");
  gt::test::write_file(s.completed / "extra.txt", "x\n");
  r = run_cli("verify " + quote(s.completed));
  EXPECT_EQ(r.exit_code, 1);
  for (const char* want : {"changed: adapter/adapter_config.json", "missing: config.yaml", "extra: extra.txt"})
    EXPECT_NE(r.out.find(want), std::string::npos) << want << "\n" << r.out;
  EXPECT_NE(r.err.find("3 problem(s)"), std::string::npos) << r.err;

  r = run_cli("verify " + quote(s.failed));  // a failed run has no manifest
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(".integrity.json"), std::string::npos) << r.err;
}
