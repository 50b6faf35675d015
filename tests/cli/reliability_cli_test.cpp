// Issue #13's reliability cases on the tiny model: a diverging run, runs started together with one name, a LoRA rank
// larger than a layer, a disk that fills while a checkpoint is written, and a damaged newest checkpoint.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <chrono>
#include <random>
#include <set>

#include "cli/tiny_setup.h"

namespace {

using gt::test::quote;
using gt::test::TinySetup;
namespace fs = std::filesystem;
using nlohmann::json;

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// TinySetup's arguments with its --lr 1e-2 replaced by a learning rate that makes the run diverge.
std::string diverging_args(const TinySetup& s, const std::string& extra) {
  std::string args = s.train_args(extra);
  args.replace(args.find("--lr 1e-2"), 9, "--lr 1e30");
  return args;
}

TEST(ReliabilityCli, DivergingRunFailsWithoutSavingNonFiniteWeights) {
  TinySetup s;
  // 4 steps: the first update at lr 1e30 makes every later loss NaN; fewer than the 5-in-a-row limit are left.
  auto r = gt::test::run_cli(diverging_args(s, "--max-steps 4 --save-every 1"));
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_TRUE(has(r.err, "training diverged")) << r.err;
  const fs::path run = s.only_run();
  const json meta = gt::test::read_json(run / "metadata.json");
  EXPECT_EQ(meta["status"], "failed");
  EXPECT_TRUE(has(meta["error"].get<std::string>(), "not finite")) << meta.dump();
  EXPECT_FALSE(fs::exists(run / "adapter"));
  // Skipped steps leave the weights of step 1, which are checkpointed; resume can start from them at a lower lr.
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "step-4" / "DONE"));
  int skipped = 0;
  for (const json& row : gt::test::read_jsonl(run / "metrics.jsonl"))
    if (row.value("skipped_update", false)) {
      ++skipped;
      ASSERT_TRUE(row.contains("skipped_rows")) << row.dump();
      EXPECT_EQ(row["skipped_rows"].size(), 2u) << row.dump();
      EXPECT_TRUE(has(row["skipped_rows"][0].get<std::string>(), "train.jsonl:")) << row.dump();
    }
  EXPECT_EQ(skipped, 3);

  // A longer run stops at the fifth non-finite step in a row.
  TinySetup t;
  auto longer = gt::test::run_cli(diverging_args(t, "--max-steps 20"));
  EXPECT_NE(longer.exit_code, 0);
  EXPECT_TRUE(has(longer.err, "not finite for 5 steps in a row")) << longer.err;
  EXPECT_EQ(gt::test::read_json(t.only_run() / "metadata.json")["status"], "failed");
  EXPECT_EQ(gt::test::read_jsonl(t.only_run() / "metrics.jsonl").size(), 6u);  // step 1, then 5 skipped
}

TEST(ReliabilityCli, RunsStartedTogetherGetTheirOwnPrivateFolders) {
  TinySetup s;
  // Six trainers with one --out and --name at once; each does one step (the folder stamp is per second, so most
  // start within the same second and race for one name).
  std::string cmd;
  for (int i = 0; i < 6; ++i)
    cmd += "'" + gt::test::cli_path() + "' " + s.train_args("--max-steps 1 --name same") + " >/dev/null 2>&1 & ";
  cmd += "wait";
  auto r = gt::test::run_shell(cmd);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(s.runs)) {
    names.insert(e.path().filename().string());
    struct stat st {};
    ASSERT_EQ(::stat(e.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u) << e.path();
    const json meta = gt::test::read_json(e.path() / "metadata.json");
    EXPECT_EQ(meta["status"], "completed") << e.path();
    EXPECT_EQ(gt::test::read_jsonl(e.path() / "metrics.jsonl").size(), 2u) << e.path();  // step 1 + final eval
  }
  EXPECT_EQ(names.size(), 6u);
}

TEST(ReliabilityCli, LoraRankAboveALayersSizeIsRefusedNamingTheLayer) {
  TinySetup s;
  auto r = gt::test::run_cli(s.train_args("--max-steps 1 --lora-r 100000"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_TRUE(has(r.err, "--lora-r 100000 is larger than layer 'model.language_model.layers.0.self_attn.q_proj'"))
      << r.err;
  EXPECT_TRUE(has(r.err, "its weight is 64 x 64")) << r.err;
  EXPECT_TRUE(has(r.err, "at most 64")) << r.err;
  // A rank within every targeted layer trains.
  TinySetup t;
  auto ok = gt::test::run_cli(t.train_args("--max-steps 1 --lora-r 16"));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

// A trainer stopped like Ctrl-C after step 2 of 4 with a checkpoint every 2 steps: checkpoints/step-2 is complete.
fs::path run_stopped_at_step_2(const TinySetup& s, const std::string& extra = "") {
  auto r = gt::test::run_stopped_after(2, s.train_args("--max-steps 4 --save-every 2 " + extra));
  EXPECT_EQ(r.exit_code, 130) << r.err;
  return s.only_run();
}

TEST(ReliabilityCli, DiskFullDuringACheckpointFailsTheRunAndResumeUsesTheLastGoodOne) {
  TinySetup s;
  const fs::path run = run_stopped_at_step_2(s);
  // A file size limit of 300 blocks (150 or 300 KiB, by shell) below the adapter's 570 kB while the run's small
  // JSON files fit. With SIGXFSZ ignored the write fails with EFBIG, as a full disk fails one with ENOSPC.
  auto full = gt::test::run_shell("trap '' XFSZ; ulimit -f 300; '" + gt::test::cli_path() + "' train --resume " +
                                  quote(run));
  EXPECT_NE(full.exit_code, 0) << full.err;
  EXPECT_TRUE(has(full.err, "checkpoint " + (run / "checkpoints" / "step-4").string() + " was not written")) << full.err;
  EXPECT_TRUE(has(full.err, "step-4.tmp/adapter_model.safetensors")) << full.err;  // the file at fault
  EXPECT_TRUE(has(full.err, "disk")) << full.err;
  const json meta = gt::test::read_json(run / "metadata.json");
  EXPECT_EQ(meta["status"], "failed");
  EXPECT_TRUE(has(meta["error"].get<std::string>(), "was not written")) << meta.dump();
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step-4"));
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step-4.tmp"));
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "step-2" / "DONE"));

  // Without the limit the run resumes from step 2 and completes.
  auto resumed = gt::test::run_cli("train --resume " + quote(run));
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_TRUE(has(resumed.err, "resumed     from " + (run / "checkpoints" / "step-2").string() + " at step 2"))
      << resumed.err;
  EXPECT_EQ(gt::test::read_json(run / "metadata.json")["status"], "completed");
}

TEST(ReliabilityCli, ResumeSkipsADamagedNewestCheckpoint) {
  TinySetup s;
  // Checkpoints at steps 2 and 4 of 6, stopped after 4.
  auto r = gt::test::run_stopped_after(4, s.train_args("--max-steps 6 --save-every 2 --keep-checkpoints 3"));
  ASSERT_EQ(r.exit_code, 130) << r.err;
  const fs::path run = s.only_run();
  const fs::path newest = run / "checkpoints" / "step-4";
  ASSERT_TRUE(fs::exists(newest / "DONE"));
  fs::resize_file(newest / "optimizer.safetensors", 100);  // cut short, as a full disk would leave it
  auto resumed = gt::test::run_cli("train --resume " + quote(run));
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_TRUE(has(resumed.err, newest.string() + " does not verify")) << resumed.err;
  EXPECT_TRUE(has(resumed.err, "resumed     from " + (run / "checkpoints" / "step-2").string() + " at step 2"))
      << resumed.err;
  EXPECT_EQ(gt::test::read_json(run / "metadata.json")["status"], "completed");

  // When no checkpoint verifies, resume is an error that lists each one and why.
  TinySetup t;
  const fs::path only = run_stopped_at_step_2(t);
  fs::remove(only / "checkpoints" / "step-2" / "rng.safetensors");
  auto none = gt::test::run_cli("train --resume " + quote(only));
  EXPECT_NE(none.exit_code, 0);
  EXPECT_TRUE(has(none.err, "no checkpoint verifies")) << none.err;
  EXPECT_TRUE(has(none.err, "rng.safetensors is missing")) << none.err;
}

}  // namespace

namespace {

// Issue #13 item 3: a resumed run keeps its own settings; a `resume:` key in a YAML config, or --resume beside other
// flags, never silently changes them. Options that change no numbers (cadence, live page, device) may be given anew.
TEST(ReliabilityCli, ResumeRefusesSettingsThatDifferFromTheRunsOwn) {
  TinySetup s;
  auto stopped = gt::test::run_stopped_after(1, s.train_args("--max-steps 3 --name parts"));
  ASSERT_EQ(stopped.exit_code, 130) << stopped.err;
  const fs::path run = s.only_run();
  const std::string before = gt::test::read_file(run / "config.yaml");

  const fs::path yaml = s.tmp / "resume.yaml";
  gt::test::write_file(yaml, "resume: " + run.string() + "\nlr: 0.5\nmax_steps: 9\nseed: 5\n");
  auto r = gt::test::run_cli("train --config " + quote(yaml));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("lr: the run has 0.01, given 0.5"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("max_steps: the run has 3, given 9"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("seed:"), std::string::npos) << "seed is the run's own: no conflict\n" << r.err;
  EXPECT_EQ(json::parse(gt::test::read_file(run / "metadata.json"))["status"], "cancelled") << "nothing ran";

  r = gt::test::run_cli("train --resume " + quote(run) + " --batch-size 4");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("batch_size: the run has 2, given 4"), std::string::npos) << r.err;

  // Cadence may change; the YAML's own resume key works like the flag.
  gt::test::write_file(yaml, "resume: " + run.string() + "\nlog_every: 2\nlr: 0.01\n");
  r = gt::test::run_cli("train --config " + quote(yaml));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("note: --log-every 2 (the run had 1)"), std::string::npos) << r.err;
  EXPECT_EQ(json::parse(gt::test::read_file(run / "metadata.json"))["status"], "completed");
  EXPECT_EQ(gt::test::read_file(run / "config.yaml"), before) << "the run's config is never rewritten";
}

}  // namespace

namespace {

int eval_rows_at(const fs::path& run, int64_t step) {
  int n = 0;
  for (const json& row : gt::test::read_jsonl(run / "metrics.jsonl"))
    n += row.value("step", int64_t{-1}) == step && row.contains("eval_loss");
  return n;
}

// Issue #13 item 6: a kill -9 right after an evaluation's row is written (before the next checkpoint) doubles no row
// once resumed, and the resumed run's evaluations and losses are the uninterrupted run's.
TEST(ReliabilityCli, KillRightAfterAnEvaluationDoublesNoRowOnResume) {
  TinySetup whole;
  ASSERT_EQ(gt::test::run_cli(whole.train_args("--max-steps 4 --save-every 2 --eval-every 2")).exit_code, 0);
  const fs::path reference = whole.only_run();

  TinySetup s;
  auto killed = gt::test::run_shell("GT_TEST_SIGNAL_AT=eval-2:9 '" + gt::test::cli_path() + "' " +
                                    s.train_args("--max-steps 4 --save-every 2 --eval-every 2"));
  EXPECT_EQ(killed.exit_code, 128 + 9) << killed.err;
  const fs::path run = s.only_run();
  ASSERT_EQ(eval_rows_at(run, 2), 1);
  auto resumed = gt::test::run_cli("train --resume " + quote(run));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(eval_rows_at(run, 2), 1) << gt::test::read_file(run / "metrics.jsonl");
  EXPECT_EQ(eval_rows_at(run, 4), 1) << gt::test::read_file(run / "metrics.jsonl");
  EXPECT_EQ(gt::test::step_losses(run), gt::test::step_losses(reference));
  EXPECT_EQ(gt::test::read_json(run / "metadata.json")["eval_loss"],
            gt::test::read_json(reference / "metadata.json")["eval_loss"]);
}

// Resuming a run that had completed trains nothing, doubles no evaluation row and keeps its last loss.
TEST(ReliabilityCli, ResumingACompletedRunKeepsItsLastLossAndRows) {
  TinySetup s;
  ASSERT_EQ(gt::test::run_cli(s.train_args("--max-steps 2 --save-every 2 --eval-every 2")).exit_code, 0);
  const fs::path run = s.only_run();
  const json before = gt::test::read_json(run / "metadata.json");
  ASSERT_TRUE(before["last_loss"].is_number()) << before.dump();
  auto again = gt::test::run_cli("train --resume " + quote(run));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const json after = gt::test::read_json(run / "metadata.json");
  EXPECT_EQ(after["status"], "completed");
  EXPECT_EQ(after["last_loss"], before["last_loss"]) << after.dump();
  EXPECT_EQ(eval_rows_at(run, 2), 1) << gt::test::read_file(run / "metrics.jsonl");
  EXPECT_EQ(gt::test::step_losses(run).size(), 2u);
}

// A Ctrl-C during set-up (data, model load) ends the run `cancelled` with exit 130, never leaves it `running`.
TEST(ReliabilityCli, CtrlCDuringSetUpMarksTheRunCancelled) {
  TinySetup s;
  auto r = gt::test::run_shell("GT_TEST_SIGNAL_AT=set-up:2 '" + gt::test::cli_path() + "' " +
                               s.train_args("--max-steps 3"));
  EXPECT_EQ(r.exit_code, 130) << r.err;
  EXPECT_TRUE(has(r.err, "interrupted after reading the data; nothing was trained")) << r.err;
  const fs::path run = s.only_run();
  const json meta = gt::test::read_json(run / "metadata.json");
  EXPECT_EQ(meta["status"], "cancelled") << meta.dump();
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step-1"));
}

}  // namespace

namespace {

// The checkpoints being written (step-N.tmp folders) in a run folder.
std::set<std::string> partial_checkpoints(const fs::path& run) {
  std::set<std::string> out;
  if (fs::exists(run / "checkpoints"))
    for (const auto& e : fs::directory_iterator(run / "checkpoints"))
      if (e.path().extension() == ".tmp") out.insert(e.path().filename().string());
  return out;
}

// The newest checkpoint that is complete (its DONE marker written), or -1.
int64_t newest_done_checkpoint(const fs::path& run) {
  int64_t newest = -1;
  if (!fs::exists(run / "checkpoints")) return newest;
  for (const auto& e : fs::directory_iterator(run / "checkpoints")) {
    const std::string name = e.path().filename().string();
    if (name.rfind("step-", 0) == 0 && name.find('.') == std::string::npos && fs::exists(e.path() / "DONE"))
      newest = std::max<int64_t>(newest, std::stoll(name.substr(5)));
  }
  return newest;
}

// Issue #13, crash safety: the trainer is killed with SIGKILL twice inside a checkpoint's write (test hook), then at
// seeded random moments (during set-up, mid-step, between steps: a checkpoint is written after every step and each
// step is slowed by 120 ms), and resumed each time. Every resume starts from the newest complete checkpoint, the run completes, and its loss curve is the
// uninterrupted run's, exactly (CPU, float32).
TEST(ReliabilityCli, RandomKillsLoseNoCheckpointAndResumeReproducesTheLossCurve) {
  const std::string schedule = "--max-steps 10 --save-every 1 --keep-checkpoints 2";
  TinySetup whole;
  ASSERT_EQ(gt::test::run_cli(whole.train_args(schedule)).exit_code, 0);
  const std::vector<double> reference = gt::test::step_losses(whole.only_run());
  ASSERT_EQ(reference.size(), 10u);

  TinySetup s;
  const auto started = std::chrono::steady_clock::now();
  auto first = gt::test::run_stopped_after(1, s.train_args(schedule));
  ASSERT_EQ(first.exit_code, 130) << first.err;
  const fs::path run = s.only_run();
  // A kill must sometimes come after a resumed run has made a step: on a busy machine (other tests beside this one)
  // the start takes longer, so the delays stretch with the time the first run took (start, one step, a checkpoint).
  const auto first_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  const int longest = std::max(1400, static_cast<int>(2.5 * static_cast<double>(first_ms.count())));

  std::mt19937 rng(20261207);
  std::uniform_int_distribution<int> delay_ms(100, longest);
  int kills = 0, completed = 0, mid_checkpoint = 0;
  for (int attempt = 0; attempt < 60 && !completed; ++attempt) {
    const int64_t newest = newest_done_checkpoint(run);
    const std::set<std::string> partial_before = partial_checkpoints(run);
    // The first two kills land inside the next checkpoint's write for certain (half written; renamed without DONE),
    // the rest at random moments.
    const std::string next = std::to_string(newest + 1);
    const int ms = delay_ms(rng);
    const std::string killer = attempt == 0   ? "GT_TEST_SIGNAL_AT=checkpoint-" + next + ":9 "
                               : attempt == 1 ? "GT_TEST_SIGNAL_AT=checkpoint-" + next + "-renamed:9 "
                                              : "timeout -s KILL " + std::to_string(ms / 1000.0) + " ";
    auto r = gt::test::run_shell("GT_TEST_STEP_DELAY_MS=120 " + killer + "'" + gt::test::cli_path() +
                                 "' train --resume " + quote(run));
    SCOPED_TRACE("attempt " + std::to_string(attempt) + ": " + killer);
    if (attempt < 2) EXPECT_EQ(newest_done_checkpoint(run), newest) << "a checkpoint cut short never counts";
    if (r.exit_code == 0) {
      completed = 1;
    } else {
      ASSERT_EQ(r.exit_code, 137) << r.err;  // only ever our SIGKILL, never an error of the trainer
      ++kills;
      for (const std::string& p : partial_checkpoints(run)) mid_checkpoint += !partial_before.count(p);
    }
    const std::string from = "resumed     from " + (run / "checkpoints").string() + "/step-";
    const size_t at = r.err.find(from);
    if (at != std::string::npos)  // it got as far as loading a checkpoint: the newest complete one
      EXPECT_EQ(std::stoll(r.err.substr(at + from.size())), newest) << r.err;
  }
  ASSERT_TRUE(completed) << "the run never completed in 60 attempts";
  EXPECT_GE(kills, 2);
  std::printf("[kill test] %d kills survived, %d of them while a checkpoint was being written\n", kills, mid_checkpoint);
  EXPECT_EQ(gt::test::step_losses(run), reference);
  EXPECT_EQ(gt::test::read_json(run / "metadata.json")["status"], "completed");
  auto verified = gt::test::run_cli("verify " + quote(run));
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;
}

}  // namespace
