// A linear layer whose frozen base weight keeps its checkpoint name, with an optional LoRA adapter beside it
// (as torchtune's LoRALinear, with PEFT's names and numerics):
//   y = x W^T (+ b) + scaling * B(A(dropout(x))),  scaling = lora_alpha / r
// `weight` (and `bias`) never get gradients; `lora_A.weight` [r, in] and `lora_B.weight` [out, r] are kept in
// float32 whatever the base dtype, and the adapter path runs in float32 before the sum is cast back to the input
// dtype (PEFT's autocast_adapter_dtype behaviour). A starts Kaiming-uniform (a = sqrt(5)) and B at zero, so an
// untrained adapter leaves the model unchanged.
#pragma once

#include <torch/torch.h>

namespace gt::models {

// A module holding only `weight`: lora_A and lora_B, so parameter names end in lora_A.weight / lora_B.weight.
class LoraFactorImpl : public torch::nn::Module {
 public:
  LoraFactorImpl(int64_t out, int64_t in, const at::TensorOptions& opts);
  at::Tensor weight;
};
TORCH_MODULE(LoraFactor);

struct LoraOptions {
  int64_t r = 16;
  double alpha = 32.0;
  double dropout = 0.05;
};

class LoraLinearImpl : public torch::nn::Module {
 public:
  LoraLinearImpl(int64_t in_features, int64_t out_features, bool bias, const at::TensorOptions& opts);

  at::Tensor forward(const at::Tensor& x);

  // Adds lora_A / lora_B (float32, on the base weight's device) and initialises them as PEFT does.
  void enable_lora(const LoraOptions& o);
  bool has_lora() const { return static_cast<bool>(lora_A); }

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  double lora_scaling() const { return scaling_; }

  at::Tensor weight;
  at::Tensor bias;  // undefined when the layer has none
  LoraFactor lora_A{nullptr};
  LoraFactor lora_B{nullptr};

 private:
  int64_t in_, out_;
  double scaling_ = 0.0;
  double dropout_ = 0.0;
};
TORCH_MODULE(LoraLinear);

}  // namespace gt::models
