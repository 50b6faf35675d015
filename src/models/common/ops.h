// Small numeric building blocks shared by the Gemma towers, written in the order of operations of
// transformers 5.17. Free functions on tensors; modules live beside them in other files.
#pragma once

#include <torch/torch.h>

#include <optional>

namespace gt::models {

// RMSNorm of both families: float32 x * pow(mean(x^2) + eps, -0.5) (* float32 weight), cast back to
// the input dtype. No "+1" on the weight. `weight` may be undefined (with_scale = false).
// Under autograd it is one function that keeps only x (as it came, usually the residual stream the layer holds anyway)
// and the float32 [.., 1] scale, and writes the gradient in one formula: plain autograd would keep float32 copies of
// x and of the normalised x for every norm (two float32 [tokens, hidden] tensors each, most of a Gemma step's
// activation memory without checkpointing) and run about twice the kernels.
// On CUDA with PyTorch >= 2.9 both passes run ATen's fused kernels (at::_fused_rms_norm), same arithmetic.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// Off: rms_norm takes the composite on every device (benchmarks measure the fused kernels' share with it). On by default.
void set_fused_rms_norm(bool on);

// gelu with the tanh approximation, as PyTorch's fused gelu(approximate="tanh").
inline at::Tensor gelu_tanh(const at::Tensor& x) { return at::gelu(x, "tanh"); }

// gelu_tanh(gate) * up, the gated MLP's product. Under autograd one function that keeps gate and up only and
// recomputes the gelu in the backward pass (plain autograd would also keep gelu(gate): one more [tokens, intermediate]
// tensor a layer); the same numbers either way.
at::Tensor gelu_tanh_mul(const at::Tensor& gate, const at::Tensor& up);

// cap * tanh(x / cap), three ops in the tensor dtype as HF does; cap <= 0 means no cap.
at::Tensor soft_cap(const at::Tensor& x, double cap);

// A constant as transformers stores it in a bf16 model: computed in float32, rounded once to `dtype`.
double round_to(double value, at::ScalarType dtype);

}  // namespace gt::models
