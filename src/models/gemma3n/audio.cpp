// Gemma 3n audio encoder in the order of operations of transformers 5.17 (modeling_gemma3n.py, Gemma3nAudio*
// classes). Each forward mirrors the method of the same name there, so a difference can be found by
// reading both side by side. Dimension letters as in audio.h.
#include "models/gemma3n/audio.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "io/json_section.h"
#include "models/common/ops.h"

namespace gt::models::gemma3n {

// ---------------------------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------------------------

using json = nlohmann::json;

AudioConfig parse_audio_config(const std::string& json_text, const std::string& where) {
  const json j = io::JsonSection::parse_object(json_text, where);
  if (j.contains("model_type") && j["model_type"] != "gemma3n_audio")
    fail_input(where, ".model_type is ", j["model_type"].dump(), ", expected \"gemma3n_audio\"");
  AudioConfig c;
  const io::JsonSection r(j, "", where + ".");
  r.read("vocab_size", c.vocab_size);
  r.read("vocab_offset", c.vocab_offset);
  r.read("input_feat_size", c.input_feat_size);
  r.read("hidden_size", c.hidden_size);
  r.read("rms_norm_eps", c.rms_norm_eps);
  r.read("gradient_clipping", c.gradient_clipping);
  r.read("conf_attention_chunk_size", c.conf_attention_chunk_size);
  r.read("conf_attention_context_left", c.conf_attention_context_left);
  r.read("conf_attention_context_right", c.conf_attention_context_right);
  r.read("conf_attention_logit_cap", c.conf_attention_logit_cap);
  r.read("conf_num_attention_heads", c.conf_num_attention_heads);
  r.read("conf_num_hidden_layers", c.conf_num_hidden_layers);
  r.read("conf_conv_kernel_size", c.conf_conv_kernel_size);
  r.read("conf_reduction_factor", c.conf_reduction_factor);
  r.read("conf_residual_weight", c.conf_residual_weight);
  r.read("sscp_conv_channel_size", c.sscp_conv_channel_size);
  r.read("sscp_conv_group_norm_eps", c.sscp_conv_group_norm_eps);
  r.read("sscp_conv_kernel_size", c.sscp_conv_kernel_size);
  r.read("sscp_conv_stride_size", c.sscp_conv_stride_size);

  auto positive = [&](const char* key, int64_t v) {
    if (v <= 0) fail_input(r.where(key), " is ", v, ", expected a positive integer");
  };
  positive("vocab_size", c.vocab_size);
  positive("input_feat_size", c.input_feat_size);
  positive("hidden_size", c.hidden_size);
  positive("conf_attention_chunk_size", c.conf_attention_chunk_size);
  positive("conf_num_attention_heads", c.conf_num_attention_heads);
  positive("conf_num_hidden_layers", c.conf_num_hidden_layers);
  positive("conf_conv_kernel_size", c.conf_conv_kernel_size);
  positive("conf_reduction_factor", c.conf_reduction_factor);
  if (c.conf_attention_context_left < 0 || c.conf_attention_context_right < 0)
    fail_input(r.where("conf_attention_context_left"), " / _right are ", c.conf_attention_context_left, " / ",
               c.conf_attention_context_right, ", expected non-negative integers");
  if (c.hidden_size % c.conf_num_attention_heads != 0 || c.hidden_size % 2 != 0)
    fail_input(r.where("hidden_size"), " is ", c.hidden_size, ", expected an even multiple of conf_num_attention_heads (",
               c.conf_num_attention_heads, ")");
  int64_t freq = c.input_feat_size;
  for (int i = 0; i < 2; ++i) {
    positive("sscp_conv_channel_size", c.sscp_conv_channel_size[i]);
    for (int64_t v : c.sscp_conv_kernel_size[i]) positive("sscp_conv_kernel_size", v);
    for (int64_t v : c.sscp_conv_stride_size[i]) positive("sscp_conv_stride_size", v);
    freq = (freq + 2 - c.sscp_conv_kernel_size[i][1]) / c.sscp_conv_stride_size[i][1] + 1;
    if (freq <= 0)
      fail_input(r.where("sscp_conv_kernel_size"), ": convolution ", i, " leaves no frequency bins of input_feat_size ",
                 c.input_feat_size);
  }
  return c;
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

namespace {

// torch.finfo(dtype).min: what transformers writes into masked logits (never -inf, so a fully masked row gives a
// uniform softmax rather than NaN).
double lowest_value(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return std::numeric_limits<float>::lowest();
    case at::kDouble: return std::numeric_limits<double>::lowest();
    case at::kBFloat16: return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    case at::kHalf: return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    default: GT_CHECK(false, "audio attention in dtype ", t);
  }
  return 0;
}

// Zeros before and after dim 1 ([B, T, ...]), as Gemma3nAudioAttention._pad_dim1 (a concatenation).
at::Tensor pad_time(const at::Tensor& x, int64_t left, int64_t right) {
  std::vector<int64_t> shape = x.sizes().vec();
  std::vector<at::Tensor> parts;
  if (left > 0) {
    shape[1] = left;
    parts.push_back(at::zeros(shape, x.options()));
  }
  parts.push_back(x);
  if (right > 0) {
    shape[1] = right;
    parts.push_back(at::zeros(shape, x.options()));
  }
  return parts.size() == 1 ? x : at::cat(parts, 1);
}

// The gradient_clipping clamp transformers applies around every sub-layer (±1e10: a no-op on finite activations,
// kept so that infinities behave alike).
at::Tensor clip(const at::Tensor& x, double bound) { return at::clamp(x, -bound, bound); }

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Sub-sample convolution projection (Gemma3nAudioSubSampleConvProjection)
// ---------------------------------------------------------------------------------------------------------------

WeightImpl::WeightImpl(const std::vector<int64_t>& shape, const at::TensorOptions& opts) {
  weight = register_parameter("weight", torch::empty(shape, opts), /*requires_grad=*/false);
}

CumulativeGroupNormImpl::CumulativeGroupNormImpl(int64_t channels, int64_t freq, double eps,
                                                 const at::TensorOptions& opts)
    : channels_(channels), freq_(freq), eps_(eps) {
  weight = register_parameter("weight", torch::ones({channels}, opts), /*requires_grad=*/false);
}

at::Tensor CumulativeGroupNormImpl::forward(const at::Tensor& x) {
  GT_CHECK(x.dim() == 4 && x.size(2) == freq_ && x.size(3) == channels_, "cumulative group norm input ", x.sizes(),
           ", expected [B, T, ", freq_, ", ", channels_, "]");
  const at::Tensor xf = x.to(at::kFloat);
  const int64_t T = x.size(1);
  const std::vector<int64_t> group = {2, 3};  // every (frequency, channel) of a frame
  const at::Tensor cum_sum = at::cumsum(xf.sum(group, /*keepdim=*/true), 1);                 // [B, T, 1, 1]
  // Elements seen up to frame t: (t + 1) * F * C, exact in float32 as transformers' cumulative count of ones.
  const at::Tensor count = (at::arange(1, T + 1, xf.options()) * static_cast<double>(freq_ * channels_)).view({1, T, 1, 1});
  const at::Tensor cum_mean = cum_sum / count;
  const at::Tensor centred = xf - cum_mean;
  const at::Tensor cum_var = at::cumsum(centred.pow(2).sum(group, /*keepdim=*/true), 1) / count;
  const at::Tensor y = centred * at::rsqrt(cum_var + eps_) * weight.to(at::kFloat).view({1, 1, 1, channels_});
  return y.to(x.scalar_type());
}

SSCPConvBlockImpl::SSCPConvBlockImpl(const AudioConfig& c, int idx, int64_t freq_in, const at::TensorOptions& opts)
    : kernel_(c.sscp_conv_kernel_size[idx]), stride_(c.sscp_conv_stride_size[idx]) {
  const int64_t in = idx == 0 ? 1 : c.sscp_conv_channel_size[idx - 1];
  const int64_t out = c.sscp_conv_channel_size[idx];
  freq_out_ = (freq_in + 2 - kernel_[1]) / stride_[1] + 1;  // frequency padded by 1 on both sides
  conv = register_module("conv", Weight(std::vector<int64_t>{out, in, kernel_[0], kernel_[1]}, opts));
  norm = register_module("norm", CumulativeGroupNorm(out, freq_out_, c.sscp_conv_group_norm_eps, opts));
}

at::Tensor SSCPConvBlockImpl::forward(const at::Tensor& x) {
  // Frequency (1, 1); time (0, kernel - 1), "reverse causal": an output frame sees its own and the next frames.
  const at::Tensor padded = at::constant_pad_nd(x, {1, 1, 0, kernel_[0] - 1}, 0).to(conv->weight.scalar_type());
  const at::Tensor y = at::conv2d(padded, conv->weight, {}, {stride_[0], stride_[1]});  // [B, C, T', F']
  const at::Tensor normed = norm->forward(y.permute({0, 2, 3, 1}).contiguous());        // [B, T', F', C]
  return at::relu(normed.permute({0, 3, 1, 2}).contiguous());
}

SubSampleConvProjectionImpl::SubSampleConvProjectionImpl(const AudioConfig& c, const at::TensorOptions& opts) {
  conv_0 = register_module("conv_0", SSCPConvBlock(c, 0, c.input_feat_size, opts));
  conv_1 = register_module("conv_1", SSCPConvBlock(c, 1, conv_0->freq_out(), opts));
  input_proj_linear = register_module(
      "input_proj_linear", LoraLinear(c.sscp_conv_channel_size[1] * conv_1->freq_out(), c.hidden_size, false, opts));
}

at::Tensor SubSampleConvProjectionImpl::forward(const at::Tensor& mel) {
  const at::Tensor x = conv_1->forward(conv_0->forward(mel.unsqueeze(1)));  // [B, C, T2, F2]
  const int64_t B = x.size(0), C = x.size(1), T2 = x.size(2), F2 = x.size(3);
  // Frequency-major, channel-minor features: index f * C + c.
  return input_proj_linear->forward(x.permute({0, 2, 3, 1}).contiguous().view({B, T2, F2 * C}));  // [B, T2, D]
}

// ---------------------------------------------------------------------------------------------------------------
// Local relative-position attention (Gemma3nAudioRelativePositionEmbedding, Gemma3nAudioAttention)
// ---------------------------------------------------------------------------------------------------------------

RelativePositionEmbeddingImpl::RelativePositionEmbeddingImpl(const AudioConfig& c, const at::TensorOptions& opts)
    : heads_(c.conf_num_attention_heads),
      head_dim_(c.head_dim()),
      max_backward_(std::max<int64_t>(0, c.conf_attention_context_left - 1)),
      max_forward_(c.conf_attention_context_right) {
  pos_proj = register_module("pos_proj", LoraLinear(c.hidden_size, heads_ * head_dim_, false, opts));
  // Sinusoid timescales 1 .. 1e4 over D/2 channels, computed in float32 on the CPU as the buffer is.
  const int64_t n = c.hidden_size / 2;
  const double increment = std::log(1.0e4 / 1.0) / static_cast<double>(std::max<int64_t>(n - 1, 1));
  inv_timescales_ = (at::exp(at::arange(n, at::TensorOptions().dtype(at::kLong)) * -increment) * 1.0).to(opts.device());
}

at::Tensor RelativePositionEmbeddingImpl::relative_shift(const at::Tensor& term_bd, int64_t key_context) const {
  // [B, N, U, W, R] -> [B, N, U, W, K]: pad R to K + 1, flatten (W, K + 1), keep the first W * K and fold back, so
  // that entry (w, k) holds relative position index k - w (distance t - s = R - 1 - (k - w)).
  const int64_t B = term_bd.size(0), N = term_bd.size(1), U = term_bd.size(2), W = term_bd.size(3);
  const int64_t R = term_bd.size(4);
  const at::Tensor padded = at::constant_pad_nd(term_bd, {0, key_context + 1 - R});
  return padded.reshape({B, N, U, W * (key_context + 1)})
      .slice(-1, 0, W * key_context)
      .reshape({B, N, U, W, key_context});
}

at::Tensor RelativePositionEmbeddingImpl::forward(const at::Tensor& queries, const at::Tensor& keys) {
  const int64_t B = queries.size(0), U = queries.size(1), W = queries.size(2);
  const int64_t K = keys.size(2);
  // Relative positions [left-1, ..., 0, ..., -right]: sinusoid in float32, cast to the model dtype, projected.
  const at::Tensor pos = at::arange(max_backward_, -max_forward_ - 1, -1, queries.options().dtype(at::kLong));
  const int64_t R = pos.size(0);
  const at::Tensor scaled = pos.to(at::kFloat).view({1, R, 1}) * inv_timescales_.to(queries.device()).view({1, 1, -1});
  const at::Tensor timing = at::cat({at::sin(scaled), at::cos(scaled)}, -1).to(queries.scalar_type());  // [1, R, D]
  const at::Tensor sin_emb = pos_proj->forward(timing).reshape({R, heads_, head_dim_});                   // [R, N, H]

  const at::Tensor q = queries.permute({0, 3, 1, 2, 4});                      // [B, N, U, W, H]
  const at::Tensor term_ac = at::matmul(q, keys.permute({0, 3, 1, 4, 2}));   // [B, N, U, W, K]
  const at::Tensor term_bd = at::matmul(q.reshape({B, heads_, U * W, head_dim_}), sin_emb.permute({1, 2, 0}))
                                 .reshape({B, heads_, U, W, R});               // [B, N, U, W, R]
  return term_ac + relative_shift(term_bd, K);
}

AttentionImpl::AttentionImpl(const AudioConfig& c, const at::TensorOptions& opts)
    : heads_(c.conf_num_attention_heads),
      head_dim_(c.head_dim()),
      chunk_(c.conf_attention_chunk_size),
      max_past_(std::max<int64_t>(0, c.conf_attention_context_left - 1)),
      max_future_(c.conf_attention_context_right),
      context_(chunk_ + max_past_ + max_future_),
      logit_cap_(c.conf_attention_logit_cap) {
  relative_position_embedding = register_module("relative_position_embedding", RelativePositionEmbedding(c, opts));
  per_dim_scale = register_parameter("per_dim_scale", torch::zeros({head_dim_}, opts), /*requires_grad=*/false);
  const int64_t D = c.hidden_size;
  q_proj = register_module("q_proj", LoraLinear(D, heads_ * head_dim_, false, opts));
  k_proj = register_module("k_proj", LoraLinear(D, heads_ * head_dim_, false, opts));
  v_proj = register_module("v_proj", LoraLinear(D, heads_ * head_dim_, false, opts));
  // head_dim^-0.5 / softplus(0) in float32 (so that softplus(per_dim_scale = 0) gives the plain 1/sqrt(H) scaling),
  // then in the model dtype like the buffer.
  const at::Tensor r_softplus_0 = at::reciprocal(at::softplus(at::zeros({}, at::TensorOptions().dtype(at::kFloat))));
  q_scale_ = (r_softplus_0 * std::pow(static_cast<double>(head_dim_), -0.5)).to(opts);
}

at::Tensor AttentionImpl::to_blocks(const at::Tensor& x) const {
  const int64_t T = x.size(1), U = (T + chunk_ - 1) / chunk_;
  std::vector<int64_t> shape = {x.size(0), U, chunk_};
  for (int64_t d = 2; d < x.dim(); ++d) shape.push_back(x.size(d));
  return pad_time(x, 0, U * chunk_ - T).reshape(shape).contiguous();
}

at::Tensor AttentionImpl::block_context(const at::Tensor& x) const {
  // Block u sees frames u*W - (left-1) .. u*W + W - 1 + right; frames outside [0, T) are zeros (invalid).
  const at::Tensor padded = pad_time(x, max_past_, max_future_ + chunk_ - 1);
  at::Tensor frames = padded.unfold(1, context_, chunk_);  // [B, U, ..., K]
  if (x.dim() > 2) frames = at::movedim(frames, -1, 2);    // [B, U, K, ...]
  return frames.contiguous();
}

at::Tensor AttentionImpl::local_causal_valid_mask(const at::Device& device) const {
  // [W, K]: query w of a block may use context slot k when 0 <= k - w <= (left-1) + right.
  const auto opts = at::TensorOptions().dtype(at::kLong).device(device);
  const at::Tensor offset = at::arange(context_, opts).view({1, context_}) - at::arange(chunk_, opts).view({chunk_, 1});
  return offset.ge(0).logical_and(offset.le(max_past_ + max_future_));
}

at::Tensor AttentionImpl::forward(const at::Tensor& x, const at::Tensor& pad_mask) {
  const int64_t B = x.size(0), T = x.size(1);
  const std::vector<int64_t> heads_shape = {B, T, heads_, head_dim_};
  at::Tensor q = q_proj->forward(x).reshape(heads_shape).contiguous();
  const at::Tensor k = k_proj->forward(x).reshape(heads_shape).contiguous();
  const at::Tensor v = v_proj->forward(x).reshape(heads_shape).contiguous();
  q = q * q_scale_.to(q.device()) * at::softplus(per_dim_scale).view({1, 1, 1, head_dim_});

  const at::Tensor query_blocks = to_blocks(q);        // [B, U, W, N, H]
  const at::Tensor key_blocks = block_context(k);      // [B, U, K, N, H]
  const at::Tensor value_blocks = block_context(v);    // [B, U, K, N, H]
  const int64_t U = query_blocks.size(1);
  // Allowed: the key is a real frame and within the local causal window.
  const at::Tensor valid_keys = block_context(pad_mask.logical_not());                            // [B, U, K]
  const at::Tensor allowed = valid_keys.view({B, 1, U, 1, context_})
                                 .logical_and(local_causal_valid_mask(x.device()).view({1, 1, 1, chunk_, context_}));

  at::Tensor logits = relative_position_embedding->forward(query_blocks, key_blocks);  // [B, N, U, W, K]
  logits = soft_cap(logits, logit_cap_);  // before masking, as transformers does
  logits = logits.masked_fill(allowed.logical_not(), lowest_value(logits.scalar_type()));
  const at::Tensor probs = at::softmax(logits, -1, at::kFloat).to(value_blocks.scalar_type());

  // Weighted values per (batch, block, head): [B*U*N, W, K] x [B*U*N, K, H].
  const at::Tensor p = probs.permute({0, 2, 1, 3, 4}).reshape({-1, chunk_, context_});
  const at::Tensor vb = value_blocks.permute({0, 1, 3, 2, 4}).reshape({-1, context_, head_dim_});
  return at::bmm(p, vb)
      .reshape({B, U, heads_, chunk_, head_dim_})
      .permute({0, 1, 3, 2, 4})
      .reshape({B, U * chunk_, heads_, head_dim_})
      .slice(1, 0, T);  // [B, T, N, H]
}

// ---------------------------------------------------------------------------------------------------------------
// Conformer block (Gemma3nAudioConformer*)
// ---------------------------------------------------------------------------------------------------------------

// The attention and feed-forward norms are built with Gemma3nRMSNorm's default eps (1e-6), not rms_norm_eps;
// only the light convolution's norms read rms_norm_eps.
constexpr double kDefaultNormEps = 1e-6;

ConformerAttentionImpl::ConformerAttentionImpl(const AudioConfig& c, const at::TensorOptions& opts)
    : clip_(c.gradient_clipping) {
  pre_attn_norm = register_module("pre_attn_norm", RMSNorm(c.hidden_size, kDefaultNormEps, true, opts));
  attn = register_module("attn", Attention(c, opts));
  post = register_module("post", LoraLinear(c.hidden_size, c.hidden_size, false, opts));
  post_norm = register_module("post_norm", RMSNorm(c.hidden_size, kDefaultNormEps, true, opts));
}

at::Tensor ConformerAttentionImpl::forward(const at::Tensor& x, const at::Tensor& pad_mask) {
  const at::Tensor a = attn->forward(pre_attn_norm->forward(clip(x, clip_)), pad_mask);  // [B, T, N, H]
  const at::Tensor h = post->forward(a.reshape({a.size(0), a.size(1), -1}));
  return x + post_norm->forward(clip(h, clip_));
}

ConformerFeedForwardImpl::ConformerFeedForwardImpl(const AudioConfig& c, const at::TensorOptions& opts)
    : clip_(c.gradient_clipping), residual_weight_(c.conf_residual_weight) {
  pre_layer_norm = register_module("pre_layer_norm", RMSNorm(c.hidden_size, kDefaultNormEps, true, opts));
  ffw_layer_1 = register_module("ffw_layer_1", LoraLinear(c.hidden_size, c.hidden_size * 4, false, opts));
  ffw_layer_2 = register_module("ffw_layer_2", LoraLinear(c.hidden_size * 4, c.hidden_size, false, opts));
  post_layer_norm = register_module("post_layer_norm", RMSNorm(c.hidden_size, kDefaultNormEps, true, opts));
}

at::Tensor ConformerFeedForwardImpl::forward(const at::Tensor& x) {
  at::Tensor h = ffw_layer_1->forward(pre_layer_norm->forward(clip(x, clip_)));
  h = ffw_layer_2->forward(at::silu(h));
  return x + post_layer_norm->forward(clip(h, clip_)) * residual_weight_;
}

ConformerLightConv1dImpl::ConformerLightConv1dImpl(const AudioConfig& c, const at::TensorOptions& opts)
    : clip_(c.gradient_clipping), kernel_(c.conf_conv_kernel_size) {
  const int64_t D = c.hidden_size;
  pre_layer_norm = register_module("pre_layer_norm", RMSNorm(D, c.rms_norm_eps, true, opts));
  linear_start = register_module("linear_start", LoraLinear(D, D * 2, false, opts));
  depthwise_conv1d = register_module("depthwise_conv1d", Weight(std::vector<int64_t>{D, 1, kernel_}, opts));
  conv_norm = register_module("conv_norm", RMSNorm(D, c.rms_norm_eps, true, opts));
  linear_end = register_module("linear_end", LoraLinear(D, D, false, opts));
}

at::Tensor ConformerLightConv1dImpl::forward(const at::Tensor& x) {
  const int64_t D = x.size(2);
  at::Tensor h = at::glu(linear_start->forward(pre_layer_norm->forward(x)), -1);  // [B, T, D]
  // Causal depthwise convolution over time: kernel - 1 zeros before the first frame.
  h = at::constant_pad_nd(h.permute({0, 2, 1}), {kernel_ - 1, 0});                 // [B, D, T + kernel - 1]
  const std::vector<int64_t> stride = {1}, padding = {0}, dilation = {1};
  h = at::conv1d(h, depthwise_conv1d->weight, {}, stride, padding, dilation, /*groups=*/D);
  h = conv_norm->forward(clip(h.permute({0, 2, 1}), clip_));
  return linear_end->forward(at::silu(h)) + x;
}

ConformerBlockImpl::ConformerBlockImpl(const AudioConfig& c, const at::TensorOptions& opts)
    : clip_(c.gradient_clipping) {
  ffw_layer_start = register_module("ffw_layer_start", ConformerFeedForward(c, opts));
  attention = register_module("attention", ConformerAttention(c, opts));
  lconv1d = register_module("lconv1d", ConformerLightConv1d(c, opts));
  ffw_layer_end = register_module("ffw_layer_end", ConformerFeedForward(c, opts));
  norm = register_module("norm", RMSNorm(c.hidden_size, kDefaultNormEps, true, opts));
}

at::Tensor ConformerBlockImpl::forward(const at::Tensor& x, const at::Tensor& pad_mask) {
  at::Tensor h = attention->forward(ffw_layer_start->forward(x), pad_mask);
  h = h * pad_mask.logical_not().unsqueeze(-1).to(h.scalar_type());  // padded frames enter the convolution as zeros
  h = ffw_layer_end->forward(lconv1d->forward(h));
  return norm->forward(clip(h, clip_));
}

// ---------------------------------------------------------------------------------------------------------------
// Encoder (Gemma3nAudioEncoder)
// ---------------------------------------------------------------------------------------------------------------

AudioEncoderImpl::AudioEncoderImpl(const AudioConfig& c, const at::TensorOptions& opts) : cfg_(c) {
  subsample_conv_projection = register_module("subsample_conv_projection", SubSampleConvProjection(c, opts));
  conformer = register_module("conformer", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.conf_num_hidden_layers; ++i) conformer->push_back(ConformerBlock(c, opts));
}

int64_t AudioEncoderImpl::output_length(int64_t frames) const {
  int64_t t = frames;
  for (const auto& s : cfg_.sscp_conv_stride_size) t = (t - 1) / s[0] + 1;  // time padded by kernel - 1 at the end
  return (t + cfg_.conf_reduction_factor - 1) / cfg_.conf_reduction_factor;
}

EncodedAudio AudioEncoderImpl::forward(const at::Tensor& mel, const at::Tensor& pad_mask) {
  at::Tensor x = subsample_conv_projection->forward(mel);  // [B, T2, D]
  const int64_t T = mel.size(1), T2 = x.size(1);
  // Each sub-sampled frame takes the padding flag of the first mel frame of its stride.
  const int64_t stride = cfg_.sscp_conv_stride_size[0][0] * cfg_.sscp_conv_stride_size[1][0];
  const at::Tensor index = (at::arange(T2, pad_mask.options().dtype(at::kLong)) * stride).clamp_max(T - 1);
  at::Tensor mask = pad_mask.index_select(1, index);  // [B, T2]
  for (const auto& block : *conformer) x = block->as<ConformerBlockImpl>()->forward(x, mask);
  const int64_t r = cfg_.conf_reduction_factor;
  if (r > 1) {
    x = x.slice(1, 0, T2, r);
    mask = mask.slice(1, 0, T2, r);
  }
  return {x.masked_fill(mask.unsqueeze(-1), 0.0), mask};
}

// ---------------------------------------------------------------------------------------------------------------
// AudioTower: encoder + embed_audio + padding to audio_soft_tokens_per_image (Gemma3nModel)
// ---------------------------------------------------------------------------------------------------------------

AudioTowerImpl::AudioTowerImpl(const io::ModelConfig& cfg, const at::TensorOptions& opts)
    : audio_(parse_audio_config(cfg.audio_config_json, cat(cfg.path, ": audio_config"))),
      tokens_per_clip_(cfg.media.audio_soft_tokens_per_image.value_or(188)),
      padding_id_(cfg.text.vocab_size - 1) {
  if (tokens_per_clip_ <= 0)
    fail_input(cfg.path, ": audio_soft_tokens_per_image is ", tokens_per_clip_, ", expected a positive integer");
  // Gemma3nModel pads with the embedding of id text vocab_size - 1, which must be an audio hard id.
  if (padding_id_ < audio_.vocab_offset || padding_id_ >= audio_.vocab_offset + audio_.vocab_size)
    fail_input(cfg.path, ": text_config.vocab_size - 1 = ", padding_id_, " (the audio padding token) is not an audio ",
               "token id [", audio_.vocab_offset, ", ", audio_.vocab_offset + audio_.vocab_size,
               ") of audio_config vocab_offset / vocab_size");
  audio_tower = register_module("audio_tower", AudioEncoder(audio_, opts));
  MultimodalEmbedderShape shape;
  shape.multimodal_hidden_size = audio_.hidden_size;
  shape.text_hidden_size = cfg.text.hidden_size;
  shape.vocab_size = audio_.vocab_size;
  shape.vocab_offset = audio_.vocab_offset;
  shape.eps = audio_.rms_norm_eps;
  embed_audio = register_module("embed_audio", MultimodalEmbedder(shape, opts));
}

EncodedAudio AudioTowerImpl::encode_tower(const at::Tensor& features, const at::Tensor& feature_mask) {
  if (features.dim() != 3 || features.size(2) != audio_.input_feat_size || features.size(0) == 0 ||
      features.size(1) == 0)
    fail_input("Gemma 3n audio tower: features have shape ", features.sizes(), ", expected [clips, frames, ",
               audio_.input_feat_size, "] with at least one clip and one frame");
  if (feature_mask.dim() != 2 || feature_mask.size(0) != features.size(0) || feature_mask.size(1) != features.size(1))
    fail_input("Gemma 3n audio tower: feature mask has shape ", feature_mask.sizes(), ", expected [",
               features.size(0), ", ", features.size(1), "] (one flag per frame)");
  const int64_t frames = features.size(1), tokens = audio_tower->output_length(frames);
  if (tokens > tokens_per_clip_)
    fail_input("Gemma 3n audio tower: ", frames, " frames give ", tokens, " audio tokens, more than the ",
               tokens_per_clip_, " (audio_soft_tokens_per_image) a clip has in the prompt; Gemma 3n takes at most "
               "30 s of audio per clip");
  torch::NoGradGuard no_grad;
  const at::Tensor& w = embed_audio->embedding->weight;
  const at::Tensor mel = features.to(w.device(), w.scalar_type());
  const at::Tensor pad_mask = feature_mask.to(w.device()).to(at::kBool).logical_not();  // the tower's convention
  return audio_tower->forward(mel, pad_mask);
}

at::Tensor AudioTowerImpl::soft_tokens(const EncodedAudio& encoded) {
  torch::NoGradGuard no_grad;
  const at::Tensor features = embed_audio->embed_soft(encoded.hidden);  // [B, T3, Dt]
  const int64_t B = features.size(0), T3 = features.size(1), Dt = features.size(2);
  GT_CHECK(T3 <= tokens_per_clip_, T3, " audio tokens for ", tokens_per_clip_, " places");
  const at::Tensor pad = embed_audio->embed_hard(
      at::full({1, 1}, padding_id_, at::TensorOptions().dtype(at::kLong).device(features.device())));  // [1, 1, Dt]
  const at::Tensor filled = at::where(encoded.pad_mask.unsqueeze(-1), pad, features);
  return at::cat({filled, pad.expand({B, tokens_per_clip_ - T3, Dt})}, 1);  // [B, tokens_per_clip, Dt]
}

AudioSoftTokens AudioTowerImpl::encode(const at::Tensor& features, const at::Tensor& feature_mask) {
  torch::NoGradGuard no_grad;
  const at::Tensor tokens = soft_tokens(encode_tower(features, feature_mask));
  AudioSoftTokens out;
  out.embeddings = tokens.reshape({-1, tokens.size(2)});
  out.tokens_per_clip.assign(static_cast<size_t>(tokens.size(0)), tokens_per_clip_);
  return out;
}

at::Tensor AudioTowerImpl::embed_hard_tokens(const at::Tensor& ids) {
  torch::NoGradGuard no_grad;
  return embed_audio->embed_hard(ids);
}

void AudioTowerImpl::init_random(at::Generator& gen) {
  // Gemma3nPreTrainedModel._init_weights on a fresh model: linear, convolution and embedding weights N(0, 0.02²)
  // (initializer_range; the audio config has none, so the library default 0.02), RMSNorm and cumulative group norm
  // scales 1, per_dim_scale 0.
  torch::NoGradGuard no_grad;
  constexpr double kStd = 0.02;
  for (auto& p : named_parameters(/*recurse=*/true)) {
    at::Tensor t = p.value();
    const std::string& name = p.key();
    if (name.size() >= 13 && name.compare(name.size() - 13, 13, "per_dim_scale") == 0) {
      t.zero_();
    } else if (t.dim() == 1) {
      t.fill_(1.0);
    } else if (t.device() == gen.device()) {
      t.normal_(0.0, kStd, gen);
    } else {  // a generator of another device: draw there in float32, then copy
      t.copy_(at::empty(t.sizes(), at::TensorOptions().dtype(at::kFloat).device(gen.device())).normal_(0.0, kStd, gen));
    }
  }
}

std::shared_ptr<AudioTower> make_gemma3n_audio_tower(const io::ModelConfig& cfg, at::ScalarType dtype,
                                                     at::Device device) {
  return std::make_shared<AudioTowerImpl>(cfg, at::TensorOptions().dtype(dtype).device(device));
}

}  // namespace gt::models::gemma3n
