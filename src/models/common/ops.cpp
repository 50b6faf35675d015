#include "models/common/ops.h"

namespace gt::models {

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor y = xf * (xf.pow(2).mean(-1, /*keepdim=*/true) + eps).pow(-0.5);
  if (weight.defined()) y = y * weight.to(at::kFloat);
  return y.to(x.scalar_type());
}

at::Tensor soft_cap(const at::Tensor& x, double cap) {
  if (cap <= 0) return x;
  return at::tanh(x / cap) * cap;
}

double round_to(double value, at::ScalarType dtype) {
  return at::scalar_tensor(static_cast<float>(value), at::kFloat).to(dtype).to(at::kDouble).item<double>();
}

}  // namespace gt::models
