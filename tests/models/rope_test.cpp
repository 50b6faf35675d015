// apply_rope's one-function rotation against the composite it replaced (x * cos + rotate_half(x) * sin through
// plain autograd): output and gradient, in float32 and bf16, on the layouts the decoders hand it (heads transposed
// out of [B, T, H, hd]), per-row position tables, and tables whose halves differ (the 2-D vision rope slices them).
#include <torch/torch.h>
#include <gtest/gtest.h>

#include "models/common/rope.h"

namespace {

at::Tensor composite(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor rotated = at::cat({-x.slice(-1, half), x.slice(-1, 0, half)}, -1);
  return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1);
}

double rel(const at::Tensor& a, const at::Tensor& b) {
  return ((a.to(at::kFloat) - b.to(at::kFloat)).abs().max() / b.to(at::kFloat).abs().max()).item<double>();
}

}  // namespace

TEST(Rope, SameOutputAndGradientAsTheComposite) {
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    for (int tables = 0; tables < 3; ++tables) {  // 0 rope_table, shared rows; 1 rope_table, a row each; 2 any halves
      SCOPED_TRACE(std::string(c10::toString(dtype)) + " tables " + std::to_string(tables));
      torch::manual_seed(7);
      const int64_t B = 2, T = 5, H = 3, hd = 16;
      gt::models::RopeTable t;
      if (tables < 2) {
        const at::Tensor inv = gt::models::rope_inv_freq("default", 10000.0, hd, 1.0);
        const at::Tensor pos = tables == 0 ? torch::arange(T) : torch::stack({torch::arange(T), torch::arange(3, 3 + T)});
        t = gt::models::rope_table(inv, pos, dtype);
      } else {
        t = {torch::randn({B, T, hd}).to(dtype), torch::randn({B, T, hd}).to(dtype)};
      }
      // [B, T, H, hd] -> [B, H, T, hd], as the decoders transpose their projections.
      const at::Tensor x0 = (torch::randn({B, T, H, hd}) * 2).to(dtype).transpose(1, 2);
      const at::Tensor gy = torch::randn({B, H, T, hd}).to(dtype);
      at::Tensor xa = x0.detach().clone().requires_grad_(true), xb = x0.detach().clone().requires_grad_(true);
      const at::Tensor ya = gt::models::apply_rope(xa, t), yb = composite(xb, t.cos, t.sin);
      ya.backward(gy);
      yb.backward(gy);
      EXPECT_EQ(ya.scalar_type(), dtype);
      EXPECT_EQ(ya.sizes(), yb.sizes());
      // bf16: one rounding step apart at most (the product addcmul adds is not rounded on its own).
      const double tol = dtype == at::kFloat ? 1e-6 : 1e-2;
      EXPECT_LT(rel(ya, yb), tol);
      EXPECT_LT(rel(xa.grad(), xb.grad()), tol);
      torch::NoGradGuard no_grad;  // generation: the same output
      EXPECT_TRUE(at::equal(gt::models::apply_rope(x0, t), ya.detach()));
    }
  }
}
