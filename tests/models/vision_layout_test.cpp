// The vision towers' parameter layout and random initialisation (issue #3, init-random):
//   - for each preset in tests/fixtures/layout/vision_manifest.json (transformers 5.17's state dict), the tree of
//     make_vision_tower_layout has exactly those names and shapes (built on the meta device: no memory);
//   - init_vision_tower_random follows Gemma 4's _init_weights and timm's MobileNet init, is seeded, and reports a
//     tensor no rule covers;
//   - bad vision configs fail naming config.json and the key.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <map>

#include "core/error.h"
#include "io/model_config.h"
#include "io/model_presets.h"
#include "models/common/modules.h"
#include "models/gemma3n/multimodal_embedder.h"
#include "models/gemma3n/vision.h"
#include "models/vision_tower.h"
#include "test_util.h"

using namespace gt;
using Shapes = std::map<std::string, std::vector<int64_t>>;

namespace {

const at::Device kMeta(at::kMeta);

io::ModelConfig preset(const std::string& key) {
  return io::load_model_config(test::source_path("tools/device/presets/" + key).string());
}

// "model." + name -> shape of every parameter and buffer, as a state dict lists them.
Shapes layout_of(torch::nn::Module& tree) {
  Shapes out;
  for (const auto& p : tree.named_parameters(true)) out["model." + p.key()] = p.value().sizes().vec();
  for (const auto& b : tree.named_buffers(true)) out["model." + b.key()] = b.value().sizes().vec();
  return out;
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Missing, extra and mis-shaped names (the first 20 of each kind), empty when equal.
std::string diff(const Shapes& expected, const Shapes& actual) {
  std::string missing, extra, mismatched;
  int n_missing = 0, n_extra = 0, n_mismatched = 0;
  for (const auto& [name, shape] : expected) {
    auto it = actual.find(name);
    if (it == actual.end()) {
      if (n_missing++ < 20) missing += "\n  " + name + " " + shape_str(shape);
    } else if (it->second != shape) {
      if (n_mismatched++ < 20)
        mismatched += "\n  " + name + " expected " + shape_str(shape) + ", built " + shape_str(it->second);
    }
  }
  for (const auto& [name, shape] : actual)
    if (!expected.count(name) && n_extra++ < 20) extra += "\n  " + name + " " + shape_str(shape);
  std::string out;
  if (n_missing) out += cat(n_missing, " missing (in transformers, not built):", missing, "\n");
  if (n_extra) out += cat(n_extra, " extra (built, not in transformers):", extra, "\n");
  if (n_mismatched) out += cat(n_mismatched, " with another shape:", mismatched, "\n");
  return out;
}

double std_of(const at::Tensor& t) { return t.to(at::kDouble).std().item<double>(); }
double mean_of(const at::Tensor& t) { return t.to(at::kDouble).mean().item<double>(); }
bool all_equal(const at::Tensor& t, double v) { return (t.to(at::kDouble) == v).all().item<bool>(); }

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// A drawn weight: mean near 0 and std within 10% of `std` (every tensor checked has >= 400 values).
void expect_normal(const std::string& name, const at::Tensor& t, double std) {
  ASSERT_GE(t.numel(), 400) << name;
  EXPECT_NEAR(std_of(t), std, 0.1 * std) << name;
  EXPECT_LT(std::abs(mean_of(t)), 5 * std / std::sqrt(static_cast<double>(t.numel()))) << name;
}

}  // namespace

TEST(VisionLayout, MatchesTransformersManifestForEveryPreset) {
  const nlohmann::json manifest = nlohmann::json::parse(test::read_file(test::fixture("layout/vision_manifest.json")));
  int presets = 0;
  for (const auto& [key, entries] : manifest.items()) {
    if (!entries.is_object()) continue;  // "transformers": the version
    SCOPED_TRACE(key);
    Shapes expected;
    for (const auto& [name, shape] : entries.items()) expected[name] = shape.get<std::vector<int64_t>>();
    auto tree = models::make_vision_tower_layout(preset(key), at::kBFloat16, kMeta);
    ASSERT_TRUE(tree) << key << " built no vision tower";
    const Shapes built = layout_of(*tree);
    const std::string d = diff(expected, built);
    EXPECT_TRUE(d.empty()) << key << ": the vision tree differs from transformers' state dict\n" << d;
    EXPECT_EQ(built.size(), expected.size()) << key;
    ++presets;
  }
  EXPECT_EQ(presets, 4) << "vision_manifest.json should hold gemma4-tiny, gemma4-E2B, gemma4-E4B and gemma3n-E2B";
}

TEST(VisionLayout, Gemma3nTowerIsTheSameForEveryPreset) {
  // The tiny preset has no vision_config: transformers (and we) take Gemma3nVisionConfig's defaults, i.e. the full
  // MobileNet-V5; only the embedder's output width follows the text model.
  auto tiny = models::make_vision_tower_layout(preset("gemma3n-tiny"), at::kFloat, kMeta);
  auto e4b = models::make_vision_tower_layout(preset("gemma3n-E4B"), at::kFloat, kMeta);
  ASSERT_TRUE(tiny && e4b);
  Shapes a = layout_of(*tiny), b = layout_of(*e4b);
  EXPECT_EQ(a.at("model.embed_vision.embedding_projection.weight"), (std::vector<int64_t>{64, 2048}));
  EXPECT_EQ(b.at("model.embed_vision.embedding_projection.weight"), (std::vector<int64_t>{2048, 2048}));
  a.erase("model.embed_vision.embedding_projection.weight");
  b.erase("model.embed_vision.embedding_projection.weight");
  EXPECT_EQ(diff(b, a), "");
  int64_t tower_params = 0;
  for (const auto& p : tiny->named_children()["vision_tower"]->parameters()) tower_params += p.numel();
  EXPECT_EQ(tower_params, 294126912);  // the sum over the manifest's vision_tower shapes
}

TEST(VisionLayout, BlockTableMatchesTheStageSizesOfMobileNetV5) {
  std::vector<int64_t> blocks(4, 0);
  for (const auto& run : models::gemma3n::mobilenetv5_300m_blocks())
    blocks.at(run.stage) += run.times * static_cast<int64_t>(run.pattern.size());
  EXPECT_EQ(blocks, (std::vector<int64_t>{3, 5, 37, 39}));
  EXPECT_EQ(models::gemma3n::make_divisible(128 * 6.0), 768);
  EXPECT_EQ(models::gemma3n::make_divisible(3.0), 8);    // never below the divisor
  EXPECT_EQ(models::gemma3n::make_divisible(20.0), 24);  // 16 would be more than 10% below 20
}

TEST(VisionLayout, Gemma4InitFollowsTransformers) {
  const io::ModelConfig cfg = preset("gemma4-tiny");
  auto tree = models::make_vision_tower_layout(cfg, at::kFloat, at::kCPU);
  ASSERT_TRUE(tree);
  at::Generator gen = at::detail::createCPUGenerator(7);
  models::init_vision_tower_random(*tree, "gemma4", gen);
  const double inf = std::numeric_limits<double>::infinity();
  int linears = 0, norms = 0, bounds = 0;
  for (const auto& b : tree->named_buffers(true)) {
    const std::string& n = b.key();
    const double want = ends_with(n, "_min") ? -inf : inf;
    EXPECT_TRUE(all_equal(b.value(), want)) << n;  // no clipping until a checkpoint sets the bounds
    ++bounds;
  }
  for (const auto& p : tree->named_parameters(true)) {
    const std::string& n = p.key();
    const at::Tensor& t = p.value();
    if (ends_with(n, "position_embedding_table")) {
      EXPECT_TRUE(all_equal(t, 1.0)) << n;
    } else if (t.dim() == 1) {
      EXPECT_TRUE(all_equal(t, 1.0)) << n;
      ++norms;
    } else {
      ASSERT_EQ(t.dim(), 2) << n;
      expect_normal(n, t, 0.02);
      ++linears;
    }
  }
  // 2 layers × 7 clippable linears × 4 bounds; 2 × 7 linears + input_proj + embed_vision.embedding_projection;
  // 2 × (4 layer norms + q_norm + k_norm).
  EXPECT_EQ(bounds, 56);
  EXPECT_EQ(linears, 16);
  EXPECT_EQ(norms, 12);

  // Seeded: the same seed gives the same weights, another seed others.
  auto again = models::make_vision_tower_layout(cfg, at::kFloat, at::kCPU);
  auto other = models::make_vision_tower_layout(cfg, at::kFloat, at::kCPU);
  at::Generator gen_again = at::detail::createCPUGenerator(7), gen_other = at::detail::createCPUGenerator(8);
  models::init_vision_tower_random(*again, "gemma4", gen_again);
  models::init_vision_tower_random(*other, "gemma4", gen_other);
  const std::string w = "vision_tower.encoder.layers.1.mlp.down_proj.linear.weight";
  const auto first = tree->named_parameters(true)[w], second = again->named_parameters(true)[w];
  EXPECT_TRUE(torch::equal(first, second));
  EXPECT_FALSE(torch::equal(first, other->named_parameters(true)[w]));
}

TEST(VisionLayout, Gemma3nInitFollowsTimmAndTransformers) {
  // One block of each kind at the sizes of the real tower (the whole tower is 294 M values; its coverage by the
  // rules is checked on the meta device below), plus the embedder of the tiny preset.
  namespace g3 = models::gemma3n;
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  const auto& runs = g3::mobilenetv5_300m_blocks();
  torch::nn::Module tree("SomeMobileNetV5Blocks");  // on the stack: the init must not need shared_from_this
  auto stem = tree.register_module("stem", g3::ConvNormAct(3, 64, 3, 2, 1, /*bias=*/true, true, opts));
  auto er = tree.register_module("er", g3::EdgeResidual(64, runs[0].pattern[0], opts));
  auto uir = tree.register_module("uir", g3::UniversalInvertedResidual(128, 256, 3, 5, 2, 6.0, true, false, opts));
  auto mqa = tree.register_module("mqa", g3::MobileAttention(640, runs[7].pattern[0], opts));
  g3::MultimodalEmbedderShape shape;
  shape.multimodal_hidden_size = 2048;
  shape.text_hidden_size = 64;
  shape.vocab_size = 128;
  shape.vocab_offset = 262144;
  auto embed = tree.register_module("embed_vision", g3::MultimodalEmbedder(shape, opts));
  at::Generator gen = at::detail::createCPUGenerator(3);
  models::init_vision_tower_random(tree, "gemma3n", gen);

  // Conv weights: normal(0, sqrt(2 / fan_out)), fan_out = k·k·out / groups.
  auto conv_std = [](const g3::SameConv2d& c) {
    return std::sqrt(2.0 / static_cast<double>(c->kernel * c->kernel * c->out_chs / c->groups));
  };
  for (const g3::SameConv2d& c : {stem->conv, er->conv_exp, er->conv_pwl, uir->dw_start->conv, uir->pw_exp->conv,
                                  uir->dw_mid->conv, uir->pw_proj->conv, mqa->attn->query->proj,
                                  mqa->attn->key->down_conv, mqa->attn->key->proj, mqa->attn->value->down_conv,
                                  mqa->attn->value->proj, mqa->attn->output->proj})
    expect_normal(cat("conv [", c->out_chs, ", ", c->in_chs / c->groups, ", ", c->kernel, "]"), c->weight, conv_std(c));
  EXPECT_NEAR(conv_std(uir->dw_start->conv), std::sqrt(2.0 / 9.0), 1e-12);  // depthwise: fan_out = k·k
  EXPECT_TRUE(all_equal(stem->conv->bias, 0.0));
  for (const at::Tensor& w : {stem->bn->weight, er->bn1->weight, er->bn2->weight, uir->pw_exp->bn->weight,
                              mqa->norm->weight, mqa->attn->key->norm->weight})
    EXPECT_TRUE(all_equal(w, 1.0));
  EXPECT_TRUE(all_equal(uir->layer_scale->gamma, 1e-5f));
  EXPECT_TRUE(all_equal(mqa->layer_scale->gamma, 1e-5f));
  // embed_vision: transformers' rules.
  expect_normal("embed_vision.embedding.weight", embed->embedding->weight, 0.02);
  expect_normal("embed_vision.embedding_projection.weight", embed->embedding_projection->weight, 0.02);
  EXPECT_TRUE(all_equal(embed->soft_embedding_norm->weight, 1.0));
  EXPECT_TRUE(all_equal(embed->hard_embedding_norm->weight, 1.0));
}

TEST(VisionLayout, InitRulesCoverEveryTensorOfEveryPreset) {
  for (const std::string key : {"gemma4-tiny", "gemma4-E2B", "gemma3n-tiny", "gemma3n-E2B"}) {
    const io::ModelConfig cfg = preset(key);
    auto tree = models::make_vision_tower_layout(cfg, at::kBFloat16, kMeta);
    ASSERT_TRUE(tree) << key;
    at::Generator gen = at::detail::createCPUGenerator(1);
    EXPECT_NO_THROW(models::init_vision_tower_random(*tree, std::string(io::family_name(cfg.family)), gen)) << key;
  }
}

TEST(VisionLayout, InitNamesATensorNoRuleCovers) {
  auto tree = models::make_vision_tower_layout(preset("gemma4-tiny"), at::kFloat, at::kCPU);
  tree->register_parameter("mystery_scale", torch::zeros({3}));
  at::Generator gen = at::detail::createCPUGenerator(1);
  try {
    models::init_vision_tower_random(*tree, "gemma4", gen);
    FAIL() << "an uncovered tensor was accepted";
  } catch (const std::logic_error& e) {
    EXPECT_NE(std::string(e.what()).find("mystery_scale"), std::string::npos) << e.what();
  }
  EXPECT_THROW(models::init_vision_tower_random(*tree, "gemma5", gen), InputError);
}

TEST(VisionLayout, ConfigsWithoutOrWithBadVisionConfig) {
  auto build = [](nlohmann::json cfg) {
    return models::make_vision_tower_layout(io::parse_model_config(cfg.dump(), "m/config.json"), at::kFloat, kMeta);
  };
  auto expect_input_error = [&](const nlohmann::json& cfg, const std::string& needle) {
    try {
      build(cfg);
      ADD_FAILURE() << "accepted a config that should name " << needle;
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("m/config.json"), std::string::npos) << what;
      EXPECT_NE(what.find(needle), std::string::npos) << what;
    }
  };
  nlohmann::json g4 = io::preset_config("gemma4", "tiny");
  g4["vision_config"] = nullptr;
  EXPECT_EQ(build(g4), nullptr);  // Gemma 4 without a vision tower

  g4 = io::preset_config("gemma4", "tiny");
  g4["vision_config"]["hidden_size"] = "wide";
  expect_input_error(g4, "vision_config.hidden_size");
  g4 = io::preset_config("gemma4", "tiny");
  g4["vision_config"]["num_key_value_heads"] = 3;
  expect_input_error(g4, "num_key_value_heads");

  nlohmann::json g3 = io::preset_config("gemma3n", "E2B");
  g3["vision_config"]["architecture"] = "mobilenetv5_base";
  expect_input_error(g3, "vision_config.architecture");
  g3 = io::preset_config("gemma3n", "E2B");
  g3["vision_config"]["hidden_size"] = 1024;
  expect_input_error(g3, "vision_config.hidden_size");
}
