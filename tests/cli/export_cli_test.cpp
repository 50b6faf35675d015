// `gemma-tune export` end to end on a tiny float32 Gemma 4 checkpoint and an adapter trained for a few steps: the
// merged folder (sharded safetensors with an index, the model's other files) evaluates to the loss of base +
// adapter and generates the same greedy tokens; the PEFT export is the adapter; both carry gemma_tune_export.json and
// an integrity manifest that `verify` checks.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>

#include "cli/tiny_setup.h"
#include "test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using gt::test::quote;
using gt::test::read_json;
using gt::test::run_cli;
using gt::test::TinySetup;

TEST(ExportCli, MergedFolderEvaluatesAndGeneratesAsBasePlusAdapter) {
  TinySetup s;
  auto trained = run_cli(s.train_args("--max-steps 4 --save-every 0"));
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const fs::path adapter = s.only_run() / "adapter";
  const fs::path merged = s.tmp / "merged";
  auto r = run_cli("export --model " + quote(s.model) + " --adapter " + quote(adapter) + " --out " + quote(merged) +
                   " --max-shard-size 300000");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int shards = 0;
  for (const auto& e : fs::directory_iterator(merged)) shards += e.path().extension() == ".safetensors";
  EXPECT_GT(shards, 1);
  const json index = read_json(merged / "model.safetensors.index.json");
  EXPECT_TRUE(index["weight_map"].contains("model.language_model.layers.0.self_attn.q_proj.weight"));
  for (const char* f : {"config.json", "tokenizer.json", ".integrity.json"}) EXPECT_TRUE(fs::exists(merged / f)) << f;
  const json info = read_json(merged / "gemma_tune_export.json");
  EXPECT_EQ(info["format"], "merged");
  EXPECT_EQ(info["modality"], "text");
  EXPECT_EQ(info["base_config_sha256"].get<std::string>().size(), 64u);
  EXPECT_GT(info["merged_modules"].get<int>(), 0);

  const std::string data = " --data " + quote(s.data) + " --device cpu --json";
  auto with_adapter = run_cli("eval --model " + quote(s.model) + " --adapter " + quote(adapter) + data);
  auto base = run_cli("eval --model " + quote(s.model) + data);
  auto from_merged = run_cli("eval --model " + quote(merged) + data);
  ASSERT_EQ(from_merged.exit_code, 0) << from_merged.err;
  const double a = json::parse(with_adapter.out)["loss"], b = json::parse(base.out)["loss"],
               m = json::parse(from_merged.out)["loss"];
  std::cout << "[parity] merged export loss " << m << " vs base + adapter " << a << " (base " << b << ")\n";
  EXPECT_NEAR(m, a, 1e-5 * std::abs(a));
  EXPECT_GT(std::abs(a - b), 1e-3) << "the adapter must change the loss for this check to mean anything";

  const std::string prompt = " --prompt 'Name a fruit.' --temperature 0 --max-new-tokens 8 --json --device cpu";
  auto g_adapter = run_cli("generate --model " + quote(s.model) + " --adapter " + quote(adapter) + prompt);
  auto g_merged = run_cli("generate --model " + quote(merged) + prompt);
  ASSERT_EQ(g_merged.exit_code, 0) << g_merged.err;
  EXPECT_EQ(json::parse(g_merged.out)["ids"], json::parse(g_adapter.out)["ids"]);

  EXPECT_EQ(run_cli("verify " + quote(merged)).exit_code, 0);
  gt::test::write_file(merged / "config.json", gt::test::read_file(merged / "config.json") + " ");
  auto tampered = run_cli("verify " + quote(merged));
  EXPECT_EQ(tampered.exit_code, 1);
  EXPECT_NE(tampered.out.find("config.json"), std::string::npos) << tampered.out;
}

TEST(ExportCli, PeftExportIsTheAdapterAndBadRequestsAreRefused) {
  TinySetup s;
  auto trained = run_cli(s.train_args("--max-steps 2 --save-every 0"));
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const fs::path adapter = s.only_run() / "adapter";
  const fs::path out = s.tmp / "peft";
  auto r = run_cli("export --format peft --model " + quote(s.model) + " --adapter " + quote(adapter) + " --out " +
                   quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* f : {"adapter_config.json", "adapter_model.safetensors"})
    EXPECT_EQ(gt::test::read_file(out / f), gt::test::read_file(adapter / f)) << f;
  EXPECT_EQ(run_cli("verify " + quote(out)).exit_code, 0);

  struct Case {
    std::string args, message;
  } cases[] = {
      {"--format peft --out " + quote(s.tmp / "x"), "needs --adapter"},
      {"--format onnx --out " + quote(s.tmp / "x"), "expected merged, peft or gguf"},
      {"--adapter " + quote(adapter) + " --out " + quote(out), "exists and is not empty"},
      {"--adapter " + quote(s.data) + " --out " + quote(s.tmp / "y"), "adapter_config.json"},
      {"--dtype float8 --out " + quote(s.tmp / "z"), "--dtype"},
  };
  for (const Case& c : cases) {
    auto bad = run_cli("export --model " + quote(s.model) + " " + c.args);
    EXPECT_EQ(bad.exit_code, 1) << c.args;
    EXPECT_NE(bad.err.find(c.message), std::string::npos) << c.args << ": " << bad.err;
  }
}
