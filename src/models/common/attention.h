// Scaled dot-product attention of the text decoders and the masks it needs.
// With libtorch >= 2.1 the fused at::scaled_dot_product_attention runs (flash / memory-efficient kernels on CUDA,
// Metal on MPS); the composite path below it (the eager order of transformers: scores in the model dtype, mask
// added, softmax in float32, probabilities cast back) is the fallback for libtorch 1.13 and is tested in CI.
#pragma once

#include <torch/torch.h>

#include <optional>

namespace gt::models {

// Which keys each query may see, for one forward: causal, optionally a sliding window, optionally padding.
class AttentionMasks {
 public:
  // attention_mask: [B, T] with 1 for real tokens (undefined: no padding). sliding_window: W of the local layers.
  AttentionMasks(const at::Tensor& attention_mask, int64_t batch, int64_t seq_len, int64_t sliding_window,
                 at::ScalarType dtype, at::Device device);
  // Additive mask [B, 1, T, T] in the activation dtype (0 where visible, the dtype's lowest value where not), or
  // undefined when the fused kernel can use its own causal mask (full layer, no padding).
  at::Tensor for_layer(bool sliding);

 private:
  at::Tensor build(bool sliding) const;
  at::Tensor padding_;  // [B, T] bool, true = real token
  int64_t batch_, seq_, window_;
  at::ScalarType dtype_;
  at::Device device_;
  at::Tensor full_, sliding_;
};

// q [B, H, T, hd], k/v [B, KV, T, hd] (KV divides H; query head h uses key head h / (H / KV)).
// mask: from AttentionMasks::for_layer (undefined = plain causal). Returns [B, H, T, hd].
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                     double scale);

// The composite path (always available; the fused one is compared against it in tests).
at::Tensor attention_composite(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                               double scale);

// True when this libtorch provides the fused kernel.
bool fused_attention_available();

}  // namespace gt::models
