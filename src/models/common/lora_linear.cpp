#include "models/common/lora_linear.h"

#include <cmath>

namespace gt::models {

LoraFactorImpl::LoraFactorImpl(int64_t out, int64_t in, const at::TensorOptions& opts) {
  weight = register_parameter("weight", torch::zeros({out, in}, opts));
}

LoraLinearImpl::LoraLinearImpl(int64_t in_features, int64_t out_features, bool with_bias, const at::TensorOptions& opts)
    : in_(in_features), out_(out_features) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}, opts), /*requires_grad=*/false);
  if (with_bias) bias = register_parameter("bias", torch::zeros({out_features}, opts), /*requires_grad=*/false);
}

void LoraLinearImpl::enable_lora(const LoraOptions& o) {
  TORCH_CHECK(o.r > 0, "LoRA rank must be positive, got ", o.r);
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(weight.device());
  lora_A = register_module("lora_A", LoraFactor(o.r, in_, opts));
  lora_B = register_module("lora_B", LoraFactor(out_, o.r, opts));
  {
    torch::NoGradGuard no_grad;
    // PEFT: kaiming_uniform_(a=sqrt(5)) on A, zeros on B.
    torch::nn::init::kaiming_uniform_(lora_A->weight, std::sqrt(5.0));
    lora_B->weight.zero_();
  }
  scaling_ = o.alpha / static_cast<double>(o.r);
  dropout_ = o.dropout;
}

at::Tensor LoraLinearImpl::forward(const at::Tensor& x) {
  at::Tensor y = at::linear(x, weight, bias);
  if (!lora_A) return y;
  at::Tensor h = x.to(at::kFloat);
  if (dropout_ > 0 && is_training()) h = at::dropout(h, dropout_, /*train=*/true);
  at::Tensor delta = at::linear(at::linear(h, lora_A->weight), lora_B->weight) * scaling_;
  return (y.to(at::kFloat) + delta).to(y.scalar_type());
}

}  // namespace gt::models
