// Gemma 4 audio encoder and audio tower, in the order of operations of transformers 5.17 Gemma4AudioModel and its
// parts. Dimension letters: B clips, T frames (feature frames, then tokens after the
// subsampler), D hidden, H heads, hd head dim, U attention blocks, C chunk (queries per block), W context keys per
// block (C + past + future), P relative distances (W/2 + 1).
#include "models/gemma4/audio.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "io/json_section.h"
#include "core/torch_compat.h"
#include "models/common/ops.h"

namespace gt::models::gemma4 {

// ---------------------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------------------

namespace {

using nlohmann::json;

// min(gradient_clipping, finfo(dtype).max), as every clamp of the encoder computes its bound.
double clip_bound(double gradient_clipping, at::ScalarType dtype) {
  return std::min(gradient_clipping, -torch_compat::lowest(dtype));
}

}  // namespace

AudioConfig parse_audio_config(const io::ModelConfig& cfg) {
  const std::string file = cfg.path.empty() ? std::string("config.json") : cfg.path;
  if (cfg.family != io::Family::Gemma4) fail_input(file, ": not a Gemma 4 config (model_type ", cfg.model_type, ")");
  if (!cfg.has_audio_config()) fail_input(file, ": has no audio_config; this model has no audio tower");
  const json j = io::JsonSection::parse_object(cfg.audio_config_json, cat(file, ": audio_config"));
  AudioConfig c;
  const io::JsonSection r(j, file, "audio_config.");
  r.read("hidden_size", c.hidden_size);
  r.read("num_hidden_layers", c.num_hidden_layers);
  r.read("num_attention_heads", c.num_attention_heads);
  r.read("hidden_act", c.hidden_act);
  r.read("subsampling_conv_channels", c.subsampling_conv_channels);
  r.read("conv_kernel_size", c.conv_kernel_size);
  r.read("residual_weight", c.residual_weight);
  r.read("attention_chunk_size", c.attention_chunk_size);
  r.read("attention_context_left", c.attention_context_left);
  r.read("attention_context_right", c.attention_context_right);
  r.read("attention_logit_cap", c.attention_logit_cap);
  r.read("attention_invalid_logits_value", c.attention_invalid_logits_value);
  r.read("use_clipped_linears", c.use_clipped_linears);
  r.read("rms_norm_eps", c.rms_norm_eps);
  r.read("gradient_clipping", c.gradient_clipping);
  r.read("output_proj_dims", c.output_proj_dims);
  r.read("initializer_range", c.initializer_range);

  if (c.hidden_size <= 0 || c.hidden_size % 2 != 0)
    fail_input(r.where("hidden_size"), " is ", c.hidden_size, ", expected a positive even number");
  if (c.num_attention_heads <= 0 || c.hidden_size % c.num_attention_heads != 0)
    fail_input(r.where("num_attention_heads"), " is ", c.num_attention_heads, ", expected a divisor of hidden_size ",
               c.hidden_size);
  if (c.num_hidden_layers < 0) fail_input(r.where("num_hidden_layers"), " is ", c.num_hidden_layers, ", expected >= 0");
  if (c.hidden_act != "silu" && c.hidden_act != "swish")
    fail_input(r.where("hidden_act"), " is \"", c.hidden_act, "\"; the Gemma 4 audio encoder uses silu");
  if (c.subsampling_conv_channels.size() != 2 || c.subsampling_conv_channels[0] < 4 ||
      c.subsampling_conv_channels[1] <= 0)
    fail_input(r.where("subsampling_conv_channels"), " is ", j.value("subsampling_conv_channels", json()).dump(),
               ", expected two channel counts, the first at least 4");
  if (c.conv_kernel_size <= 0) fail_input(r.where("conv_kernel_size"), " is ", c.conv_kernel_size, ", expected > 0");
  if (c.attention_chunk_size <= 0)
    fail_input(r.where("attention_chunk_size"), " is ", c.attention_chunk_size, ", expected > 0");
  if (c.attention_context_left < 1)
    fail_input(r.where("attention_context_left"), " is ", c.attention_context_left, ", expected >= 1");
  if (c.attention_context_right < 0)
    fail_input(r.where("attention_context_right"), " is ", c.attention_context_right, ", expected >= 0");
  if (!(c.attention_logit_cap > 0))
    fail_input(r.where("attention_logit_cap"), " is ", c.attention_logit_cap, ", expected > 0");
  if (c.output_proj_dims <= 0) fail_input(r.where("output_proj_dims"), " is ", c.output_proj_dims, ", expected > 0");
  return c;
}

// ---------------------------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------------------------

ClippableLinearImpl::ClippableLinearImpl(int64_t in_features, int64_t out_features, bool use_clipped_linears,
                                         const at::TensorOptions& opts) {
  linear = register_module("linear", LoraLinear(in_features, out_features, /*bias=*/false, opts));
  if (use_clipped_linears) {
    input_min = register_buffer("input_min", torch::empty({}, opts));
    input_max = register_buffer("input_max", torch::empty({}, opts));
    output_min = register_buffer("output_min", torch::empty({}, opts));
    output_max = register_buffer("output_max", torch::empty({}, opts));
    reset_bounds();
  }
}

void ClippableLinearImpl::reset_bounds() {
  if (!input_min.defined()) return;
  torch::NoGradGuard no_grad;
  const double inf = std::numeric_limits<double>::infinity();
  input_min.fill_(-inf);
  input_max.fill_(inf);
  output_min.fill_(-inf);
  output_max.fill_(inf);
}

at::Tensor ClippableLinearImpl::forward(const at::Tensor& x) {
  if (!input_min.defined()) return linear->forward(x);
  // Tensor bounds (no .item(): no device sync), in the model dtype as the checkpoint stores them.
  at::Tensor y = linear->forward(at::clamp(x, input_min, input_max));
  return at::clamp(y, output_min, output_max);
}

WeightImpl::WeightImpl(at::IntArrayRef shape, Init init_kind, const at::TensorOptions& opts) : init(init_kind) {
  weight = register_parameter("weight", init == Init::Ones ? torch::ones(shape, opts) : torch::empty(shape, opts),
                              /*requires_grad=*/false);
}

// ---------------------------------------------------------------------------------------------------------------
// Subsampler (Gemma4AudioSubSampleConvProjection)
// ---------------------------------------------------------------------------------------------------------------

AudioSubSampleLayerImpl::AudioSubSampleLayerImpl(int64_t in_channels, int64_t out_channels, double eps,
                                                 const at::TensorOptions& opts)
    : eps_(eps) {
  conv = register_module("conv", Weight(std::vector<int64_t>{out_channels, in_channels, 3, 3}, WeightImpl::Init::Normal, opts));
  norm = register_module("norm", Weight(std::vector<int64_t>{out_channels}, WeightImpl::Init::Ones, opts));
}

std::pair<at::Tensor, at::Tensor> AudioSubSampleLayerImpl::forward(const at::Tensor& x, const at::Tensor& mask) {
  // Padded frames are zeroed before each convolution, so they never reach a valid output frame.
  at::Tensor h = x * mask.unsqueeze(1).unsqueeze(-1);  // [B, C_in, T, F]
  h = at::conv2d(h.to(conv->weight.scalar_type()), conv->weight, /*bias=*/{}, /*stride=*/{2, 2}, /*padding=*/{1, 1});
  // LayerNorm over channels (scale only), in the channels-last view, then ReLU.
  h = at::layer_norm(h.permute({0, 2, 3, 1}), {h.size(1)}, norm->weight, /*bias=*/{}, eps_);
  h = at::relu(h.permute({0, 3, 1, 2})).contiguous();  // [B, C_out, ceil(T/2), ceil(F/2)]
  return {h, mask.slice(/*dim=*/1, /*start=*/0, /*end=*/c10::nullopt, /*step=*/2)};
}

AudioSubSampleConvProjectionImpl::AudioSubSampleConvProjectionImpl(const AudioConfig& c, const at::TensorOptions& opts) {
  const auto& ch = c.subsampling_conv_channels;
  layer0 = register_module("layer0", AudioSubSampleLayer(1, ch[0], c.rms_norm_eps, opts));
  layer1 = register_module("layer1", AudioSubSampleLayer(ch[0], ch[1], c.rms_norm_eps, opts));
  input_proj_linear = register_module(
      "input_proj_linear", LoraLinear(c.subsample_proj_inputs(), c.hidden_size, /*bias=*/false, opts));
}

std::pair<at::Tensor, at::Tensor> AudioSubSampleConvProjectionImpl::forward(const at::Tensor& features,
                                                                            const at::Tensor& mask) {
  auto [h, m] = layer0->forward(features.unsqueeze(1), mask);
  std::tie(h, m) = layer1->forward(h, m);
  const int64_t B = h.size(0), T = h.size(2);
  // [B, C1, T', F'] -> [B, T', F' * C1], frequency-major (f * C1 + c) as transformers flattens it
  h = h.permute({0, 2, 3, 1}).reshape({B, T, -1});
  return {input_proj_linear->forward(h), m};
}

// ---------------------------------------------------------------------------------------------------------------
// Conformer blocks
// ---------------------------------------------------------------------------------------------------------------

AudioFeedForwardImpl::AudioFeedForwardImpl(const AudioConfig& c, const at::TensorOptions& opts)
    : gradient_clipping_(c.gradient_clipping), residual_weight_(c.residual_weight) {
  const int64_t D = c.hidden_size;
  ffw_layer_1 = register_module("ffw_layer_1", ClippableLinear(D, 4 * D, c.use_clipped_linears, opts));
  ffw_layer_2 = register_module("ffw_layer_2", ClippableLinear(4 * D, D, c.use_clipped_linears, opts));
  pre_layer_norm = register_module("pre_layer_norm", RMSNorm(D, c.rms_norm_eps, true, opts));
  post_layer_norm = register_module("post_layer_norm", RMSNorm(D, c.rms_norm_eps, true, opts));
}

at::Tensor AudioFeedForwardImpl::forward(const at::Tensor& x) {
  const double gc = clip_bound(gradient_clipping_, x.scalar_type());
  at::Tensor h = pre_layer_norm->forward(at::clamp(x, -gc, gc));
  h = ffw_layer_2->forward(at::silu(ffw_layer_1->forward(h)));
  h = post_layer_norm->forward(at::clamp(h, -gc, gc));
  return h * residual_weight_ + x;
}

AudioAttentionImpl::AudioAttentionImpl(const AudioConfig& c, const at::TensorOptions& opts)
    : n_head_(c.num_attention_heads),
      head_dim_(c.head_dim()),
      chunk_(c.attention_chunk_size),
      past_(c.attention_context_left - 1),
      future_(c.attention_context_right),
      context_(c.attention_chunk_size + c.attention_context_left - 1 + c.attention_context_right),
      logit_cap_(c.attention_logit_cap),
      invalid_logit_(c.attention_invalid_logits_value) {
  const int64_t D = c.hidden_size;
  q_proj = register_module("q_proj", ClippableLinear(D, n_head_ * head_dim_, c.use_clipped_linears, opts));
  k_proj = register_module("k_proj", ClippableLinear(D, n_head_ * head_dim_, c.use_clipped_linears, opts));
  v_proj = register_module("v_proj", ClippableLinear(D, n_head_ * head_dim_, c.use_clipped_linears, opts));
  post = register_module("post", ClippableLinear(D, D, c.use_clipped_linears, opts));
  relative_k_proj = register_module("relative_k_proj", LoraLinear(D, n_head_ * head_dim_, /*bias=*/false, opts));
  per_dim_scale = register_parameter("per_dim_scale", torch::zeros({head_dim_}, opts), /*requires_grad=*/false);
}

at::Tensor AudioAttentionImpl::to_blocks(const at::Tensor& x) const {
  // _convert_to_block: pad T up to U * C, split into U blocks of C queries.
  const int64_t B = x.size(0), T = x.size(1), U = (T + chunk_ - 1) / chunk_;
  return at::constant_pad_nd(x, {0, 0, 0, 0, 0, U * chunk_ - T}).reshape({B, U, chunk_, x.size(2), x.size(3)});
}

at::Tensor AudioAttentionImpl::to_contexts(const at::Tensor& x) const {
  // _extract_block_context: block u sees keys u*C - past .. u*C + C + future - 1 (zeros outside the sequence).
  at::Tensor p = at::constant_pad_nd(x, {0, 0, 0, 0, past_, future_ + chunk_ - 1});
  return p.unfold(/*dim=*/1, /*size=*/context_, /*step=*/chunk_).movedim(-1, 2);  // [B, U, W, H, hd]
}

at::Tensor AudioAttentionImpl::relative_shift(const at::Tensor& x) const {
  // _rel_shift (Transformer-XL appendix B): the score of relative row p for query c lands in context slot
  // c + (P - 1) - p, i.e. slot j holds distance query - key = c - j + past; slots of other distances get 0.
  const int64_t B = x.size(0), H = x.size(1), U = x.size(2), C = x.size(3), P = x.size(4);
  at::Tensor p = at::constant_pad_nd(x, {0, context_ + 1 - P});
  p = p.reshape({B, H, U, C * (context_ + 1)}).slice(-1, 0, C * context_);
  return p.reshape({B, H, U, C, context_});
}

at::Tensor AudioAttentionImpl::forward(const at::Tensor& x, const at::Tensor& position_embeddings,
                                       const at::Tensor& invalid) {
  const int64_t B = x.size(0), T = x.size(1);
  // q, k, v and everything up to the context vectors in float32, whatever the weight dtype.
  at::Tensor q = q_proj->forward(x).to(at::kFloat).view({B, T, n_head_, head_dim_});
  at::Tensor k = k_proj->forward(x).to(at::kFloat).view({B, T, n_head_, head_dim_});
  at::Tensor v = v_proj->forward(x).to(at::kFloat).view({B, T, n_head_, head_dim_});
  const double q_scale = std::pow(static_cast<double>(head_dim_), -0.5) / std::log(2.0);
  const double k_scale = std::log(1.0 + std::exp(1.0)) / std::log(2.0);
  q = q * q_scale * at::softplus(per_dim_scale);
  k = k * k_scale;

  at::Tensor queries = to_blocks(q).permute({0, 3, 1, 2, 4});  // [B, H, U, C, hd]
  at::Tensor keys = to_contexts(k);                             // [B, U, W, H, hd]
  at::Tensor values = to_contexts(v);
  const int64_t U = queries.size(2);

  at::Tensor rel = relative_k_proj->forward(position_embeddings).view({-1, n_head_, head_dim_}).to(at::kFloat);  // [P, H, hd]
  at::Tensor content = at::matmul(queries, keys.permute({0, 3, 1, 4, 2}));  // [B, H, U, C, W]
  at::Tensor position = at::matmul(queries.reshape({B, n_head_, U * chunk_, head_dim_}), rel.permute({1, 2, 0}));
  position = relative_shift(position.reshape({B, n_head_, U, chunk_, -1}));  // [B, H, U, C, W]

  at::Tensor logits = soft_cap(content + position, logit_cap_);
  logits = logits.masked_fill(invalid, invalid_logit_);
  at::Tensor probs = at::softmax(logits, -1, at::kFloat);
  at::Tensor o = at::matmul(probs, values.permute({0, 3, 1, 2, 4}));  // [B, H, U, C, hd]
  o = o.permute({0, 2, 3, 1, 4}).reshape({B, U * chunk_, n_head_ * head_dim_}).slice(1, 0, T);
  return post->forward(o.to(x.scalar_type()));
}

AudioLightConv1dImpl::AudioLightConv1dImpl(const AudioConfig& c, const at::TensorOptions& opts)
    : gradient_clipping_(c.gradient_clipping) {
  const int64_t D = c.hidden_size;
  linear_start = register_module("linear_start", ClippableLinear(D, 2 * D, c.use_clipped_linears, opts));
  linear_end = register_module("linear_end", ClippableLinear(D, D, c.use_clipped_linears, opts));
  depthwise_conv1d = register_module(
      "depthwise_conv1d", Weight(std::vector<int64_t>{D, 1, c.conv_kernel_size}, WeightImpl::Init::Normal, opts));
  pre_layer_norm = register_module("pre_layer_norm", RMSNorm(D, c.rms_norm_eps, true, opts));
  conv_norm = register_module("conv_norm", RMSNorm(D, c.rms_norm_eps, true, opts));
}

at::Tensor AudioLightConv1dImpl::forward(const at::Tensor& x) {
  const at::Tensor& w = depthwise_conv1d->weight;
  const int64_t D = w.size(0), K = w.size(2);
  at::Tensor h = at::glu(linear_start->forward(pre_layer_norm->forward(x)), -1);  // [B, T, D]
  // Causal depthwise convolution: K - 1 zeros on the left of the time axis, none on the right.
  h = at::constant_pad_nd(h.transpose(1, 2), {K - 1, 0});
  const std::vector<int64_t> one{1}, zero{0};
  h = at::conv1d(h, w, /*bias=*/{}, /*stride=*/one, /*padding=*/zero, /*dilation=*/one, /*groups=*/D).transpose(1, 2);
  const double gc = clip_bound(gradient_clipping_, h.scalar_type());
  h = conv_norm->forward(at::clamp(h, -gc, gc));
  return linear_end->forward(at::silu(h)) + x;
}

AudioLayerImpl::AudioLayerImpl(const AudioConfig& c, const at::TensorOptions& opts)
    : gradient_clipping_(c.gradient_clipping) {
  const int64_t D = c.hidden_size;
  feed_forward1 = register_module("feed_forward1", AudioFeedForward(c, opts));
  feed_forward2 = register_module("feed_forward2", AudioFeedForward(c, opts));
  self_attn = register_module("self_attn", AudioAttention(c, opts));
  lconv1d = register_module("lconv1d", AudioLightConv1d(c, opts));
  norm_pre_attn = register_module("norm_pre_attn", RMSNorm(D, c.rms_norm_eps, true, opts));
  norm_post_attn = register_module("norm_post_attn", RMSNorm(D, c.rms_norm_eps, true, opts));
  norm_out = register_module("norm_out", RMSNorm(D, c.rms_norm_eps, true, opts));
}

at::Tensor AudioLayerImpl::forward(const at::Tensor& x, const at::Tensor& invalid,
                                   const at::Tensor& position_embeddings) {
  const double gc = clip_bound(gradient_clipping_, norm_pre_attn->weight.scalar_type());
  at::Tensor h = feed_forward1->forward(x);
  const at::Tensor residual = h;
  h = self_attn->forward(norm_pre_attn->forward(at::clamp(h, -gc, gc)), position_embeddings, invalid);
  h = norm_post_attn->forward(at::clamp(h, -gc, gc)) + residual;
  h = lconv1d->forward(h);
  h = feed_forward2->forward(h);
  return norm_out->forward(at::clamp(h, -gc, gc));
}

// ---------------------------------------------------------------------------------------------------------------
// Encoder (Gemma4AudioModel)
// ---------------------------------------------------------------------------------------------------------------

AudioModelImpl::AudioModelImpl(const AudioConfig& c, const at::TensorOptions& opts) : cfg_(c) {
  subsample_conv_projection = register_module("subsample_conv_projection", AudioSubSampleConvProjection(c, opts));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) layers->push_back(AudioLayer(c, opts));
  output_proj = register_module("output_proj", LoraLinear(c.hidden_size, c.output_proj_dims, /*bias=*/true, opts));
}

at::Tensor AudioModelImpl::relative_position_embeddings(at::ScalarType dtype, at::Device device) const {
  // Gemma4AudioRelPositionalEncoding: inv_timescales computed in float32 and held in the model dtype; distances
  // context/2 .. 0 times them, then [sin, cos].
  const int64_t half = cfg_.hidden_size / 2;
  const int64_t context = cfg_.attention_chunk_size + cfg_.attention_context_left - 1 + cfg_.attention_context_right;
  const double increment = std::log(10000.0 / 1.0) / static_cast<double>(std::max<int64_t>(half - 1, 1));
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);
  at::Tensor inv = at::exp(at::arange(half, f32) * -increment).to(dtype);                          // [half]
  at::Tensor distance = at::arange(context / 2, -1, -1, f32.dtype(at::kLong)).to(dtype).unsqueeze(1);  // [P, 1]
  at::Tensor scaled = distance * inv.unsqueeze(0);                                                   // [P, half]
  return at::cat({at::sin(scaled), at::cos(scaled)}, -1);                                            // [P, D]
}

at::Tensor AudioModelImpl::blocked_attention_mask(const at::Tensor& mask) const {
  // create_bidirectional_mask(padding of the keys, and sliding_window_mask_function((left - 1, right))) followed by
  // _convert_4d_mask_to_blocked_5d, built directly in the blocked layout: query t = u*C + c, key s = u*C + j - past.
  const int64_t T = mask.size(1), C = cfg_.attention_chunk_size, past = cfg_.attention_context_left - 1,
                future = cfg_.attention_context_right, W = C + past + future, U = (T + C - 1) / C;
  const auto longs = at::TensorOptions().dtype(at::kLong).device(mask.device());
  // key s is a valid frame of the clip (false outside 0 <= s < T)
  at::Tensor key_valid = at::constant_pad_nd(mask.to(at::kByte), {past, future + C - 1}, 0)
                             .unfold(1, W, C).to(at::kBool);  // [B, U, W]
  at::Tensor distance = at::arange(C, longs).view({C, 1}) - at::arange(W, longs).view({1, W}) + past;  // t - s
  at::Tensor window = ((distance >= 0) & (distance < past)) | ((distance < 0) & (-distance < future));  // [C, W]
  at::Tensor query_inside = (at::arange(U * C, longs) < T).view({1, U, C, 1});
  return (key_valid.unsqueeze(2) & window.view({1, 1, C, W}) & query_inside).unsqueeze(1);  // [B, 1, U, C, W]
}

AudioEncoderOutput AudioModelImpl::forward(const at::Tensor& features, const at::Tensor& mask, Trace* trace) {
  auto [h, m] = subsample_conv_projection->forward(features, mask);  // [B, T', D], [B, T']
  if (trace) trace->emplace_back("subsample", h);
  const at::Tensor position_embeddings = relative_position_embeddings(h.scalar_type(), h.device());
  const at::Tensor invalid = blocked_attention_mask(m).logical_not();
  for (size_t l = 0; l < layers->size(); ++l) {
    h = layers->ptr<AudioLayerImpl>(l)->forward(h, invalid, position_embeddings);
    if (trace) trace->emplace_back(cat("layers.", l), h);
  }
  return {output_proj->forward(h), m};
}

// ---------------------------------------------------------------------------------------------------------------
// Audio tower = encoder + embedder
// ---------------------------------------------------------------------------------------------------------------

AudioTowerImpl::AudioTowerImpl(const AudioConfig& c, int64_t text_hidden_size, const at::TensorOptions& opts)
    : cfg_(c) {
  audio_tower = register_module("audio_tower", AudioModel(c, opts));
  embed_audio = register_module("embed_audio", MultimodalEmbedder(c.output_proj_dims, text_hidden_size, c.rms_norm_eps, opts));
  for (auto& p : parameters()) p.set_requires_grad(false);
}

AudioSoftTokens AudioTowerImpl::encode(const at::Tensor& features, const at::Tensor& feature_mask) {
  torch::NoGradGuard no_grad;
  GT_CHECK(features.dim() == 3 && features.is_floating_point(), "features must be [N_clips, T_frames, n_mel] floats, got ",
           features.sizes(), " ", features.scalar_type());
  GT_CHECK(feature_mask.dim() == 2 && feature_mask.size(0) == features.size(0) &&
               feature_mask.size(1) == features.size(1),
           "feature_mask must be [N_clips, T_frames] = ", features.sizes().slice(0, 2), ", got ", feature_mask.sizes());
  const LoraLinear& proj = audio_tower->subsample_conv_projection->input_proj_linear;
  const int64_t n_mel = features.size(2), channels = cfg_.subsampling_conv_channels[1];
  const int64_t rows = ((n_mel + 1) / 2 + 1) / 2;  // frequency rows after the two stride-2 convolutions
  if (rows * channels != proj->in_features())
    fail_input("audio features have ", n_mel, " mel bins, which the subsampler turns into ", rows, " x ", channels,
               " = ", rows * channels, " inputs of model.audio_tower.subsample_conv_projection.input_proj_linear, but "
               "its weight takes ", proj->in_features(), " (audio_config.subsampling_conv_channels [",
               cfg_.subsampling_conv_channels[0], ", ", channels, "] expects ", 4 * (proj->in_features() / channels),
               " mel bins)");

  const at::Tensor& w = proj->weight;
  const int64_t n_clips = features.size(0);
  AudioSoftTokens out;
  if (n_clips == 0 || features.size(1) == 0) {
    out.embeddings = at::empty({0, embed_audio->embedding_projection->out_features()}, w.options());
    out.tokens_per_clip.assign(n_clips, 0);
    return out;
  }
  const at::Tensor mask = feature_mask.to(w.device()).to(at::kBool);
  AudioEncoderOutput enc = audio_tower->forward(features.to(w.device()), mask);
  // Gemma4Model.forward keeps only the valid tokens: audio_features[audio_mask_from_encoder], clip after clip.
  out.embeddings = embed_audio->forward(enc.hidden).index({enc.mask});  // [sum(tokens), text hidden]
  const at::Tensor counts = enc.mask.sum(1).to(at::kLong).cpu();
  out.tokens_per_clip.assign(counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + n_clips);
  return out;
}

void AudioTowerImpl::init_random(at::Generator& gen) {
  torch::NoGradGuard no_grad;
  const double std = cfg_.initializer_range;  // Gemma4Config and Gemma4AudioConfig both default to 0.02
  for (const auto& m : modules(/*include_self=*/false)) {
    if (auto* lin = dynamic_cast<LoraLinearImpl*>(m.get())) {
      lin->weight.normal_(0.0, std, gen);
      if (lin->bias.defined()) lin->bias.zero_();
    } else if (auto* norm = dynamic_cast<RMSNormImpl*>(m.get())) {
      if (norm->weight.defined()) norm->weight.fill_(1.0);
    } else if (auto* wt = dynamic_cast<WeightImpl*>(m.get())) {
      if (wt->init == WeightImpl::Init::Ones) wt->weight.fill_(1.0);
      else wt->weight.normal_(0.0, std, gen);
    } else if (auto* clip = dynamic_cast<ClippableLinearImpl*>(m.get())) {
      clip->reset_bounds();
    } else if (auto* attn = dynamic_cast<AudioAttentionImpl*>(m.get())) {
      attn->per_dim_scale.zero_();
    }
  }
}

std::shared_ptr<AudioTower> make_gemma4_audio_tower(const io::ModelConfig& cfg, at::ScalarType dtype,
                                                    at::Device device) {
  const AudioConfig c = parse_audio_config(cfg);
  return std::make_shared<AudioTowerImpl>(c, cfg.text.hidden_size, at::TensorOptions().dtype(dtype).device(device));
}

}  // namespace gt::models::gemma4
