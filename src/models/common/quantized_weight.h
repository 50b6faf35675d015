// Frozen base weights held in 8 or 4 bits, dequantized just in time for each matmul (QLoRA-style training: the LoRA
// adapters beside them stay float32 and unchanged). Composite ATen ops only, so the same code runs on the CPU, CUDA
// and MPS.
//
// Formats of a frozen [out, in] matrix W (dtype: the checkpoint's compute dtype, bf16 or float32):
//   Int8  data int8 [out, in], scale float32 [out]: symmetric per output row, scale = absmax(row) / 127 (1 for an
//         all-zero row), code = round-half-even(w / scale) clamped to [-127, 127].
//         Dequantized as (float32(code) * scale) rounded once to dtype.
//   Nf4   data uint8 [out, in / 2], scale float32 [out, in / 64]: blocks of 64 consecutive elements of a row, each
//         divided by its absmax (1 for an all-zero block) and coded as the nearest of the 16 NormalFloat-4 levels
//         of the QLoRA paper (Dettmers et al. 2023, appendix; bitsandbytes' NF4 table); ties go to the lower level.
//         Element 2j of a row is the high nibble of byte j, element 2j + 1 the low nibble (bitsandbytes' order).
//         The absmax is kept in float32: QLoRA's double quantization of it would save 0.37 bits a weight
//         (about 70 MB over E2B's decoder linears) for a second codebook and a second dequantization step.
//         Dequantized as (float32(level) * absmax) rounded once to dtype.
//   None  data is the weight itself (no copy), scale undefined.
// quantized_linear() is y = x W^T (+ b) through a custom autograd Function that saves only the quantized tensors;
// the dequantized W lives only during its forward and again during its backward.
#pragma once

#include <torch/torch.h>

#include <array>
#include <string>
#include <vector>

namespace gt::models {

enum class QuantMode { None, Int8, Nf4 };

// "none" | "int8" | "nf4" (the --quantize option); anything else is a gt::InputError naming --quantize.
QuantMode parse_quant_mode(const std::string& s);
const char* quant_mode_name(QuantMode m);

struct QuantizedWeight {
  QuantMode mode = QuantMode::None;
  at::Tensor data;   // Int8: int8 [out, in]; Nf4: uint8 [out, in / 2]; None: the weight
  at::Tensor scale;  // Int8: float32 [out]; Nf4: float32 [out, in / 64] block absmax; None: undefined
  int64_t out = 0, in = 0;
  at::ScalarType dtype = at::kFloat;  // dtype of the original weight; dequantize() returns it

  int64_t bytes() const;  // bytes held by data and scale
};

// Elements of one NF4 block (one absmax each).
inline constexpr int64_t kNf4Block = 64;

// The 16 NormalFloat-4 levels, ascending, from -1 to 1 with 0 at index 7.
const std::array<float, 16>& nf4_levels();

// Two 4-bit codes a byte: uint8 codes [..., 2k] (values 0..15) -> uint8 [..., k], first code in the high nibble.
at::Tensor nf4_pack(const at::Tensor& codes);
// The inverse: uint8 [..., k] -> uint8 codes [..., 2k].
at::Tensor nf4_unpack(const at::Tensor& bytes);

// Quantizes a 2-D floating weight [out, in]; the result is on w's device. `name` (the checkpoint tensor name) only
// appears in errors: a weight that is not 2-D or not floating, or Nf4 with in % 64 != 0, is a gt::InputError.
// Works in blocks of rows of about 1 Mi elements, so the temporaries stay near 20 MiB whatever the matrix.
QuantizedWeight quantize(const at::Tensor& w, QuantMode mode, const std::string& name = "weight");

// [out, in] in q.dtype on q's device.
at::Tensor dequantize(const QuantizedWeight& q);

// y = x W^T (+ bias) with W = dequantize(q); x [..., in] in q.dtype. Gradients flow to x (and to bias if it
// requires one); the weight gets none. The backward node holds q.data and q.scale only (not x, not W): its
// backward dequantizes again, grad_x = grad_y W.
at::Tensor quantized_linear(const at::Tensor& x, const QuantizedWeight& q, const at::Tensor& bias = {});

// The tensors that y's backward node (made by quantized_linear) keeps for backward, saved_data included; empty when
// y has no grad_fn. Throws std::logic_error when y's grad_fn is another kind of node. For tests and memory checks.
std::vector<at::Tensor> quantized_linear_saved(const at::Tensor& y);

}  // namespace gt::models
