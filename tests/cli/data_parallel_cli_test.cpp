// `train --nproc N` on the CPU (issue #14): N processes joined by c10d's Gloo backend train as one process with the
// global batch would, a process that dies stops the others with a clear error and a usable run folder, and a run
// resumes with another number of processes on the same global batches.
#include <gtest/gtest.h>

#include <cmath>

#include "tiny_setup.h"

namespace {

using gt::test::json;
using gt::test::quote;
using gt::test::TinySetup;
namespace fs = std::filesystem;

// These tests run CPU processes, joined by Gloo (a CUDA build from pip's PyTorch may have NCCL alone).
bool distributed_build() {
  auto r = gt::test::run_cli("doctor --json");
  return r.exit_code == 0 && json::parse(r.out).value("data_parallel", "").find("gloo") != std::string::npos;
}

std::string args(const TinySetup& s, const std::string& extra) {
  return "train --model " + quote(s.model) + " --data " + quote(s.data) + " --out " + quote(s.runs) +
         " --device cpu --max-seq-len 64 --lr 2e-3 --seed 5 --lora-dropout 0 --eval-every 2 " + extra;
}

std::vector<double> column(const fs::path& run, const std::string& key) {
  std::vector<double> out;
  for (const json& j : gt::test::read_jsonl(run / "metrics.jsonl"))
    if (j.contains(key) && j[key].is_number()) out.push_back(j[key].get<double>());
  return out;
}

// Equal up to float32 summation order (the processes' sums are added in another order than one batch's).
void expect_close(const std::vector<double>& a, const std::vector<double>& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  ASSERT_FALSE(a.empty()) << what;
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-5 * std::max(1.0, std::abs(b[i]))) << what << " " << i;
}

TEST(DataParallelCli, ProcessesWithTheirShareOfEachBatchTrainAsOneProcessWithTheWholeBatch) {
  if (!distributed_build()) GTEST_SKIP() << "this build has no Gloo process group";
  TinySetup s;
  // 8 rows: batches of 2 with 2 micro-batches per step; and batches of 3 (3, 3, 2 rows: in the last one, one of three
  // processes has no row).
  auto one = gt::test::run_cli(args(s, "--batch-size 2 --grad-accum 2 --max-steps 3 --name one"));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  auto two = gt::test::run_cli(args(s, "--batch-size 1 --grad-accum 2 --max-steps 3 --nproc 2 --name two"));
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_NE(two.err.find("2 processes"), std::string::npos) << two.err;
  const fs::path r1 = gt::test::run_named(s.runs, "one"), r2 = gt::test::run_named(s.runs, "two");
  expect_close(column(r2, "loss"), column(r1, "loss"), "loss");
  expect_close(column(r2, "grad_norm"), column(r1, "grad_norm"), "grad_norm");
  expect_close(column(r2, "eval_loss"), column(r1, "eval_loss"), "eval_loss");
  const json meta = gt::test::read_json(r2 / "metadata.json");
  EXPECT_EQ(meta["status"], "completed");
  EXPECT_EQ(meta["processes"], 2);
  EXPECT_TRUE(fs::exists(r2 / "adapter" / "adapter_model.safetensors"));
  // Rank 0 alone wrote the folder: one row per step and evaluation.
  EXPECT_EQ(gt::test::read_jsonl(r2 / "metrics.jsonl").size(), gt::test::read_jsonl(r1 / "metrics.jsonl").size());

  auto three = gt::test::run_cli(args(s, "--batch-size 1 --epochs 1 --nproc 3 --name three"));
  ASSERT_EQ(three.exit_code, 0) << three.err;
  auto whole = gt::test::run_cli(args(s, "--batch-size 3 --epochs 1 --name whole"));
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const fs::path r3 = gt::test::run_named(s.runs, "three"), rw = gt::test::run_named(s.runs, "whole");
  EXPECT_EQ(column(r3, "loss").size(), 3u);
  expect_close(column(r3, "loss"), column(rw, "loss"), "loss, 3 processes");
  expect_close(column(r3, "eval_loss"), column(rw, "eval_loss"), "eval_loss, 3 processes");
}

TEST(DataParallelCli, AProcessThatDiesStopsTheOthersAndTheRunResumesWithAnotherCount) {
  if (!distributed_build()) GTEST_SKIP() << "this build has no Gloo process group";
  TinySetup s;
  const std::string schedule = "--max-steps 6 --save-every 2 ";
  auto reference = gt::test::run_cli(args(s, schedule + "--batch-size 2 --name reference"));
  ASSERT_EQ(reference.exit_code, 0) << reference.err;
  // Rank 1 is killed right after step 3; the checkpoint of step 2 was written by rank 0.
  auto r = gt::test::run_shell("GT_TEST_SIGNAL_AT=step-3:9@1 '" + gt::test::cli_path() + "' " +
                               args(s, schedule + "--batch-size 1 --nproc 2 --name parts"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("rank 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("killed by signal 9"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--resume"), std::string::npos) << r.err;
  const fs::path run = gt::test::run_named(s.runs, "parts");
  const json meta = gt::test::read_json(run / "metadata.json");
  EXPECT_EQ(meta["status"], "failed");
  EXPECT_NE(meta["error"].get<std::string>().find("rank 1"), std::string::npos) << meta.dump();
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "step-2" / "DONE"));
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step-4"));

  // One process now, with both processes' rows of each global batch: the losses of the uninterrupted run.
  auto resumed = gt::test::run_cli("train --resume " + quote(run) + " --nproc 1");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("keep the run's global batch of 2"), std::string::npos) << resumed.err;
  expect_close(column(run, "loss"), column(gt::test::run_named(s.runs, "reference"), "loss"), "resumed loss");
  EXPECT_EQ(gt::test::read_json(run / "metadata.json")["status"], "completed");

  // A count that does not divide the global batch is refused.
  auto odd = gt::test::run_cli("train --resume " + quote(run) + " --nproc 3");
  EXPECT_EQ(odd.exit_code, 1);
  EXPECT_NE(odd.err.find("does not split evenly into 3"), std::string::npos) << odd.err;
}

TEST(DataParallelCli, BadProcessVariablesAreRefusedByName) {
  TinySetup s;
  auto r = gt::test::run_shell("WORLD_SIZE=2 '" + gt::test::cli_path() + "' " + args(s, "--max-steps 1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("without RANK"), std::string::npos) << r.err;
  r = gt::test::run_shell("WORLD_SIZE=2 RANK=5 '" + gt::test::cli_path() + "' " + args(s, "--max-steps 1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("RANK=5"), std::string::npos) << r.err;
  r = gt::test::run_cli(args(s, "--max-steps 1 --nproc 0"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--nproc is 0"), std::string::npos) << r.err;
}

}  // namespace
