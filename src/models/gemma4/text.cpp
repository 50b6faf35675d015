// Gemma 4 text decoder, in the order of operations of transformers 5.17 Gemma4TextModel / Gemma4TextDecoderLayer
//. Dimension letters: B batch, T tokens, D hidden, H query heads, KV key/value heads, hd head dim,
// L layers, P per-layer input size.
#include "models/gemma4/text.h"

#include <cmath>

#include "core/error.h"
#include "models/common/attention.h"
#include "models/common/ops.h"
#include "models/common/rope.h"

namespace gt::models::gemma4 {

using io::LayerType;

TextAttentionImpl::TextAttentionImpl(const io::TextConfig& c, int64_t l, const at::TensorOptions& opts)
    : layer(l),
      head_dim(c.layer_head_dim[l]),
      n_head(c.num_attention_heads),
      n_kv_head(c.layer_num_kv_heads[l]),
      sliding(c.layer_types[l] == LayerType::Sliding),
      kv_shared(c.is_kv_shared(l)) {
  const int64_t D = c.hidden_size;
  q_proj = register_module("q_proj", LoraLinear(D, n_head * head_dim, false, opts));
  q_norm = register_module("q_norm", RMSNorm(head_dim, c.rms_norm_eps, true, opts));
  // KV-shared layers own no key/value weights: they use their source layer's keys and values.
  if (!kv_shared) {
    k_proj = register_module("k_proj", LoraLinear(D, n_kv_head * head_dim, false, opts));
    v_proj = register_module("v_proj", LoraLinear(D, n_kv_head * head_dim, false, opts));
    k_norm = register_module("k_norm", RMSNorm(head_dim, c.rms_norm_eps, true, opts));
    v_norm = register_module("v_norm", RMSNorm(head_dim, c.rms_norm_eps, false, opts));
  }
  o_proj = register_module("o_proj", LoraLinear(n_head * head_dim, D, false, opts));
}

TextMLPImpl::TextMLPImpl(int64_t hidden, int64_t intermediate, const at::TensorOptions& opts) {
  gate_proj = register_module("gate_proj", LoraLinear(hidden, intermediate, false, opts));
  up_proj = register_module("up_proj", LoraLinear(hidden, intermediate, false, opts));
  down_proj = register_module("down_proj", LoraLinear(intermediate, hidden, false, opts));
}

at::Tensor TextMLPImpl::forward(const at::Tensor& x) {
  return down_proj->forward(gelu_tanh_mul(gate_proj->forward(x), up_proj->forward(x)));
}

TextDecoderLayerImpl::TextDecoderLayerImpl(const io::TextConfig& c, int64_t l, const at::TensorOptions& opts) {
  const int64_t D = c.hidden_size, P = c.hidden_size_per_layer_input;
  const double eps = c.rms_norm_eps;
  self_attn = register_module("self_attn", TextAttention(c, l, opts));
  mlp = register_module("mlp", TextMLP(D, c.layer_intermediate_size[l], opts));
  input_layernorm = register_module("input_layernorm", RMSNorm(D, eps, true, opts));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(D, eps, true, opts));
  pre_feedforward_layernorm = register_module("pre_feedforward_layernorm", RMSNorm(D, eps, true, opts));
  post_feedforward_layernorm = register_module("post_feedforward_layernorm", RMSNorm(D, eps, true, opts));
  per_layer_input_gate = register_module("per_layer_input_gate", LoraLinear(D, P, false, opts));
  per_layer_projection = register_module("per_layer_projection", LoraLinear(P, D, false, opts));
  post_per_layer_input_norm = register_module("post_per_layer_input_norm", RMSNorm(D, eps, true, opts));
  layer_scalar = register_buffer("layer_scalar", torch::ones({1}, opts));
}

TextModelImpl::TextModelImpl(const io::ModelConfig& cfg, const at::TensorOptions& opts,
                             const at::TensorOptions& table_opts)
    : cfg_(cfg) {
  const io::TextConfig& c = cfg.text;
  const int64_t D = c.hidden_size, L = c.num_hidden_layers, P = c.hidden_size_per_layer_input;
  GT_CHECK(P > 0, "Gemma 4 models without per-layer inputs are not supported");
  embed_tokens = register_module("embed_tokens", Embedding(c.vocab_size, D, opts));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < L; ++l) layers->push_back(TextDecoderLayer(c, l, opts));
  norm = register_module("norm", RMSNorm(D, c.rms_norm_eps, true, opts));
  embed_tokens_per_layer =
      register_module("embed_tokens_per_layer", Embedding(c.vocab_size_per_layer_input, L * P, table_opts));
  per_layer_model_projection = register_module("per_layer_model_projection", LoraLinear(D, L * P, false, opts));
  per_layer_projection_norm = register_module("per_layer_projection_norm", RMSNorm(P, c.rms_norm_eps, true, opts));
}

at::Tensor TextModelImpl::embed(const at::Tensor& ids) {
  return embed_tokens->forward_scaled(ids, std::sqrt(static_cast<double>(cfg_.text.hidden_size)));
}

at::Tensor TextModelImpl::per_layer_inputs(const at::Tensor& ids, const at::Tensor& x0, const at::Tensor& host_ids) {
  const io::TextConfig& c = cfg_.text;
  const int64_t L = c.num_hidden_layers, P = c.hidden_size_per_layer_input;
  std::vector<int64_t> shape = ids.sizes().vec();
  shape.push_back(L);
  shape.push_back(P);
  at::Tensor tok = embed_tokens_per_layer->forward_scaled(ids, std::sqrt(static_cast<double>(P)), host_ids)
                       .reshape(shape);  // [B, T, L, P]
  // Gemma 4 multiplies by Python floats (one rounding in float32 opmath), unlike 3n's bf16 buffers.
  at::Tensor proj = per_layer_model_projection->forward(x0) * std::pow(static_cast<double>(c.hidden_size), -0.5);
  proj = per_layer_projection_norm->forward(proj.reshape(shape));
  return (proj + tok) * std::pow(2.0, -0.5);
}

at::Tensor TextModelImpl::layer_forward(int64_t l, const at::Tensor& x, const at::Tensor& ple, const at::Tensor& mask,
                                        const RopeTable& rope, const KeyValue* shared_in, KeyValue* shared_out,
                                        KvCache* cache) {
  auto layer = layers->ptr<TextDecoderLayerImpl>(l);
  auto& attn = *layer->self_attn;
  const int64_t B = x.size(0), T = x.size(1);

  // --- attention block
  at::Tensor residual = x;
  at::Tensor h = layer->input_layernorm->forward(x);
  at::Tensor q = attn.q_proj->forward(h).view({B, T, -1, attn.head_dim});
  q = attn.q_norm->forward(q).transpose(1, 2);  // [B, H, T, hd]
  q = apply_rope(q, rope);
  at::Tensor k, v;
  if (attn.kv_shared) {
    GT_CHECK(shared_in, "KV-shared layer ", l, " without its source's keys and values");
    std::tie(k, v) = *shared_in;
  } else {
    k = attn.k_norm->forward(attn.k_proj->forward(h).view({B, T, -1, attn.head_dim})).transpose(1, 2);
    k = apply_rope(k, rope);  // [B, KV, T, hd]
    v = attn.v_norm->forward(attn.v_proj->forward(h).view({B, T, -1, attn.head_dim})).transpose(1, 2);
    if (cache) std::tie(k, v) = cache->append(l, k, v);
    if (shared_out) *shared_out = {k, v};
  }
  at::Tensor o = attention(q, k, v, mask, /*scale=*/1.0);  // [B, H, T, hd]
  AttentionCapture::offer(l, q, k, mask, /*scale=*/1.0);  // the live page's probe, when one is alive
  o = attn.o_proj->forward(o.transpose(1, 2).reshape({B, T, -1}));
  h = residual + layer->post_attention_layernorm->forward(o);

  // --- MLP block
  residual = h;
  at::Tensor f = layer->post_feedforward_layernorm->forward(layer->mlp->forward(layer->pre_feedforward_layernorm->forward(h)));
  h = residual + f;

  // --- per-layer input
  residual = h;
  at::Tensor g = gelu_tanh(layer->per_layer_input_gate->forward(h)) * ple;
  g = layer->post_per_layer_input_norm->forward(layer->per_layer_projection->forward(g));
  h = residual + g;
  return h * layer->layer_scalar;
}

at::Tensor TextModelImpl::forward(const TextInputs& in, Trace* trace) {
  const io::TextConfig& c = cfg_.text;
  // Media placeholders already read the pad token here (gemma4::Model::decoder_ids, as Gemma4Model does); the
  // per-layer projection sees the merged embeddings, soft tokens included (project_per_layer_inputs).
  const at::Tensor& ids = in.input_ids;
  at::Tensor x = in.inputs_embeds.defined() ? in.inputs_embeds : embed(ids);  // [B, T, D]
  const int64_t B = x.size(0), T = x.size(1);
  at::Tensor ple = per_layer_inputs(ids, x, in.input_ids_host);  // [B, T, L, P]

  StackContext ctx = stack_context(c, in, B, T, x.scalar_type(), x.device());
  LayerFn fn = [this](int64_t l, const at::Tensor& s, const at::Tensor& p, const at::Tensor& m, const RopeTable& r,
                      const KeyValue* kv_in, KeyValue* kv_out,
                      KvCache* cache) { return layer_forward(l, s, p, m, r, kv_in, kv_out, cache); };
  x = run_layer_stack(c, x, ple, ctx, checkpointing_ && is_training(), fn, trace);
  return norm->forward(x);
}

}  // namespace gt::models::gemma4
