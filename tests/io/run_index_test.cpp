// io::run_index: what `runs list|show|clean` read from run folders built here by hand, in the layout train writes
// (metadata.json, config.yaml, metrics.jsonl, skipped.jsonl, checkpoints/, adapter/, .integrity.json): completed,
// failed, cancelled, running with a live, a dead and a foreign pid, malformed and half-written folders.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "io/integrity.h"
#include "io/run_index.h"
#include "test_util.h"

namespace fs = std::filesystem;
using gt::io::RunInfo;
using gt::io::RunState;
using gt::test::error_of;
using gt::test::write_file;
using nlohmann::json;

namespace {

// A run folder under `parent`. Empty strings leave the file out.
struct RunSpec {
  std::string name;
  std::string metadata;  // metadata.json text
  std::string config = "model: \"/models/gemma-4-E2B-it/\"\ndata: \"data/sample-text\"\nmodality: \"text\"\n"
                       "epochs: 1\nmax_steps: 8\ngrad_accum: 1\n";
  std::string metrics;   // metrics.jsonl text
  bool adapter = false;
};

fs::path make_run(const fs::path& parent, const RunSpec& s) {
  const fs::path dir = parent / s.name;
  fs::create_directories(dir);
  if (!s.metadata.empty()) write_file(dir / "metadata.json", s.metadata);
  if (!s.config.empty()) write_file(dir / "config.yaml", s.config);
  if (!s.metrics.empty()) write_file(dir / "metrics.jsonl", s.metrics);
  if (s.adapter) {
    write_file(dir / "adapter/adapter_config.json", "{\"r\": 16}\n");
    write_file(dir / "adapter/adapter_model.safetensors", std::string(64, 'w'));
  }
  return dir;
}

std::string meta(const std::string& status, const std::string& extra = "") {
  return "{\"status\": \"" + status + "\", \"started_at\": \"2026-11-25T10:00:00Z\", \"model\": \"/models/m\"" +
         (extra.empty() ? "" : ", " + extra) + "}";
}

std::string train_rows(int from, int to, double epoch_per_step = 0.125) {
  std::string out;
  for (int s = from; s <= to; ++s)
    out += json({{"step", s}, {"epoch", s * epoch_per_step}, {"loss", 3.0 - 0.1 * s}, {"lr", 2e-4}, {"step_s", 0.5}})
               .dump() +
           "\n";
  return out;
}

std::string eval_row(int step, double loss) {
  return json({{"step", step}, {"eval_loss", loss}, {"eval_tokens", 21}, {"when", "periodic"}}).dump() + "\n";
}

// A pid that existed and is gone: a child that exits and is reaped.
int64_t dead_pid() {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int status = 0;
  ::waitpid(child, &status, 0);
  return child;
}

const RunInfo& find_run(const std::vector<RunInfo>& runs, const std::string& name) {
  for (const RunInfo& r : runs)
    if (r.name == name) return r;
  ADD_FAILURE() << "no run " << name;
  static RunInfo none;
  return none;
}

}  // namespace

TEST(RunIndex, CompletedRunColumns) {
  gt::test::TempDir tmp("runs");
  make_run(tmp.path(), {.name = "20261125-100000-done",
                        .metadata = meta("completed", "\"finished_at\": \"2026-11-25T10:01:30Z\", \"steps\": 8"),
                        .metrics = train_rows(1, 4) + eval_row(4, 2.5) + train_rows(5, 6) + eval_row(6, 1.9) +
                                   train_rows(7, 8) + eval_row(8, 2.1),
                        .adapter = true});
  const RunInfo r = gt::io::read_run((tmp / "20261125-100000-done").string());
  EXPECT_EQ(r.state, RunState::Completed);
  EXPECT_EQ(r.model, "gemma-4-E2B-it");  // folder name of the base model, trailing slash and all
  EXPECT_EQ(r.data, "sample-text");
  EXPECT_EQ(r.modality, "text");
  EXPECT_EQ(r.steps_done, 8);
  EXPECT_EQ(r.steps_planned, 8);
  ASSERT_TRUE(r.best_eval_loss.has_value());
  EXPECT_DOUBLE_EQ(*r.best_eval_loss, 1.9);  // the minimum, not the last evaluation
  EXPECT_EQ(r.best_eval_step, 6);
  ASSERT_TRUE(r.wall_seconds.has_value());
  EXPECT_DOUBLE_EQ(*r.wall_seconds, 90.0);
  EXPECT_TRUE(r.has_adapter);
  EXPECT_TRUE(r.problems.empty()) << r.problems.front();
  EXPECT_EQ(r.config.value("max_steps", 0), 8);
  EXPECT_EQ(r.config.value("model", ""), "/models/gemma-4-E2B-it/");
}

TEST(RunIndex, FailedRunKeepsItsErrorAndProgress) {
  gt::test::TempDir tmp("runs");
  make_run(tmp.path(),
           {.name = "f",
            .metadata = meta("failed", "\"finished_at\": \"2026-11-25T10:00:07Z\", \"error\": \"out of memory\""),
            .config = "model: \"m\"\ndata: \"d.jsonl\"\nmax_steps: 10\n",
            .metrics = train_rows(1, 3)});
  const RunInfo r = gt::io::read_run((tmp / "f").string());
  EXPECT_EQ(r.state, RunState::Failed);
  EXPECT_EQ(r.error, "out of memory");
  EXPECT_EQ(r.steps_done, 3);
  EXPECT_EQ(r.steps_planned, 10);
  EXPECT_FALSE(r.best_eval_loss.has_value());
  EXPECT_DOUBLE_EQ(r.wall_seconds.value_or(-1), 7.0);
  EXPECT_FALSE(r.has_adapter);
}

TEST(RunIndex, RunningIsCheckedByPidOnThisHost) {
  gt::test::TempDir tmp("runs");
  const std::string host = gt::io::this_host();
  ASSERT_FALSE(host.empty());
  const std::string here = "\"host\": \"" + host + "\"";
  make_run(tmp.path(), {.name = "alive", .metadata = meta("running", here + ", \"pid\": " + std::to_string(::getpid()))});
  make_run(tmp.path(), {.name = "dead", .metadata = meta("running", here + ", \"pid\": " + std::to_string(dead_pid()))});
  make_run(tmp.path(), {.name = "elsewhere", .metadata = meta("running", "\"host\": \"not-" + host + "\", \"pid\": 1")});
  make_run(tmp.path(), {.name = "unknown", .metadata = meta("running")});
  // A resumed run still carries the finished_at of its interruption; the wall time of a live run runs to now.
  make_run(tmp.path(), {.name = "resumed", .metadata = meta("running", here + ", \"pid\": " + std::to_string(::getpid()) +
                                                                           ", \"finished_at\": \"2026-11-25T10:00:05Z\"")});
  const auto now = *gt::io::parse_utc_timestamp("2026-11-25T10:10:00Z");
  const auto runs = gt::io::list_runs(tmp.path().string(), now);
  ASSERT_EQ(runs.size(), 5u);
  EXPECT_EQ(find_run(runs, "alive").state, RunState::Running);
  EXPECT_EQ(find_run(runs, "dead").state, RunState::Died);
  EXPECT_NE(find_run(runs, "dead").state_detail.find("gone"), std::string::npos) << find_run(runs, "dead").state_detail;
  EXPECT_EQ(find_run(runs, "elsewhere").state, RunState::MaybeRunning);
  EXPECT_EQ(find_run(runs, "unknown").state, RunState::MaybeRunning);
  EXPECT_STREQ(gt::io::run_state_name(RunState::MaybeRunning), "running?");
  EXPECT_DOUBLE_EQ(find_run(runs, "resumed").wall_seconds.value_or(-1), 600.0);
  EXPECT_FALSE(gt::io::process_alive(dead_pid()));
  EXPECT_TRUE(gt::io::process_alive(::getpid()));
  EXPECT_FALSE(gt::io::process_alive(0));
}

TEST(RunIndex, MalformedAndHalfWrittenFoldersAreReportedNotThrown) {
  gt::test::TempDir tmp("runs");
  make_run(tmp.path(), {.name = "cut-meta", .metadata = "{\"status\": \"runn"});
  make_run(tmp.path(), {.name = "array-meta", .metadata = "[1, 2]"});
  make_run(tmp.path(), {.name = "odd-status", .metadata = meta("paused")});
  make_run(tmp.path(), {.name = "no-meta", .metadata = ""});  // config.yaml only: the trainer died before metadata
  make_run(tmp.path(), {.name = "bad-config", .metadata = meta("completed"), .config = "model: [unclosed\n"});
  make_run(tmp.path(), {.name = "cut-metrics", .metadata = meta("cancelled"),
                        .metrics = train_rows(1, 2) + "{\"step\": 3, \"lo"});
  make_run(tmp.path(), {.name = "no-metrics", .metadata = meta("completed", "\"steps\": 5, \"eval_loss\": 1.5")});
  fs::create_directories(tmp / "notes");  // neither metadata.json nor config.yaml: not listed
  write_file(tmp / "README.txt", "not a run\n");

  std::vector<RunInfo> runs;
  ASSERT_NO_THROW(runs = gt::io::list_runs(tmp.path().string()));
  ASSERT_EQ(runs.size(), 7u);
  for (const char* name : {"cut-meta", "array-meta", "odd-status", "no-meta"}) {
    const RunInfo& r = find_run(runs, name);
    EXPECT_EQ(r.state, RunState::Malformed) << name;
    ASSERT_FALSE(r.problems.empty()) << name;
    EXPECT_NE(r.problems.front().find("metadata.json"), std::string::npos) << name << ": " << r.problems.front();
  }
  EXPECT_EQ(find_run(runs, "cut-meta").model, "gemma-4-E2B-it");  // config.yaml is still read
  EXPECT_FALSE(find_run(runs, "no-meta").has_metadata);
  EXPECT_TRUE(find_run(runs, "cut-meta").has_metadata);

  const RunInfo& bad_config = find_run(runs, "bad-config");
  EXPECT_EQ(bad_config.state, RunState::Completed);
  ASSERT_FALSE(bad_config.problems.empty());
  EXPECT_NE(bad_config.problems.front().find("config.yaml"), std::string::npos) << bad_config.problems.front();

  const RunInfo& cut = find_run(runs, "cut-metrics");
  EXPECT_EQ(cut.state, RunState::Cancelled);
  EXPECT_EQ(cut.steps_done, 2);
  ASSERT_EQ(cut.problems.size(), 1u);
  EXPECT_NE(cut.problems[0].find("cut short"), std::string::npos) << cut.problems[0];

  // Without metrics.jsonl the figures come from metadata.json.
  const RunInfo& nm = find_run(runs, "no-metrics");
  EXPECT_EQ(nm.steps_done, 5);
  EXPECT_DOUBLE_EQ(nm.best_eval_loss.value_or(-1), 1.5);
}

TEST(RunIndex, EpochRunsPlanTheirStepsFromTheLoggedEpoch) {
  gt::test::TempDir tmp("runs");
  // 2 epochs of 8 micro-batches at grad_accum 2: 8 steps; the first row (step 1) is at epoch 2/8 = 0.25.
  make_run(tmp.path(), {.name = "e", .metadata = meta("running"),
                        .config = "model: \"m\"\ndata: \"d\"\nepochs: 2\nmax_steps: 0\ngrad_accum: 2\n",
                        .metrics = train_rows(1, 3, 0.25)});
  const RunInfo r = gt::io::read_run((tmp / "e").string());
  EXPECT_EQ(r.steps_done, 3);
  EXPECT_EQ(r.steps_planned, 8);
  // Nothing logged yet: unknown, shown as ?.
  make_run(tmp.path(), {.name = "fresh", .metadata = meta("running"),
                        .config = "model: \"m\"\ndata: \"d\"\nepochs: 2\nmax_steps: 0\n"});
  const RunInfo f = gt::io::read_run((tmp / "fresh").string());
  EXPECT_EQ(f.steps_planned, -1);
  EXPECT_NE(gt::io::format_runs_table({f}).find("?/?"), std::string::npos) << gt::io::format_runs_table({f});
}

TEST(RunIndex, ListIsNewestFirstAndFormatsTableAndJson) {
  gt::test::TempDir tmp("runs");
  auto started = [](const std::string& t, const std::string& status) {
    return "{\"status\": \"" + status + "\", \"started_at\": \"" + t + "\"}";
  };
  make_run(tmp.path(), {.name = "b-middle", .metadata = started("2026-11-25T11:00:00Z", "failed"), .metrics = train_rows(1, 3)});
  make_run(tmp.path(), {.name = "c-oldest", .metadata = started("2026-11-25T09:00:00Z", "completed"),
                        .metrics = train_rows(1, 8) + eval_row(8, 1.23456), .adapter = true});
  make_run(tmp.path(), {.name = "a-newest", .metadata = started("2026-11-25T12:00:00Z", "running")});
  const auto runs = gt::io::list_runs(tmp.path().string());
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[0].name, "a-newest");
  EXPECT_EQ(runs[1].name, "b-middle");
  EXPECT_EQ(runs[2].name, "c-oldest");

  const std::string table = gt::io::format_runs_table(runs);
  EXPECT_EQ(table.rfind("RUN ", 0), 0u) << table;
  for (const char* want : {"STATUS", "BEST EVAL", "running?", "failed", "completed", "gemma-4-E2B-it", "sample-text",
                           "3/8", "8/8", "1.2346"})
    EXPECT_NE(table.find(want), std::string::npos) << want << "\n" << table;
  EXPECT_LT(table.find("a-newest"), table.find("c-oldest"));

  const json j = gt::io::run_to_json(runs[2]);
  EXPECT_EQ(j["status"], "completed");
  EXPECT_EQ(j["steps_done"], 8);
  EXPECT_DOUBLE_EQ(j["best_eval_loss"].get<double>(), 1.23456);
  EXPECT_EQ(j["adapter"], true);
  EXPECT_TRUE(gt::io::run_to_json(runs[1])["best_eval_loss"].is_null());

  EXPECT_NE(error_of([&] { gt::io::list_runs((tmp / "missing").string()); }).find("no such folder"), std::string::npos);
}

TEST(RunIndex, ShowReadsCheckpointsSkipsAndIntegrity) {
  gt::test::TempDir tmp("runs");
  const fs::path dir = make_run(tmp.path(), {.name = "r", .metadata = meta("completed", "\"device\": \"cpu\""),
                                             .metrics = train_rows(1, 8) + eval_row(4, 2.0) + eval_row(8, 1.5),
                                             .adapter = true});
  write_file(dir / "checkpoints/step-4/adapter_model.safetensors", "x");
  write_file(dir / "checkpoints/step-4/DONE", "");
  write_file(dir / "checkpoints/step-8.tmp/adapter_model.safetensors", "y");
  write_file(dir / "skipped.jsonl", "{\"file\": \"t.jsonl\", \"row\": 2, \"kind\": \"bad_json\", \"reason\": \"x\"}\n"
                                    "{\"file\": \"t.jsonl\", \"row\": 5, \"kind\": \"too_long\", \"reason\": \"y\"}\n"
                                    "{\"file\": \"t.jsonl\", \"row\": 9, \"kind\": \"too_long\", \"reason\": \"z\"}\n");
  auto d = gt::io::read_run_details(dir.string());
  EXPECT_FALSE(d.integrity.has_manifest);
  ASSERT_EQ(d.checkpoints.size(), 2u);
  EXPECT_EQ(d.checkpoints[0].name, "step-4");
  EXPECT_TRUE(d.checkpoints[0].complete);
  EXPECT_EQ(d.checkpoints[1].step, 8);
  EXPECT_FALSE(d.checkpoints[1].complete);
  EXPECT_EQ(d.skipped_rows, 3);
  EXPECT_EQ(d.skipped_kinds["too_long"], 2);
  EXPECT_EQ(d.evals.size(), 2u);
  EXPECT_EQ(d.last_train.value("step", 0), 8);
  EXPECT_DOUBLE_EQ(d.train_seconds, 4.0);
  EXPECT_GT(d.adapter_bytes, 64u);

  gt::io::write_integrity_manifest(dir.string());
  d = gt::io::read_run_details(dir.string());
  EXPECT_TRUE(d.integrity.ok());
  EXPECT_GE(d.integrity.files, 8u);
  const std::string text = gt::io::format_run_details(d);
  for (const char* want : {"status      completed", "step-4", "step-8.tmp (incomplete", "3 rows (1 bad_json, 2 too_long)",
                           "integrity   ok,", "best 1.5000 at step 8", "max_steps: 8", "cpu"})
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  const json j = gt::io::details_to_json(d);
  EXPECT_EQ(j["integrity"]["ok"], true);
  EXPECT_EQ(j["checkpoints"].size(), 2u);
  EXPECT_EQ(j["skipped_rows"], 3);

  write_file(dir / "adapter/adapter_config.json", "{\"r\": 8}\n");
  d = gt::io::read_run_details(dir.string());
  EXPECT_FALSE(d.integrity.ok());
  EXPECT_EQ(d.integrity.problems, std::vector<std::string>{"changed: adapter/adapter_config.json"});
  EXPECT_NE(gt::io::format_run_details(d).find("changed: adapter/adapter_config.json"), std::string::npos);

  // A damaged manifest is reported, not thrown.
  write_file(dir / ".integrity.json", "{\"files\": {\"metadata.json\": {\"size\": \"big\"}}}");
  const auto s = gt::io::check_integrity(dir.string());
  EXPECT_TRUE(s.has_manifest);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(s.error.empty());
  write_file(dir / ".integrity.json", "[]");
  EXPECT_NE(gt::io::check_integrity(dir.string()).error.find("not a valid manifest"), std::string::npos);
}

TEST(RunIndex, ResolveRunByNamePathOrUniquePart) {
  gt::test::TempDir tmp("runs");
  make_run(tmp.path(), {.name = "20261125-100000-alpha", .metadata = meta("completed")});
  make_run(tmp.path(), {.name = "20261125-110000-beta", .metadata = meta("completed")});
  fs::create_directories(tmp / "plain");
  const std::string parent = tmp.path().string();
  EXPECT_EQ(gt::io::resolve_run(parent, "20261125-100000-alpha"), (tmp / "20261125-100000-alpha").string());
  EXPECT_EQ(gt::io::resolve_run("/nonexistent", (tmp / "20261125-110000-beta").string()),
            (tmp / "20261125-110000-beta").string());
  EXPECT_EQ(gt::io::resolve_run(parent, "beta"), (tmp / "20261125-110000-beta").string());
  const std::string ambiguous = error_of([&] { gt::io::resolve_run(parent, "20261125"); });
  EXPECT_NE(ambiguous.find("matches 2 runs"), std::string::npos) << ambiguous;
  EXPECT_NE(error_of([&] { gt::io::resolve_run(parent, "gamma"); }).find("no run"), std::string::npos);
  EXPECT_NE(error_of([&] { gt::io::resolve_run(parent, "plain"); }).find("not a gemma-tune run folder"), std::string::npos);
}

TEST(RunIndex, CleanPicksOnlyFinishedFailuresAndNeverStrayFolders) {
  gt::test::TempDir tmp("runs");
  const std::string host = "\"host\": \"" + gt::io::this_host() + "\"";
  make_run(tmp.path(), {.name = "failed", .metadata = meta("failed")});
  make_run(tmp.path(), {.name = "cancelled", .metadata = meta("cancelled")});
  make_run(tmp.path(), {.name = "completed", .metadata = meta("completed"), .adapter = true});
  make_run(tmp.path(), {.name = "completed-no-adapter", .metadata = meta("completed")});
  make_run(tmp.path(), {.name = "died", .metadata = meta("running", host + ", \"pid\": " + std::to_string(dead_pid()))});
  make_run(tmp.path(), {.name = "alive", .metadata = meta("running", host + ", \"pid\": " + std::to_string(::getpid()))});
  make_run(tmp.path(), {.name = "maybe", .metadata = meta("running")});
  make_run(tmp.path(), {.name = "broken", .metadata = "{"});
  make_run(tmp.path(), {.name = "config-only", .metadata = ""});
  // A link to a failed run elsewhere: listed, never deleted through.
  gt::test::TempDir outside("outside");
  make_run(outside.path(), {.name = "linked-failed", .metadata = meta("failed")});
  fs::create_directory_symlink(outside / "linked-failed", tmp / "link");

  auto names = [](const std::vector<gt::io::CleanItem>& items) {
    std::vector<std::string> out;
    for (const auto& it : items) out.push_back(it.run.name);
    std::sort(out.begin(), out.end());
    return out;
  };
  const auto runs = gt::io::list_runs(tmp.path().string());
  EXPECT_EQ(runs.size(), 10u);
  EXPECT_EQ(names(gt::io::clean_candidates(runs, false)), (std::vector<std::string>{"cancelled", "failed"}));
  const auto all = gt::io::clean_candidates(runs, true);
  EXPECT_EQ(names(all), (std::vector<std::string>{"broken", "cancelled", "completed-no-adapter", "died", "failed"}));
  for (const auto& it : all) EXPECT_GT(it.bytes, 0u) << it.run.name;

  for (const auto& it : all) gt::io::delete_run(tmp.path().string(), it.run);
  for (const char* gone : {"failed", "cancelled", "died", "broken", "completed-no-adapter"})
    EXPECT_FALSE(fs::exists(tmp / gone)) << gone;
  for (const char* kept : {"completed", "alive", "maybe", "config-only", "link"})
    EXPECT_TRUE(fs::exists(tmp / kept)) << kept;
  EXPECT_TRUE(fs::exists(outside / "linked-failed/metadata.json"));

  // delete_run checks again by itself: a symlink, a folder without metadata.json, a run outside the parent.
  const RunInfo link = gt::io::read_run((tmp / "link").string());
  EXPECT_NE(error_of([&] { gt::io::delete_run(tmp.path().string(), link); }).find("not deleted"), std::string::npos);
  const RunInfo config_only = gt::io::read_run((tmp / "config-only").string());
  EXPECT_NE(error_of([&] { gt::io::delete_run(tmp.path().string(), config_only); }).find("no metadata.json"),
            std::string::npos);
  const RunInfo elsewhere = gt::io::read_run((outside / "linked-failed").string());
  EXPECT_NE(error_of([&] { gt::io::delete_run(tmp.path().string(), elsewhere); }).find("not directly under"),
            std::string::npos);
  EXPECT_TRUE(fs::exists(tmp / "config-only/config.yaml"));
  EXPECT_TRUE(fs::exists(outside / "linked-failed/metadata.json"));
}
