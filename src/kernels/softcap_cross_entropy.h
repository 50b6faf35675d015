// A CUDA kernel for the cross-entropy of soft-capped bf16 logits, one chunk of rows at a time (models/common/loss.cpp
// calls it; its composite path is the reference and runs everywhere else). Plain C++ here, no CUDA or libtorch
// headers: the .cu file is compiled by nvcc alone, only where CMake finds nvcc beside a CUDA libtorch
// (GT_HAS_CUDA_KERNELS).
//
// The composite reads and writes the [rows, V] logits about a dozen times (the cap's three bf16 ops, a float32 copy,
// logsumexp's passes, the softmax, the cap's derivative, the cast back); for Gemma's 262k vocabulary that is most of
// the loss's time. This kernel reads them twice and writes the gradient once, in place.
#pragma once

#include <cstdint>

namespace gt::kernels {

// For each row r of `rows` rows of `vocab` bf16 logits x (row-major, contiguous):
//   z = cap > 0 ? bf16(cap * bf16(tanh(bf16(x * (1 / cap))))) : x      (rounded as transformers' bf16 ops round)
//   lse[r] = log(sum_j exp(z_j)) and picked[r] = z[targets[r]], both float32;
//   with write_grad, x is overwritten by bf16(d(lse - z[target]) / dx)
//                                      = bf16((softmax(z) - onehot(target)) * (cap > 0 ? 1 - t^2 : 1)),
//   t = bf16(tanh(...)) above, in float32 arithmetic as autograd's tanh_backward on float32 does it.
// A target outside [0, vocab) makes picked[r] NaN, so the loss shows it. `stream` is a cudaStream_t.
void softcap_cross_entropy_bf16(void* logits, int64_t rows, int64_t vocab, const int64_t* targets, float cap,
                                float* lse, float* picked, bool write_grad, void* stream);

}  // namespace gt::kernels
