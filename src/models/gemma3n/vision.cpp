// Gemma 3n vision encoder (MobileNet-V5-300M): the block table of mobilenetv5_300m_enc, block strings and the
// builder rules of timm's EfficientNetBuilder, the constructors of timm's blocks (tensors under timm's names) and
// their forward passes.
#include "models/gemma3n/vision.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <type_traits>

#include "core/error.h"
#include "io/json_section.h"
#include "core/torch_compat.h"  // defines: GT_HAS_FUSED_SDPA
#include "models/common/attention.h"

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

const char* kind_name(BlockKind k) {
  switch (k) {
    case BlockKind::EdgeResidual: return "er";
    case BlockKind::UniversalInvertedResidual: return "uir";
    case BlockKind::MobileAttention: return "mqa";
  }
  return "?";
}

// timm's get_same_padding for one axis: the total zero padding of a TF 'SAME' convolution.
int64_t same_pad_total(int64_t n, int64_t k, int64_t s) {
  return std::max((n + s - 1) / s * s - s + k - n, static_cast<int64_t>(0));
}

}  // namespace

VisionConfig parse_vision_config(const std::string& json_text, const std::string& where) {
  const json j = io::JsonSection::parse_object(json_text, cat(where, ": vision_config"));
  const io::JsonSection r(j, where, "vision_config.");
  VisionConfig c;
  if (r.string("model_type", "gemma3n_vision") != "gemma3n_vision")
    fail_input(r.where("model_type"), " is ", j["model_type"].dump(), ", expected \"gemma3n_vision\"");
  r.read("architecture", c.architecture);
  r.read("hidden_size", c.hidden_size);
  r.read("vocab_size", c.vocab_size);
  r.read("vocab_offset", c.vocab_offset);
  r.read("rms_norm_eps", c.rms_norm_eps);
  if (r.has("gemma_tune_architecture")) c.gemma_tune_architecture = r.section("gemma_tune_architecture").raw_json();
  if (c.architecture != "mobilenetv5_300m_enc")
    fail_input(r.where("architecture"), " is \"", c.architecture,
               "\", expected \"mobilenetv5_300m_enc\" (the only timm network Gemma 3n uses)");
  if (r.has("model_args") && !j["model_args"].empty())
    fail_input(r.where("model_args"), " is ", j["model_args"].dump(),
               ", expected null: changing timm's arguments of mobilenetv5_300m_enc is not supported");
  const int64_t width = vision_architecture(c, where).msfa_out_channels;
  if (c.hidden_size != width)
    fail_input(r.where("hidden_size"), " is ", c.hidden_size, ", expected ", width, " (the output width of ",
               c.gemma_tune_architecture.empty() ? "mobilenetv5_300m_enc" : "its gemma_tune_architecture", ")");
  if (c.vocab_size <= 0) fail_input(r.where("vocab_size"), " is ", c.vocab_size, ", expected > 0");
  return c;
}

MobileNetV5Arch vision_architecture(const VisionConfig& c, const std::string& where) {
  if (c.gemma_tune_architecture.empty()) return mobilenetv5_300m_arch();
  return parse_mobilenetv5_arch(c.gemma_tune_architecture, cat(where, ": vision_config.gemma_tune_architecture"));
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

MobileNetV5Arch mobilenetv5_300m_arch() {
  return make_mobilenetv5_arch(mobilenetv5_300m_blocks(), MobileNetV5EncoderImpl::kStemChannels,
                               MobileNetV5EncoderImpl::kNumFeatures, MultiScaleFusionAdapterImpl::kOutputResolution,
                               "mobilenetv5_300m_enc");
}

MobileNetV5Arch make_mobilenetv5_arch(const std::vector<BlockRun>& runs, int64_t stem_size, int64_t msfa_out_channels,
                                      int64_t msfa_output_resolution, const std::string& where) {
  if (stem_size <= 0) fail_input(where, ": stem_size is ", stem_size, ", expected > 0");
  if (msfa_out_channels <= 0) fail_input(where, ": msfa_out_channels is ", msfa_out_channels, ", expected > 0");
  if (msfa_output_resolution <= 0)
    fail_input(where, ": msfa_output_resolution is ", msfa_output_resolution, ", expected > 0");
  MobileNetV5Arch arch;
  // timm: stem_size = round_chs_fn(stem_size) (fix_stem is false at channel multiplier 1).
  arch.stem_size = make_divisible(static_cast<double>(stem_size));
  arch.msfa_out_channels = msfa_out_channels;
  arch.msfa_output_resolution = msfa_output_resolution;
  for (const BlockRun& run : runs) {
    if (run.stage == static_cast<int64_t>(arch.stages.size())) arch.stages.emplace_back();
    if (run.stage + 1 != static_cast<int64_t>(arch.stages.size()))
      fail_input(where, ": block runs out of stage order (stage ", run.stage, " after stage ",
                 static_cast<int64_t>(arch.stages.size()) - 1, ")");
    if (run.times < 1) fail_input(where, ": a block run of stage ", run.stage, " repeats ", run.times, " times");
    for (int64_t t = 0; t < run.times; ++t) {
      for (BlockSpec b : run.pattern) {
        std::vector<BlockSpec>& stage = arch.stages.back();
        const std::string block = cat(where, ": stage ", run.stage, " block ", stage.size(), " (", kind_name(b.kind),
                                      ")");
        if (b.stride != 1 && b.stride != 2) fail_input(block, ": stride is ", b.stride, ", expected 1 or 2");
        if (b.out_chs <= 0) fail_input(block, ": output width is ", b.out_chs, ", expected > 0");
        if (!stage.empty()) b.stride = 1;  // EfficientNetBuilder: only the first block of a stage strides
        b.out_chs = make_divisible(static_cast<double>(b.out_chs));  // round_chs_fn
        switch (b.kind) {
          case BlockKind::EdgeResidual:
            if (b.kernel <= 0) fail_input(block, ": kernel is ", b.kernel, ", expected > 0");
            break;
          case BlockKind::UniversalInvertedResidual:
            if (b.stride > 1 && b.kernel <= 0 && b.start_kernel <= 0)
              fail_input(block, ": a strided uir block needs a depthwise conv (a > 0 or k > 0)");
            break;
          case BlockKind::MobileAttention:
            if (b.num_heads <= 0 || b.head_dim <= 0)
              fail_input(block, ": heads ", b.num_heads, " of width ", b.head_dim, ", expected both > 0");
            if (b.kv_stride < 1) fail_input(block, ": kv stride is ", b.kv_stride, ", expected >= 1");
            if (b.kv_stride > 1 && b.kernel <= 0)
              fail_input(block, ": kv stride ", b.kv_stride, " needs a down-sampling kernel k > 0");
            break;
        }
        if (b.exp_ratio <= 0) fail_input(block, ": expansion ratio is ", b.exp_ratio, ", expected > 0");
        stage.push_back(b);
      }
    }
  }
  const int64_t n = static_cast<int64_t>(arch.stages.size());
  if (n < 2 || n > 4)
    fail_input(where, ": ", n, " stages, expected 2 to 4 (the MSFA reads the last two; timm's output stride 32 "
               "allows 4 strided stages after the stem)");
  for (int64_t i = 0; i < n; ++i) {
    const auto& stage = arch.stages[static_cast<size_t>(i)];
    if (stage.front().stride != 2)
      fail_input(where, ": stage ", i, " starts with stride ", stage.front().stride,
                 ", expected 2 (timm lists a stage among the MSFA's feature maps only when the next one strides)");
    if (stage.back().kind == BlockKind::MobileAttention)
      fail_input(where, ": stage ", i, " ends with an attention block, which timm cannot take features from");
  }
  return arch;
}

BlockSpec parse_block_string(const std::string& block, int64_t& repeats, const std::string& where) {
  const std::string what = cat(where, ": block string \"", block, "\"");
  std::vector<std::string> ops;
  for (size_t start = 0;;) {
    const size_t end = block.find('_', start);
    ops.push_back(block.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  BlockSpec b{};
  const std::string& type = ops[0];
  if (type == "er")
    b.kind = BlockKind::EdgeResidual;
  else if (type == "uir")
    b.kind = BlockKind::UniversalInvertedResidual;
  else if (type == "mqa")
    b.kind = BlockKind::MobileAttention;
  else
    fail_input(what, ": block type \"", type, "\" is not supported, expected er, uir or mqa");

  // As _decode_block_str: "noskip", or a key (letters) followed by a number.
  std::map<std::string, std::string> options;
  for (size_t i = 1; i < ops.size(); ++i) {
    const std::string& op = ops[i];
    if (op == "noskip") {
      b.noskip = true;
      continue;
    }
    size_t digit = 0;
    while (digit < op.size() && !std::isdigit(static_cast<unsigned char>(op[digit]))) ++digit;
    if (digit == 0 || digit == op.size()) fail_input(what, ": option \"", op, "\" is not a key followed by a number");
    options[op.substr(0, digit)] = op.substr(digit);
  }
  const std::vector<std::string> allowed =
      b.kind == BlockKind::EdgeResidual                ? std::vector<std::string>{"r", "k", "s", "e", "c"}
      : b.kind == BlockKind::UniversalInvertedResidual ? std::vector<std::string>{"r", "a", "k", "s", "e", "c"}
                                                       : std::vector<std::string>{"r", "k", "h", "v", "s", "d", "c"};
  for (const auto& [key, value] : options)
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      fail_input(what, ": option \"", key, value, "\" is not supported for ", type, " blocks");
  auto integer = [&](const std::string& key, bool required, int64_t fallback) -> int64_t {
    auto it = options.find(key);
    if (it == options.end()) {
      if (required) fail_input(what, ": option \"", key, "\" is missing");
      return fallback;
    }
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(it->second, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != it->second.size() || v < 0)
      fail_input(what, ": option \"", key, it->second, "\" needs a non-negative integer");
    return v;
  };
  auto number = [&](const std::string& key) -> double {
    auto it = options.find(key);
    if (it == options.end()) fail_input(what, ": option \"", key, "\" is missing");
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(it->second, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != it->second.size()) fail_input(what, ": option \"", key, it->second, "\" needs a number");
    return v;
  };
  repeats = integer("r", true, 1);
  b.out_chs = integer("c", true, 0);
  b.stride = integer("s", true, 1);
  b.kernel = integer("k", true, 0);
  switch (b.kind) {
    case BlockKind::EdgeResidual:
      b.exp_ratio = number("e");
      break;
    case BlockKind::UniversalInvertedResidual:
      b.start_kernel = integer("a", false, 0);
      b.exp_ratio = number("e");
      break;
    case BlockKind::MobileAttention:
      b.num_heads = integer("h", true, 0);
      b.head_dim = integer("d", true, 0);
      b.kv_stride = integer("v", false, 1);
      break;
  }
  if (repeats < 1) fail_input(what, ": r is ", repeats, ", expected >= 1");
  return b;
}

MobileNetV5Arch parse_mobilenetv5_arch(const std::string& json_text, const std::string& where) {
  json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) fail_input(where, ": the architecture description is not a JSON object");
  for (const auto& [key, value] : j.items())
    if (key != "stem_size" && key != "block_strings" && key != "msfa_out_channels" && key != "msfa_output_resolution")
      fail_input(where, ": unknown key \"", key,
                 "\", expected stem_size, block_strings, msfa_out_channels, msfa_output_resolution");
  auto integer = [&](const char* key, int64_t fallback) -> int64_t {
    if (!j.contains(key)) return fallback;
    if (!j[key].is_number_integer()) fail_input(where, ": ", key, " is ", j[key].dump(), ", expected an integer");
    return j[key].get<int64_t>();
  };
  const int64_t stem = integer("stem_size", MobileNetV5EncoderImpl::kStemChannels);
  const int64_t width = integer("msfa_out_channels", MobileNetV5EncoderImpl::kNumFeatures);
  const int64_t res = integer("msfa_output_resolution", MultiScaleFusionAdapterImpl::kOutputResolution);
  if (!j.contains("block_strings") || !j["block_strings"].is_array())
    fail_input(where, ": block_strings is missing or not a list of stages (lists of timm block strings)");
  std::vector<BlockRun> runs;
  int64_t stage = 0;
  for (const auto& strings : j["block_strings"]) {
    if (!strings.is_array() || strings.empty())
      fail_input(where, ": block_strings[", stage, "] is ", strings.dump(), ", expected a non-empty list of strings");
    for (const auto& s : strings) {
      if (!s.is_string()) fail_input(where, ": block_strings[", stage, "] holds ", s.dump(), ", expected strings");
      int64_t times = 1;
      BlockSpec b = parse_block_string(s.get<std::string>(), times, cat(where, ": block_strings[", stage, "]"));
      runs.push_back({stage, times, {b}});
    }
    ++stage;
  }
  return make_mobilenetv5_arch(runs, stem, width, res, where);
}

// ---- building blocks ----

SameConv2dImpl::SameConv2dImpl(int64_t in, int64_t out, int64_t k, int64_t s, int64_t g, bool with_bias,
                               const at::TensorOptions& opts)
    : in_chs(in), out_chs(out), kernel(k), stride(s), groups(g) {
  GT_CHECK(in % g == 0 && out % g == 0, "conv ", in, "->", out, " with ", g, " groups");
  weight = register_parameter("weight", torch::empty({out, in / g, k, k}, opts), /*requires_grad=*/false);
  if (with_bias) bias = register_parameter("bias", torch::zeros({out}, opts), /*requires_grad=*/false);
}

at::Tensor SameConv2dImpl::forward(const at::Tensor& x) {
  // timm's create_conv2d_pad with padding='same': static symmetric padding where it equals TF's SAME (stride 1,
  // odd kernel), else Conv2dSame, which pads the input before an unpadded conv.
  const std::vector<int64_t> strides = {stride, stride}, dilation = {1, 1};
  if (stride == 1 && kernel % 2 == 1) {
    const std::vector<int64_t> padding = {(kernel - 1) / 2, (kernel - 1) / 2};
    return at::conv2d(x, weight, bias, at::IntArrayRef(strides), at::IntArrayRef(padding), at::IntArrayRef(dilation),
                      groups);
  }
  const int64_t ph = same_pad_total(x.size(2), kernel, stride), pw = same_pad_total(x.size(3), kernel, stride);
  const at::Tensor padded = at::constant_pad_nd(x, {pw / 2, pw - pw / 2, ph / 2, ph - ph / 2}, 0);
  const std::vector<int64_t> no_padding = {0, 0};
  return at::conv2d(padded, weight, bias, at::IntArrayRef(strides), at::IntArrayRef(no_padding),
                    at::IntArrayRef(dilation), groups);
}

RmsNormAct2dImpl::RmsNormAct2dImpl(int64_t channels, bool act, const at::TensorOptions& opts) : apply_act(act) {
  weight = register_parameter("weight", torch::ones({channels}, opts), /*requires_grad=*/false);
}

at::Tensor RmsNormAct2dImpl::forward(const at::Tensor& x) {
  // timm rms_norm2d, op by op in x's dtype (bf16 rounds after each step).
  const at::Tensor ms = x.pow(2).mean({1}, /*keepdim=*/true);
  at::Tensor y = x * at::rsqrt(ms + kEps);
  y = y * weight.view({1, -1, 1, 1});
  return apply_act ? at::gelu(y, "tanh") : y;
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
    : has_skip(in == b.out_chs && b.stride == 1 && !b.noskip) {
  const int64_t mid = make_divisible(in * b.exp_ratio);
  conv_exp = register_module("conv_exp", SameConv2d(in, mid, b.kernel, b.stride, /*groups=*/1, false, opts));
  bn1 = register_module("bn1", RmsNormAct2d(mid, /*apply_act=*/true, opts));
  conv_pwl = register_module("conv_pwl", SameConv2d(mid, b.out_chs, 1, 1, 1, false, opts));
  bn2 = register_module("bn2", RmsNormAct2d(b.out_chs, /*apply_act=*/false, opts));
}

at::Tensor EdgeResidualImpl::forward(const at::Tensor& x) {
  at::Tensor y = bn1->forward(conv_exp->forward(x));  // k×k expansion (strided), norm, GELU
  y = bn2->forward(conv_pwl->forward(y));             // 1x1 projection, norm
  return has_skip ? y + x : y;
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

at::Tensor UniversalInvertedResidualImpl::forward(const at::Tensor& x) {
  at::Tensor y = x;
  if (dw_start) y = dw_start->forward(y);  // depthwise, norm, no act
  y = pw_exp->forward(y);                   // 1x1 expansion, norm, GELU
  if (dw_mid) y = dw_mid->forward(y);       // depthwise, norm, GELU
  y = pw_proj->forward(y);                  // 1x1 projection, norm
  if (layer_scale) y = layer_scale->forward(y);
  return has_skip ? y + x : y;
}

AttentionBranchImpl::AttentionBranchImpl(int64_t in, int64_t out, int64_t down_kernel, int64_t down_stride,
                                         const at::TensorOptions& opts) {
  if (down_stride > 1) {
    down_conv = register_module("down_conv", SameConv2d(in, in, down_kernel, down_stride, /*groups=*/in, false, opts));
    norm = register_module("norm", RmsNormAct2d(in, /*apply_act=*/false, opts));
  }
  proj = register_module("proj", SameConv2d(in, out, 1, 1, 1, false, opts));
}

at::Tensor AttentionBranchImpl::forward(const at::Tensor& x) {
  if (down_conv) return proj->forward(norm->forward(down_conv->forward(x)));
  return proj->forward(x);
}

MultiQueryAttention2dImpl::MultiQueryAttention2dImpl(int64_t dim, const BlockSpec& b, const at::TensorOptions& opts)
    : num_heads(b.num_heads), head_dim(b.head_dim), kv_stride(b.kv_stride) {
  query = register_module("query", AttentionBranch(dim, num_heads * head_dim, 0, 1, opts));
  key = register_module("key", AttentionBranch(dim, head_dim, b.kernel, kv_stride, opts));
  value = register_module("value", AttentionBranch(dim, head_dim, b.kernel, kv_stride, opts));
  output = register_module("output", AttentionBranch(num_heads * head_dim, b.out_chs, 0, 1, opts));
}

at::Tensor MultiQueryAttention2dImpl::forward(const at::Tensor& x) {
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  // _reshape_projected_query: [N, heads*d, H, W] -> [N, heads, H*W, d]
  const at::Tensor q = query->forward(x).reshape({n, num_heads, head_dim, h * w}).transpose(-1, -2).contiguous();
  // _reshape_input: [N, d, h', w'] -> [N, 1, h'*w', d] (the one key/value head)
  const at::Tensor k = key->forward(x).flatten(2).transpose(1, 2).unsqueeze(1).contiguous();
  const at::Tensor v = value->forward(x).flatten(2).transpose(1, 2).unsqueeze(1).contiguous();
#if GT_HAS_FUSED_SDPA
  // timm calls F.scaled_dot_product_attention (use_fused_attn) on exactly these shapes (the one key/value head
  // broadcast over the query heads), no mask, default scale 1/sqrt(head_dim): the same kernel choice as timm's.
  const at::Tensor o = at::scaled_dot_product_attention(q, k, v, std::nullopt, /*dropout_p=*/0.0, /*is_causal=*/false);
#else
  // libtorch 1.13: the composite (softmax in float32); a zero additive mask keeps it non-causal.
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  const at::Tensor o = attention_composite(q, k, v, at::zeros({1, 1, 1, 1}, q.options()), scale);
#endif
  // _reshape_output: [N, heads, H*W, d] -> [N, heads*d, H, W], channel = head * d + i
  const at::Tensor merged =
      o.transpose(1, 2).reshape({n, h, w, num_heads * head_dim}).permute({0, 3, 1, 2}).contiguous();
  return output->forward(merged);
}

MobileAttentionImpl::MobileAttentionImpl(int64_t in, const BlockSpec& b, const at::TensorOptions& opts)
    : has_skip(in == b.out_chs && b.stride == 1 && !b.noskip) {
  norm = register_module("norm", RmsNormAct2d(in, /*apply_act=*/false, opts));
  attn = register_module("attn", MultiQueryAttention2d(in, b, opts));
  layer_scale = register_module("layer_scale", LayerScale2d(b.out_chs, opts));
}

at::Tensor MobileAttentionImpl::forward(const at::Tensor& x) {
  const at::Tensor y = layer_scale->forward(attn->forward(norm->forward(x)));
  return has_skip ? y + x : y;
}

MultiScaleFusionAdapterImpl::MultiScaleFusionAdapterImpl(int64_t in, int64_t out, int64_t resolution,
                                                         const at::TensorOptions& opts)
    : output_resolution(resolution) {
  ffn = register_module("ffn", UniversalInvertedResidual(in, out, /*start_kernel=*/0, /*mid_kernel=*/0, /*stride=*/1,
                                                         kExpansionRatio, /*layer_scale=*/false, /*noskip=*/true,
                                                         opts));
  norm = register_module("norm", RmsNormAct2d(out, /*apply_act=*/false, opts));
}

at::Tensor MultiScaleFusionAdapterImpl::forward(const std::vector<at::Tensor>& inputs) {
  namespace F = torch::nn::functional;
  GT_CHECK(!inputs.empty(), "MSFA without inputs");
  const int64_t hh = inputs[0].size(2), hw = inputs[0].size(3);  // the first input has the highest resolution
  std::vector<at::Tensor> resized;
  for (const at::Tensor& img : inputs) {
    if (img.size(2) < hh || img.size(3) < hw)
      resized.push_back(F::interpolate(
          img, F::InterpolateFuncOptions().size(std::vector<int64_t>{hh, hw}).mode(torch::kNearest)));
    else
      resized.push_back(img);
  }
  at::Tensor y = ffn->forward(at::cat(resized, 1));
  const int64_t r = output_resolution;
  if (hh != r || hw != r) {
    if (hh % r != 0 || hw % r != 0) {
      y = F::interpolate(
          y, F::InterpolateFuncOptions().size(std::vector<int64_t>{r, r}).mode(torch::kBilinear).align_corners(false));
    } else {
      const int64_t sh = hh / r, sw = hw / r;
      y = at::avg_pool2d(y, {sh, sw}, {sh, sw});
    }
  }
  return norm->forward(y);
}

// ---- the encoder ----

MobileNetV5EncoderImpl::MobileNetV5EncoderImpl(const at::TensorOptions& opts)
    : MobileNetV5EncoderImpl(mobilenetv5_300m_arch(), opts) {}

MobileNetV5EncoderImpl::MobileNetV5EncoderImpl(const MobileNetV5Arch& arch, const at::TensorOptions& opts)
    : arch_(arch) {
  conv_stem = register_module(
      "conv_stem", ConvNormAct(3, arch.stem_size, 3, 2, /*groups=*/1, /*bias=*/true, /*apply_act=*/true, opts));
  blocks = register_module("blocks", torch::nn::ModuleList());
  int64_t chs = arch.stem_size;
  for (const auto& stage_specs : arch.stages) {
    specs.emplace_back();
    auto stage = torch::nn::ModuleList();
    for (const BlockSpec& b : stage_specs) {
      switch (b.kind) {
        case BlockKind::EdgeResidual:
          stage->push_back(EdgeResidual(chs, b, opts));
          break;
        case BlockKind::UniversalInvertedResidual:
          stage->push_back(UniversalInvertedResidual(chs, b.out_chs, b.start_kernel, b.kernel, b.stride, b.exp_ratio,
                                                     /*layer_scale=*/true, b.noskip, opts));
          break;
        case BlockKind::MobileAttention:
          stage->push_back(MobileAttention(chs, b, opts));
          break;
      }
      specs.back().push_back(b);
      chs = b.out_chs;
    }
    blocks->push_back(stage);
  }
  // The MSFA reads the outputs of the last two stages (timm msfa_indices = (-2, -1) over [stem, s0, s1, s2, s3]).
  GT_CHECK(specs.size() >= 2, "MobileNet-V5 needs at least two stages");
  const int64_t msfa_in = specs[specs.size() - 2].back().out_chs + specs.back().back().out_chs;
  msfa = register_module("msfa",
                         MultiScaleFusionAdapter(msfa_in, arch.msfa_out_channels, arch.msfa_output_resolution, opts));
}

at::Tensor MobileNetV5EncoderImpl::forward(const at::Tensor& pixel_values, std::vector<at::Tensor>* stage_outputs) {
  if (pixel_values.dim() != 4 || pixel_values.size(1) != 3)
    fail_input("MobileNet-V5: pixel_values of shape ", pixel_values.sizes(), ", expected [N, 3, H, W]");
  at::Tensor x = conv_stem->forward(pixel_values);
  if (stage_outputs) stage_outputs->push_back(x);
  std::vector<at::Tensor> msfa_inputs;
  const size_t n_stages = specs.size();
  for (size_t s = 0; s < n_stages; ++s) {
    const auto& stage = blocks[s]->as<torch::nn::ModuleList>();
    for (size_t j = 0; j < specs[s].size(); ++j) {
      const std::shared_ptr<torch::nn::Module>& m = stage->ptr(j);
      switch (specs[s][j].kind) {
        case BlockKind::EdgeResidual:
          x = m->as<EdgeResidualImpl>()->forward(x);
          break;
        case BlockKind::UniversalInvertedResidual:
          x = m->as<UniversalInvertedResidualImpl>()->forward(x);
          break;
        case BlockKind::MobileAttention:
          x = m->as<MobileAttentionImpl>()->forward(x);
          break;
      }
    }
    if (stage_outputs) stage_outputs->push_back(x);
    if (s + 2 >= n_stages) msfa_inputs.push_back(x);  // feature indices -2, -1: the last two stages
  }
  return msfa->forward(msfa_inputs);
}

at::Tensor vision_soft_tokens(const at::Tensor& features) {
  GT_CHECK(features.dim() == 4, "vision features of shape ", features.sizes(), ", expected [N, C, h, w]");
  const int64_t n = features.size(0), c = features.size(1);
  // reshape(N, C, h*w).permute(0, 2, 1), then *= hidden_size ** 0.5 (a Python float)
  return features.reshape({n, c, -1}).permute({0, 2, 1}) * std::sqrt(static_cast<double>(c));
}

VisionTowerImpl::VisionTowerImpl(const VisionConfig& c, const at::TensorOptions& opts) : cfg_(c) {
  timm_model = register_module("timm_model", MobileNetV5Encoder(opts));
}

VisionTowerImpl::VisionTowerImpl(const VisionConfig& c, const MobileNetV5Arch& arch, const at::TensorOptions& opts)
    : cfg_(c) {
  if (c.hidden_size != arch.msfa_out_channels)
    fail_input("vision tower: vision_config.hidden_size is ", c.hidden_size, " but the MobileNet-V5's MSFA is ",
               arch.msfa_out_channels, " wide; expected them equal");
  timm_model = register_module("timm_model", MobileNetV5Encoder(arch, opts));
}

at::Tensor VisionTowerImpl::forward(const at::Tensor& pixel_values) {
  const at::Tensor& w = timm_model->conv_stem->conv->weight;
  return timm_model->forward(pixel_values.to(w.device(), w.scalar_type()));
}

}  // namespace gt::models::gemma3n
