// Gemma 4 vision encoder: constructors in the order transformers 5.17 registers the modules of Gemma4VisionModel,
// then the forward pass of each module in transformers' order of operations. Dimension letters as in
// vision.h (N images, P patches, D hidden, H heads, KV key/value heads, hd head dim, L pooled tokens, k pooling
// kernel, p patch size).
#include "models/gemma4/vision.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <type_traits>

#include "core/error.h"
#include "core/torch_compat.h"
#include "models/common/attention.h"  // defines: models::attention (fused SDPA on libtorch >= 2.1, else composite)
#include "io/json_section.h"
#include "models/common/ops.h"        // defines: rms_norm, gelu_tanh
#include "models/common/rope.h"       // defines: rope_inv_freq, rope_table, apply_rope

namespace gt::models::gemma4 {

namespace {

using nlohmann::json;


void require_positive(int64_t v, const char* key, const std::string& where) {
  if (v <= 0) fail_input(where, ": vision_config.", key, " is ", v, ", expected a positive integer");
}

// parse_vision_rope_theta on a section already parsed.
double rope_theta_of(const io::JsonSection& r) {
  double theta = r.number("rope_theta", 100.0);  // Gemma4VisionConfig.default_theta
  std::string key = r.where("rope_theta");
  if (r.has("rope_parameters")) {
    const io::JsonSection rp = r.section("rope_parameters");
    const std::string type = rp.string("rope_type", "default");
    // transformers 5.17 calls the 2-D frequencies "axial" and reads an older "default" as the same thing.
    if (type != "axial" && type != "default")
      fail_input(rp.where("rope_type"), " is \"", type,
                 "\", expected \"axial\" (or \"default\"), the 2-D RoPE of Gemma4VisionRotaryEmbedding");
    theta = rp.number("rope_theta", theta);
    key = rp.where("rope_theta");
  }
  if (!(theta > 0.0) || !std::isfinite(theta)) fail_input(key, " is ", theta, ", expected a positive number");
  return theta;
}

}  // namespace

VisionConfig parse_vision_config(const std::string& json_text, const std::string& where) {
  const json j = io::JsonSection::parse_object(json_text, cat(where, ": vision_config"));
  const io::JsonSection r(j, where, "vision_config.");
  VisionConfig c;
  if (r.string("model_type", "gemma4_vision") != "gemma4_vision")
    fail_input(r.where("model_type"), " is ", j["model_type"].dump(), ", expected \"gemma4_vision\"");
  r.read("hidden_size", c.hidden_size);
  r.read("intermediate_size", c.intermediate_size);
  r.read("num_hidden_layers", c.num_hidden_layers);
  r.read("num_attention_heads", c.num_attention_heads);
  r.read("num_key_value_heads", c.num_key_value_heads);
  r.read("head_dim", c.head_dim);
  r.read("rms_norm_eps", c.rms_norm_eps);
  r.read("patch_size", c.patch_size);
  r.read("position_embedding_size", c.position_embedding_size);
  r.read("pooling_kernel_size", c.pooling_kernel_size);
  r.read("default_output_length", c.default_output_length);
  r.read("use_clipped_linears", c.use_clipped_linears);
  r.read("standardize", c.standardize);
  r.read("hidden_activation", c.hidden_activation);
  c.rope_theta = rope_theta_of(r);

  for (auto [key, v] : {std::pair{"hidden_size", c.hidden_size}, std::pair{"intermediate_size", c.intermediate_size},
                        std::pair{"num_hidden_layers", c.num_hidden_layers},
                        std::pair{"num_attention_heads", c.num_attention_heads},
                        std::pair{"num_key_value_heads", c.num_key_value_heads}, std::pair{"head_dim", c.head_dim},
                        std::pair{"patch_size", c.patch_size},
                        std::pair{"position_embedding_size", c.position_embedding_size},
                        std::pair{"pooling_kernel_size", c.pooling_kernel_size}})
    require_positive(v, key, where);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail_input(r.where("num_attention_heads"), " (", c.num_attention_heads,
               ") is not a multiple of num_key_value_heads (", c.num_key_value_heads, ")");
  return c;
}

double parse_vision_rope_theta(const std::string& json_text, const std::string& where) {
  const json j = io::JsonSection::parse_object(json_text, cat(where, ": vision_config"));
  return rope_theta_of(io::JsonSection(j, where, "vision_config."));
}

VisionPatchEmbedderImpl::VisionPatchEmbedderImpl(const VisionConfig& c, const at::TensorOptions& opts) {
  const int64_t D = c.hidden_size;
  input_proj = register_module("input_proj", LoraLinear(3 * c.patch_size * c.patch_size, D, /*bias=*/false, opts));
  position_embedding_table = register_parameter(
      "position_embedding_table", torch::ones({2, c.position_embedding_size, D}, opts), /*requires_grad=*/false);
}

VisionAttentionImpl::VisionAttentionImpl(const VisionConfig& c, const at::TensorOptions& opts)
    : n_head_(c.num_attention_heads), n_kv_head_(c.num_key_value_heads), head_dim_(c.head_dim) {
  const int64_t D = c.hidden_size, hd = c.head_dim;
  const bool clip = c.use_clipped_linears;
  q_proj = register_module("q_proj", ClippableLinear(D, c.num_attention_heads * hd, clip, opts));
  k_proj = register_module("k_proj", ClippableLinear(D, c.num_key_value_heads * hd, clip, opts));
  v_proj = register_module("v_proj", ClippableLinear(D, c.num_key_value_heads * hd, clip, opts));
  o_proj = register_module("o_proj", ClippableLinear(c.num_attention_heads * hd, D, clip, opts));
  q_norm = register_module("q_norm", RMSNorm(hd, c.rms_norm_eps, /*with_scale=*/true, opts));
  k_norm = register_module("k_norm", RMSNorm(hd, c.rms_norm_eps, /*with_scale=*/true, opts));
  v_norm = register_module("v_norm", RMSNorm(hd, c.rms_norm_eps, /*with_scale=*/false, opts));
}

VisionMLPImpl::VisionMLPImpl(const VisionConfig& c, const at::TensorOptions& opts) {
  const int64_t D = c.hidden_size, I = c.intermediate_size;
  const bool clip = c.use_clipped_linears;
  gate_proj = register_module("gate_proj", ClippableLinear(D, I, clip, opts));
  up_proj = register_module("up_proj", ClippableLinear(D, I, clip, opts));
  down_proj = register_module("down_proj", ClippableLinear(I, D, clip, opts));
}

VisionEncoderLayerImpl::VisionEncoderLayerImpl(const VisionConfig& c, const at::TensorOptions& opts) {
  const int64_t D = c.hidden_size;
  const double eps = c.rms_norm_eps;
  self_attn = register_module("self_attn", VisionAttention(c, opts));
  mlp = register_module("mlp", VisionMLP(c, opts));
  input_layernorm = register_module("input_layernorm", RMSNorm(D, eps, true, opts));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(D, eps, true, opts));
  pre_feedforward_layernorm = register_module("pre_feedforward_layernorm", RMSNorm(D, eps, true, opts));
  post_feedforward_layernorm = register_module("post_feedforward_layernorm", RMSNorm(D, eps, true, opts));
}

VisionEncoderImpl::VisionEncoderImpl(const VisionConfig& c, const at::TensorOptions& opts)
    : head_dim_(c.head_dim), rope_theta_(c.rope_theta) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) layers->push_back(VisionEncoderLayer(c, opts));
}

VisionModelImpl::VisionModelImpl(const VisionConfig& c, const at::TensorOptions& opts) : cfg_(c) {
  patch_embedder = register_module("patch_embedder", VisionPatchEmbedder(c, opts));
  encoder = register_module("encoder", VisionEncoder(c, opts));
  if (c.standardize) {
    std_bias = register_buffer("std_bias", torch::zeros({c.hidden_size}, opts));
    std_scale = register_buffer("std_scale", torch::ones({c.hidden_size}, opts));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------------------------------

// Gemma4VisionPatchEmbedder.forward.
at::Tensor VisionPatchEmbedderImpl::forward(const at::Tensor& pixel_values, const at::Tensor& positions,
                                            const at::Tensor& padding) {
  const int64_t N = pixel_values.size(0), P = pixel_values.size(1);
  // The processor does no normalisation; the model maps [0, 1] to [-1, 1] in the pixels' own dtype, then casts.
  at::Tensor x = (pixel_values - 0.5) * 2;
  at::Tensor h = input_proj->forward(x.to(input_proj->weight.scalar_type()));  // [N, P, D]
  // _position_embeddings: one-hot rows of the clamped positions times the table, summed over (x, y) = the two table
  // rows added; padding patches (positions -1, clamped to 0 for the lookup) get zeros.
  at::Tensor clamped = positions.clamp_min(0);
  at::Tensor px = position_embedding_table.select(0, 0).index_select(0, clamped.select(-1, 0).reshape(-1));
  at::Tensor py = position_embedding_table.select(0, 1).index_select(0, clamped.select(-1, 1).reshape(-1));
  at::Tensor pos = (px + py).view({N, P, -1});
  pos = at::where(padding.unsqueeze(-1), at::zeros({}, pos.options()), pos);
  return h + pos;
}

namespace {

// apply_multidimensional_rope with two axes: rotate-half RoPE on channels [0, hd/2) with the x angles and on
// [hd/2, hd) with the y angles. x [N, H, P, hd], rope [N, P, hd].
at::Tensor apply_rope_2d(const at::Tensor& x, const VisionRope& rope) {
  const int64_t half = x.size(-1) / 2;
  RopeTable ax{rope.cos.slice(-1, 0, half), rope.sin.slice(-1, 0, half)};
  RopeTable ay{rope.cos.slice(-1, half), rope.sin.slice(-1, half)};
  return at::cat({apply_rope(x.slice(-1, 0, half), ax), apply_rope(x.slice(-1, half), ay)}, -1);
}

}  // namespace

// Gemma4VisionAttention.forward: projections, per-head norms, 2-D RoPE on q and k, attention with scaling 1.
at::Tensor VisionAttentionImpl::forward(const at::Tensor& x, const VisionRope& rope, const at::Tensor& mask) {
  const int64_t N = x.size(0), P = x.size(1);
  auto heads = [&](ClippableLinear& proj, RMSNorm& norm, int64_t n) {
    return norm->forward(proj->forward(x).view({N, P, n, head_dim_})).transpose(1, 2);  // [N, n, P, hd]
  };
  at::Tensor q = apply_rope_2d(heads(q_proj, q_norm, n_head_), rope);
  at::Tensor k = apply_rope_2d(heads(k_proj, k_norm, n_kv_head_), rope);
  at::Tensor v = heads(v_proj, v_norm, n_kv_head_);
  at::Tensor o = attention(q, k, v, mask, /*scale=*/1.0);  // [N, H, P, hd]
  return o_proj->forward(o.transpose(1, 2).reshape({N, P, n_head_ * head_dim_}));
}

// Gemma4VisionMLP.forward (hidden_activation gelu_pytorch_tanh, checked by VisionModelImpl::forward).
at::Tensor VisionMLPImpl::forward(const at::Tensor& x) {
  return down_proj->forward(gelu_tanh(gate_proj->forward(x)) * up_proj->forward(x));
}

// Gemma4VisionEncoderLayer.forward: sandwich norms around attention and MLP.
at::Tensor VisionEncoderLayerImpl::forward(const at::Tensor& x, const VisionRope& rope, const at::Tensor& mask) {
  at::Tensor h = post_attention_layernorm->forward(self_attn->forward(input_layernorm->forward(x), rope, mask));
  at::Tensor y = x + h;
  h = post_feedforward_layernorm->forward(mlp->forward(pre_feedforward_layernorm->forward(y)));
  return y + h;
}

VisionRope VisionEncoderImpl::rope(const at::Tensor& positions, at::ScalarType dtype) const {
  // compute_default_rope_parameters: each axis gets the frequencies of a head of hd/2 channels.
  at::Tensor inv_freq = rope_inv_freq("default", rope_theta_, head_dim_ / 2, 1.0).to(positions.device());
  RopeTable x = rope_table(inv_freq, positions.select(-1, 0), dtype);  // [N, P, hd/2]
  RopeTable y = rope_table(inv_freq, positions.select(-1, 1), dtype);
  return {at::cat({x.cos, y.cos}, -1), at::cat({x.sin, y.sin}, -1)};
}

at::Tensor VisionEncoderImpl::key_mask(const at::Tensor& padding, at::ScalarType dtype) {
  const int64_t N = padding.size(0), P = padding.size(1);
  const auto opts = at::TensorOptions().dtype(dtype).device(padding.device());
  // Always defined: models::attention reads an undefined mask as causal.
  at::Tensor zero = at::zeros({}, opts);
  at::Tensor lowest = at::full({}, torch_compat::lowest(dtype), opts);
  return at::where(padding.view({N, 1, 1, P}), lowest, zero).expand({N, 1, P, P});
}

// Gemma4VisionEncoder.forward: the bidirectional mask (create_bidirectional_mask of the valid patches), the RoPE
// table once, then the layers.
at::Tensor VisionEncoderImpl::forward(const at::Tensor& inputs_embeds, const at::Tensor& padding,
                                      const at::Tensor& positions, Trace* trace) {
  const VisionRope r = rope(positions, inputs_embeds.scalar_type());
  const at::Tensor mask = key_mask(padding, inputs_embeds.scalar_type());
  at::Tensor h = inputs_embeds;
  for (size_t i = 0; i < layers->size(); ++i) {
    h = layers->ptr<VisionEncoderLayerImpl>(i)->forward(h, r, mask);
    if (trace) trace->emplace_back(cat("layers.", i), h);
  }
  return h;
}

std::pair<at::Tensor, at::Tensor> VisionModelImpl::pool(const at::Tensor& hidden, const at::Tensor& positions,
                                                        const at::Tensor& padding) const {
  const int64_t N = hidden.size(0), P = hidden.size(1), k = cfg_.pooling_kernel_size, L = P / (k * k);
  const double root_hidden = std::sqrt(static_cast<double>(cfg_.hidden_size));  // Python float hidden_size**0.5
  at::Tensor h = hidden.masked_fill(padding.unsqueeze(-1), 0.0);
  if (L == P) {
    // k = 1: nothing to average. transformers returns its padding mask (true = padding) as the kept mask here and
    // would keep exactly the padding rows; only real patches are kept here.
    return {h.to(at::kFloat) * root_hidden, padding.logical_not()};
  }
  // _avg_pool_by_positions: block index of each patch from its (clamped) position, W = 1 + the image's largest x.
  at::Tensor clamped = positions.clamp_min(0);
  at::Tensor width = clamped.select(-1, 0).amax(-1, /*keepdim=*/true) + 1;  // [N, 1]
  at::Tensor block = at::div(clamped, k, "floor");                          // [N, P, 2]
  at::Tensor idx = block.select(-1, 0) + at::div(width, k, "floor") * block.select(-1, 1);  // [N, P]
  const int64_t top = idx.max().item<int64_t>();
  if (top >= L)
    fail_input("vision tower: an image's patch grid needs pooled token ", top, " but the budget gives ", L,
               " (P = ", P, " patches / ", k * k, "); its patch rows and columns must be multiples of ", k,
               " and fit the budget, as Gemma4ImageProcessor makes them");
  // One-hot weights 1/k² (a float32 division, as one_hot(..).float() / k²), then one float32 product.
  const float w = 1.0f / static_cast<float>(k * k);
  at::Tensor weights = at::zeros({N, P, L}, hidden.options().dtype(at::kFloat)).scatter_(2, idx.unsqueeze(-1), w);
  at::Tensor out = at::matmul(weights.transpose(1, 2), h.to(at::kFloat));  // [N, L, D]
  at::Tensor kept = weights.ne(0).any(1);                                   // [N, L]
  // The average is rounded to the hidden dtype; the sqrt(D) scaling is done and kept in float32 (it can leave the
  // float16 range), as Gemma4VisionPooler.forward does.
  return {out.to(hidden.scalar_type()).to(at::kFloat) * root_hidden, kept};
}

// Gemma4VisionModel.forward.
VisionOutput VisionModelImpl::forward(const at::Tensor& pixel_values, const at::Tensor& pixel_position_ids,
                                      Trace* trace) {
  const int64_t p = cfg_.patch_size, k = cfg_.pooling_kernel_size;
  if (pixel_values.dim() != 3 || pixel_values.size(2) != 3 * p * p || !pixel_values.is_floating_point())
    fail_input("vision tower: pixel_values has shape ", pixel_values.sizes(), " and dtype ",
               pixel_values.scalar_type(), ", expected floating [images, patches, ", 3 * p * p, "] (patch_size ", p,
               ")");
  const int64_t N = pixel_values.size(0), P = pixel_values.size(1);
  if (pixel_position_ids.dim() != 3 || pixel_position_ids.size(0) != N || pixel_position_ids.size(1) != P ||
      pixel_position_ids.size(2) != 2)
    fail_input("vision tower: pixel_position_ids has shape ", pixel_position_ids.sizes(), ", expected [", N, ", ",
               P, ", 2] (x, y per patch)");
  if (N == 0 || P == 0 || P % (k * k) != 0)
    fail_input("vision tower: ", P, " patches per image, expected a positive multiple of pooling_kernel_size² = ",
               k * k, " (the processor pads to max_patches = ", k * k, " x max_soft_tokens)");
  if (cfg_.hidden_activation != "gelu_pytorch_tanh")
    fail_input("vision tower: vision_config.hidden_activation is \"", cfg_.hidden_activation,
               "\", expected \"gelu_pytorch_tanh\"");
  if (cfg_.head_dim % 4 != 0)
    fail_input("vision tower: vision_config.head_dim is ", cfg_.head_dim,
               ", expected a multiple of 4 (two rotary axes of hd/2 channels each)");

  const at::Device device = patch_embedder->input_proj->weight.device();
  const at::Tensor pixels = pixel_values.to(device);
  const at::Tensor positions = pixel_position_ids.to(device, at::kLong);
  const at::Tensor padding = positions.eq(-1).all(-1);  // [N, P], true = padding patch
  const int64_t top = positions.max().item<int64_t>();
  if (top >= cfg_.position_embedding_size)
    fail_input("vision tower: patch position ", top, " is outside the position table (position_embedding_size ",
               cfg_.position_embedding_size, ")");
  if (!padding.logical_not().any(1).all().item<bool>())
    fail_input("vision tower: an image has no patch (every position is (-1, -1))");

  at::Tensor h = patch_embedder->forward(pixels, positions, padding);
  if (trace) trace->emplace_back("patch_embedder", h);
  h = encoder->forward(h, padding, positions, trace);
  auto [pooled, kept] = pool(h, positions, padding);
  if (trace) {
    trace->emplace_back("pooler", pooled);
    trace->emplace_back("pooler_mask", kept);
  }
  VisionOutput out;
  at::Tensor tokens = pooled.index({kept});  // [sum n_i, D] float32, image after image
  // Standardized in float32 (the bias subtraction cancels large values), then one cast to the working dtype.
  if (cfg_.standardize) tokens = (tokens - std_bias.to(at::kFloat)) * std_scale.to(at::kFloat);
  out.tokens = tokens.to(h.scalar_type());
  const at::Tensor counts = kept.sum(1).cpu();
  for (int64_t i = 0; i < N; ++i) out.tokens_per_image.push_back(counts[i].item<int64_t>());
  return out;
}

}  // namespace gt::models::gemma4
