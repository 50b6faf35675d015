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

}  // namespace gt::models
