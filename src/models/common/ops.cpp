#include "models/common/ops.h"

#include <atomic>

#include "core/torch_compat.h"  // defines: GT_HAS_FUSED_RMS_NORM

namespace gt::models {

namespace {

std::atomic<bool> g_fused_rms_norm{true};

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The float32 inverse RMS over the last dimension, [.., 1] (transformers' Gemma3nRMSNorm._norm order).
at::Tensor inverse_rms(const at::Tensor& xf, double eps) { return (xf.pow(2).mean(-1, /*keepdim=*/true) + eps).pow(-0.5); }

at::Tensor normalised(const at::Tensor& xf, const at::Tensor& rstd, const at::Tensor& weight) {
  at::Tensor y = xf * rstd;
  if (weight.defined() && weight.numel() > 0) y.mul_(weight.to(at::kFloat));
  return y;
}

// y = x_hat * w with x_hat = x * rstd: dL/dx = rstd * (gw - x_hat * mean(gw * x_hat)), gw = dL/dy * w;
// dL/dw = sum over rows of dL/dy * x_hat.
struct RmsNorm : public torch::autograd::Function<RmsNorm> {
  // weight: empty for a norm without scale (libtorch's Function::apply takes no undefined tensors).
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, double eps) {
    const at::Tensor xf = x.to(at::kFloat);
    const at::Tensor rstd = inverse_rms(xf, eps);
    ctx->save_for_backward({x, weight, rstd});
    return normalised(xf, rstd, weight).to(x.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &rstd = saved[2];
    const bool scaled = weight.numel() > 0;
    const at::Tensor g = grad_out[0].to(at::kFloat);
    const at::Tensor x_hat = x.to(at::kFloat) * rstd;  // a new tensor also when x is float32
    const at::Tensor gw = scaled ? g * weight.to(at::kFloat) : g;
    at::Tensor grad_x;
    if (x.requires_grad()) {
      const at::Tensor dot = (gw * x_hat).mean(-1, /*keepdim=*/true);
      grad_x = (gw - x_hat * dot).mul_(rstd).to(x.scalar_type());
    }
    at::Tensor grad_w;
    if (scaled && weight.requires_grad())
      grad_w = (g * x_hat).reshape({-1, weight.numel()}).sum(0).view(weight.sizes()).to(weight.scalar_type());
    return {grad_x, grad_w, at::Tensor()};
  }
};

// d/d up = g * gelu(gate); d/d gate = gelu'(gate) * (g * up), in the order autograd takes for gelu(gate) * up.
struct GeluTanhMul : public torch::autograd::Function<GeluTanhMul> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    ctx->save_for_backward({gate, up});
    return at::gelu(gate, "tanh") * up;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &gate = saved[0], &up = saved[1], &g = grad_out[0];
    at::Tensor grad_gate, grad_up;
    if (gate.requires_grad()) grad_gate = at::gelu_backward(g * up, gate, "tanh");
    if (up.requires_grad()) grad_up = g * at::gelu(gate, "tanh");
    return {grad_gate, grad_up};
  }
};

#if GT_HAS_FUSED_RMS_NORM
std::optional<at::Tensor> scale_of(const at::Tensor& weight) {
  return weight.defined() && weight.numel() > 0 ? std::optional<at::Tensor>(weight) : std::nullopt;
}

// The same norm through ATen's fused RMSNorm kernels (at::_fused_rms_norm and its backward): one kernel each way
// instead of ~9 forward and ~12 backward (casts, a broadcast multiply per factor, the reduction), which were about a
// sixth of a Gemma 4 E2B 4 x 1024 step's GPU time on an H100 (Kineto trace, 8 norms a layer) and thousands of its
// kernel launches. Same arithmetic:
// float32 accumulation, x * rstd * weight in float32, one rounding to x's dtype; the same saved state (x, the float32
// rstd).
struct FusedRmsNorm : public torch::autograd::Function<FusedRmsNorm> {
  // x is made contiguous first (a no-op for the decoders' rows; the vision towers' permuted feature maps are not).
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, double eps) {
    const at::Tensor xc = x.contiguous();
    auto [y, rstd] = at::_fused_rms_norm(xc, {xc.size(-1)}, scale_of(weight), eps);
    ctx->save_for_backward({xc, weight, rstd});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &x = saved[0], &weight = saved[1], &rstd = saved[2];
    const bool scaled = weight.numel() > 0;
    auto [grad_x, grad_w] = at::_fused_rms_norm_backward(grad_out[0].contiguous(), x, {x.size(-1)}, rstd,
                                                         scale_of(weight),
                                                         {ctx->needs_input_grad(0), scaled && ctx->needs_input_grad(1)});
    return {grad_x, grad_w, at::Tensor()};
  }
};

// The fused kernels run where ATen has them for the device (CUDA), for a weight in x's dtype (ATen's kernel reads
// both as one type; a float32 norm with a bf16 weight takes the composite); MPS and the CPU take the composite.
bool use_fused_rms_norm(const at::Tensor& x, const at::Tensor& weight) {
  return x.is_cuda() && g_fused_rms_norm.load(std::memory_order_relaxed) &&
         (!weight.defined() || weight.scalar_type() == x.scalar_type());
}
#endif

}  // namespace

void set_fused_rms_norm(bool on) { g_fused_rms_norm = on; }

at::Tensor gelu_tanh_mul(const at::Tensor& gate, const at::Tensor& up) {
  if (torch::GradMode::is_enabled() && (gate.requires_grad() || up.requires_grad()) && gate.sizes() == up.sizes())
    return GeluTanhMul::apply(gate, up);
  return at::gelu(gate, "tanh") * up;
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  const bool autograd =
      torch::GradMode::is_enabled() && (x.requires_grad() || (weight.defined() && weight.requires_grad()));
  // Function::apply takes no undefined tensors: a norm without scale passes an empty weight.
  auto w = [&] { return weight.defined() ? weight : at::empty({0}, x.options()); };
#if GT_HAS_FUSED_RMS_NORM
  if (use_fused_rms_norm(x, weight)) {
    if (autograd) return FusedRmsNorm::apply(x, w(), eps);
    return std::get<0>(at::_fused_rms_norm(x.contiguous(), {x.size(-1)}, scale_of(weight), eps));
  }
#endif
  if (autograd) return RmsNorm::apply(x, w(), eps);
  const at::Tensor xf = x.to(at::kFloat);
  return normalised(xf, inverse_rms(xf, eps), weight).to(x.scalar_type());
}

at::Tensor soft_cap(const at::Tensor& x, double cap) {
  if (cap <= 0) return x;
  return at::tanh(x / cap) * cap;
}

double round_to(double value, at::ScalarType dtype) {
  // On the host, by c10's conversions (round to nearest even, as a tensor cast): no tensor, no op for a profiler.
  const float f = static_cast<float>(value);
  switch (dtype) {
    case at::kBFloat16: return static_cast<float>(c10::BFloat16(f));
    case at::kHalf: return static_cast<float>(c10::Half(f));
    default: return f;
  }
}

}  // namespace gt::models
