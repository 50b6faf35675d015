// One thread block a row: pass 1 reads the row once and keeps a running (max, sum of exp) per thread (the "online
// softmax" of Milakov & Gimelshein, 2018), merged across the block; pass 2 reads it again and writes the gradient over
// it. Rows are 16-byte aligned with a vocabulary divisible by 8 (Gemma's 262,144) and are then read 8 bf16 at a time.
#include "kernels/softcap_cross_entropy.h"

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace gt::kernels {

namespace {

constexpr int kThreads = 1024;

__device__ __forceinline__ float round_bf16(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }

// The capped logit z and the rounded tanh t (1 without a cap, unused) of one bf16 logit. x / cap as x * (1 / cap):
// ATen divides a tensor by a scalar that way.
struct Capped {
  float z, t;
};
__device__ __forceinline__ Capped cap_logit(float x, float cap, float inv_cap) {
  if (cap <= 0.f) return {x, 1.f};
  const float t = round_bf16(tanhf(round_bf16(x * inv_cap)));
  return {round_bf16(t * cap), t};
}

// Merges a running (max m, sum s of exp(z - m)) with the value z.
__device__ __forceinline__ void online_add(float& m, float& s, float z) {
  if (z > m) {
    s = s * expf(m - z) + 1.f;
    m = z;
  } else {
    s += expf(z - m);
  }
}

__device__ __forceinline__ void online_merge(float& m, float& s, float m2, float s2) {
  const float M = fmaxf(m, m2);
  if (M == -INFINITY) return;
  s = (m == -INFINITY ? 0.f : s * expf(m - M)) + (m2 == -INFINITY ? 0.f : s2 * expf(m2 - M));
  m = M;
}

__device__ __forceinline__ float grad_of(float x, float cap, float inv_cap, float lse, bool is_target) {
  const Capped c = cap_logit(x, cap, inv_cap);
  float g = expf(c.z - lse) - (is_target ? 1.f : 0.f);
  if (cap > 0.f) g *= 1.f - c.t * c.t;
  return g;
}

template <bool kVector>
__global__ void __launch_bounds__(kThreads) softcap_ce_kernel(__nv_bfloat16* logits, int64_t vocab,
                                                               const int64_t* targets, float cap, float* lse_out,
                                                               float* picked_out, bool write_grad) {
  const int64_t r = blockIdx.x;
  __nv_bfloat16* row = logits + r * vocab;
  const float inv_cap = cap > 0.f ? 1.f / cap : 0.f;
  const int64_t target = targets[r];
  const bool target_ok = target >= 0 && target < vocab;
  if (threadIdx.x == 0) {
    picked_out[r] = target_ok ? cap_logit(__bfloat162float(row[target]), cap, inv_cap).z : NAN;
  }

  float m = -INFINITY, s = 0.f;
  if constexpr (kVector) {
    const uint4* v = reinterpret_cast<const uint4*>(row);
    for (int64_t i = threadIdx.x; i < vocab / 8; i += kThreads) {
      uint4 pack = v[i];
      const __nv_bfloat16* e = reinterpret_cast<const __nv_bfloat16*>(&pack);
#pragma unroll
      for (int k = 0; k < 8; ++k) online_add(m, s, cap_logit(__bfloat162float(e[k]), cap, inv_cap).z);
    }
  } else {
    for (int64_t j = threadIdx.x; j < vocab; j += kThreads) {
      online_add(m, s, cap_logit(__bfloat162float(row[j]), cap, inv_cap).z);
    }
  }

  // Block reduction: within each warp by shuffles, then the warps' results by the first warp.
  for (int off = 16; off > 0; off >>= 1) {
    const float m2 = __shfl_xor_sync(0xffffffffu, m, off);
    const float s2 = __shfl_xor_sync(0xffffffffu, s, off);
    online_merge(m, s, m2, s2);
  }
  __shared__ float warp_m[kThreads / 32], warp_s[kThreads / 32];
  __shared__ float row_lse;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_m[warp] = m, warp_s[warp] = s;
  __syncthreads();
  if (warp == 0) {
    m = lane < kThreads / 32 ? warp_m[lane] : -INFINITY;
    s = lane < kThreads / 32 ? warp_s[lane] : 0.f;
    for (int off = 16; off > 0; off >>= 1) {
      const float m2 = __shfl_xor_sync(0xffffffffu, m, off);
      const float s2 = __shfl_xor_sync(0xffffffffu, s, off);
      online_merge(m, s, m2, s2);
    }
    if (lane == 0) {
      row_lse = m + logf(s);
      lse_out[r] = row_lse;
    }
  }
  if (!write_grad) return;
  __syncthreads();
  const float lse = row_lse;

  if constexpr (kVector) {
    uint4* v = reinterpret_cast<uint4*>(row);
    for (int64_t i = threadIdx.x; i < vocab / 8; i += kThreads) {
      uint4 pack = v[i];
      __nv_bfloat16* e = reinterpret_cast<__nv_bfloat16*>(&pack);
#pragma unroll
      for (int k = 0; k < 8; ++k) {
        e[k] = __float2bfloat16_rn(grad_of(__bfloat162float(e[k]), cap, inv_cap, lse, i * 8 + k == target));
      }
      v[i] = pack;
    }
  } else {
    for (int64_t j = threadIdx.x; j < vocab; j += kThreads) {
      row[j] = __float2bfloat16_rn(grad_of(__bfloat162float(row[j]), cap, inv_cap, lse, j == target));
    }
  }
}

}  // namespace

void softcap_cross_entropy_bf16(void* logits, int64_t rows, int64_t vocab, const int64_t* targets, float cap,
                                float* lse, float* picked, bool write_grad, void* stream) {
  if (rows <= 0) return;
  if (rows > 0x7fffffff) throw std::invalid_argument("softcap_cross_entropy_bf16: more rows than a grid holds");
  auto* x = static_cast<__nv_bfloat16*>(logits);
  const auto s = static_cast<cudaStream_t>(stream);
  const bool vector = vocab % 8 == 0 && reinterpret_cast<std::uintptr_t>(logits) % 16 == 0;
  if (vector) {
    softcap_ce_kernel<true><<<static_cast<unsigned>(rows), kThreads, 0, s>>>(x, vocab, targets, cap, lse, picked,
                                                                            write_grad);
  } else {
    softcap_ce_kernel<false><<<static_cast<unsigned>(rows), kThreads, 0, s>>>(x, vocab, targets, cap, lse, picked,
                                                                             write_grad);
  }
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("softcap_cross_entropy_bf16: kernel launch failed: ") +
                             cudaGetErrorString(err));
  }
}

}  // namespace gt::kernels
