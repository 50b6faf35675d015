// Greedy decoding against transformers' generate() on tiny random models of both families
// (tests/fixtures/generation/<family>/, made by tools/make_generation_fixtures.py): raw and chat prompts, with and
// without a PEFT adapter, 32 new tokens each (the sliding window is 8: the cache drops keys and the KV-shared layers
// read it many times over), one by one and in one left-padded batch; then the same through `gemma-tune generate`,
// whose chat rendering must give the fixture's prompt ids (checked by the prompt token count and the output).
#include <torch/torch.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <set>

#include "infer/generator.h"
#include "models/model.h"
#include "models/peft_adapter.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace gt;

namespace {

struct Fixture {
  fs::path dir;
  nlohmann::json cases;
};

Fixture load_fixture(const std::string& family) {
  Fixture f;
  f.dir = test::fixture("generation/" + family);
  std::ifstream in(f.dir / "cases.json");
  if (in) f.cases = nlohmann::json::parse(in);
  return f;
}

class GenerationParity : public ::testing::TestWithParam<std::string> {};

TEST_P(GenerationParity, GreedyIdsEqualTransformers) {
  const Fixture f = load_fixture(GetParam());
  if (f.cases.is_null()) GTEST_SKIP() << "no fixture at " << f.dir << " (run tools/make_generation_fixtures.py)";
  for (const bool adapter : {false, true}) {
    auto model = models::load_model((f.dir / "model").string(), {}, at::kFloat, at::kCPU).model;
    if (adapter) models::load_adapter((f.dir / "adapter").string(), model->text());
    infer::GenerationOptions o;
    o.max_new_tokens = f.cases["max_new_tokens"].get<int64_t>();
    o.stop_ids = f.cases["stop_ids"].get<std::vector<int64_t>>();
    const char* key = adapter ? "adapter_ids" : "base_ids";
    const char* stopped = adapter ? "adapter_stopped" : "base_stopped";
    std::vector<std::vector<int64_t>> prompts, expected;
    size_t distinct = 0;
    for (const auto& c : f.cases["cases"]) {
      prompts.push_back(c["prompt_ids"].get<std::vector<int64_t>>());
      expected.push_back(c[key].get<std::vector<int64_t>>());
      const auto got = infer::generate(*model, infer::left_pad({prompts.back()}, 0), {}, o)[0];
      EXPECT_EQ(got.ids, expected.back()) << GetParam() << " " << c["name"] << (adapter ? " with adapter" : "");
      EXPECT_EQ(got.stopped, c[stopped].get<bool>()) << c["name"];
      distinct += std::set<int64_t>(got.ids.begin(), got.ids.end()).size();
    }
    // The fixture script keeps only weight draws whose outputs vary (a fixture of repeated tokens proves little).
    EXPECT_GE(distinct, 16u) << GetParam() << (adapter ? " with adapter" : "");
    const auto batch = infer::generate(*model, infer::left_pad(prompts, 0), {}, o);
    for (size_t i = 0; i < prompts.size(); ++i)
      EXPECT_EQ(batch[i].ids, expected[i]) << GetParam() << " batched row " << i << (adapter ? " with adapter" : "");
  }
  std::cout << "[parity] " << GetParam() << ": " << f.cases["cases"].size()
            << " prompts x (base, adapter) x (alone, batched): greedy ids equal transformers'\n";
}

TEST_P(GenerationParity, CommandLineRendersPromptsAsTransformersFixture) {
  const Fixture f = load_fixture(GetParam());
  if (f.cases.is_null()) GTEST_SKIP() << "no fixture at " << f.dir;
  for (const auto& c : f.cases["cases"]) {
    for (const bool adapter : {false, true}) {
      std::string args = "generate --model '" + (f.dir / "model").string() + "' --temperature 0 --max-new-tokens " +
                         std::to_string(f.cases["max_new_tokens"].get<int64_t>()) + " --json --device cpu";
      if (adapter) args += " --adapter '" + (f.dir / "adapter").string() + "'";
      if (c["kind"] == "raw") args += " --raw";
      if (!c["system"].get<std::string>().empty()) args += " --system '" + c["system"].get<std::string>() + "'";
      args += " --prompt '" + c["text"].get<std::string>() + "'";
      const test::CommandResult r = test::run_cli(args);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      const nlohmann::json j = nlohmann::json::parse(r.out);
      EXPECT_EQ(j["prompt_tokens"].get<size_t>(), c["prompt_ids"].size()) << c["name"] << ": " << c["rendered"];
      EXPECT_EQ(j["ids"], c[adapter ? "adapter_ids" : "base_ids"]) << GetParam() << " " << c["name"];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Families, GenerationParity, ::testing::Values("gemma3n", "gemma4"));

}  // namespace
