// models::load_model reads only the towers a run asks for: with the checkpoint split into text, audio and vision
// shards (model.safetensors.index.json) and the shard of a tower destroyed, a run without that tower still loads,
// and one with it stops naming the shard. Also: the towers and the decoder's base weights load frozen.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <sstream>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/safetensors_torch.h"
#include "models/audio_tower.h"
#include "models/model.h"
#include "test_util.h"

namespace fs = std::filesystem;
using gt::test::error_of;

namespace {

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

// A tiny Gemma 4 (init-random) rewritten as three shards: vision tower, audio tower, the rest.
fs::path sharded_tiny_gemma4(const gt::test::TempDir& tmp) {
  const fs::path whole = tmp / "whole", dir = tmp / "sharded";
  auto r = gt::test::run_cli("init-random --family gemma4 --size tiny --dtype float32 --seed 4 --out " + quote(whole));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  fs::create_directories(dir);
  fs::copy_file(whole / "config.json", dir / "config.json");
  const gt::io::Checkpoint ckpt = gt::io::Checkpoint::open(whole.string());
  std::map<std::string, std::vector<std::pair<std::string, at::Tensor>>> shards;
  nlohmann::json index = {{"metadata", nlohmann::json::object()}, {"weight_map", nlohmann::json::object()}};
  for (const std::string& name : ckpt.names()) {
    const std::string shard = name.rfind("model.vision_tower.", 0) == 0 || name.rfind("model.embed_vision.", 0) == 0
                                  ? "vision.safetensors"
                              : name.rfind("model.audio_tower.", 0) == 0 || name.rfind("model.embed_audio.", 0) == 0
                                  ? "audio.safetensors"
                                  : "text.safetensors";
    shards[shard].emplace_back(name, gt::io::load_tensor(ckpt, name));
    index["weight_map"][name] = shard;
  }
  EXPECT_EQ(shards.size(), 3u);
  for (const auto& [file, tensors] : shards) gt::io::save_tensors((dir / file).string(), tensors, {});
  gt::test::write_file(dir / "model.safetensors.index.json", index.dump());
  return dir;
}

}  // namespace

TEST(ModelLoading, ARunReadsOnlyTheTowersItAsksFor) {
  gt::test::TempDir tmp("model-loading");
  const fs::path dir = sharded_tiny_gemma4(tmp);
  namespace m = gt::models;
  // everything intact: the whole model loads
  EXPECT_NO_THROW(m::load_model(dir.string(), {.audio = true, .vision = true}, at::kFloat, at::kCPU));

  gt::test::write_file(dir / "audio.safetensors", "destroyed");
  const m::LoadedModel image_run = m::load_model(dir.string(), {.vision = true}, at::kFloat, at::kCPU);
  EXPECT_TRUE(image_run.model->has_vision());
  EXPECT_FALSE(image_run.model->has_audio());
  EXPECT_NE(error_of([&] { m::load_model(dir.string(), {.audio = true}, at::kFloat, at::kCPU); }).find("audio.safetensors"),
            std::string::npos);

  gt::test::write_file(dir / "vision.safetensors", "destroyed");
  EXPECT_NO_THROW(m::load_model(dir.string(), {}, at::kFloat, at::kCPU));  // a text run
  EXPECT_NE(error_of([&] { m::load_model(dir.string(), {.vision = true}, at::kFloat, at::kCPU); }).find("vision.safetensors"),
            std::string::npos);

  // frozen: no tower parameter and no base weight asks for a gradient
  for (const auto& p : image_run.model->vision()->parameters()) EXPECT_FALSE(p.requires_grad());
  for (const auto& p : image_run.model->text().module().parameters()) EXPECT_FALSE(p.requires_grad());
}

// The merge checks that the placeholders and the soft tokens agree in number, naming the medium; a batch with
// images for a model loaded without its vision tower is refused by name.
TEST(ModelLoading, TheMergeCountsPlaceholdersAgainstSoftTokens) {
  gt::test::TempDir tmp("model-merge");
  const fs::path dir = tmp / "m";
  auto r = gt::test::run_cli("init-random --family gemma4 --size tiny --dtype float32 --seed 5 --out " + quote(dir));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  namespace m = gt::models;
  const m::LoadedModel lm = m::load_model(dir.string(), {.vision = true}, at::kFloat, at::kCPU);
  const gt::io::ModelConfig& cfg = lm.model->config();
  // one image of 24 x 24 patches (576 of the 630 a budget of 70 allows): 64 soft tokens after the 3x3 pooling
  m::MediaInputs media;
  media.pixel_values = torch::rand({1, 630, 768});
  media.pixel_values.narrow(1, 576, 54).zero_();
  const at::Tensor r24 = torch::arange(24, at::kLong);
  media.pixel_position_ids = torch::full({1, 630, 2}, -1, at::kLong);
  media.pixel_position_ids[0].narrow(0, 0, 576).copy_(at::stack({r24.repeat({24}), r24.repeat_interleave(24)}, -1));
  auto ids_with = [&](int64_t placeholders) {
    at::Tensor ids = torch::full({1, placeholders + 4}, 10, at::kLong);
    ids.narrow(1, 2, placeholders).fill_(*cfg.media.image_token_id);
    return ids;
  };
  const at::Tensor h = lm.model->forward({ids_with(64), {}, {}}, media);
  EXPECT_EQ(h.size(1), 68);
  EXPECT_TRUE(h.isfinite().all().item<bool>());
  const std::string err = error_of([&] { lm.model->forward({ids_with(63), {}, {}}, media); });
  EXPECT_NE(err.find("63 image placeholder tokens"), std::string::npos) << err;
  EXPECT_NE(err.find("64 soft tokens"), std::string::npos) << err;
  const m::LoadedModel text_only = m::load_model(dir.string(), {}, at::kFloat, at::kCPU);
  const std::string no_tower = error_of([&] { text_only.model->forward({ids_with(64), {}, {}}, media); });
  EXPECT_NE(no_tower.find("without its vision tower"), std::string::npos) << no_tower;
}

// Frozen weights on the host in the checkpoint's own dtype are the mapped file's bytes, not a copy (the per-layer
// table of a GPU run, every weight of a CPU run): each tensor's data lies inside a mapping of its safetensors file
// (Linux: /proc/self/maps). In another dtype they are converted copies.
TEST(ModelLoading, HostWeightsInTheCheckpointsDtypeAreTheMappedFile) {
  if (!fs::exists("/proc/self/maps")) GTEST_SKIP() << "no /proc/self/maps here";
  gt::test::TempDir tmp("model-mapped");
  const fs::path model = tmp / "m";
  auto r = gt::test::run_cli("init-random --family gemma4 --size tiny --dtype float32 --seed 4 --out " + quote(model));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  namespace m = gt::models;
  const m::LoadedModel same = m::load_model(model.string(), {}, at::kFloat, at::kCPU);
  const m::LoadedModel other = m::load_model(model.string(), {}, at::kDouble, at::kCPU);
  // The address ranges mapped from model.safetensors.
  std::vector<std::pair<uintptr_t, uintptr_t>> ranges;
  std::istringstream maps(gt::test::read_file("/proc/self/maps"));
  const std::string file = fs::canonical(model / "model.safetensors").string();
  for (std::string line; std::getline(maps, line);)
    if (line.size() >= file.size() && line.compare(line.size() - file.size(), file.size(), file) == 0)
      ranges.emplace_back(std::stoull(line.substr(0, line.find('-')), nullptr, 16),
                          std::stoull(line.substr(line.find('-') + 1), nullptr, 16));
  ASSERT_FALSE(ranges.empty()) << "model.safetensors is not mapped";
  auto mapped = [&](const at::Tensor& t) {
    const auto p = reinterpret_cast<uintptr_t>(t.data_ptr());
    for (const auto& [a, b] : ranges)
      if (p >= a && p < b) return true;
    return false;
  };
  const auto named = [](const m::LoadedModel& lm) { return lm.model->text().module().named_parameters(true); };
  int checked = 0;
  for (const auto& p : named(same)) {
    if (p.key().find("lora_") != std::string::npos) continue;
    EXPECT_TRUE(mapped(p.value())) << p.key() << " was copied";
    ++checked;
  }
  EXPECT_GT(checked, 10);
  for (const auto& p : named(other)) EXPECT_FALSE(mapped(p.value())) << p.key() << " (float64 from float32)";
  // The mapped weights are the checkpoint's values.
  const gt::io::Checkpoint ckpt = gt::io::Checkpoint::open(model.string());
  const at::Tensor table = gt::io::load_tensor(ckpt, "model.language_model.embed_tokens_per_layer.weight");
  for (const auto& p : named(same))
    if (p.key() == "embed_tokens_per_layer.weight") EXPECT_TRUE(at::equal(p.value(), table));
}
