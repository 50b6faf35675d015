// models::load_model reads only the towers a run asks for: with the checkpoint split into text, audio and vision
// shards (model.safetensors.index.json) and the shard of a tower destroyed, a run without that tower still loads,
// and one with it stops naming the shard. Also: the towers and the decoder's base weights load frozen.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>

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
