// Gemma 4 audio tower (encoder `model.audio_tower.*` + embedder `model.embed_audio.*`):
//   parity with transformers 5.17 on the tiny preset with random weights and clipping bounds that clip
//   (tests/fixtures/audio/gemma4-tower/, made by tools/make_gemma4_audio_fixtures.py), float32, max |diff| <= 1e-4
//   for every traced tensor, the batch of 3 clips of different lengths and each clip alone;
// and, without fixtures: the tensor layout of the E2B/E4B presets (counts from transformers' state dict), load
// errors naming the missing tensor, no autograd graph from encode(), init_random's values, the mel-bin check,
// config defaults and errors, and a clippable linear on hand-computed numbers.
// Every parity comparison prints its measured error. GT_TEST_DEVICE=cuda (or mps) runs the parity on that device.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "core/error.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "io/safetensors_torch.h"
#include "models/common/weights.h"
#include "models/gemma4/audio.h"
#include "fixture_tensors.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace gt;
using models::gemma4::AudioTowerImpl;

namespace {

constexpr double kTol = 1e-4;  // float32 parity bound of the issue

fs::path fixture_dir() { return test::fixture("audio/gemma4-tower"); }
bool have_fixture() { return fs::exists(fixture_dir() / "expected.safetensors"); }
#define REQUIRE_FIXTURE()                                                                                    \
  if (!have_fixture())                                                                                       \
  GTEST_SKIP() << "no " << fixture_dir() << "; make it on the GPU machine with "                              \
               << "python3 tools/make_gemma4_audio_fixtures.py --out tests/fixtures/audio/gemma4-tower"

at::Device test_device() {
  const char* d = std::getenv("GT_TEST_DEVICE");
  return at::Device(d && *d ? d : "cpu");
}

using test::read_all;

using test::max_diff;
using test::max_abs;

// Compares and prints one named tensor; returns the error.
double expect_close(const std::string& what, const at::Tensor& ours, const at::Tensor& ref, double tol = kTol) {
  EXPECT_EQ(ours.sizes(), ref.sizes()) << what;
  if (ours.sizes() != ref.sizes()) return INFINITY;
  const double err = max_diff(ours, ref);
  std::printf("[parity] gemma4 audio %-28s max|diff| = %.3g (max|ref| %.3g)\n", what.c_str(), err, max_abs(ref));
  EXPECT_LE(err, tol) << what;
  return err;
}

io::ModelConfig preset_config(const std::string& name) {
  return io::load_model_config(test::source_path("tools/device/presets/" + name + "/config.json").string());
}

std::shared_ptr<AudioTowerImpl> make_tower(const io::ModelConfig& cfg, at::Device device = at::kCPU,
                                           at::ScalarType dtype = at::kFloat) {
  auto tower = std::dynamic_pointer_cast<AudioTowerImpl>(models::gemma4::make_gemma4_audio_tower(cfg, dtype, device));
  EXPECT_TRUE(tower);
  return tower;
}

// The fixture's tower with its weights, on `device`.
std::shared_ptr<AudioTowerImpl> load_fixture_tower(at::Device device) {
  const fs::path model_dir = fixture_dir() / "model";
  auto tower = make_tower(io::load_model_config(model_dir.string()), device);
  models::load_weights(tower->module(), io::Checkpoint::open(model_dir.string()), "model.");
  tower->module().eval();
  return tower;
}

std::vector<std::pair<std::string, at::Tensor>> named_tensors(torch::nn::Module& m) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : m.named_parameters(true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : m.named_buffers(true)) out.emplace_back(b.key(), b.value());
  return out;
}

// Every clip bound of the tower at ±inf (what transformers' init gives) or back to `saved`.
std::vector<at::Tensor> clip_bounds(AudioTowerImpl& tower) {
  std::vector<at::Tensor> out;
  for (const auto& m : tower.modules(false))
    if (auto* c = dynamic_cast<models::gemma4::ClippableLinearImpl*>(m.get()))
      for (const at::Tensor& t : {c->input_min, c->input_max, c->output_min, c->output_max}) out.push_back(t);
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Parity with transformers
// ---------------------------------------------------------------------------------------------------------------

TEST(Gemma4Audio, CheckpointNamesMatchTransformers) {
  REQUIRE_FIXTURE();
  auto tower = make_tower(io::load_model_config((fixture_dir() / "model").string()));
  io::Checkpoint ckpt = io::Checkpoint::open((fixture_dir() / "model").string());
  std::set<std::string> ours, theirs(ckpt.names().begin(), ckpt.names().end());
  for (const auto& [name, t] : named_tensors(tower->module())) {
    ours.insert("model." + name);
    if (ckpt.contains("model." + name)) EXPECT_EQ(ckpt.info("model." + name).shape, t.sizes().vec()) << name;
  }
  EXPECT_EQ(ours, theirs);
}

TEST(Gemma4Audio, EncoderAndEmbedderMatchTransformers) {
  REQUIRE_FIXTURE();
  const at::Device device = test_device();
  auto tower = load_fixture_tower(device);
  auto in = read_all(fixture_dir() / "inputs.safetensors");
  auto ref = read_all(fixture_dir() / "expected.safetensors");
  const at::Tensor features = in.at("features").to(device), mask = in.at("feature_mask").to(device);

  torch::NoGradGuard no_grad;
  // The attention mask, in transformers' blocked layout.
  models::gemma4::AudioModelImpl& enc = *tower->audio_tower;
  at::Tensor subsampled_mask = ref.at("encoder_mask").to(device);
  at::Tensor blocked = enc.blocked_attention_mask(subsampled_mask).cpu();
  ASSERT_EQ(blocked.sizes(), ref.at("attention_mask_blocked").sizes());
  EXPECT_TRUE(blocked.equal(ref.at("attention_mask_blocked"))) << "blocked attention mask differs";

  // Every traced intermediate, then the outputs.
  models::Trace trace;
  models::gemma4::AudioEncoderOutput out = enc.forward(features, mask, &trace);
  for (const auto& [name, t] : trace) expect_close("trace." + name, t, ref.at("trace." + name));
  EXPECT_EQ(trace.size(), 1u + static_cast<size_t>(enc.layers->size()));
  expect_close("encoder_output", out.hidden, ref.at("encoder_output"));
  EXPECT_TRUE(out.mask.cpu().equal(ref.at("encoder_mask")));
  expect_close("embedder_output", tower->embed_audio->forward(out.hidden), ref.at("embedder_output"));

  // encode(): the valid tokens, packed clip after clip, as Gemma4Model.forward scatters them.
  models::AudioSoftTokens soft = tower->encode(features, mask);
  expect_close("soft_tokens", soft.embeddings, ref.at("soft_tokens"));
  const at::Tensor counts = ref.at("tokens_per_clip");
  ASSERT_EQ(soft.tokens_per_clip.size(), static_cast<size_t>(counts.size(0)));
  for (size_t i = 0; i < soft.tokens_per_clip.size(); ++i)
    EXPECT_EQ(soft.tokens_per_clip[i], counts[i].item<int64_t>()) << "clip " << i;
}

TEST(Gemma4Audio, EachClipAloneMatchesTransformersAndTheBatch) {
  REQUIRE_FIXTURE();
  const at::Device device = test_device();
  auto tower = load_fixture_tower(device);
  auto in = read_all(fixture_dir() / "inputs.safetensors");
  auto ref = read_all(fixture_dir() / "expected.safetensors");
  torch::NoGradGuard no_grad;
  models::AudioSoftTokens batch = tower->encode(in.at("features").to(device), in.at("feature_mask").to(device));
  int64_t offset = 0;
  for (int64_t i = 0; i < in.at("lengths").size(0); ++i) {
    const std::string p = cat("alone.", i, ".");
    const at::Tensor f = in.at(p + "features").to(device);
    const at::Tensor m = at::ones({1, f.size(1)}, at::TensorOptions().dtype(at::kBool).device(device));
    models::gemma4::AudioEncoderOutput enc = tower->audio_tower->forward(f, m);
    expect_close(p + "encoder_output", enc.hidden, ref.at(p + "encoder_output"));
    EXPECT_TRUE(enc.mask.cpu().equal(ref.at(p + "encoder_mask")));
    models::AudioSoftTokens alone = tower->encode(f, m);
    expect_close(p + "soft_tokens", alone.embeddings, ref.at(p + "soft_tokens"));
    // Batch invariance: the clip's tokens inside the padded batch are the tokens of the clip alone.
    ASSERT_EQ(alone.tokens_per_clip.size(), 1u);
    ASSERT_EQ(alone.tokens_per_clip[0], batch.tokens_per_clip[i]);
    const int64_t n = alone.tokens_per_clip[0];
    expect_close(p + "batch_vs_alone", batch.embeddings.slice(0, offset, offset + n), alone.embeddings);
    offset += n;
  }
  EXPECT_EQ(offset, batch.embeddings.size(0));
}

TEST(Gemma4Audio, StoredClipBoundsReallyClip) {
  REQUIRE_FIXTURE();
  const at::Device device = test_device();
  auto tower = load_fixture_tower(device);
  auto in = read_all(fixture_dir() / "inputs.safetensors");
  auto ref = read_all(fixture_dir() / "expected.safetensors");
  const at::Tensor features = in.at("features").to(device), mask = in.at("feature_mask").to(device);
  torch::NoGradGuard no_grad;

  std::vector<at::Tensor> bounds = clip_bounds(*tower);
  ASSERT_FALSE(bounds.empty());
  for (const at::Tensor& b : bounds) EXPECT_TRUE(std::isfinite(b.item<double>())) << "fixture bounds must be finite";
  std::vector<at::Tensor> saved;
  for (const at::Tensor& b : bounds) saved.push_back(b.clone());

  const at::Tensor clipped = tower->audio_tower->forward(features, mask).hidden;
  for (const auto& m : tower->modules(false))
    if (auto* c = dynamic_cast<models::gemma4::ClippableLinearImpl*>(m.get())) c->reset_bounds();
  const at::Tensor unclipped = tower->audio_tower->forward(features, mask).hidden;
  expect_close("encoder_output_unclipped", unclipped, ref.at("encoder_output_unclipped"));
  expect_close("soft_tokens_unclipped", tower->encode(features, mask).embeddings, ref.at("soft_tokens_unclipped"));
  // The bounds change the output far beyond the parity tolerance, so the parity above tests them.
  const double effect = max_diff(clipped, unclipped);
  std::printf("[parity] gemma4 audio: clipping changes the encoder output by up to %.3g\n", effect);
  EXPECT_GT(effect, 100 * kTol);
  for (size_t i = 0; i < bounds.size(); ++i) bounds[i].copy_(saved[i]);
  expect_close("encoder_output (bounds restored)", tower->audio_tower->forward(features, mask).hidden,
               ref.at("encoder_output"));
}

// ---------------------------------------------------------------------------------------------------------------
// Without fixtures
// ---------------------------------------------------------------------------------------------------------------

TEST(Gemma4Audio, PresetLayoutsMatchTransformersStateDict) {
  // Tensor counts and element totals of model.audio_tower.* + model.embed_audio.* in transformers 5.17's state
  // dict for these presets (tools/tower_manifest.py). Built on the meta device: no memory.
  struct Expect {
    const char* preset;
    size_t tensors;
    int64_t elements;
  };
  for (const Expect& e : {Expect{"gemma4-tiny", 132, 55444}, Expect{"gemma4-E2B", 752, 307184384},
                          Expect{"gemma4-E4B", 752, 308757248}}) {
    auto tower = make_tower(preset_config(e.preset), at::Device(at::kMeta));
    auto tensors = named_tensors(tower->module());
    int64_t elements = 0;
    for (const auto& [n, t] : tensors) elements += t.numel();
    EXPECT_EQ(tensors.size(), e.tensors) << e.preset;
    EXPECT_EQ(elements, e.elements) << e.preset;
  }
  auto e2b = make_tower(preset_config("gemma4-E2B"), at::Device(at::kMeta));
  std::map<std::string, at::Tensor> by_name;
  for (auto& [n, t] : named_tensors(e2b->module())) by_name[n] = t;
  using Shape = std::vector<int64_t>;
  EXPECT_EQ(by_name.at("audio_tower.subsample_conv_projection.layer0.conv.weight").sizes().vec(), (Shape{128, 1, 3, 3}));
  EXPECT_EQ(by_name.at("audio_tower.subsample_conv_projection.input_proj_linear.weight").sizes().vec(), (Shape{1024, 1024}));
  EXPECT_EQ(by_name.at("audio_tower.layers.11.lconv1d.depthwise_conv1d.weight").sizes().vec(), (Shape{1024, 1, 5}));
  EXPECT_EQ(by_name.at("audio_tower.layers.11.self_attn.per_dim_scale").sizes().vec(), (Shape{128}));
  EXPECT_EQ(by_name.at("audio_tower.layers.0.self_attn.q_proj.input_max").dim(), 0);
  EXPECT_EQ(by_name.at("audio_tower.output_proj.bias").sizes().vec(), (Shape{1536}));
  EXPECT_EQ(by_name.at("embed_audio.embedding_projection.weight").sizes().vec(), (Shape{1536, 1536}));
}

TEST(Gemma4Audio, LoadErrorNamesTheMissingTensor) {
  const io::ModelConfig cfg = preset_config("gemma4-tiny");
  auto tower = make_tower(cfg);
  at::Generator gen = at::detail::createCPUGenerator(7);
  tower->init_random(gen);
  const std::string missing = "model.audio_tower.layers.1.self_attn.k_proj.output_max";
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [n, t] : named_tensors(tower->module()))
    if ("model." + n != missing) tensors.emplace_back("model." + n, t);
  test::TempDir dir("gemma4-audio-missing");
  io::save_tensors((dir / "model.safetensors").string(), tensors);

  auto fresh = make_tower(cfg);
  try {
    models::load_weights(fresh->module(), io::Checkpoint::open(dir.path().string()), "model.");
    FAIL() << "loading a checkpoint without " << missing << " succeeded";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(missing), std::string::npos) << e.what();
  }
  // With every tensor present the same file loads, and the loaded values are the saved ones.
  tensors.emplace_back(missing, tower->audio_tower->layers->ptr<models::gemma4::AudioLayerImpl>(1)->self_attn->k_proj->output_max);
  io::save_tensors((dir / "model.safetensors").string(), tensors);
  models::LoadReport r = models::load_weights(fresh->module(), io::Checkpoint::open(dir.path().string()), "model.");
  EXPECT_EQ(r.loaded, tensors.size());
  EXPECT_TRUE(fresh->audio_tower->output_proj->weight.equal(tower->audio_tower->output_proj->weight));
}

TEST(Gemma4Audio, EncodeBuildsNoAutogradGraph) {
  auto tower = make_tower(preset_config("gemma4-tiny"));
  for (const auto& p : tower->parameters()) EXPECT_FALSE(p.requires_grad()) << "the audio tower must be frozen";
  at::Generator gen = at::detail::createCPUGenerator(11);
  tower->init_random(gen);
  // Even with a weight that asks for gradients and grad mode on, encode() records nothing.
  tower->embed_audio->embedding_projection->weight.set_requires_grad(true);
  ASSERT_TRUE(torch::GradMode::is_enabled());
  at::Tensor features = torch::randn({2, 30, 8}).set_requires_grad(true);
  at::Tensor mask = torch::ones({2, 30}, torch::kBool);
  mask.slice(1, 20).select(0, 1).fill_(false);
  models::AudioSoftTokens out = tower->encode(features, mask);
  EXPECT_FALSE(out.embeddings.requires_grad());
  EXPECT_FALSE(out.embeddings.grad_fn());
  EXPECT_EQ(out.tokens_per_clip, (std::vector<int64_t>{8, 5}));  // 30 -> 15 -> 8 frames; 20 -> 10 -> 5
  EXPECT_EQ(out.embeddings.size(0), 13);
  EXPECT_EQ(out.embeddings.size(1), 64);
}

TEST(Gemma4Audio, InitRandomAsTransformers) {
  auto tower = make_tower(preset_config("gemma4-tiny"));
  at::Generator gen = at::detail::createCPUGenerator(3);
  tower->init_random(gen);
  const double inf = std::numeric_limits<double>::infinity();
  size_t n_bounds = 0;
  for (auto& [name, t] : named_tensors(tower->module())) {
    auto ends = [&](const std::string& s) { return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0; };
    if (ends("_min")) {
      EXPECT_EQ(t.item<double>(), -inf) << name;
      ++n_bounds;
    } else if (ends("_max")) {
      EXPECT_EQ(t.item<double>(), inf) << name;
      ++n_bounds;
    } else if (ends("per_dim_scale") || ends(".bias")) {
      EXPECT_EQ(max_abs(t), 0.0) << name;
    } else if (t.dim() == 1) {  // RMSNorm and LayerNorm scales
      EXPECT_TRUE(t.eq(1.0).all().item<bool>()) << name;
    } else if (t.numel() >= 1000) {  // linear and convolution weights: normal(0, 0.02)
      EXPECT_NEAR(t.std().item<double>(), 0.02, 0.002) << name;
      EXPECT_NEAR(t.mean().item<double>(), 0.0, 0.002) << name;
    }
  }
  EXPECT_EQ(n_bounds, 2u * 10u * 4u);  // 2 layers x 10 clippable linears (ffw 2+2, q k v post, lconv 2) x 4
}

TEST(Gemma4Audio, RejectsFeaturesOfTheWrongMelCount) {
  auto tower = make_tower(preset_config("gemma4-tiny"));  // channels [8, 4]: 8 mel bins
  at::Generator gen = at::detail::createCPUGenerator(5);
  tower->init_random(gen);
  try {
    tower->encode(torch::zeros({1, 20, 128}), torch::ones({1, 20}, torch::kBool));
    FAIL() << "128-bin features were accepted by a tower that takes 8";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("input_proj_linear"), std::string::npos) << msg;
    EXPECT_NE(msg.find("128 mel bins"), std::string::npos) << msg;
    EXPECT_NE(msg.find("expects 8 mel bins"), std::string::npos) << msg;
  }
  // Empty batches give no tokens.
  models::AudioSoftTokens none = tower->encode(torch::zeros({0, 20, 8}), torch::ones({0, 20}, torch::kBool));
  EXPECT_EQ(none.embeddings.size(0), 0);
  EXPECT_TRUE(none.tokens_per_clip.empty());
}

TEST(Gemma4Audio, ConfigDefaultsAndErrors) {
  io::ModelConfig cfg = preset_config("gemma4-tiny");
  cfg.audio_config_json = "{}";  // every key absent: transformers' Gemma4AudioConfig defaults
  models::gemma4::AudioConfig d = models::gemma4::parse_audio_config(cfg);
  EXPECT_EQ(d.hidden_size, 1024);
  EXPECT_EQ(d.num_hidden_layers, 12);
  EXPECT_EQ(d.num_attention_heads, 8);
  EXPECT_EQ(d.subsampling_conv_channels, (std::vector<int64_t>{128, 32}));
  EXPECT_EQ(d.attention_chunk_size, 12);
  EXPECT_EQ(d.attention_context_left, 13);
  EXPECT_EQ(d.attention_context_right, 0);
  EXPECT_EQ(d.output_proj_dims, 1536);
  EXPECT_EQ(d.subsample_proj_inputs(), 1024);
  EXPECT_DOUBLE_EQ(d.attention_invalid_logits_value, -1e9);
  EXPECT_TRUE(d.use_clipped_linears);

  auto expect_error = [&](const std::string& json, const std::string& needle) {
    cfg.audio_config_json = json;
    try {
      models::gemma4::parse_audio_config(cfg);
      ADD_FAILURE() << json << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error(R"({"hidden_size": "big"})", "audio_config.hidden_size");
  expect_error(R"({"num_attention_heads": 7})", "audio_config.num_attention_heads");
  expect_error(R"({"subsampling_conv_channels": [128]})", "audio_config.subsampling_conv_channels");
  expect_error(R"({"hidden_act": "gelu"})", "audio_config.hidden_act");
  cfg.audio_config_json.clear();
  expect_error("", "has no audio_config");
}

TEST(Gemma4Audio, ClippableLinearClampsInputAndOutput) {
  models::gemma4::ClippableLinear lin(3, 3, /*use_clipped_linears=*/true, at::TensorOptions().dtype(at::kFloat));
  torch::NoGradGuard no_grad;
  lin->linear->weight.copy_(torch::eye(3));
  // No bounds loaded: ±inf, the identity passes everything.
  at::Tensor x = torch::tensor({-5.0f, 0.5f, 5.0f});
  EXPECT_TRUE(lin->forward(x).equal(x));
  lin->input_min.fill_(-1.0);
  lin->input_max.fill_(1.0);
  lin->output_min.fill_(-0.25);
  lin->output_max.fill_(0.75);
  // input clamp: [-1, 0.5, 1]; output clamp: [-0.25, 0.5, 0.75]
  EXPECT_TRUE(lin->forward(x).equal(torch::tensor({-0.25f, 0.5f, 0.75f})));
  models::gemma4::ClippableLinear plain(3, 3, /*use_clipped_linears=*/false, at::TensorOptions().dtype(at::kFloat));
  EXPECT_FALSE(plain->input_min.defined());
  EXPECT_EQ(named_tensors(*plain).size(), 1u);  // linear.weight only
}
