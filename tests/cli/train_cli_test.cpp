// `gemma-tune init-random`, `train` and `eval` end to end on tiny checkpoints (CPU, seconds): the run folder, the
// metrics, evaluation with and without the adapter, exact resume after an interruption, Ctrl-C, and the
// refusals. The Gemma 4 tests use a 311-token tokenizer with the Gemma 4 markers (tests/fixtures/data/gemma4-tiny)
// and a checkpoint whose vocabulary matches it, so that a step takes milliseconds rather than the real
// 262k-vocabulary's seconds.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/integrity.h"
#include "cli/tiny_setup.h"
#include "test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using gt::test::run_cli;

namespace {

using gt::test::quote;
using gt::test::read_json;
using gt::test::read_jsonl;
using gt::test::TinySetup;

std::vector<double> step_losses(const fs::path& run) {
  std::vector<double> out;
  for (const json& r : read_jsonl(run / "metrics.jsonl"))
    if (r.contains("loss")) out.push_back(r["loss"].get<double>());
  return out;
}

}  // namespace

TEST(TrainCli, TrainsEvaluatesAndWritesTheRunFolder) {
  TinySetup s;
  auto r = run_cli(s.train_args("--max-steps 8 --save-every 4 --eval-every 4"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  fs::path run = s.only_run();
  for (const char* f : {"config.yaml", "metadata.json", "metrics.jsonl", "adapter/adapter_config.json",
                        "adapter/adapter_model.safetensors", ".integrity.json", "checkpoints/step-8/DONE",
                        "checkpoints/step-4/optimizer.safetensors"})
    EXPECT_TRUE(fs::exists(run / f)) << f;
  json meta = read_json(run / "metadata.json");
  EXPECT_EQ(meta["status"], "completed");
  EXPECT_EQ(meta["steps"], 8);
  std::vector<double> losses = step_losses(run);
  ASSERT_EQ(losses.size(), 8u);
  EXPECT_LT(losses.back(), losses.front()) << "the loss falls on a dataset this small";
  int evals = 0;
  for (const json& row : read_jsonl(run / "metrics.jsonl")) evals += row.contains("eval_loss");
  EXPECT_EQ(evals, 2) << "eval at step 4 and the final one";
  EXPECT_TRUE(gt::io::verify_integrity_manifest(run.string()).empty());
  json adapter_cfg = read_json(run / "adapter/adapter_config.json");
  EXPECT_EQ(adapter_cfg["peft_type"], "LORA");
  EXPECT_EQ(adapter_cfg["r"], 16);
  // Multimodal checkpoint: targets are limited to the language model, so PEFT does not touch the towers.
  EXPECT_TRUE(adapter_cfg["target_modules"].is_string());

  auto base = run_cli("eval --model " + quote(s.model) + " --data " + quote(s.data / "train.jsonl") + " --json");
  auto tuned = run_cli("eval --model " + quote(s.model) + " --adapter " + quote(run / "adapter") + " --data " +
                       quote(s.data / "train.jsonl") + " --json");
  ASSERT_EQ(base.exit_code, 0) << base.err;
  ASSERT_EQ(tuned.exit_code, 0) << tuned.err;
  json b = json::parse(base.out), t = json::parse(tuned.out);
  EXPECT_EQ(b["tokens"], t["tokens"]);
  EXPECT_GT(b["tokens"].get<int64_t>(), 0);
  EXPECT_LT(t["loss"].get<double>(), b["loss"].get<double>()) << "the adapter fits the data it was trained on";
}

TEST(TrainCli, ResumeGivesTheSameLossesAsAnUninterruptedRun) {
  TinySetup s;
  // Dropout on (0.05 by default) and shuffling: resume must restore the generator state and the data position.
  ASSERT_EQ(run_cli(s.train_args("--max-steps 6 --name whole")).exit_code, 0);
  fs::path whole;
  for (const auto& e : fs::directory_iterator(s.runs)) whole = e.path();
  std::vector<double> expected = step_losses(whole);
  ASSERT_EQ(expected.size(), 6u);

  auto stopped = gt::test::run_stopped_after(3, s.train_args("--max-steps 6 --name parts"));
  EXPECT_EQ(stopped.exit_code, 130) << stopped.err;
  fs::path parts;
  for (const auto& e : fs::directory_iterator(s.runs))
    if (e.path().filename().string().find("parts") != std::string::npos) parts = e.path();
  ASSERT_FALSE(parts.empty());
  EXPECT_EQ(read_json(parts / "metadata.json")["status"], "cancelled");
  EXPECT_TRUE(fs::exists(parts / "checkpoints/step-3/DONE"));
  EXPECT_NE(stopped.err.find("--resume"), std::string::npos) << "tells how to continue";

  auto resumed = run_cli("train --resume " + quote(parts));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(read_json(parts / "metadata.json")["status"], "completed");
  std::vector<double> got = step_losses(parts);
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], 1e-6) << "step " << i + 1;
}

TEST(TrainCli, CtrlCWritesACheckpointAndMarksTheRunCancelled) {
  TinySetup s;
  // Start a long run, wait for its first metrics line, send SIGINT, report the exit code.
  const std::string cmd = "'" + gt::test::cli_path() + "' " + s.train_args("--max-steps 100000 --name sig") +
                          " 2>/dev/null & pid=$!; for i in $(seq 600); do f=$(ls " + quote(s.runs) +
                          "/*/metrics.jsonl 2>/dev/null); [ -n \"$f\" ] && [ -s \"$f\" ] && break; sleep 0.1; done; "
                          "kill -INT $pid; wait $pid; echo $?";
  auto r = gt::test::run_shell(cmd);
  EXPECT_NE(r.out.find("130"), std::string::npos) << r.out << r.err;
  fs::path run = s.only_run();
  json meta = read_json(run / "metadata.json");
  EXPECT_EQ(meta["status"], "cancelled");
  bool has_checkpoint = false;
  for (const auto& e : fs::directory_iterator(run / "checkpoints")) has_checkpoint |= fs::exists(e.path() / "DONE");
  EXPECT_TRUE(has_checkpoint);
}

TEST(TrainCli, YamlConfigWithFlagsWinning) {
  TinySetup s;
  gt::test::write_file(s.tmp / "run.yaml", "max_steps: 5\nlr: 0.003\nlora_r: 4\nlr_scheduler: cosine\n");
  auto r = run_cli(s.train_args("--config " + quote(s.tmp / "run.yaml") + " --max-steps 2"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string cfg = gt::test::read_file(s.only_run() / "config.yaml");
  EXPECT_NE(cfg.find("max_steps: 2"), std::string::npos) << cfg;
  EXPECT_NE(cfg.find("lr: 0.01"), std::string::npos) << "the --lr flag of train_args wins over the file: " << cfg;
  EXPECT_NE(cfg.find("lora_r: 4"), std::string::npos) << cfg;
  EXPECT_NE(cfg.find("lr_scheduler: \"cosine\""), std::string::npos) << cfg;
  EXPECT_NE(cfg.find("lora_dropout: 0.05\n"), std::string::npos) << "shortest round-trip numbers: " << cfg;
  EXPECT_EQ(step_losses(s.only_run()).size(), 2u);
  auto bad = run_cli(s.train_args("--config " + quote(s.tmp / "nope.yaml")));
  EXPECT_EQ(bad.exit_code, 1);
  gt::test::write_file(s.tmp / "typo.yaml", "learning_rate: 0.1\n");
  auto typo = run_cli(s.train_args("--config " + quote(s.tmp / "typo.yaml")));
  EXPECT_EQ(typo.exit_code, 1);
  EXPECT_NE(typo.err.find("unknown option 'learning_rate'"), std::string::npos) << typo.err;
}

TEST(TrainCli, BadInputStopsWithAClearErrorAndRecordsSkippedRows) {
  TinySetup s;
  gt::test::write_file(s.tmp / "bad/train.jsonl", "{\"prompt\": \"hi\"}\nnot json\n{\"prompt\": \"x\", \"response\": \"  \"}\n");
  auto r = run_cli("train --model " + quote(s.model) + " --data " + quote(s.tmp / "bad") + " --out " + quote(s.runs) +
                   " --max-steps 2");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("train.jsonl"), std::string::npos) << r.err;
  fs::path run = s.only_run();
  json meta = read_json(run / "metadata.json");
  EXPECT_EQ(meta["status"], "failed");
  EXPECT_FALSE(meta["error"].get<std::string>().empty());
  std::vector<json> skipped = read_jsonl(run / "skipped.jsonl");
  ASSERT_EQ(skipped.size(), 3u);
  for (const json& row : skipped) {
    EXPECT_TRUE(row.contains("file") && row.contains("row") && row.contains("reason")) << row.dump();
  }

  auto no_model = run_cli("train --model " + quote(s.tmp / "missing") + " --data " + quote(s.data) + " --out " +
                          quote(s.tmp / "runs2"));
  EXPECT_EQ(no_model.exit_code, 1);
  EXPECT_NE(no_model.err.find("missing"), std::string::npos) << no_model.err;
  auto no_args = run_cli("train --data " + quote(s.data));
  EXPECT_EQ(no_args.exit_code, 1);
  EXPECT_NE(no_args.err.find("--model"), std::string::npos) << no_args.err;
  auto bad_value = run_cli(s.train_args("--lr-scheduler sawtooth"));
  EXPECT_EQ(bad_value.exit_code, 1);
  EXPECT_NE(bad_value.err.find("--lr-scheduler"), std::string::npos) << bad_value.err;
}

TEST(TrainCli, Gemma3nCompletionTraining) {
  TinySetup s("gemma3n");
  gt::test::write_file(s.tmp / "text/train.jsonl",
                       "{\"text\": \"the cat sat on the mat\"}\n{\"text\": \"a dog ran in the park\"}\n");
  auto r = run_cli("train --model " + quote(s.model) + " --data " + quote(s.tmp / "text") + " --out " + quote(s.runs) +
                   " --mode completion --max-steps 4 --batch-size 2 --lr 1e-2 --gradient-checkpointing");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<double> losses = step_losses(s.only_run());
  ASSERT_EQ(losses.size(), 4u);
  EXPECT_LT(losses.back(), losses.front());
}

// --quantize: the base linears in 8 or 4 bits, the adapter still learns (gradient checkpointing too), the choice is
// recorded with the run, and a wrong value is refused by name.
TEST(TrainCli, QuantizedBaseWeightsTrain) {
  for (const auto& [family, mode] : {std::pair{"gemma4", "int8"}, std::pair{"gemma3n", "nf4"}}) {
    TinySetup s(family);
    gt::test::write_file(s.tmp / "text/train.jsonl",
                         "{\"text\": \"the cat sat on the mat\"}\n{\"text\": \"a dog ran in the park\"}\n");
    auto r = run_cli("train --model " + quote(s.model) + " --data " + quote(s.tmp / "text") + " --out " +
                     quote(s.runs) + " --mode completion --max-steps 4 --batch-size 2 --lr 1e-2 --quantize " + mode +
                     (std::string(family) == "gemma3n" ? " --gradient-checkpointing" : ""));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find(std::string(" decoder linears to ") + mode), std::string::npos) << r.err;
    std::vector<double> losses = step_losses(s.only_run());
    ASSERT_EQ(losses.size(), 4u);
    EXPECT_LT(losses.back(), losses.front()) << family << " " << mode;
    EXPECT_NE(gt::test::read_file(s.only_run() / "config.yaml").find(std::string("quantize: \"") + mode + "\""),
              std::string::npos);
  }
  TinySetup s;
  auto bad = run_cli(s.train_args("--quantize fp8"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("--quantize is \"fp8\", expected one of none, int8, nf4"), std::string::npos) << bad.err;
}

// --pack: several rows a packed row, the run learns and records the option; media runs are refused by name.
TEST(TrainCli, PackedRowsTrain) {
  TinySetup s;
  auto r = run_cli(s.train_args("--max-steps 4 --pack"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<double> losses = step_losses(s.only_run());
  ASSERT_EQ(losses.size(), 4u);
  EXPECT_LT(losses.back(), losses.front());
  EXPECT_NE(gt::test::read_file(s.only_run() / "config.yaml").find("pack: true"), std::string::npos);
  auto media = run_cli(s.train_args("--pack --modality audio"));
  EXPECT_EQ(media.exit_code, 1);
  EXPECT_NE(media.err.find("--pack is for text runs"), std::string::npos) << media.err;
}

TEST(InitRandomCli, WritesALoadableCheckpointAndRefusesToOverwrite) {
  gt::test::TempDir tmp("init");
  const std::string tokenizer = gt::test::real_tokenizer_json().string();
  auto r = run_cli("init-random --family gemma4 --out " + quote(tmp / "g4") + " --tokenizer '" + tokenizer + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto doctor = run_cli("doctor --model " + quote(tmp / "g4") + " --json");
  ASSERT_EQ(doctor.exit_code, 0) << doctor.err;
  json d = json::parse(doctor.out);
  EXPECT_TRUE(d["model"]["ok"].get<bool>()) << d["model"].dump();
  EXPECT_EQ(d["model"]["family"], "gemma4");
  // The family's markers are where a real Gemma 4 tokenizer has them.
  auto ids = run_cli("tokenize --model " + quote(tmp / "g4"), "{\"text\": \"<|turn>user\\nhi<turn|>\"}\n");
  EXPECT_EQ(ids.out.substr(0, 5), "[105,") << ids.out;
  auto again = run_cli("init-random --family gemma4 --out " + quote(tmp / "g4"));
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.err.find("not empty"), std::string::npos) << again.err;
  auto bad = run_cli("init-random --family gemma9 --out " + quote(tmp / "x"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("gemma9"), std::string::npos) << bad.err;
}
