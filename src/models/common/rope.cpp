#include "models/common/rope.h"

#include "core/error.h"

namespace gt::models {

at::Tensor rope_inv_freq(const std::string& rope_type, double theta, int64_t head_dim, double partial_rotary_factor) {
  const auto f32 = at::TensorOptions().dtype(at::kFloat);
  // HF: 1 / (base ** (arange(0, dim, 2, int64).float() / dim)) in float32.
  at::Tensor exponents = torch::arange(0, head_dim, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat) /
                         static_cast<float>(head_dim);
  at::Tensor inv = 1.0 / torch::pow(torch::scalar_tensor(theta, f32), exponents);
  if (rope_type == "default") return inv;
  GT_CHECK(rope_type == "proportional", "unknown rope type ", rope_type);
  const int64_t n_rot = static_cast<int64_t>(partial_rotary_factor * static_cast<double>(head_dim) / 2.0);
  at::Tensor out = torch::zeros({head_dim / 2}, f32);
  out.slice(0, 0, n_rot).copy_(inv.slice(0, 0, n_rot));
  return out;
}

RopeTable rope_table(const at::Tensor& inv_freq, const at::Tensor& positions, at::ScalarType dtype) {
  at::Tensor pos = positions.dim() == 1 ? positions.unsqueeze(0) : positions;  // [B, T]
  at::Tensor freqs = pos.to(at::kFloat).unsqueeze(-1) * inv_freq.to(pos.device()).view({1, 1, -1});  // [B, T, hd/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor apply_rope(const at::Tensor& x, const RopeTable& t) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor x1 = x.slice(-1, 0, half);
  at::Tensor x2 = x.slice(-1, half);
  at::Tensor rotated = at::cat({-x2, x1}, -1);
  at::Tensor cos = t.cos.unsqueeze(1);  // [B, 1, T, hd]
  at::Tensor sin = t.sin.unsqueeze(1);
  return x * cos + rotated * sin;
}

}  // namespace gt::models
