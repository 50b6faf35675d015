// Gemma 3n vision tower (timm's MobileNet-V5 encoder inside TimmWrapperModel) and embed_vision against timm 1.0.29 +
// transformers 5.17, on the fixtures of tools/make_gemma3n_vision_fixtures.py (tests/fixtures/vision/gemma3n-tower):
//   - a reduced MobileNet-V5 (arch.json: the block kinds of mobilenetv5_300m_enc at small widths) with random
//     weights: a batch of two 192x192 images, each image alone, a 75x61 image (odd sizes: asymmetric 'same'
//     padding, the MSFA's non-integer nearest upsample and bilinear resize), get_image_features' embed_vision path
//     and hard ids; float32 outputs within 1e-4 (max abs), printed with a "[vision-parity]" prefix;
//   - 'same' padding of every kernel/stride/size combination against TF's definition, block strings, architecture
//     errors;
//   - the full mobilenetv5_300m_enc at 768x768 with weights and image from integer recipes (fill_recipe,
//     recipe_image: the script's, bit for bit), against a stored slice of timm's output. 294 M weights at 768x768
//     are too slow for CI's CPU: it runs when GT_TEST_DEVICE names a device other than cpu, or with
//     GT_TEST_FULL_MOBILENET=1.
// GT_TEST_DEVICE=cuda runs everything on a GPU (cuDNN TF32 off; results compared on the CPU).
#include <torch/torch.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "core/error.h"
#include "io/safetensors.h"
#include "models/common/weights.h"
#include "models/gemma3n/multimodal_embedder.h"
#include "models/gemma3n/vision.h"
#include "fixture_tensors.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace gt;
namespace g3 = models::gemma3n;
using test::max_diff;
using test::read_all;

namespace {

constexpr double kTolerance = 1e-4;

fs::path case_dir() { return test::fixture("vision/gemma3n-tower"); }

at::Device test_device() {
  const char* d = std::getenv("GT_TEST_DEVICE");
  return at::Device(d && *d ? d : "cpu");
}

at::TensorOptions float_opts() {
  if (test_device().is_cuda()) at::globalContext().setAllowTF32CuDNN(false);  // the reference is true float32
  return at::TensorOptions().dtype(at::kFloat).device(test_device());
}

// pixel_values as the processor's rescale gives them: uint8 / 255 in float32.
at::Tensor pixel_values(const at::Tensor& u8) { return u8.to(at::kFloat) / 255.0; }

struct Reduced {
  g3::MobileNetV5Arch arch;
  std::shared_ptr<g3::VisionTowerImpl> tower;
  std::shared_ptr<g3::MultimodalEmbedderImpl> embed;
  std::map<std::string, at::Tensor> inputs, expected;
};

Reduced load_reduced() {
  Reduced r;
  r.arch = g3::parse_mobilenetv5_arch(test::read_file(case_dir() / "arch.json"), "arch.json");
  const nlohmann::json e = nlohmann::json::parse(test::read_file(case_dir() / "embedder.json"));
  g3::VisionConfig vc;
  vc.hidden_size = r.arch.msfa_out_channels;
  vc.vocab_size = e.at("vocab_size").get<int64_t>();
  vc.vocab_offset = e.at("vocab_offset").get<int64_t>();
  vc.rms_norm_eps = e.at("rms_norm_eps").get<double>();
  r.tower = std::make_shared<g3::VisionTowerImpl>(vc, r.arch, float_opts());
  g3::MultimodalEmbedderShape shape;
  shape.multimodal_hidden_size = vc.hidden_size;
  shape.text_hidden_size = e.at("text_hidden_size").get<int64_t>();
  shape.vocab_size = vc.vocab_size;
  shape.vocab_offset = vc.vocab_offset;
  shape.eps = vc.rms_norm_eps;
  r.embed = std::make_shared<g3::MultimodalEmbedderImpl>(shape, float_opts());
  const io::Checkpoint ckpt = io::Checkpoint::open((case_dir() / "model.safetensors").string());
  models::load_frozen_weights(*r.tower, ckpt, "model.vision_tower.");
  models::load_frozen_weights(*r.embed, ckpt, "model.embed_vision.");
  r.inputs = read_all(case_dir() / "inputs.safetensors");
  r.expected = read_all(case_dir() / "expected.safetensors");
  return r;
}

void expect_close(const std::string& what, const at::Tensor& ours, const at::Tensor& ref,
                  double tolerance = kTolerance) {
  ASSERT_EQ(ours.sizes(), ref.sizes()) << what;
  const double err = max_diff(ours, ref);
  std::printf("[vision-parity] gemma3n %-22s max|diff| = %.3g (max|ref| %.3g)\n", what.c_str(), err,
              test::max_abs(ref));
  EXPECT_LE(err, tolerance) << what;
}

// get_image_features' pooler_output from the tower's output.
at::Tensor embedded(Reduced& r, const at::Tensor& features) {
  return r.embed->embed_soft(g3::vision_soft_tokens(features));
}

// TF 'SAME' by its definition, one axis of size n: output i reads input positions i*s - before + j (j < k) that lie
// inside [0, n), where before = floor(total / 2) of total = max((ceil(n/s) - 1) s + k - n, 0).
std::vector<int64_t> same_taps(int64_t i, int64_t n, int64_t k, int64_t s) {
  const int64_t out = (n + s - 1) / s;
  const int64_t before = std::max<int64_t>((out - 1) * s + k - n, 0) / 2;
  std::vector<int64_t> taps;
  for (int64_t j = 0; j < k; ++j)
    if (i * s - before + j >= 0 && i * s - before + j < n) taps.push_back(i * s - before + j);
  return taps;
}

// ---- the full-size recipes (tools/make_gemma3n_vision_fixtures.py: fill_recipe, recipe_image) ----

uint32_t fnv1a32(const std::string& s) {
  uint32_t h = 0x811C9DC5u;
  for (unsigned char c : s) h = (h ^ c) * 0x01000193u;
  return h;
}

uint32_t lowbias32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7FEB352Du;
  x ^= x >> 15;
  x *= 0x846CA68Bu;
  x ^= x >> 16;
  return x;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

at::Tensor fill_recipe(const std::string& name, at::IntArrayRef sizes) {
  at::Tensor t = at::empty(sizes, at::kFloat);
  float* p = t.data_ptr<float>();
  const uint32_t seed = fnv1a32(name);
  double a = 0, b = 0;  // value = b + a * u, as the script's float64 expressions
  if (ends_with(name, "layer_scale.gamma")) {
    a = 0.15, b = 0.25;
  } else if (ends_with(name, ".bias")) {
    a = 0.1;
  } else if (sizes.size() == 1) {
    a = 0.25, b = 1.0;
  } else {
    GT_CHECK(sizes.size() == 4, "no recipe for ", name);
    a = std::sqrt(3.0) / std::sqrt(static_cast<double>(sizes[1] * sizes[2] * sizes[3]));
    if (ends_with(name, "attn.query.proj.weight") || ends_with(name, "attn.key.proj.weight")) a = a * 2.0;
  }
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t h = lowbias32(seed + static_cast<uint32_t>(i) * 0x9E3779B9u);
    const double u = static_cast<double>(h >> 8) * 0x1p-23 - 1.0;
    p[i] = static_cast<float>(b == 0 ? a * u : b + a * u);
  }
  return t;
}

at::Tensor recipe_image() {
  at::Tensor img = at::empty({3, 768, 768}, at::kByte);
  uint8_t* p = img.data_ptr<uint8_t>();
  for (int64_t y = 0; y < 768; ++y)
    for (int64_t x = 0; x < 768; ++x) {
      int64_t r = x * 255 / 767;
      if (y >= 500 && y < 560) r = 255 - r;
      const int64_t g = y * 255 / 767;
      const bool disc = (x - 384) * (x - 384) + (y - 300) * (y - 300) < 200 * 200;
      const int64_t b = disc ? 230 : ((x / 48 + y / 48) % 2) * 180 + 20;
      p[(0 * 768 + y) * 768 + x] = static_cast<uint8_t>(r);
      p[(1 * 768 + y) * 768 + x] = static_cast<uint8_t>(g);
      p[(2 * 768 + y) * 768 + x] = static_cast<uint8_t>(b);
    }
  return img;
}

bool full_size_enabled() {
  const char* full = std::getenv("GT_TEST_FULL_MOBILENET");
  return (full && std::string(full) == "1") || !test_device().is_cpu();
}

}  // namespace

TEST(Gemma3nVision, ReducedTowerMatchesTimm) {
  Reduced r = load_reduced();
  const at::Tensor out = r.tower->forward(pixel_values(r.inputs.at("batch.pixels")));
  expect_close("batch.tower", out, r.expected.at("batch.tower"));
  expect_close("batch.embedded", embedded(r, out), r.expected.at("batch.embedded"));
}

TEST(Gemma3nVision, EachImageAloneMatchesTheBatch) {
  Reduced r = load_reduced();
  const at::Tensor batch = pixel_values(r.inputs.at("batch.pixels"));
  const at::Tensor together = r.tower->forward(batch).cpu();
  for (int64_t i = 0; i < batch.size(0); ++i) {
    const at::Tensor alone = r.tower->forward(batch.slice(0, i, i + 1));
    expect_close(cat("alone.", i, ".tower"), alone, r.expected.at(cat("alone.", i, ".tower")));
    const double err = max_diff(alone[0], together[i]);
    std::printf("[vision-parity] gemma3n image %lld alone vs in the batch max|diff| = %.3g\n",
                static_cast<long long>(i), err);
    EXPECT_LE(err, 1e-5) << "image " << i;
  }
}

TEST(Gemma3nVision, OddSizedImageMatchesTimm) {
  Reduced r = load_reduced();
  std::vector<at::Tensor> stages;
  const at::Tensor pixels = pixel_values(r.inputs.at("odd.pixels")).to(test_device());
  ASSERT_EQ(pixels.sizes(), (std::vector<int64_t>{1, 3, 75, 61}));
  const at::Tensor out = r.tower->timm_model->forward(pixels, &stages);
  ASSERT_EQ(stages.size(), 5u);  // stem + 4 stages
  for (size_t s = 0; s < stages.size(); ++s)
    expect_close(cat("odd.stage.", s), stages[s], r.expected.at(cat("odd.stage.", s)));
  expect_close("odd.tower", out, r.expected.at("odd.tower"));
  expect_close("odd.embedded", embedded(r, out), r.expected.at("odd.embedded"));
}

TEST(Gemma3nVision, HardVisionTokensMatchTransformers) {
  Reduced r = load_reduced();
  expect_close("hard.embedded", r.embed->embed_hard(r.inputs.at("hard_ids")), r.expected.at("hard.embedded"));
}

// Every tensor of the checkpoint is one of the tree's, with its shape, and the other way round.
TEST(Gemma3nVision, ReducedTreeIsTimmsStateDict) {
  Reduced r = load_reduced();
  std::map<std::string, std::vector<int64_t>> ours, theirs;
  for (const auto& p : r.tower->named_parameters()) ours["model.vision_tower." + p.key()] = p.value().sizes().vec();
  for (const auto& p : r.embed->named_parameters()) ours["model.embed_vision." + p.key()] = p.value().sizes().vec();
  for (const auto& [name, t] : read_all(case_dir() / "model.safetensors")) theirs[name] = t.sizes().vec();
  EXPECT_EQ(ours, theirs);
  // timm's rounding: stem 12 -> 16, c20 -> 24; the repeated er block; the 4 stages.
  EXPECT_EQ(r.arch.stem_size, 16);
  ASSERT_EQ(r.arch.stages.size(), 4u);
  EXPECT_EQ(r.arch.stages[0].size(), 3u);
  EXPECT_EQ(r.arch.stages[1][0].out_chs, 24);
  EXPECT_TRUE(r.arch.stages[3].back().noskip);
}

TEST(Gemma3nVision, SamePaddingMatchesTensorflowDefinition) {
  // Sizes 1..9 (rows) x 1, 5, 9 (columns) with kernels 1..5 and strides 1..2: the static (stride 1, odd kernel) and
  // the dynamic path. An all-ones kernel sums the input positions each output reads.
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  int cases = 0;
  for (int64_t k = 1; k <= 5; ++k)
    for (int64_t s = 1; s <= 2; ++s) {
      g3::SameConv2d conv(1, 1, k, s, 1, /*bias=*/false, opts);
      {
        torch::NoGradGuard no_grad;
        conv->weight.fill_(1.0);
      }
      for (int64_t h = 1; h <= 9; ++h)
        for (int64_t w = 1; w <= 9; w += 4) {
          const at::Tensor x = at::arange(h * w, opts).add(1).view({1, 1, h, w});
          const at::Tensor y = conv->forward(x);
          const std::string where = cat("k ", k, " s ", s, " input ", h, "x", w);
          ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, 1, (h + s - 1) / s, (w + s - 1) / s})) << where;
          const auto xa = x.accessor<float, 4>();
          const auto ya = y.accessor<float, 4>();
          for (int64_t i = 0; i < y.size(2); ++i)
            for (int64_t j = 0; j < y.size(3); ++j) {
              float want = 0;
              for (int64_t a : same_taps(i, h, k, s))
                for (int64_t b : same_taps(j, w, k, s)) want += xa[0][0][a][b];
              EXPECT_EQ(ya[0][0][i][j], want) << where << " at " << i << "," << j;
            }
          ++cases;
        }
    }
  EXPECT_EQ(cases, 5 * 2 * 9 * 3);
}

TEST(Gemma3nVision, BlockStringsFollowTimm) {
  int64_t r = 0;
  g3::BlockSpec b = g3::parse_block_string("uir_r2_a5_k0_s2_e4_c640", r, "test");
  EXPECT_EQ(r, 2);
  EXPECT_EQ(b.kind, g3::BlockKind::UniversalInvertedResidual);
  EXPECT_EQ(b.start_kernel, 5);
  EXPECT_EQ(b.kernel, 0);
  EXPECT_EQ(b.stride, 2);
  EXPECT_EQ(b.exp_ratio, 4.0);
  EXPECT_EQ(b.out_chs, 640);
  b = g3::parse_block_string("mqa_r1_k3_h12_v2_s1_d64_c640", r, "test");
  EXPECT_EQ(b.kind, g3::BlockKind::MobileAttention);
  EXPECT_EQ(b.num_heads, 12);
  EXPECT_EQ(b.kv_stride, 2);
  EXPECT_EQ(b.head_dim, 64);
  EXPECT_EQ(g3::parse_block_string("mqa_r1_k3_h16_s1_d96_c1280", r, "test").kv_stride, 1);  // v defaults to 1
  EXPECT_EQ(g3::parse_block_string("uir_r1_k3_s1_e2_c8", r, "test").start_kernel, 0);        // a defaults to 0
  b = g3::parse_block_string("er_r1_k3_s1_e4_c128_noskip", r, "test");
  EXPECT_EQ(b.kind, g3::BlockKind::EdgeResidual);
  EXPECT_TRUE(b.noskip);
  for (const char* bad : {"ir_r1_k3_s1_e4_c16", "uir_r1_a3_k3_s1_e4_c16_se0.25", "er_r1_k3_s1_c16",
                          "er_r1_k3.5_s1_e4_c16", "mqa_r1_k3_h2_s1_c16", "er_k3_s1_e4_c16"}) {
    try {
      g3::parse_block_string(bad, r, "arch.json");
      ADD_FAILURE() << bad << " accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }

  // The 300m table as timm's builder sees it: 3/5/37/39 blocks, first blocks strided, MSFA 1920 -> 2048 at 16x16.
  const g3::MobileNetV5Arch arch = g3::mobilenetv5_300m_arch();
  ASSERT_EQ(arch.stages.size(), 4u);
  std::vector<size_t> sizes;
  for (const auto& stage : arch.stages) {
    sizes.push_back(stage.size());
    EXPECT_EQ(stage.front().stride, 2);
    for (size_t j = 1; j < stage.size(); ++j) EXPECT_EQ(stage[j].stride, 1);
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{3, 5, 37, 39}));
  EXPECT_EQ(arch.msfa_out_channels, 2048);
  EXPECT_EQ(arch.msfa_output_resolution, 16);
}

TEST(Gemma3nVision, ArchitectureErrorsNameTheProblem) {
  const std::string ok_stage = R"(["uir_r1_a3_k0_s2_e2_c16", "uir_r1_a0_k0_s1_e2_c16"])";
  for (const auto& [text, needle] : std::vector<std::pair<std::string, std::string>>{
           {R"({"block_strings": [["er_r1_k3_s2_e4_c16"]]})", "1 stages"},
           {R"({"block_strings": [["er_r1_k3_s1_e4_c16"], )" + ok_stage + "]}", "stage 0 starts with stride 1"},
           {R"({"block_strings": [)" + ok_stage + R"(, ["uir_r1_a3_k0_s2_e2_c16", "mqa_r1_k3_h2_s1_d8_c16"]]})",
            "ends with an attention block"},
           {R"({"block_strings": [)" + ok_stage + R"(, ["uir_r1_a0_k0_s2_e2_c16"]]})", "needs a depthwise conv"},
           {R"({"block_strings": [)" + ok_stage + "], \"msfa_width\": 8}", "unknown key \"msfa_width\""},
           {R"({"stem_size": "wide", "block_strings": [)" + ok_stage + "]}", "stem_size"},
           {R"({"block_strings": "er_r1_k3_s2_e4_c16"})", "block_strings"}}) {
    try {
      g3::parse_mobilenetv5_arch(text, "arch.json");
      ADD_FAILURE() << text << " accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("arch.json"), std::string::npos) << e.what();
    }
  }
  // hidden_size must be the MSFA's width.
  g3::VisionConfig vc;
  vc.hidden_size = 32;
  const g3::MobileNetV5Arch arch = g3::parse_mobilenetv5_arch(
      R"({"stem_size": 8, "block_strings": [)" + ok_stage + ", " + ok_stage + R"(], "msfa_out_channels": 16})", "t");
  EXPECT_THROW(g3::VisionTowerImpl(vc, arch, at::TensorOptions().device(at::kMeta)), InputError);
  vc.hidden_size = 16;
  EXPECT_NO_THROW(g3::VisionTowerImpl(vc, arch, at::TensorOptions().device(at::kMeta)));
}

TEST(Gemma3nVision, FullSizeMobileNetV5MatchesTimm) {
  const std::map<std::string, at::Tensor> ref = read_all(case_dir() / "full.safetensors");
  const at::Tensor image = recipe_image();
  ASSERT_EQ(image.to(at::kLong).sum().item<int64_t>(), ref.at("full.image_sum").item<int64_t>())
      << "recipe_image differs from the script's";
  if (!full_size_enabled())
    GTEST_SKIP() << "294 M weights at 768x768: set GT_TEST_DEVICE=cuda (or GT_TEST_FULL_MOBILENET=1 on a CPU)";
  const auto t0 = std::chrono::steady_clock::now();
  auto tower = std::make_shared<g3::VisionTowerImpl>(g3::VisionConfig{}, float_opts());
  {
    torch::NoGradGuard no_grad;
    for (auto& p : tower->named_parameters())
      p.value().copy_(fill_recipe("model.vision_tower." + p.key(), p.value().sizes()));
  }
  const auto t1 = std::chrono::steady_clock::now();
  std::vector<at::Tensor> stages;
  const at::Tensor out = tower->timm_model->forward(pixel_values(image).unsqueeze(0).to(test_device()), &stages).cpu();
  const auto t2 = std::chrono::steady_clock::now();
  std::printf("[vision-parity] gemma3n full size: fill %.1f s, forward %.1f s on %s\n",
              std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count(),
              test_device().str().c_str());
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{1, 2048, 16, 16}));
  // 84 blocks of float32 convolutions summed in another order than timm's: up to 1.5e-5 measured on CUDA (H100,
  // libtorch 2.11) and on the CPU (libtorch 1.13, composite attention); the bound leaves room for other kernels.
  constexpr double kFullTolerance = 2e-4;
  for (size_t s = 0; s < stages.size(); ++s)
    expect_close(cat("full.stage.", s), stages[s][0].slice(0, 0, 8).slice(1, 0, 8).slice(2, 0, 8),
                 ref.at(cat("full.stage.", s)), kFullTolerance);
  expect_close("full.slice", out.index_select(1, ref.at("full.channels")), ref.at("full.slice"), kFullTolerance);
  expect_close("full.channel_mean", out[0].mean({1, 2}), ref.at("full.channel_mean"), kFullTolerance);
  const at::Tensor mean_std = at::stack({out.mean(), out.std()});
  expect_close("full.mean_std", mean_std, ref.at("full.mean_std"), kFullTolerance);
}
