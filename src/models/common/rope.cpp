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

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// out = x * cos + rotate_half(x) * sin by halves, rotate_half(x) = cat(-x2, x1):
//   out1 = x1 * cos1 - x2 * sin1,   out2 = x2 * cos2 + x1 * sin2
// written into out's halves by two multiplications and two fused multiply-adds: no negated copy, no cat and none of
// the zero-filled gradients that autograd's slices and cat make in the backward pass (9 kernels there, 4 here). In
// bf16 the product added by addcmul is not rounded on its own, so results may differ from transformers' three
// rounded ops by one rounding step.
// rotate() computes out1 = x1 * cos1 - sign * x2 * s1, out2 = x2 * cos2 + sign * x1 * s2 for the given sine halves:
// the forward pass with (sin1, sin2, +1), its transpose with (sin2, sin1, -1).
at::Tensor rotate(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& s1, const at::Tensor& s2,
                  double sign) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor out = at::empty_like(x);
  at::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  at::Tensor o1 = out.narrow(-1, 0, half), o2 = out.narrow(-1, half, half);
  at::mul_out(o1, x1, cos.narrow(-1, 0, half));
  o1.addcmul_(x2, s1, -sign);
  at::mul_out(o2, x2, cos.narrow(-1, half, half));
  o2.addcmul_(x1, s2, sign);
  return out;
}

struct Rope : public torch::autograd::Function<Rope> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
    ctx->save_for_backward({cos, sin});
    const int64_t half = x.size(-1) / 2;
    return rotate(x, cos, sin.narrow(-1, 0, half), sin.narrow(-1, half, half), 1.0);
  }
  // The transpose of the rotation: grad1 = g1 * cos1 + g2 * sin2, grad2 = g2 * cos2 - g1 * sin1.
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &cos = saved[0], &sin = saved[1];
    const int64_t half = sin.size(-1) / 2;
    return {rotate(grad_out[0], cos, sin.narrow(-1, half, half), sin.narrow(-1, 0, half), -1.0), at::Tensor(),
            at::Tensor()};
  }
};

}  // namespace

at::Tensor apply_rope(const at::Tensor& x, const RopeTable& t) {
  GT_CHECK(x.size(-1) % 2 == 0, "rotary embedding of an odd head dim ", x.size(-1));
  // cos/sin [B, T, hd] -> [B, 1, T, hd], broadcast over heads; the output's dtype is x's, as in transformers.
  at::Tensor cos = t.cos.unsqueeze(1).to(x.scalar_type()), sin = t.sin.unsqueeze(1).to(x.scalar_type());
  return Rope::apply(x, cos, sin);
}

}  // namespace gt::models
