// A linear layer whose frozen base weight keeps its checkpoint name, with an optional LoRA adapter beside it
// (as torchtune's LoRALinear, with PEFT's names):
//   y = x W^T (+ b) + scaling * B(A(dropout(x))),  scaling = lora_alpha / r
// `weight` (and `bias`) never get gradients; `lora_A.weight` [r, in] and `lora_B.weight` [out, r] are kept in
// float32 whatever the base dtype (so are their gradients and the optimizer's state). The adapter's arithmetic runs
// either in the activations' dtype (LoraPrecision::Model: bf16 matmuls with float32 accumulation, the sum with the
// base output in the matmul's epilogue, no float32 copies of activations) or in float32 before the sum is cast back
// (LoraPrecision::Float32: PEFT's autocast_adapter_dtype numerics). The two agree to bf16 rounding; with float32
// activations they are the same path. A starts Kaiming-uniform (a = sqrt(5)) and B at zero, so an untrained adapter
// leaves the model unchanged.
// The base weight may be held quantized (models/common/quantized_weight.h, --quantize): `weight` is then an empty
// tensor on the device and each matmul dequantizes it.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>

#include "models/common/quantized_weight.h"

namespace gt::models {

// A module holding only `weight`: lora_A and lora_B, so parameter names end in lora_A.weight / lora_B.weight.
class LoraFactorImpl : public torch::nn::Module {
 public:
  LoraFactorImpl(int64_t out, int64_t in, const at::TensorOptions& opts);
  at::Tensor weight;
};
TORCH_MODULE(LoraFactor);

// Where the adapter's arithmetic happens (see above); config key lora_precision.
enum class LoraPrecision { Model, Float32 };
// "model" | "float32"; throws std::invalid_argument naming the value otherwise.
LoraPrecision parse_lora_precision(const std::string& s);

struct LoraOptions {
  int64_t r = 16;
  double alpha = 32.0;
  double dropout = 0.05;
  LoraPrecision precision = LoraPrecision::Model;
};

class LoraLinearImpl : public torch::nn::Module {
 public:
  LoraLinearImpl(int64_t in_features, int64_t out_features, bool bias, const at::TensorOptions& opts);

  at::Tensor forward(const at::Tensor& x);

  // Adds lora_A / lora_B (float32, on the base weight's device) and initialises them as PEFT does.
  void enable_lora(const LoraOptions& o);
  bool has_lora() const { return static_cast<bool>(lora_A); }

  // Replaces the base weight by its quantized form on `device` (the bias moves there too); `weight` becomes an empty
  // tensor there. QuantMode::None only moves the weight. Returns the bytes the weight is now held in.
  int64_t quantize_weight(QuantMode mode, at::Device device);
  const QuantizedWeight* quantized() const { return quantized_ ? &*quantized_ : nullptr; }
  // The base weight [out, in] in full precision (dequantized when held quantized), for code that reads the matrix
  // itself rather than calling forward (Gemma 3n's AltUp coefficients).
  at::Tensor base_weight() const { return quantized_ ? dequantize(*quantized_) : weight; }

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  double lora_scaling() const { return scaling_; }
  LoraPrecision lora_precision() const { return precision_; }

  at::Tensor weight;
  at::Tensor bias;  // undefined when the layer has none
  LoraFactor lora_A{nullptr};
  LoraFactor lora_B{nullptr};

 private:
  int64_t in_, out_;
  double scaling_ = 0.0;
  double dropout_ = 0.0;
  LoraPrecision precision_ = LoraPrecision::Model;
  std::optional<QuantizedWeight> quantized_;

  // The factors in the activations' dtype for LoraPrecision::Model, cast once per optimizer step rather than at every
  // call (two cast kernels a layer and a call, ~1,000 a Gemma step with recomputation). A copy is current while the
  // float32 factor has the same storage and version counter (in-place updates, the optimizer's included, bump it).
  struct LowCopy {
    at::Tensor low;
    const void* data = nullptr;
    int64_t version = -1;
  };
  const at::Tensor& low_precision(const at::Tensor& factor, at::ScalarType dtype, LowCopy& copy);
  LowCopy low_a_, low_b_;
  // The scaling as a one-element float32 tensor on the activations' device, for the bf16 path's backward pass (made
  // once: a fresh one would be a host-to-device copy per call; enable_lora drops it).
  const at::Tensor& scale_on(const at::Device& device);
  at::Tensor scale_;
};
TORCH_MODULE(LoraLinear);

// While one exists on a thread, the LoraLinear layers made there allocate their base weight (and bias) in host
// memory, whatever device their options name: a checkpoint load maps it from the file (or random init fills it),
// then quantize_base_weights() moves each layer's quantized form to the device, which never holds the
// full-precision matrices (the load of a 6 GB model on a smaller GPU). Nests; restores the previous state.
class StageBaseWeightsOnHost {
 public:
  explicit StageBaseWeightsOnHost(bool on = true);
  ~StageBaseWeightsOnHost();
  StageBaseWeightsOnHost(const StageBaseWeightsOnHost&) = delete;
  StageBaseWeightsOnHost& operator=(const StageBaseWeightsOnHost&) = delete;

 private:
  bool previous_;
};

struct QuantizeReport {
  int64_t layers = 0;        // LoraLinear layers quantized
  int64_t kept = 0;          // layers left in full precision (see quantize_base_weights) but moved to the device
  int64_t bytes_before = 0;  // their base weights in full precision
  int64_t bytes_after = 0;   // as now held
};

// Every LoraLinear under `module` whose weight is staged on the host (StageBaseWeightsOnHost) while `device` is
// elsewhere, or every one when `device` is the CPU, gets quantize_weight(mode, device). Layers with fewer than 64
// inputs (Gemma 3n's AltUp coefficients: nothing to save) and layers NF4 cannot hold (in % 64 != 0: tiny test
// models) stay in full precision on the device.
QuantizeReport quantize_base_weights(torch::nn::Module& module, QuantMode mode, at::Device device);

}  // namespace gt::models
