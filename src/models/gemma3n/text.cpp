// Gemma 3n text decoder, in the order of operations of transformers 5.17 Gemma3nTextModel /
// Gemma3nTextDecoderLayer. Dimension letters: N AltUp streams (4), B batch, T tokens, D hidden,
// H query heads, KV key/value heads, hd head dim, L layers, P per-layer input size.
#include "models/gemma3n/text.h"

#include <cmath>

#include "core/error.h"
#include "models/common/attention.h"
#include "models/common/ops.h"
#include "models/common/rope.h"

namespace gt::models::gemma3n {

using io::LayerType;

namespace {
// Streams are taken out of [N, B, T, D] stacks by unbind, once per stack, never by t[i]: the backward pass of t[i]
// (SelectBackward) writes its gradient into a zero-filled tensor of the whole stack, and autograd then adds those
// whole-stack tensors together, once for each use; unbind's gradient is one stack of the streams' gradients.
std::vector<at::Tensor> streams_of(const at::Tensor& stack) { return stack.unbind(0); }
// A stack of which only one stream is read, once: select's backward is one zero-filled stack and one copy, where
// unbind's would zero-fill each of the other streams and then stack all of them.
at::Tensor only_stream(const at::Tensor& stack, int64_t i) { return stack.select(0, i); }

// A float32 constant stored in a buffer that follows the model dtype (bf16 in a bf16 model), as the scalar that
// multiplies `like`: a tensor times a scalar computes in float32 with the scalar's float value, the same arithmetic as
// times a 0-d tensor of like's dtype, without making that tensor on the device (two kernels a use, four a layer).
double dtype_constant(double value, const at::Tensor& like) { return round_to(value, like.scalar_type()); }
}  // namespace

TextAttentionImpl::TextAttentionImpl(const io::TextConfig& c, int64_t l, const at::TensorOptions& opts)
    : head_dim(c.head_dim), sliding(c.layer_types[l] == LayerType::Sliding), kv_shared(c.is_kv_shared(l)) {
  const int64_t D = c.hidden_size;
  q_proj = register_module("q_proj", LoraLinear(D, c.num_attention_heads * head_dim, false, opts));
  q_norm = register_module("q_norm", RMSNorm(head_dim, c.rms_norm_eps, true, opts));
  // In 5.17 KV-shared layers have no key/value modules (released checkpoints still carry the tensors; unused).
  if (!kv_shared) {
    k_proj = register_module("k_proj", LoraLinear(D, c.num_key_value_heads * head_dim, false, opts));
    v_proj = register_module("v_proj", LoraLinear(D, c.num_key_value_heads * head_dim, false, opts));
    k_norm = register_module("k_norm", RMSNorm(head_dim, c.rms_norm_eps, true, opts));
    v_norm = register_module("v_norm", RMSNorm(head_dim, c.rms_norm_eps, false, opts));
  }
  o_proj = register_module("o_proj", LoraLinear(c.num_attention_heads * head_dim, D, false, opts));
}

TextMLPImpl::TextMLPImpl(int64_t hidden, int64_t intermediate, double sparsity, const at::TensorOptions& opts)
    : activation_sparsity(sparsity) {
  gate_proj = register_module("gate_proj", LoraLinear(hidden, intermediate, false, opts));
  up_proj = register_module("up_proj", LoraLinear(hidden, intermediate, false, opts));
  down_proj = register_module("down_proj", LoraLinear(intermediate, hidden, false, opts));
}

at::Tensor TextMLPImpl::forward(const at::Tensor& x) {
  at::Tensor gate = gate_proj->forward(x);
  if (activation_sparsity > 0.0) {
    // Gaussian top-k: keep what lies above mean + std * Phi^-1(sparsity); the quantile is computed in float32
    // (Normal(0, 1).icdf) and rounded to the activation dtype.
    at::Tensor p = at::scalar_tensor(static_cast<float>(activation_sparsity), gate.options().dtype(at::kFloat));
    at::Tensor multiplier = (at::erfinv(p * 2 - 1) * std::sqrt(2.0)).to(gate.scalar_type());
    at::Tensor mean = gate.mean(-1, true);
    at::Tensor stddev = gate.std(-1, /*unbiased=*/false, /*keepdim=*/true);
    gate = at::relu(gate - (mean + stddev * multiplier));
  }
  return down_proj->forward(gelu_tanh_mul(gate, up_proj->forward(x)));
}

TextAltUpImpl::TextAltUpImpl(const io::TextConfig& c, const at::TensorOptions& opts)
    : n_(c.altup_num_inputs),
      active_(c.altup_active_idx),
      coef_clip_(c.altup_coef_clip),
      router_input_scale_(1.0 / static_cast<double>(c.hidden_size)) {
  const int64_t D = c.hidden_size;
  correct_output_scale = register_parameter("correct_output_scale", torch::zeros({D}, opts), /*requires_grad=*/false);
  correction_coefs = register_module("correction_coefs", LoraLinear(n_, n_, false, opts));
  prediction_coefs = register_module("prediction_coefs", LoraLinear(n_, n_ * n_, false, opts));
  modality_router = register_module("modality_router", LoraLinear(D, n_, false, opts));
  router_norm = register_module("router_norm", RMSNorm(D, c.rms_norm_eps, true, opts));
}

at::Tensor TextAltUpImpl::compute_router_modalities(const at::Tensor& x) {
  at::Tensor inputs = router_norm->forward(x) * dtype_constant(router_input_scale_, x);
  return at::tanh(modality_router->forward(inputs).to(at::kFloat)).to(x.scalar_type());
}

at::Tensor TextAltUpImpl::predict(const at::Tensor& streams) {
  at::Tensor modalities = compute_router_modalities(only_stream(streams, active_));  // [B, T, N]
  at::Tensor w = prediction_coefs->base_weight();
  // HF clamps the coefficients (in place) only in training mode; released weights are already inside the bound.
  if (is_training() && coef_clip_ > 0) w = w.clamp(-coef_clip_, coef_clip_);
  at::Tensor coefs = at::linear(modalities, w);  // [B, T, N*N]
  std::vector<int64_t> shape = modalities.sizes().vec();
  shape.back() = n_;
  shape.push_back(n_);
  coefs = coefs.reshape(shape).permute({0, 1, 3, 2});  // [B, T, N(in), N(out)]
  at::Tensor pred = at::matmul(streams.permute({1, 2, 3, 0}), coefs);  // [B, T, D, N]
  // streams first: the sum takes the contiguous operand's layout, so contiguous() copies nothing (the permuted
  // product first made a [B, T, D, N]-ordered sum and then a whole-stack copy, each layer).
  return (streams + pred.permute({3, 0, 1, 2})).contiguous().to(streams.scalar_type());
}

at::Tensor TextAltUpImpl::correct(const at::Tensor& predictions, const at::Tensor& predicted_active,
                                  const at::Tensor& activated) {
  at::Tensor modalities = compute_router_modalities(activated);
  at::Tensor innovation = activated - predicted_active;  // [B, T, D]
  at::Tensor w = correction_coefs->base_weight();
  if (is_training() && coef_clip_ > 0) w = w.clamp(-coef_clip_, coef_clip_);
  at::Tensor coefs = at::linear(modalities, w) + 1.0;        // [B, T, N]
  coefs = coefs.permute({2, 0, 1}).unsqueeze(-1);            // [N, B, T, 1]
  at::Tensor corrected = innovation.unsqueeze(0) * coefs + predictions;
  return corrected.contiguous().to(activated.scalar_type());
}

at::Tensor TextAltUpImpl::scale_corrected_output(const at::Tensor& x) {
  return (x.to(correct_output_scale.scalar_type()) * correct_output_scale).to(x.scalar_type());
}

TextLaurelBlockImpl::TextLaurelBlockImpl(const io::TextConfig& c, const at::TensorOptions& opts) {
  linear_left = register_module("linear_left", LoraLinear(c.hidden_size, c.laurel_rank, false, opts));
  linear_right = register_module("linear_right", LoraLinear(c.laurel_rank, c.hidden_size, false, opts));
  post_laurel_norm = register_module("post_laurel_norm", RMSNorm(c.hidden_size, c.rms_norm_eps, true, opts));
}

at::Tensor TextLaurelBlockImpl::forward(const at::Tensor& x) {
  return x + post_laurel_norm->forward(linear_right->forward(linear_left->forward(x)));
}

TextDecoderLayerImpl::TextDecoderLayerImpl(const io::TextConfig& c, int64_t l, const at::TensorOptions& opts) {
  const int64_t D = c.hidden_size, P = c.hidden_size_per_layer_input;
  const double eps = c.rms_norm_eps;
  self_attn = register_module("self_attn", TextAttention(c, l, opts));
  mlp = register_module("mlp", TextMLP(D, c.layer_intermediate_size[l], c.activation_sparsity_pattern[l], opts));
  input_layernorm = register_module("input_layernorm", RMSNorm(D, eps, true, opts));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(D, eps, true, opts));
  pre_feedforward_layernorm = register_module("pre_feedforward_layernorm", RMSNorm(D, eps, true, opts));
  post_feedforward_layernorm = register_module("post_feedforward_layernorm", RMSNorm(D, eps, true, opts));
  altup = register_module("altup", TextAltUp(c, opts));
  laurel = register_module("laurel", TextLaurelBlock(c, opts));
  per_layer_input_gate = register_module("per_layer_input_gate", LoraLinear(D, P, false, opts));
  per_layer_projection = register_module("per_layer_projection", LoraLinear(P, D, false, opts));
  post_per_layer_input_norm = register_module("post_per_layer_input_norm", RMSNorm(D, eps, true, opts));
}

TextModelImpl::TextModelImpl(const io::ModelConfig& cfg, const at::TensorOptions& opts,
                             const at::TensorOptions& table_opts)
    : cfg_(cfg) {
  const io::TextConfig& c = cfg.text;
  const int64_t D = c.hidden_size, L = c.num_hidden_layers, P = c.hidden_size_per_layer_input;
  embed_tokens = register_module("embed_tokens", Embedding(c.vocab_size, D, opts));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < L; ++l) layers->push_back(TextDecoderLayer(c, l, opts));
  norm = register_module("norm", RMSNorm(D, c.rms_norm_eps, true, opts));
  embed_tokens_per_layer =
      register_module("embed_tokens_per_layer", Embedding(c.vocab_size_per_layer_input, L * P, table_opts));
  per_layer_model_projection = register_module("per_layer_model_projection", LoraLinear(D, L * P, false, opts));
  per_layer_projection_norm = register_module("per_layer_projection_norm", RMSNorm(P, c.rms_norm_eps, true, opts));
  altup_projections = register_module("altup_projections", torch::nn::ModuleList());
  altup_unembed_projections = register_module("altup_unembed_projections", torch::nn::ModuleList());
  for (int64_t i = 1; i < c.altup_num_inputs; ++i) {
    altup_projections->push_back(LoraLinear(D, D, false, opts));
    altup_unembed_projections->push_back(LoraLinear(D, D, false, opts));
  }
}

at::Tensor TextModelImpl::embed(const at::Tensor& ids) {
  return embed_tokens->forward_scaled(ids, std::sqrt(static_cast<double>(cfg_.text.hidden_size)));
}

at::Tensor TextModelImpl::per_layer_inputs(const at::Tensor& ids, const at::Tensor& x0, const at::Tensor& host_ids) {
  const io::TextConfig& c = cfg_.text;
  const int64_t L = c.num_hidden_layers, P = c.hidden_size_per_layer_input;
  // Ids without a row in the per-layer table (multimodal hard tokens) read row 0, as Gemma3nModel does.
  auto in_table = [&](const at::Tensor& t) {
    return at::where((t >= 0) & (t < c.vocab_size_per_layer_input), t, at::zeros_like(t));
  };
  const at::Tensor ple_ids = in_table(ids);
  std::vector<int64_t> shape = ids.sizes().vec();
  shape.push_back(L);
  shape.push_back(P);
  at::Tensor tok =
      embed_tokens_per_layer
          ->forward_scaled(ple_ids, std::sqrt(static_cast<double>(P)), host_ids.defined() ? in_table(host_ids) : host_ids)
          .reshape(shape);  // [B, T, L, P]
  // 3n's scales are float32 buffers cast to the activation dtype at use (bf16-rounded in a bf16 model).
  at::Tensor proj = per_layer_model_projection->forward(x0) *
                    dtype_constant(std::pow(static_cast<double>(c.hidden_size), -0.5), x0);
  proj = per_layer_projection_norm->forward(proj.reshape(shape));
  at::Tensor rsqrt2 = at::rsqrt(at::scalar_tensor(2.0f, x0.options().dtype(at::kFloat))).to(x0.scalar_type());
  return (proj + tok) * rsqrt2;
}

at::Tensor TextModelImpl::rescale_to(const at::Tensor& x, const at::Tensor& target_magnitude) {
  at::Tensor eps = at::scalar_tensor(1e-5f, x.options().dtype(at::kFloat));
  at::Tensor mag = at::sqrt(at::maximum(x.pow(2).mean(-1, true), eps.to(x.scalar_type())));
  return x * target_magnitude / mag;
}

at::Tensor TextModelImpl::layer_forward(int64_t l, const at::Tensor& streams, const at::Tensor& ple, const at::Tensor& mask,
                                        const RopeTable& rope, const KeyValue* shared_in, KeyValue* shared_out,
                                        KvCache* cache) {
  auto layer = layers->ptr<TextDecoderLayerImpl>(l);
  auto& attn = *layer->self_attn;
  const io::TextConfig& c = cfg_.text;
  const int64_t B = streams.size(1), T = streams.size(2);

  // --- AltUp predict
  at::Tensor predictions = layer->altup->predict(streams);  // [N, B, T, D]
  at::Tensor active = only_stream(predictions, c.altup_active_idx);
  at::Tensor active_normed = layer->input_layernorm->forward(active);
  at::Tensor laurel = layer->laurel->forward(active_normed);

  // --- attention
  at::Tensor q = attn.q_proj->forward(active_normed).view({B, T, -1, attn.head_dim});
  q = apply_rope(attn.q_norm->forward(q).transpose(1, 2), rope);  // [B, H, T, hd]
  at::Tensor k, v;
  if (attn.kv_shared) {
    GT_CHECK(shared_in, "KV-shared layer ", l, " without its source's keys and values");
    std::tie(k, v) = *shared_in;
  } else {
    k = attn.k_norm->forward(attn.k_proj->forward(active_normed).view({B, T, -1, attn.head_dim})).transpose(1, 2);
    k = apply_rope(k, rope);
    v = attn.v_norm->forward(attn.v_proj->forward(active_normed).view({B, T, -1, attn.head_dim})).transpose(1, 2);
    if (cache) std::tie(k, v) = cache->append(l, k, v);
    if (shared_out) *shared_out = {k, v};
  }
  at::Tensor o = attention(q, k, v, mask, /*scale=*/1.0);
  AttentionCapture::offer(l, q, k, mask, /*scale=*/1.0);  // the live page's probe, when one is alive
  o = attn.o_proj->forward(o.transpose(1, 2).reshape({B, T, -1}));
  at::Tensor attn_out = layer->post_attention_layernorm->forward(o);

  // (a + att + laurel) / sqrt(2), one rounding per op as in HF
  at::Tensor attn_laurel = ((active + attn_out) + laurel) / std::sqrt(2.0);

  // --- MLP
  at::Tensor ffw = layer->post_feedforward_layernorm->forward(
      layer->mlp->forward(layer->pre_feedforward_layernorm->forward(attn_laurel)));
  at::Tensor activated = attn_laurel + ffw;

  // --- AltUp correct, then the per-layer input goes into streams 1..N-1
  at::Tensor corrected = layer->altup->correct(predictions, active, activated);  // [N, B, T, D]
  std::vector<at::Tensor> out = streams_of(corrected);
  at::Tensor first = out[c.altup_active_idx];
  if (c.altup_correct_scale) first = layer->altup->scale_corrected_output(first);
  at::Tensor g = gelu_tanh(layer->per_layer_input_gate->forward(first)) * ple;
  g = layer->post_per_layer_input_norm->forward(layer->per_layer_projection->forward(g));
  // corrected[1:] += g, without in-place writes into a tensor autograd still needs.
  for (int64_t i = 1; i < c.altup_num_inputs; ++i) out[i] = out[i] + g;
  return at::stack(out, 0);
}

at::Tensor TextModelImpl::forward(const TextInputs& in, Trace* trace) {
  const io::TextConfig& c = cfg_.text;
  at::Tensor ids = in.input_ids;
  at::Tensor x0 = in.inputs_embeds.defined() ? in.inputs_embeds : embed(ids);  // [B, T, D]
  const int64_t B = x0.size(0), T = x0.size(1);
  at::Tensor ple = per_layer_inputs(ids, x0, in.input_ids_host);  // [B, T, L, P]

  // AltUp expansion: stream 0 is the embedding, streams 1..N-1 its projections scaled to the same magnitude.
  at::Tensor target = x0.pow(2).mean(-1, true).pow(0.5);
  std::vector<at::Tensor> expanded{x0};
  for (int64_t i = 1; i < c.altup_num_inputs; ++i)
    expanded.push_back(rescale_to(altup_projections->ptr<LoraLinearImpl>(i - 1)->forward(x0), target));
  at::Tensor streams = at::stack(expanded, 0);  // [N, B, T, D]

  StackContext ctx = stack_context(c, in, B, T, x0.scalar_type(), x0.device());
  LayerFn fn = [this](int64_t l, const at::Tensor& s, const at::Tensor& p, const at::Tensor& m, const RopeTable& r,
                      const KeyValue* kv_in, KeyValue* kv_out,
                      KvCache* cache) { return layer_forward(l, s, p, m, r, kv_in, kv_out, cache); };
  streams = run_layer_stack(c, streams, ple, ctx, checkpointing_ && is_training(), fn, trace);

  // Streams back to one: unembed projections scaled to stream 0's magnitude, then the mean of the four.
  std::vector<at::Tensor> back = streams_of(streams);
  at::Tensor target_out = back[0].pow(2).mean(-1, true).pow(0.5);
  for (int64_t i = 1; i < c.altup_num_inputs; ++i)
    back[i] = rescale_to(altup_unembed_projections->ptr<LoraLinearImpl>(i - 1)->forward(back[i]), target_out);
  at::Tensor h = at::stack(back, 0).mean(0);
  return norm->forward(h);
}

}  // namespace gt::models::gemma3n
