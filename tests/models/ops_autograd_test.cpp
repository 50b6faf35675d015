// The autograd functions of models/common/ops against the same formulas through plain autograd:
// rms_norm (keeping x and the float32 scale): the same output bit for bit, and the same gradients for x and for a
// trainable weight, in float32 and bf16, with and without a weight, on rows of any rank;
// gelu_tanh_mul (keeping gate and up): the same output and gradients bit for bit. On CUDA, rms_norm's fused kernels
// against its composite.
#include <torch/torch.h>
#include <cmath>
#include <gtest/gtest.h>

#include "models/common/ops.h"

namespace {

at::Tensor plain(const at::Tensor& x, const at::Tensor& w, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor y = xf * (xf.pow(2).mean(-1, true) + eps).pow(-0.5);
  if (w.defined()) y = y * w.to(at::kFloat);
  return y.to(x.scalar_type());
}

double rel(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>() /
         std::max(1e-12, want.to(at::kDouble).abs().max().item<double>());
}

}  // namespace

TEST(RmsNorm, AutogradFunctionMatchesPlainAutograd) {
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    for (bool with_weight : {true, false}) {
      for (bool train_weight : {false, true}) {
        if (train_weight && !with_weight) continue;
        SCOPED_TRACE(std::string(c10::toString(dtype)) + (with_weight ? " weight" : " no weight") +
                     (train_weight ? " trained" : ""));
        torch::manual_seed(3);
        const at::Tensor x0 = (torch::randn({2, 3, 5, 16}) * 3 + 0.5).to(dtype);
        const at::Tensor w0 = with_weight ? (torch::randn({16}) + 1).to(dtype) : at::Tensor();
        const at::Tensor gy = torch::randn({2, 3, 5, 16}).to(dtype);
        at::Tensor xa = x0.clone().requires_grad_(true), xb = x0.clone().requires_grad_(true);
        at::Tensor wa = with_weight ? w0.clone().requires_grad_(train_weight) : at::Tensor();
        at::Tensor wb = with_weight ? w0.clone().requires_grad_(train_weight) : at::Tensor();
        const at::Tensor ya = gt::models::rms_norm(xa, wa, 1e-6), yb = plain(xb, wb, 1e-6);
        EXPECT_TRUE(at::equal(ya, yb));
        ya.backward(gy);
        yb.backward(gy);
        const double tol = dtype == at::kFloat ? 1e-5 : 1e-2;  // bf16: one rounding of the gradient either way
        EXPECT_LT(rel(xa.grad(), xb.grad()), tol);
        EXPECT_EQ(xa.grad().scalar_type(), dtype);
        EXPECT_TRUE(at::equal(xa, x0));  // the input is never written
        if (train_weight) EXPECT_LT(rel(wa.grad(), wb.grad()), tol);
      }
    }
  }
}

TEST(RmsNorm, FrozenInputWithTrainedWeightAndNoGradMode) {
  const at::Tensor x = torch::randn({4, 8});
  at::Tensor w = torch::ones({8}).requires_grad_(true);
  gt::models::rms_norm(x, w, 1e-6).sum().backward();
  ASSERT_TRUE(w.grad().defined());
  at::Tensor w2 = torch::ones({8}).requires_grad_(true);
  plain(x, w2, 1e-6).sum().backward();
  EXPECT_LT(rel(w.grad(), w2.grad()), 1e-5);
  torch::NoGradGuard ng;
  EXPECT_TRUE(at::equal(gt::models::rms_norm(x, w, 1e-6), plain(x, w, 1e-6)));
}

// On a GPU (the device machine's run of this suite) rms_norm takes ATen's fused kernels; they must give what the
// composite gives, output and both gradients, in float32 and bf16, on q/k-norm shaped rows ([B, T, heads, hd]) and on
// non-contiguous inputs (rows apart; the normalised dimension strided, as a permuted feature map). Skipped where there is no CUDA device (CI).
TEST(RmsNorm, FusedKernelsMatchTheCompositeOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const at::Device cuda(at::kCUDA);
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    for (int weight_case = 0; weight_case < 3; ++weight_case) {  // 0 none, 1 frozen, 2 trained
      for (int layout = 0; layout < 3; ++layout) {  // contiguous; rows strided; the normalised dim strided
        SCOPED_TRACE(std::string(c10::toString(dtype)) + " weight case " + std::to_string(weight_case) + " layout " +
                     std::to_string(layout));
        torch::manual_seed(5);
        at::Tensor x0 = (torch::randn({2, 7, 4, 256}) * 3 + 0.5).to(dtype).to(cuda);
        if (layout == 1) x0 = x0.transpose(1, 2);                                  // [2, 4, 7, 256]
        if (layout == 2) x0 = x0.permute({0, 1, 3, 2}).contiguous().transpose(2, 3);  // last dim stride 4
        const at::Tensor w0 = weight_case ? (torch::randn({256}) + 1).to(dtype).to(cuda) : at::Tensor();
        const at::Tensor gy = torch::randn(x0.sizes()).to(dtype).to(cuda);
        at::Tensor outs[2], gxs[2], gws[2];
        for (int fused = 0; fused < 2; ++fused) {
          gt::models::set_fused_rms_norm(fused == 1);
          at::Tensor x = x0.detach().clone().requires_grad_(true);
          at::Tensor w = weight_case ? w0.detach().clone().requires_grad_(weight_case == 2) : at::Tensor();
          outs[fused] = gt::models::rms_norm(x, w, 1e-6);
          outs[fused].backward(gy);
          gxs[fused] = x.grad();
          if (weight_case == 2) gws[fused] = w.grad();
        }
        gt::models::set_fused_rms_norm(true);
        // bf16: at most one rounding step apart (the float32 sums differ in order); float32: rounding of the sums.
        const double tol = dtype == at::kFloat ? 1e-5 : 1e-2;
        EXPECT_EQ(outs[1].scalar_type(), dtype);
        EXPECT_LT(rel(outs[1].cpu(), outs[0].cpu()), tol);
        EXPECT_EQ(gxs[1].scalar_type(), dtype);
        EXPECT_LT(rel(gxs[1].cpu(), gxs[0].cpu()), tol);
        if (weight_case == 2) {
          EXPECT_LT(rel(gws[1].cpu(), gws[0].cpu()), dtype == at::kFloat ? 1e-4 : 2e-2);
        }
        // Without autograd (generation): the same output.
        torch::NoGradGuard no_grad;
        EXPECT_LT(rel(gt::models::rms_norm(x0, w0, 1e-6).cpu(), outs[0].detach().cpu()), tol);
      }
    }
  }
}

TEST(GeluTanhMul, SameOutputAndGradientsAsPlainAutograd) {
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    SCOPED_TRACE(c10::toString(dtype));
    torch::manual_seed(4);
    const at::Tensor gate0 = (torch::randn({2, 5, 32}) * 3).to(dtype), up0 = torch::randn({2, 5, 32}).to(dtype);
    const at::Tensor gy = torch::randn({2, 5, 32}).to(dtype);
    at::Tensor ga = gate0.clone().requires_grad_(true), ua = up0.clone().requires_grad_(true);
    at::Tensor gb = gate0.clone().requires_grad_(true), ub = up0.clone().requires_grad_(true);
    const at::Tensor ya = gt::models::gelu_tanh_mul(ga, ua), yb = at::gelu(gb, "tanh") * ub;
    EXPECT_TRUE(at::equal(ya, yb));
    ya.backward(gy);
    yb.backward(gy);
    EXPECT_TRUE(at::equal(ga.grad(), gb.grad()));
    EXPECT_TRUE(at::equal(ua.grad(), ub.grad()));
  }
  // Only one side trained (a frozen up input): its gradient alone, the same.
  const at::Tensor up = torch::randn({3, 8});
  at::Tensor gate = torch::randn({3, 8}).requires_grad_(true), gate2 = gate.detach().clone().requires_grad_(true);
  gt::models::gelu_tanh_mul(gate, up).sum().backward();
  (at::gelu(gate2, "tanh") * up).sum().backward();
  EXPECT_TRUE(at::equal(gate.grad(), gate2.grad()));
}

// round_to rounds on the host as a tensor cast does (float32 first, then round to nearest even in the target dtype),
// and a tensor times that scalar equals the tensor times the constant as a 0-d tensor of its dtype (how Gemma 3n's
// float32 buffers reach a bf16 model: models/gemma3n/text.cpp's dtype_constant).
TEST(RoundTo, AsATensorCastAndTheSameProductAsA0dTensor) {
  const double values[] = {1.0 / 2048, 1.0 / 1536, std::pow(2048.0, -0.5), 0.1, 1e-5, 3.14159265358979, -7.77e3};
  const at::Tensor x = torch::randn({64}, torch::Generator(at::detail::createCPUGenerator(3)));
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16, at::kHalf, at::kDouble}) {
    for (double v : values) {
      const at::Tensor cast = at::scalar_tensor(static_cast<float>(v), at::kFloat).to(dtype);
      EXPECT_EQ(gt::models::round_to(v, dtype), cast.to(at::kDouble).item<double>()) << v << " " << dtype;
      const at::Tensor xd = x.to(dtype);
      EXPECT_TRUE(at::equal(xd * gt::models::round_to(v, dtype), xd * cast)) << v << " " << dtype;
    }
  }
}
