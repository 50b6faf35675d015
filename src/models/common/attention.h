// Scaled dot-product attention of the text decoders and the masks it needs.
// With libtorch >= 2.1 the fused at::scaled_dot_product_attention runs (flash / memory-efficient kernels on CUDA,
// Metal on MPS); the composite path below it (the eager order of transformers: scores in the model dtype, mask
// added, softmax in float32, probabilities cast back) is the fallback for libtorch 1.13 and is tested in CI.
#pragma once

#include <torch/torch.h>

#include <optional>

namespace gt::models {

// Which keys each query may see, for one forward: causal, optionally a sliding window, optionally padding.
// With a KV cache (generation) the step's T queries sit at cache indices past .. past + T - 1; full layers read
// keys 0 .. past + T - 1, sliding layers keys sliding_start .. past + T - 1 (models/common/kv_cache.h).
class AttentionMasks {
 public:
  // attention_mask: [B, past + T] with 1 for real tokens (undefined: no padding). sliding_window: W of the local
  // layers.
  // segment_ids: [B, T] documents of packed rows (TextInputs::segment_ids; 0 = padding), undefined for one a row;
  // a query then sees only keys of its own document. Not with a KV cache.
  AttentionMasks(const at::Tensor& attention_mask, int64_t batch, int64_t seq_len, int64_t sliding_window,
                 at::ScalarType dtype, at::Device device, int64_t past = 0, int64_t sliding_start = 0,
                 const at::Tensor& segment_ids = {});
  // Additive mask [B, 1, T, S] in the activation dtype (0 where visible, the dtype's lowest value where not), or
  // undefined when the fused kernel's own causal rule is exact: no padding, no window cut, and either no history
  // (T == S) or one query (which sees every key).
  at::Tensor for_layer(bool sliding);

 private:
  at::Tensor build(int64_t key_start, bool window) const;
  at::Tensor padding_;  // [B, past + T] bool, true = real token
  at::Tensor segments_;  // [B, T] int64 document ids of packed rows, or undefined
  int64_t batch_, seq_, window_, past_, sliding_start_;
  at::ScalarType dtype_;
  at::Device device_;
  at::Tensor full_, sliding_;
};

// q [B, H, T, hd], k/v [B, KV, S, hd] (KV divides H; query head h uses key head h / (H / KV)).
// mask: from AttentionMasks::for_layer; undefined = causal with the queries at the end of the keys (T == S, or
// T == 1: every key). Returns [B, H, T, hd].
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                     double scale);

// The composite path (always available; the fused one is compared against it in tests).
at::Tensor attention_composite(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                               double scale);

// True when this libtorch provides the fused kernel.
bool fused_attention_available();

// Layers whose head dim exceeds `head_dim` take attention_grouped (models/common/grouped_attention.h) instead of
// SDPA. Default (-1): 256 on CUDA, whose flash and cuDNN kernels take no wider heads (Gemma 4's 512-wide global
// layers), none elsewhere. bench_train_step --composite-attention-above measures either way.
void set_composite_attention_above(int64_t head_dim);

// Off: grouped-query layers repeat K/V for SDPA instead of passing enable_gqa (for measuring its share; on by default).
void set_sdpa_gqa(bool on);

// The attention probabilities of one decoder layer, for the live page's probe (train/live_probe.h). While one is
// alive on this thread, the decoders offer each layer's queries, keys and mask after their attention; the layer
// named keeps softmax(q k^T * scale + mask) of the batch's first row, averaged over heads: [T, S] float32 on the
// CPU. Costs nothing when none is alive (one thread-local read per layer).
class AttentionCapture {
 public:
  explicit AttentionCapture(int64_t layer);
  ~AttentionCapture();
  AttentionCapture(const AttentionCapture&) = delete;
  AttentionCapture& operator=(const AttentionCapture&) = delete;

  // Called by the decoders after layer `layer`'s attention, with its arguments (q [B, H, T, hd], k [B, KV, S, hd]).
  static void offer(int64_t layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& mask, double scale);

  // Undefined until the layer ran.
  const at::Tensor& probs() const { return probs_; }

 private:
  int64_t layer_;
  at::Tensor probs_;
  AttentionCapture* outer_;
};

}  // namespace gt::models
