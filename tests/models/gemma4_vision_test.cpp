// Gemma 4 vision tower (encoder `model.vision_tower.*` + embedder `model.embed_vision.*`):
//   parity with transformers 5.17 Gemma4VisionModel / Gemma4Model.get_image_features on a tiny vision_config with
//   random weights and clip bounds that clip (tests/fixtures/vision/gemma4-tower/, made by
//   tools/make_gemma4_vision_fixtures.py), float32, max |diff| <= 1e-4 for every traced tensor and output: a batch of
//   3 images of different sizes from the real Gemma4ImageProcessor (two padded, one exactly at the budget), each image
//   alone, the unclipped tower, and the same weights with standardize;
// and, without fixtures: the pooler on hand-computed blocks, padding patches that cannot change the tokens, the RoPE
// base read from the config and used, and input errors that name the problem.
// Every parity comparison prints its measured error with "[vision-parity]". GT_TEST_DEVICE=cuda (or mps) runs the
// parity on that device.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "core/error.h"
#include "io/model_config.h"
#include "io/safetensors.h"
#include "models/common/weights.h"
#include "models/gemma4/multimodal_embedder.h"
#include "models/gemma4/vision.h"
#include "models/vision_tower.h"
#include "fixture_tensors.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace gt;
using models::gemma4::MultimodalEmbedder;
using models::gemma4::VisionConfig;
using models::gemma4::VisionModel;
using models::gemma4::VisionOutput;

namespace {

constexpr double kTol = 1e-4;  // float32 parity bound of the issue

fs::path fixture_dir() { return test::fixture("vision/gemma4-tower"); }
bool have_fixture() { return fs::exists(fixture_dir() / "expected.safetensors"); }
#define REQUIRE_FIXTURE()                                                                                    \
  if (!have_fixture())                                                                                       \
  GTEST_SKIP() << "no " << fixture_dir() << "; make it on the GPU machine with "                              \
               << "python3 tools/make_gemma4_vision_fixtures.py --out tests/fixtures/vision/gemma4-tower"

at::Device test_device() {
  const char* d = std::getenv("GT_TEST_DEVICE");
  return at::Device(d && *d ? d : "cpu");
}

using test::max_abs;
using test::max_diff;
using test::read_all;

// Compares and prints one named tensor; returns the error.
double expect_close(const std::string& what, const at::Tensor& ours, const at::Tensor& ref, double tol = kTol) {
  EXPECT_EQ(ours.sizes(), ref.sizes()) << what;
  if (ours.sizes() != ref.sizes()) return INFINITY;
  const double err = max_diff(ours, ref);
  std::printf("[vision-parity] gemma4 vision %-28s max|diff| = %.3g (max|ref| %.3g)\n", what.c_str(), err,
              max_abs(ref));
  EXPECT_LE(err, tol) << what;
  return err;
}

// A vision tower and its embedder under the checkpoint's names (children vision_tower and embed_vision).
struct Tower {
  std::shared_ptr<torch::nn::Module> root;
  VisionModel vision{nullptr};
  MultimodalEmbedder embed{nullptr};
};

Tower make_tower(const VisionConfig& vc, int64_t text_hidden, at::Device device) {
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(device);
  Tower t;
  t.root = std::make_shared<torch::nn::Module>("VisionTest");
  t.vision = t.root->register_module("vision_tower", VisionModel(vc, opts));
  t.embed = t.root->register_module("embed_vision",
                                    MultimodalEmbedder(vc.hidden_size, text_hidden, vc.rms_norm_eps, opts));
  t.root->eval();
  return t;
}

// The vision_config of a fixture model folder, RoPE base included.
VisionConfig fixture_vision_config(const io::ModelConfig& cfg) {
  return models::gemma4::parse_vision_config(cfg.vision_config_json, cfg.path);
}

// The fixture's tower ("model" or "model-standardize") with its weights, on `device`; `theta` overrides the base.
Tower load_fixture_tower(const std::string& sub, at::Device device, double theta = 0.0) {
  const fs::path dir = fixture_dir() / sub;
  const io::ModelConfig cfg = io::load_model_config(dir.string());
  VisionConfig vc = fixture_vision_config(cfg);
  if (theta > 0.0) vc.rope_theta = theta;
  Tower t = make_tower(vc, cfg.text.hidden_size, device);
  models::load_weights(*t.root, io::Checkpoint::open(dir.string()), "model.");
  return t;
}

// The processor's float pixel values: the uint8 levels through its own lookup table (exact), or stored floats.
at::Tensor fixture_pixels(const std::map<std::string, at::Tensor>& in) {
  if (in.count("pixel_values")) return in.at("pixel_values");
  const at::Tensor u8 = in.at("pixel_values_u8");
  return in.at("pixel_lut").index_select(0, u8.to(at::kLong).reshape(-1)).view(u8.sizes());
}

std::vector<std::pair<std::string, at::Tensor>> named_tensors(torch::nn::Module& m) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : m.named_parameters(true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : m.named_buffers(true)) out.emplace_back(b.key(), b.value());
  return out;
}

std::vector<models::gemma4::ClippableLinearImpl*> clippables(torch::nn::Module& m) {
  std::vector<models::gemma4::ClippableLinearImpl*> out;
  for (const auto& child : m.modules(false))
    if (auto* c = dynamic_cast<models::gemma4::ClippableLinearImpl*>(child.get())) out.push_back(c);
  return out;
}

// A small random tower (no fixture): hidden 8, 2 heads of 4, patch 2 (12 values per patch), 1 layer.
VisionConfig small_config() {
  VisionConfig c;
  c.hidden_size = 8;
  c.intermediate_size = 12;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 2;
  c.head_dim = 4;
  c.patch_size = 2;
  c.position_embedding_size = 16;
  c.use_clipped_linears = true;
  return c;
}

Tower small_random_tower(uint64_t seed) {
  Tower t = make_tower(small_config(), 6, at::kCPU);
  at::Generator gen = at::detail::createCPUGenerator(seed);
  models::init_vision_tower_random(*t.root, "gemma4", gen);
  torch::NoGradGuard no_grad;
  // Spread that makes every op matter (transformers' init gives weights of 0.02 and a constant position table).
  for (auto& [name, tensor] : named_tensors(*t.root))
    if (tensor.dim() >= 2) tensor.normal_(0.0, 0.5, gen);
  return t;
}

// Positions of a rows x cols patch grid in raster order, then `pad` padding patches: [1, rows*cols + pad, 2].
at::Tensor grid_positions(int64_t rows, int64_t cols, int64_t pad) {
  at::Tensor pos = torch::full({1, rows * cols + pad, 2}, -1, torch::kLong);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      pos[0][r * cols + c][0] = c;
      pos[0][r * cols + c][1] = r;
    }
  return pos;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Parity with transformers
// ---------------------------------------------------------------------------------------------------------------

TEST(Gemma4Vision, CheckpointNamesMatchTransformers) {
  REQUIRE_FIXTURE();
  for (const char* sub : {"model", "model-standardize"}) {
    // The production layout (models/vision_tower.h) of the fixture's config.json holds exactly the checkpoint.
    const fs::path dir = fixture_dir() / sub;
    const io::ModelConfig cfg = io::load_model_config(dir.string());
    auto tree = models::make_vision_tower_layout(cfg, at::kFloat, at::kCPU);
    ASSERT_TRUE(tree) << sub;
    io::Checkpoint ckpt = io::Checkpoint::open(dir.string());
    std::set<std::string> ours, theirs(ckpt.names().begin(), ckpt.names().end());
    for (const auto& [name, t] : named_tensors(*tree)) {
      ours.insert("model." + name);
      if (ckpt.contains("model." + name)) EXPECT_EQ(ckpt.info("model." + name).shape, t.sizes().vec()) << name;
    }
    EXPECT_EQ(ours, theirs) << sub;
    EXPECT_EQ(models::load_weights(*tree, ckpt, "model.").loaded, theirs.size()) << sub;
  }
}

TEST(Gemma4Vision, TowerAndEmbedderMatchTransformers) {
  REQUIRE_FIXTURE();
  const at::Device device = test_device();
  Tower tower = load_fixture_tower("model", device);
  auto in = read_all(fixture_dir() / "inputs.safetensors");
  auto ref = read_all(fixture_dir() / "expected.safetensors");
  const at::Tensor pixels = fixture_pixels(in).to(device), positions = in.at("pixel_position_ids").to(device);
  torch::NoGradGuard no_grad;

  models::Trace trace;
  VisionOutput out = tower.vision->forward(pixels, positions, &trace);
  size_t compared = 0;
  for (const auto& [name, t] : trace) {
    if (name == "pooler_mask") {
      EXPECT_TRUE(t.cpu().equal(ref.at("trace.pooler_mask"))) << "pooler mask differs";
    } else {
      expect_close("trace." + name, t, ref.at("trace." + name));
    }
    ++compared;
  }
  EXPECT_EQ(compared, 3u + static_cast<size_t>(tower.vision->encoder->layers->size()));
  expect_close("tokens", out.tokens, ref.at("tokens"));
  const at::Tensor counts = ref.at("tokens_per_image");
  ASSERT_EQ(out.tokens_per_image.size(), static_cast<size_t>(counts.size(0)));
  for (size_t i = 0; i < out.tokens_per_image.size(); ++i)
    EXPECT_EQ(out.tokens_per_image[i], counts[i].item<int64_t>()) << "image " << i;
  expect_close("embed_vision", tower.embed->forward(out.tokens), ref.at("embed_vision"));
}

TEST(Gemma4Vision, EachImageAloneMatchesTransformersAndTheBatch) {
  REQUIRE_FIXTURE();
  const at::Device device = test_device();
  Tower tower = load_fixture_tower("model", device);
  auto in = read_all(fixture_dir() / "inputs.safetensors");
  auto ref = read_all(fixture_dir() / "expected.safetensors");
  const at::Tensor pixels = fixture_pixels(in).to(device), positions = in.at("pixel_position_ids").to(device);
  torch::NoGradGuard no_grad;
  const VisionOutput batch = tower.vision->forward(pixels, positions);
  const at::Tensor padding = positions.eq(-1).all(-1).cpu();
  bool saw_unpadded = false;
  int64_t offset = 0;
  for (int64_t i = 0; i < pixels.size(0); ++i) {
    const std::string p = cat("alone.", i, ".");
    // Image 0 fills the budget exactly: alone it has no padding patch (transformers then builds no mask at all).
    saw_unpadded = saw_unpadded || !padding[i].any().item<bool>();
    const VisionOutput alone = tower.vision->forward(pixels.slice(0, i, i + 1), positions.slice(0, i, i + 1));
    expect_close(p + "tokens", alone.tokens, ref.at(p + "tokens"));
    expect_close(p + "embed_vision", tower.embed->forward(alone.tokens), ref.at(p + "embed_vision"));
    ASSERT_EQ(alone.tokens_per_image.size(), 1u);
    ASSERT_EQ(alone.tokens_per_image[0], batch.tokens_per_image[i]);
    const int64_t n = alone.tokens_per_image[0];
    // Batch invariance: the image's tokens inside the padded batch are the tokens of the image alone.
    expect_close(p + "batch_vs_alone", batch.tokens.slice(0, offset, offset + n), alone.tokens);
    offset += n;
  }
  EXPECT_EQ(offset, batch.tokens.size(0));
  EXPECT_TRUE(saw_unpadded) << "the fixture should hold an image without padding patches";
}

TEST(Gemma4Vision, StoredClipBoundsReallyClip) {
  REQUIRE_FIXTURE();
  const at::Device device = test_device();
  Tower tower = load_fixture_tower("model", device);
  auto in = read_all(fixture_dir() / "inputs.safetensors");
  auto ref = read_all(fixture_dir() / "expected.safetensors");
  const at::Tensor pixels = fixture_pixels(in).to(device), positions = in.at("pixel_position_ids").to(device);
  torch::NoGradGuard no_grad;

  auto clips = clippables(*tower.vision);
  EXPECT_EQ(clips.size(), 7u * static_cast<size_t>(tower.vision->encoder->layers->size()));  // q k v o gate up down
  for (auto* c : clips)
    for (const at::Tensor& b : {c->input_min, c->input_max, c->output_min, c->output_max})
      EXPECT_TRUE(std::isfinite(b.item<double>())) << "fixture bounds must be finite";
  const at::Tensor clipped = tower.vision->forward(pixels, positions).tokens;
  for (auto* c : clips) c->reset_bounds();
  const at::Tensor unclipped = tower.vision->forward(pixels, positions).tokens;
  expect_close("tokens_unclipped", unclipped, ref.at("tokens_unclipped"));
  // The bounds change the output far beyond the parity tolerance, so the clipped parity tests them.
  const double effect = max_diff(clipped, unclipped);
  std::printf("[vision-parity] gemma4 vision: clipping changes the tokens by up to %.3g\n", effect);
  EXPECT_GT(effect, 100 * kTol);
}

TEST(Gemma4Vision, StandardizeMatchesTransformers) {
  REQUIRE_FIXTURE();
  const at::Device device = test_device();
  Tower tower = load_fixture_tower("model-standardize", device);
  ASSERT_TRUE(tower.vision->config().standardize);
  auto in = read_all(fixture_dir() / "inputs.safetensors");
  auto ref = read_all(fixture_dir() / "expected.safetensors");
  const at::Tensor pixels = fixture_pixels(in).to(device), positions = in.at("pixel_position_ids").to(device);
  torch::NoGradGuard no_grad;
  const VisionOutput out = tower.vision->forward(pixels, positions);
  expect_close("standardize.tokens", out.tokens, ref.at("standardize.tokens"));
  expect_close("standardize.embed_vision", tower.embed->forward(out.tokens), ref.at("standardize.embed_vision"));
  EXPECT_GT(max_diff(out.tokens, ref.at("tokens")), 100 * kTol) << "std_bias/std_scale had no effect";
}

TEST(Gemma4Vision, RopeBaseOfTheConfigIsUsed) {
  REQUIRE_FIXTURE();
  auto in = read_all(fixture_dir() / "inputs.safetensors");
  auto ref = read_all(fixture_dir() / "expected.safetensors");
  torch::NoGradGuard no_grad;
  // The fixture's base is 100; another base moves the tokens, so the parity above pins the base actually used.
  Tower tower = load_fixture_tower("model", at::kCPU, /*theta=*/10000.0);
  const at::Tensor tokens = tower.vision->forward(fixture_pixels(in), in.at("pixel_position_ids")).tokens;
  EXPECT_GT(max_diff(tokens, ref.at("tokens")), 100 * kTol);
}

// ---------------------------------------------------------------------------------------------------------------
// Without fixtures
// ---------------------------------------------------------------------------------------------------------------

TEST(Gemma4Vision, RopeBaseIsReadFromTheConfig) {
  using models::gemma4::parse_vision_rope_theta;
  EXPECT_EQ(parse_vision_rope_theta("{}", "config.json"), 100.0);
  EXPECT_EQ(parse_vision_rope_theta(R"({"rope_parameters": null})", "config.json"), 100.0);
  EXPECT_EQ(parse_vision_rope_theta(R"({"rope_parameters": {"rope_type": "default", "rope_theta": 50}})", "c"), 50.0);
  EXPECT_EQ(parse_vision_rope_theta(R"({"rope_parameters": {"rope_type": "axial", "rope_theta": 64.0}})", "c"), 64.0);
  EXPECT_EQ(parse_vision_rope_theta(R"({"rope_parameters": {"rope_type": "default"}})", "c"), 100.0);
  EXPECT_EQ(parse_vision_rope_theta(R"({"rope_theta": 25.5})", "c"), 25.5);
  // parse_vision_config reads it too (and real checkpoints, whose vision RoPE is "axial", load)
  EXPECT_EQ(models::gemma4::parse_vision_config(R"({"rope_parameters": {"rope_theta": 50.0}})", "c").rope_theta, 50.0);
  EXPECT_EQ(models::gemma4::parse_vision_config(R"({"rope_parameters": {"rope_type": "axial"}})", "c").rope_theta, 100.0);
  auto fails_naming = [](const std::string& json, const std::string& needle) {
    try {
      parse_vision_rope_theta(json, "config.json");
      ADD_FAILURE() << "accepted " << json;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  fails_naming(R"({"rope_parameters": {"rope_type": "linear", "rope_theta": 100.0}})", "rope_parameters.rope_type");
  fails_naming(R"({"rope_parameters": {"rope_theta": "big"}})", "rope_theta");
  fails_naming(R"({"rope_parameters": {"rope_theta": -1}})", "rope_parameters.rope_theta");
  fails_naming(R"({"rope_parameters": [100]})", "rope_parameters");
}

TEST(Gemma4Vision, PoolerAveragesEachBlockOfPatchesByPosition) {
  VisionConfig c = small_config();
  c.hidden_size = 4;
  Tower tower = make_tower(c, 6, at::kCPU);
  // One image of 3 x 6 patches (two 3x3 blocks) stored in a scrambled order, 9 padding patches: P = 27, L = 3.
  at::Tensor pos = grid_positions(3, 6, 9);
  const at::Tensor perm = torch::randperm(18, at::TensorOptions().dtype(at::kLong));
  pos.slice(1, 0, 18).copy_(pos.slice(1, 0, 18).index_select(1, perm));
  at::Tensor hidden = torch::randn({1, 27, 4});
  const at::Tensor padding = pos.eq(-1).all(-1);
  auto [pooled, kept] = tower.vision->pool(hidden, pos, padding);
  ASSERT_EQ(pooled.sizes(), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_TRUE(kept.equal(torch::tensor({true, true, false}).view({1, 3})));
  at::Tensor expected = torch::zeros({3, 4}, torch::kDouble);
  for (int64_t i = 0; i < 18; ++i) {
    const int64_t block = pos[0][i][0].item<int64_t>() / 3;  // one block row
    expected[block] += hidden[0][i].to(torch::kDouble);
  }
  expected = expected / 9.0 * 2.0;  // mean of 9 patches times sqrt(hidden 4)
  EXPECT_LE(max_diff(pooled[0], expected), 1e-6);
  // The padding rows' values never reach a token.
  at::Tensor noisy = hidden.clone();
  noisy.slice(1, 18).fill_(1e6);
  EXPECT_TRUE(tower.vision->pool(noisy, pos, padding).first.equal(pooled));
}

TEST(Gemma4Vision, PaddingPatchesDoNotChangeTheTokens) {
  Tower tower = small_random_tower(21);
  torch::NoGradGuard no_grad;
  // A 6 x 3 patch image alone without padding (P = 18), then inside P = 36 with padding patches of random pixels.
  const int64_t values = 3 * 2 * 2;
  const at::Tensor pixels = torch::rand({1, 18, values});
  const VisionOutput alone = tower.vision->forward(pixels, grid_positions(6, 3, 0));
  EXPECT_EQ(alone.tokens_per_image, (std::vector<int64_t>{2}));
  const at::Tensor padded = at::cat({pixels, torch::rand({1, 18, values})}, 1);
  const VisionOutput with_padding = tower.vision->forward(padded, grid_positions(6, 3, 18));
  EXPECT_EQ(with_padding.tokens_per_image, (std::vector<int64_t>{2}));
  EXPECT_LE(max_diff(alone.tokens, with_padding.tokens), 1e-5);
  // A second image in the batch changes nothing either, and the batch keeps image order.
  const at::Tensor other = torch::rand({1, 36, values});
  const VisionOutput batch = tower.vision->forward(at::cat({padded, other}), at::cat({grid_positions(6, 3, 18),
                                                                                       grid_positions(6, 6, 0)}));
  EXPECT_EQ(batch.tokens_per_image, (std::vector<int64_t>{2, 4}));
  EXPECT_LE(max_diff(batch.tokens.slice(0, 0, 2), alone.tokens), 1e-5);
  const VisionOutput second = tower.vision->forward(other, grid_positions(6, 6, 0));
  EXPECT_LE(max_diff(batch.tokens.slice(0, 2, 6), second.tokens), 1e-5);
  // The pixels of real patches do matter.
  const VisionOutput changed = tower.vision->forward(pixels.flip(1), grid_positions(6, 3, 0));
  EXPECT_GT(max_diff(alone.tokens, changed.tokens), 1e-3);
}

TEST(Gemma4Vision, BadInputsNameTheProblem) {
  Tower tower = small_random_tower(5);
  torch::NoGradGuard no_grad;
  auto fails_naming = [&](const at::Tensor& pixels, const at::Tensor& pos, const std::string& needle) {
    try {
      tower.vision->forward(pixels, pos);
      ADD_FAILURE() << "accepted input expected to fail with '" << needle << "'";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const at::Tensor good_pixels = torch::rand({1, 18, 12});
  fails_naming(torch::rand({1, 18, 48}), grid_positions(6, 3, 0), "patch_size 2");        // patch 4 pixels
  fails_naming(good_pixels, grid_positions(6, 3, 0).slice(1, 0, 9), "pixel_position_ids");  // count mismatch
  fails_naming(torch::rand({1, 20, 12}), grid_positions(5, 4, 0), "multiple of pooling_kernel_size");
  fails_naming(torch::rand({1, 18, 12}), grid_positions(1, 18, 0), "position_embedding_size 16");  // x up to 17
  fails_naming(good_pixels, torch::full({1, 18, 2}, -1, torch::kLong), "no patch");
  fails_naming(torch::rand({1, 18, 12}), grid_positions(2, 9, 0), "patch grid");  // 2 rows: not a multiple of 3
}
