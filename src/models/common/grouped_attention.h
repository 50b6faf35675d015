// Exact attention for heads wider than the fused SDPA kernels take (Gemma 4's 512-wide global layers: no flash or
// cuDNN kernel, and PyTorch's memory-efficient one ran forward + backward 3-4x slower than plain matmuls on an H100,
// tools/device/sdpa_probe.py). Same numbers as attention_composite (the eager order of transformers: scores in the
// model dtype, mask added, softmax in float32, probabilities rounded to the model dtype), computed so that it costs
// no more memory than a fused kernel:
// - the query heads of one K/V head are one matmul against that head (no repeated K/V, no reduction of their
//   gradients);
// - the query rows go in chunks, so the float32 scores held at once stay under `chunk_bytes`;
// - like flash attention, only q, k, v and the [B, H, T] float32 log-sum-exp are kept for the backward pass, which
//   recomputes the probabilities chunk by chunk (the plain composite kept [B, H, T, S] float32 and bf16 copies of
//   them a layer: 1.3 GiB more at Gemma 4 E2B 4 x 1024).
#pragma once

#include <torch/torch.h>

namespace gt::models {

// q [B, H, T, hd], k/v [B, KV, S, hd] (KV divides H), mask as for attention() (undefined: causal with the queries
// at the end of the keys). Returns [B, H, T, hd] in q's dtype.
at::Tensor attention_grouped(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask,
                             double scale, int64_t chunk_bytes = 64ll << 20);

}  // namespace gt::models
