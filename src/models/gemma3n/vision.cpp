// Gemma 3n vision encoder (MobileNet-V5-300M), parameter layout: the block table of mobilenetv5_300m_enc and the
// constructors of timm's blocks, registering their tensors under timm's names (spec §2.6.2-2.6.4).
#include "models/gemma3n/vision.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/error.h"
#include "models/common/config_json.h"

namespace gt::models::gemma3n {

namespace {

using nlohmann::json;


// Block-string shorthands, in the order timm's strings write the fields.
BlockSpec er(int64_t k, int64_t s, double e, int64_t c) {
  return {.kind = BlockKind::EdgeResidual, .out_chs = c, .stride = s, .kernel = k, .exp_ratio = e};
}
BlockSpec uir(int64_t a, int64_t k, int64_t s, double e, int64_t c) {
  return {.kind = BlockKind::UniversalInvertedResidual, .out_chs = c, .stride = s, .kernel = k, .start_kernel = a,
          .exp_ratio = e};
}
BlockSpec mqa(int64_t k, int64_t h, int64_t v, int64_t s, int64_t d, int64_t c) {
  return {.kind = BlockKind::MobileAttention, .out_chs = c, .stride = s, .kernel = k, .num_heads = h, .head_dim = d,
          .kv_stride = v};
}

}  // namespace

VisionConfig parse_vision_config(const std::string& json_text, const std::string& where) {
  json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) fail_input(where, ": vision_config is not a JSON object");
  VisionConfig c;
  if (j.contains("model_type") && j["model_type"] != "gemma3n_vision")
    fail_input(where, ": vision_config.model_type is ", j["model_type"].dump(), ", expected \"gemma3n_vision\"");
  c.architecture = config_value_or(j, "vision_config", "architecture", c.architecture, where, "a string");
  c.hidden_size = config_value_or(j, "vision_config", "hidden_size", c.hidden_size, where, "an integer");
  c.vocab_size = config_value_or(j, "vision_config", "vocab_size", c.vocab_size, where, "an integer");
  c.vocab_offset = config_value_or(j, "vision_config", "vocab_offset", c.vocab_offset, where, "an integer");
  c.rms_norm_eps = config_value_or(j, "vision_config", "rms_norm_eps", c.rms_norm_eps, where, "a number");
  if (c.architecture != "mobilenetv5_300m_enc")
    fail_input(where, ": vision_config.architecture is \"", c.architecture,
               "\", expected \"mobilenetv5_300m_enc\" (the only timm network Gemma 3n uses)");
  if (j.contains("model_args") && !j["model_args"].is_null() && !j["model_args"].empty())
    fail_input(where, ": vision_config.model_args is ", j["model_args"].dump(),
               ", expected null: changing timm's arguments of mobilenetv5_300m_enc is not supported");
  if (c.hidden_size != MobileNetV5EncoderImpl::kNumFeatures)
    fail_input(where, ": vision_config.hidden_size is ", c.hidden_size, ", expected ",
               MobileNetV5EncoderImpl::kNumFeatures, " (the output width of mobilenetv5_300m_enc)");
  if (c.vocab_size <= 0) fail_input(where, ": vision_config.vocab_size is ", c.vocab_size, ", expected > 0");
  return c;
}

const std::vector<BlockRun>& mobilenetv5_300m_blocks() {
  // timm mobilenetv5.py, _gen_mobilenet_v5 (non-"base" variant): block strings grouped into repeated runs.
  static const std::vector<BlockRun> kRuns = {
      {0, 1, {er(3, 2, 4, 128)}},
      {0, 2, {er(3, 1, 4, 128)}},
      {1, 1, {uir(3, 5, 2, 6, 256)}},
      {1, 2, {uir(5, 0, 1, 4, 256), uir(3, 0, 1, 4, 256)}},
      {2, 1, {uir(5, 5, 2, 6, 640)}},
      {2, 7, {uir(5, 0, 1, 4, 640)}},
      {2, 1, {uir(0, 0, 1, 1, 640)}},
      {2, 14, {mqa(3, 12, 2, 1, 64, 640), uir(0, 0, 1, 2, 640)}},
      {3, 1, {uir(5, 5, 2, 6, 1280)}},
      {3, 19, {mqa(3, 16, 1, 1, 96, 1280), uir(0, 0, 1, 2, 1280)}},
  };
  return kRuns;
}

int64_t make_divisible(double v, int64_t divisor) {
  int64_t rounded = std::max(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (rounded < 0.9 * v) rounded += divisor;  // never round down by more than 10%
  return rounded;
}

SameConv2dImpl::SameConv2dImpl(int64_t in, int64_t out, int64_t k, int64_t s, int64_t g, bool with_bias,
                               const at::TensorOptions& opts)
    : in_chs(in), out_chs(out), kernel(k), stride(s), groups(g) {
  GT_CHECK(in % g == 0 && out % g == 0, "conv ", in, "->", out, " with ", g, " groups");
  weight = register_parameter("weight", torch::empty({out, in / g, k, k}, opts), /*requires_grad=*/false);
  if (with_bias) bias = register_parameter("bias", torch::zeros({out}, opts), /*requires_grad=*/false);
}

RmsNormAct2dImpl::RmsNormAct2dImpl(int64_t channels, bool act, const at::TensorOptions& opts) : apply_act(act) {
  weight = register_parameter("weight", torch::ones({channels}, opts), /*requires_grad=*/false);
}

ConvNormActImpl::ConvNormActImpl(int64_t in, int64_t out, int64_t k, int64_t s, int64_t g, bool with_bias, bool act,
                                 const at::TensorOptions& opts) {
  conv = register_module("conv", SameConv2d(in, out, k, s, g, with_bias, opts));
  bn = register_module("bn", RmsNormAct2d(out, act, opts));
}

LayerScale2dImpl::LayerScale2dImpl(int64_t channels, const at::TensorOptions& opts) {
  gamma = register_parameter("gamma", torch::full({channels}, kInitValue, opts), /*requires_grad=*/false);
}

EdgeResidualImpl::EdgeResidualImpl(int64_t in, const BlockSpec& b, const at::TensorOptions& opts)
    : has_skip(in == b.out_chs && b.stride == 1) {
  const int64_t mid = make_divisible(in * b.exp_ratio);
  conv_exp = register_module("conv_exp", SameConv2d(in, mid, b.kernel, b.stride, /*groups=*/1, false, opts));
  bn1 = register_module("bn1", RmsNormAct2d(mid, /*apply_act=*/true, opts));
  conv_pwl = register_module("conv_pwl", SameConv2d(mid, b.out_chs, 1, 1, 1, false, opts));
  bn2 = register_module("bn2", RmsNormAct2d(b.out_chs, /*apply_act=*/false, opts));
}

UniversalInvertedResidualImpl::UniversalInvertedResidualImpl(int64_t in, int64_t out, int64_t start_kernel,
                                                             int64_t mid_kernel, int64_t stride, double exp_ratio,
                                                             bool with_layer_scale, bool noskip,
                                                             const at::TensorOptions& opts)
    : has_skip(in == out && stride == 1 && !noskip) {
  const int64_t mid = make_divisible(in * exp_ratio);
  // The stride sits on the middle depthwise conv when there is one, else on the leading one.
  if (start_kernel > 0)
    dw_start = register_module(
        "dw_start", ConvNormAct(in, in, start_kernel, mid_kernel > 0 ? 1 : stride, /*groups=*/in, false, false, opts));
  pw_exp = register_module("pw_exp", ConvNormAct(in, mid, 1, 1, 1, false, /*apply_act=*/true, opts));
  if (mid_kernel > 0)
    dw_mid = register_module("dw_mid", ConvNormAct(mid, mid, mid_kernel, stride, /*groups=*/mid, false, true, opts));
  pw_proj = register_module("pw_proj", ConvNormAct(mid, out, 1, 1, 1, false, /*apply_act=*/false, opts));
  if (with_layer_scale) layer_scale = register_module("layer_scale", LayerScale2d(out, opts));
}

AttentionBranchImpl::AttentionBranchImpl(int64_t in, int64_t out, int64_t down_kernel, int64_t down_stride,
                                         const at::TensorOptions& opts) {
  if (down_stride > 1) {
    down_conv = register_module("down_conv", SameConv2d(in, in, down_kernel, down_stride, /*groups=*/in, false, opts));
    norm = register_module("norm", RmsNormAct2d(in, /*apply_act=*/false, opts));
  }
  proj = register_module("proj", SameConv2d(in, out, 1, 1, 1, false, opts));
}

MultiQueryAttention2dImpl::MultiQueryAttention2dImpl(int64_t dim, const BlockSpec& b, const at::TensorOptions& opts)
    : num_heads(b.num_heads), head_dim(b.head_dim), kv_stride(b.kv_stride) {
  query = register_module("query", AttentionBranch(dim, num_heads * head_dim, 0, 1, opts));
  key = register_module("key", AttentionBranch(dim, head_dim, b.kernel, kv_stride, opts));
  value = register_module("value", AttentionBranch(dim, head_dim, b.kernel, kv_stride, opts));
  output = register_module("output", AttentionBranch(num_heads * head_dim, b.out_chs, 0, 1, opts));
}

MobileAttentionImpl::MobileAttentionImpl(int64_t in, const BlockSpec& b, const at::TensorOptions& opts)
    : has_skip(in == b.out_chs && b.stride == 1) {
  norm = register_module("norm", RmsNormAct2d(in, /*apply_act=*/false, opts));
  attn = register_module("attn", MultiQueryAttention2d(in, b, opts));
  layer_scale = register_module("layer_scale", LayerScale2d(b.out_chs, opts));
}

MultiScaleFusionAdapterImpl::MultiScaleFusionAdapterImpl(int64_t in, int64_t out, const at::TensorOptions& opts) {
  ffn = register_module("ffn", UniversalInvertedResidual(in, out, /*start_kernel=*/0, /*mid_kernel=*/0, /*stride=*/1,
                                                         kExpansionRatio, /*layer_scale=*/false, /*noskip=*/true,
                                                         opts));
  norm = register_module("norm", RmsNormAct2d(out, /*apply_act=*/false, opts));
}

MobileNetV5EncoderImpl::MobileNetV5EncoderImpl(const at::TensorOptions& opts) {
  conv_stem = register_module(
      "conv_stem", ConvNormAct(3, kStemChannels, 3, 2, /*groups=*/1, /*bias=*/true, /*apply_act=*/true, opts));
  blocks = register_module("blocks", torch::nn::ModuleList());
  int64_t chs = kStemChannels;
  for (const BlockRun& run : mobilenetv5_300m_blocks()) {
    if (run.stage == static_cast<int64_t>(specs.size())) {
      specs.emplace_back();
      blocks->push_back(torch::nn::ModuleList());
    }
    GT_CHECK(run.stage + 1 == static_cast<int64_t>(specs.size()), "block runs out of stage order");
    auto stage = blocks[run.stage]->as<torch::nn::ModuleList>();
    for (int64_t t = 0; t < run.times; ++t) {
      for (const BlockSpec& b : run.pattern) {
        switch (b.kind) {
          case BlockKind::EdgeResidual:
            stage->push_back(EdgeResidual(chs, b, opts));
            break;
          case BlockKind::UniversalInvertedResidual:
            stage->push_back(UniversalInvertedResidual(chs, b.out_chs, b.start_kernel, b.kernel, b.stride,
                                                       b.exp_ratio, /*layer_scale=*/true, /*noskip=*/false, opts));
            break;
          case BlockKind::MobileAttention:
            stage->push_back(MobileAttention(chs, b, opts));
            break;
        }
        specs.back().push_back(b);
        chs = b.out_chs;
      }
    }
  }
  // The MSFA reads the outputs of the last two stages (timm msfa_indices = (-2, -1) over [stem, s0, s1, s2, s3]).
  GT_CHECK(specs.size() >= 2, "MobileNet-V5 needs at least two stages");
  const int64_t msfa_in = specs[specs.size() - 2].back().out_chs + specs.back().back().out_chs;
  msfa = register_module("msfa", MultiScaleFusionAdapter(msfa_in, kNumFeatures, opts));
}

VisionTowerImpl::VisionTowerImpl(const VisionConfig& c, const at::TensorOptions& opts) : cfg_(c) {
  timm_model = register_module("timm_model", MobileNetV5Encoder(opts));
}

}  // namespace gt::models::gemma3n
