// A tiny Gemma checkpoint (init-random, float32) with the 311-token tokenizer of tests/fixtures/data/gemma4-tiny and
// a small instruction dataset folder, for the command-line tests: a training step or a generated token takes
// milliseconds rather than the real 262k vocabulary's seconds. Header-only, torch-free.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace gt::test {

namespace fs = std::filesystem;
using nlohmann::json;

inline const char* kRows[] = {
    R"({"prompt": "What colour is the sky?", "response": "Blue."})",
    R"({"prompt": "Name a fruit.", "response": "An apple."})",
    R"({"prompt": "Two plus two?", "response": "Four."})",
    R"({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi."}, {"role": "assistant", "content": "Hi!"}]})",
    R"({"prompt": "Capital of France?", "response": "Paris."})",
    R"({"prompt": "Opposite of hot?", "response": "Cold."})",
    R"({"prompt": "A word for happy?", "response": "Glad."})",
    R"({"prompt": "Count to three.", "response": "One, two, three."})",
};

inline std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

// A tiny Gemma 4 checkpoint with the 311-token tokenizer and a dataset folder, made once per test.
struct TinySetup {
  gt::test::TempDir tmp{"cli"};
  fs::path model = tmp / "model";
  fs::path data = tmp / "data";
  fs::path runs = tmp / "runs";
  explicit TinySetup(const std::string& family = "gemma4") {
    const std::string tokenizer = gt::test::fixture("data/gemma4-tiny/tokenizer.json").string();
    auto r = gt::test::run_cli("init-random --family " + family + " --size tiny --vocab-size 320 --dtype float32 --out " +
                     quote(model) + " --tokenizer '" + tokenizer + "' --seed 3");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string train, val;
    for (const char* row : kRows) train += std::string(row) + "\n";
    for (int i = 0; i < 3; ++i) val += std::string(kRows[i]) + "\n";
    gt::test::write_file(data / "train.jsonl", train);
    gt::test::write_file(data / "validation.jsonl", val);
  }
  std::string train_args(const std::string& extra) const {
    return "train --model " + quote(model) + " --data " + quote(data) + " --out " + quote(runs) +
           " --batch-size 2 --max-seq-len 64 --lr 1e-2 --seed 5 " + extra;
  }
  fs::path only_run() const {
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(runs)) found.push_back(e.path());
    EXPECT_EQ(found.size(), 1u);
    return found.empty() ? fs::path() : found[0];
  }
};

// `gemma-tune ARGS` stopped as a Ctrl-C would stop it after `step` (test hook GT_TEST_STOP_AFTER_STEP): a checkpoint
// written, the run cancelled, exit 130.
inline CommandResult run_stopped_after(int64_t step, const std::string& args) {
  return run_shell("GT_TEST_STOP_AFTER_STEP=" + std::to_string(step) + " '" + cli_path() + "' " + args);
}

inline std::vector<json> read_jsonl(const fs::path& p) {
  std::vector<json> rows;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) rows.push_back(json::parse(line));
  return rows;
}

inline json read_json(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

// The training losses in a run folder's metrics.jsonl, step by step (evaluation rows left out).
inline std::vector<double> step_losses(const fs::path& run) {
  std::vector<double> out;
  for (const json& j : read_jsonl(run / "metrics.jsonl"))
    if (j.contains("loss") && j.contains("step") && !j.contains("eval_loss")) out.push_back(j["loss"].get<double>());
  return out;
}

// The run folder under `runs` whose name contains `name` (empty when there is none).
inline fs::path run_named(const fs::path& runs, const std::string& name) {
  for (const auto& e : fs::directory_iterator(runs))
    if (e.path().filename().string().find(name) != std::string::npos) return e.path();
  return {};
}

}  // namespace gt::test
