// Rotary position embedding of the text decoders: rotate-half (NeoX) convention, inverse frequencies
// in float32, cos/sin cast to the activation dtype before use. Two kinds:
//   default       inv_freq[i] = 1 / theta^(2i / dim) for i < dim/2  (all dims rotate)
//   proportional  the same with dim = head_dim, but only the first int(partial_rotary_factor * head_dim / 2)
//                 frequencies are kept and the rest are 0 (cos 1, sin 0): Gemma 4 global layers
#pragma once

#include <torch/torch.h>

#include <string>

namespace gt::models {

// Inverse frequencies [head_dim / 2], float32.
at::Tensor rope_inv_freq(const std::string& rope_type, double theta, int64_t head_dim, double partial_rotary_factor);

struct RopeTable {
  at::Tensor cos;  // [B or 1, T, head_dim] in the activation dtype
  at::Tensor sin;
};

// cos/sin for integer positions [B, T] (or [T]).
RopeTable rope_table(const at::Tensor& inv_freq, const at::Tensor& positions, at::ScalarType dtype);

// x [B, H, T, hd] -> x * cos + rotate_half(x) * sin, with cos/sin [B, T, hd] broadcast over heads.
at::Tensor apply_rope(const at::Tensor& x, const RopeTable& table);

}  // namespace gt::models
