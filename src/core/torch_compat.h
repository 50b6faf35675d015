// The one place that knows which libtorch version is in use (Debian's 1.13 in CI, 2.x with CUDA and on macOS).
// Code that needs a newer op checks the macro here and keeps its composite fallback.
#pragma once

#include <torch/version.h>

#include <ATen/core/Tensor.h>

#include <limits>

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define GT_HAS_FUSED_SDPA 1  // at::scaled_dot_product_attention with a `scale` argument
#else
#define GT_HAS_FUSED_SDPA 0
#endif

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
#define GT_HAS_SDPA_GQA 1  // at::scaled_dot_product_attention with `enable_gqa` (K/V heads shared without copies)
#else
#define GT_HAS_SDPA_GQA 0
#endif

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 9)
#define GT_HAS_FUSED_RMS_NORM 1  // at::_fused_rms_norm(input, shape, weight, eps) -> (out, rstd) and its backward (CUDA)
#else
#define GT_HAS_FUSED_RMS_NORM 0
#endif

namespace gt::torch_compat {

// The most negative finite value of a floating dtype (torch.finfo(dtype).min), as a double.
inline double lowest(at::ScalarType t) {
  switch (t) {
    case at::kBFloat16: return -3.38953138925153547590470800371487866880e+38;
    case at::kHalf: return -65504.0;
    case at::kDouble: return std::numeric_limits<double>::lowest();
    default: return std::numeric_limits<float>::lowest();
  }
}

}  // namespace gt::torch_compat
