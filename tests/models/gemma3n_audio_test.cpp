// Gemma 3n audio tower (encoder + embed_audio + padding to 188 soft tokens) against transformers 5.17, on the tiny
// random tower of tests/fixtures/audio/gemma3n-tower (made by tools/make_gemma3n_audio_fixtures.py): a batch of 3
// clips of 37, 100 and 161 frames, each clip alone, and hard audio ids. Every comparison prints its max |diff|;
// float32 outputs must agree within 1e-4. Also: batch vs alone, the checkpoint layout of the tiny/E2B/E4B presets,
// load errors, init_random and that encode() records no autograd graph.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

#include "core/error.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "io/safetensors_torch.h"
#include "models/audio_tower.h"
#include "models/gemma3n/audio.h"
#include "fixture_tensors.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace gt;
using models::gemma3n::AudioTowerImpl;
using models::gemma3n::ConformerBlockImpl;
using models::gemma3n::EncodedAudio;

namespace {

constexpr double kTolerance = 1e-4;
constexpr int64_t kClips = 3;
const int64_t kClipFrames[kClips] = {37, 100, 161};

fs::path case_dir() { return test::fixture("audio/gemma3n-tower"); }

using test::read_all;

using test::max_diff;

// GT_TEST_DEVICE=cuda runs the comparisons on a GPU.
at::Device test_device() {
  const char* d = std::getenv("GT_TEST_DEVICE");
  return at::Device(d && *d ? d : "cpu");
}

struct Fixture {
  io::ModelConfig cfg;
  std::shared_ptr<models::AudioTower> tower;
  AudioTowerImpl* impl = nullptr;
  std::map<std::string, at::Tensor> inputs, expected;
};

Fixture load_fixture(at::Device device = test_device()) {
  Fixture f;
  const std::string model_dir = (case_dir() / "model").string();
  f.cfg = io::load_model_config(model_dir);
  f.tower = models::load_audio_tower(model_dir, f.cfg, at::kFloat, device);
  f.impl = dynamic_cast<AudioTowerImpl*>(f.tower.get());
  f.inputs = read_all(case_dir() / "inputs.safetensors");
  f.expected = read_all(case_dir() / "expected.safetensors");
  return f;
}

// Compares, prints and checks one output.
void expect_close(const std::string& what, const at::Tensor& ours, const at::Tensor& ref) {
  ASSERT_EQ(ours.sizes(), ref.sizes()) << what;
  const double err = max_diff(ours, ref);
  std::printf("[parity] gemma3n audio %-26s max|diff| = %.3g (max|ref| %.3g)\n", what.c_str(), err,
              ref.abs().max().item<double>());
  EXPECT_LE(err, kTolerance) << what;
}

// Runs one recorded case (the batch or a clip alone) and compares all four outputs.
void check_case(Fixture& f, const std::string& key, const at::Tensor& features, const at::Tensor& mask) {
  const EncodedAudio enc = f.impl->encode_tower(features, mask);
  expect_close(key + ".tower", enc.hidden, f.expected.at(key + ".tower"));
  EXPECT_TRUE(enc.pad_mask.cpu().equal(f.expected.at(key + ".tower_mask").to(at::kBool))) << key << ".tower_mask";
  expect_close(key + ".embedded", f.impl->embed_audio->embed_soft(enc.hidden), f.expected.at(key + ".embedded"));
  const at::Tensor ref_tokens = f.expected.at(key + ".soft_tokens");
  expect_close(key + ".soft_tokens", f.impl->soft_tokens(enc), ref_tokens);

  // The public path: every clip's 188 tokens, concatenated in clip order.
  const models::AudioSoftTokens st = f.tower->encode(features, mask);
  const int64_t n = ref_tokens.size(0), per_clip = ref_tokens.size(1);
  EXPECT_EQ(st.tokens_per_clip, std::vector<int64_t>(static_cast<size_t>(n), 188));
  expect_close(key + " encode()", st.embeddings, ref_tokens.reshape({n * per_clip, -1}));
}

}  // namespace

TEST(Gemma3nAudio, BatchOfThreeClipsMatchesTransformers) {
  Fixture f = load_fixture();
  ASSERT_NE(f.impl, nullptr);
  check_case(f, "batch", f.inputs.at("batch.features"), f.inputs.at("batch.feature_mask"));
}

TEST(Gemma3nAudio, EachClipAloneMatchesTransformers) {
  Fixture f = load_fixture();
  for (int64_t i = 0; i < kClips; ++i) {
    const at::Tensor features = f.inputs.at(cat("alone.", i, ".features"));
    ASSERT_EQ(features.size(1), kClipFrames[i]);
    check_case(f, cat("alone.", i), features, at::ones({1, features.size(1)}, at::kBool));
  }
}

// Intermediate outputs of the batch (padded frames included): where a difference starts, if there is one.
TEST(Gemma3nAudio, SubSamplingAndConformerBlocksMatchTransformers) {
  Fixture f = load_fixture();
  torch::NoGradGuard no_grad;
  auto& enc = *f.impl->audio_tower;
  const at::Device device = test_device();
  const at::Tensor mel = f.inputs.at("batch.features").to(device);
  const at::Tensor pad = f.inputs.at("batch.feature_mask").to(device).to(at::kBool).logical_not();
  at::Tensor x = enc.subsample_conv_projection->forward(mel);
  expect_close("debug.sscp", x, f.expected.at("debug.sscp"));
  const at::Tensor index = (at::arange(x.size(1), at::TensorOptions().dtype(at::kLong).device(device)) * 4)
                               .clamp_max(mel.size(1) - 1);
  const at::Tensor mask = pad.index_select(1, index);
  for (size_t j = 0; j < enc.conformer->size(); ++j) {
    x = enc.conformer[j]->as<ConformerBlockImpl>()->forward(x, mask);
    expect_close(cat("debug.block.", j), x, f.expected.at(cat("debug.block.", j)));
  }
}

// A clip's tokens do not depend on the other clips of the batch, except its last token(s): the sub-sampling
// convolutions pad time at the end, so token j reads mel frames up to 16 j + 6 (tiny preset: time strides 2 and 2,
// kernels 3 and 3, reduction 4). Past the clip those are padding frames in a batch and zeros alone; transformers
// behaves the same (both runs are compared with it above; meta.json lists its per-token differences).
TEST(Gemma3nAudio, ClipTokensDoNotDependOnTheBatch) {
  Fixture f = load_fixture();
  const EncodedAudio batch = f.impl->encode_tower(f.inputs.at("batch.features"), f.inputs.at("batch.feature_mask"));
  for (int64_t i = 0; i < kClips; ++i) {
    const at::Tensor features = f.inputs.at(cat("alone.", i, ".features"));
    const EncodedAudio alone = f.impl->encode_tower(features, at::ones({1, features.size(1)}, at::kBool));
    const int64_t tokens = alone.hidden.size(1);
    int64_t inside = 0;  // tokens whose receptive field lies inside the clip
    while (inside < tokens && 16 * inside + 6 < kClipFrames[i]) ++inside;
    ASSERT_GT(inside, 0);
    const double err = max_diff(alone.hidden[0].slice(0, 0, inside), batch.hidden[i].slice(0, 0, inside));
    std::printf("[batch] clip %lld (%lld frames): %lld of %lld tokens inside the clip, alone vs batch max|diff| %.3g\n",
                static_cast<long long>(i), static_cast<long long>(kClipFrames[i]), static_cast<long long>(inside),
                static_cast<long long>(tokens), err);
    EXPECT_LE(err, kTolerance) << "clip " << i;  // the tail tokens differ by ~1 (see meta.json)
    // The tower's own mask: every token of a clip alone is real; in the batch exactly the same count is.
    EXPECT_EQ(batch.pad_mask[i].logical_not().sum().item<int64_t>(), tokens) << "clip " << i;
  }
}

TEST(Gemma3nAudio, HardAudioTokensMatchTransformers) {
  Fixture f = load_fixture();
  expect_close("hard.embedded", f.tower->embed_hard_tokens(f.inputs.at("hard_ids")), f.expected.at("hard.embedded"));
  // Ids outside the audio range [262272, 262400) are refused by name, not looked up.
  try {
    f.tower->embed_hard_tokens(at::tensor({262272, 262400}, at::kLong));
    ADD_FAILURE() << "id 262400 accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("[262272, 262400)"), std::string::npos) << e.what();
  }
}

TEST(Gemma3nAudio, EncodeRecordsNoAutogradGraph) {
  Fixture f = load_fixture();
  for (auto& p : f.tower->module().parameters()) EXPECT_FALSE(p.requires_grad()) << "tower weights are frozen";
  // Even with weights that would want gradients and grad mode on, encode() records nothing.
  for (auto& p : f.tower->module().parameters()) p.set_requires_grad(true);
  ASSERT_TRUE(at::GradMode::is_enabled());
  const models::AudioSoftTokens st =
      f.tower->encode(f.inputs.at("batch.features"), f.inputs.at("batch.feature_mask"));
  EXPECT_FALSE(st.embeddings.requires_grad());
  EXPECT_EQ(st.embeddings.grad_fn(), nullptr);
  const at::Tensor hard = f.tower->embed_hard_tokens(f.inputs.at("hard_ids"));
  EXPECT_FALSE(hard.requires_grad());
}

TEST(Gemma3nAudio, RejectsMalformedInputs) {
  Fixture f = load_fixture();
  const at::Tensor feats = f.inputs.at("batch.features"), mask = f.inputs.at("batch.feature_mask");
  EXPECT_THROW(f.tower->encode(feats.slice(2, 0, 100), mask), InputError);                  // 100 mel bins
  EXPECT_THROW(f.tower->encode(feats, mask.slice(1, 0, 10)), InputError);                   // mask of other length
  // 3009 frames would give 189 tokens: more than the 188 places a clip has.
  EXPECT_THROW(f.tower->encode(at::zeros({1, 3009, 128}), at::ones({1, 3009}, at::kBool)), InputError);
  EXPECT_EQ(f.impl->audio_tower->output_length(3008), 188);
  EXPECT_EQ(f.impl->audio_tower->output_length(2997), 188);  // 30 s from the feature extractor
}

// Every tensor transformers expects for the tiny, E2B and E4B presets, with its shape, and nothing else (the lists
// are in manifest.json, written by the fixture script from transformers' own modules).
TEST(Gemma3nAudio, ModuleNamesAndShapesAreTransformersCheckpointLayout) {
  const nlohmann::json manifest = nlohmann::json::parse(test::read_file(case_dir() / "manifest.json"));
  for (const char* preset : {"gemma3n-tiny", "gemma3n-E2B", "gemma3n-E4B"}) {
    const io::ModelConfig cfg = io::load_model_config(test::source_path(cat("tools/device/presets/", preset)).string());
    auto tower = models::make_audio_tower(cfg, at::kBFloat16, at::kMeta);  // shapes only, no memory
    std::map<std::string, std::vector<int64_t>> ours, theirs;
    int64_t values = 0;
    for (const auto& p : tower->module().named_parameters()) {
      ours["model." + p.key()] = p.value().sizes().vec();
      values += p.value().numel();
    }
    for (const auto& b : tower->module().named_buffers()) ours["model." + b.key()] = b.value().sizes().vec();
    for (const auto& [name, shape] : manifest.at(preset).items()) theirs[name] = shape.get<std::vector<int64_t>>();
    EXPECT_EQ(ours, theirs) << preset;
    std::printf("[layout] %s: %zu audio tensors, %lld values\n", preset, ours.size(), static_cast<long long>(values));
  }
}

TEST(Gemma3nAudio, MissingTensorIsNamed) {
  test::TempDir tmp("gemma3n-audio");
  const fs::path src = case_dir() / "model";
  const std::string dropped = "model.audio_tower.conformer.1.lconv1d.depthwise_conv1d.weight";
  std::vector<std::pair<std::string, at::Tensor>> kept;
  for (auto& [name, t] : read_all(src / "model.safetensors"))
    if (name != dropped) kept.emplace_back(name, t);
  io::save_tensors((tmp / "model.safetensors").string(), kept);
  fs::copy_file(src / "config.json", tmp / "config.json");
  const io::ModelConfig cfg = io::load_model_config(tmp.path().string());
  try {
    models::load_audio_tower(tmp.path().string(), cfg, at::kFloat, at::kCPU);
    ADD_FAILURE() << "loaded without " << dropped;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("missing tensor '" + dropped + "'"), std::string::npos) << e.what();
  }
}

TEST(Gemma3nAudio, ConfigErrorsNameTheKey) {
  const std::string where = "config.json: audio_config";
  EXPECT_NO_THROW(models::gemma3n::parse_audio_config("{}", where));  // transformers' defaults
  const auto defaults = models::gemma3n::parse_audio_config("{}", where);
  EXPECT_EQ(defaults.hidden_size, 1536);
  EXPECT_EQ(defaults.sscp_conv_channel_size[1], 32);
  for (const auto& [text, key] : std::vector<std::pair<std::string, std::string>>{
           {R"({"hidden_size": "wide"})", "audio_config.hidden_size"},
           {R"({"hidden_size": 30, "conf_num_attention_heads": 8})", "audio_config.hidden_size"},
           {R"({"sscp_conv_stride_size": [[2, 2]]})", "audio_config.sscp_conv_stride_size"},
           {R"({"model_type": "gemma4_audio"})", "audio_config.model_type"}}) {
    try {
      models::gemma3n::parse_audio_config(text, where);
      ADD_FAILURE() << text << " accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
}

TEST(Gemma3nAudio, InitRandomFollowsTransformersInit) {
  const io::ModelConfig cfg = io::load_model_config((case_dir() / "model").string());
  auto tower = models::make_audio_tower(cfg, at::kFloat, at::kCPU);
  at::Generator gen = at::detail::createCPUGenerator(7);
  tower->init_random(gen);
  for (const auto& p : tower->module().named_parameters()) {
    const std::string& n = p.key();
    const at::Tensor& t = p.value();
    if (n.find("per_dim_scale") != std::string::npos) {
      EXPECT_EQ(t.abs().max().item<double>(), 0.0) << n;
    } else if (t.dim() == 1) {
      EXPECT_TRUE(t.eq(1.0).all().item<bool>()) << n;
    } else if (t.numel() >= 1000) {
      EXPECT_NEAR(t.std().item<double>(), 0.02, 0.003) << n;
      EXPECT_NEAR(t.mean().item<double>(), 0.0, 0.003) << n;
    }
  }
  // The random tower runs and gives finite soft tokens.
  const models::AudioSoftTokens st = tower->encode(at::randn({2, 50, 128}), at::ones({2, 50}, at::kBool));
  EXPECT_TRUE(st.embeddings.isfinite().all().item<bool>());
  EXPECT_EQ(st.embeddings.size(0), 2 * 188);
}

// The fixture really exercises the attention soft-cap (its logits reach about 35, where 50 tanh(x / 50) is well
// below x): the same weights without the cap miss the reference by far more than the tolerance.
TEST(Gemma3nAudio, FixtureExercisesTheLogitSoftCap) {
  test::TempDir tmp("gemma3n-audio-cap");
  const fs::path src = case_dir() / "model";
  nlohmann::json cfg_json = nlohmann::json::parse(test::read_file(src / "config.json"));
  cfg_json["audio_config"]["conf_attention_logit_cap"] = 1e6;
  test::write_file(tmp / "config.json", cfg_json.dump());
  fs::copy_file(src / "model.safetensors", tmp / "model.safetensors");
  const io::ModelConfig cfg = io::load_model_config(tmp.path().string());
  auto tower = models::load_audio_tower(tmp.path().string(), cfg, at::kFloat, at::kCPU);
  auto* impl = dynamic_cast<AudioTowerImpl*>(tower.get());
  const auto inputs = read_all(case_dir() / "inputs.safetensors");
  const auto expected = read_all(case_dir() / "expected.safetensors");
  const EncodedAudio enc = impl->encode_tower(inputs.at("batch.features"), inputs.at("batch.feature_mask"));
  const double err = max_diff(enc.hidden, expected.at("batch.tower"));
  std::printf("[fixture] without the soft-cap the tower output is off by %.3g\n", err);
  EXPECT_GT(err, 100 * kTolerance);
}
