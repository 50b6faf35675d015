// Image preprocessing for the vision towers, as transformers 5.17's image processors compute it (torchvision
// backends, the AutoImageProcessor default): Gemma4ImageProcessor and Gemma 3n's SiglipImageProcessor.
//
//   Gemma 4   target size from the token budget (aspect ratio kept, sides multiples of pooling_kernel_size *
//             patch_size = 48, up- or down-scaled), bicubic antialiased resize of the uint8 image (skipped when
//             already that size), rescale x (1/255), patches of 16x16 in raster order each flattened as
//             [row][col][channel], positions (x = column, y = row), padding to max_patches = 9 * max_soft_tokens
//             rows of zeros with positions (-1, -1). Soft tokens = patches / 9.
//   Gemma 3n  bilinear antialiased resize of the uint8 image to 768 x 768 (aspect ratio not kept), rescale x (1/255),
//             [3, 768, 768]; no normalisation (do_normalize is false in the released settings). 256 soft tokens.
//
// The resize: torchvision's resize_image sends a uint8 image on the CPU to torch's own uint8 kernel (bicubic always;
// bilinear where torch.backends.cpu.get_cpu_capability() is AVX2 or AVX512), which separates the two axes (width first,
// the intermediate rounded to uint8), computes antialiased filter weights in float64 (PIL's support and centring,
// Keys cubic a = -0.5 or the triangle), turns them into int16 at the largest precision that fits the axis's largest
// weight, and sums integer products: out = clamp((sum + 2^(p-1)) >> p, 0, 255). resize_uint8 does exactly that in
// integer arithmetic, so the result does not depend on the machine or on the libtorch version: against transformers
// 5.17 / torch 2.11 it is bit exact for every test image of both families (tests/media/image_processor_test.cpp).
// The other path torchvision can take (uint8 -> float32 -> interpolate(antialias) -> clamp, round: bilinear on CPUs
// without AVX2, any GPU input) is ImageResizeKernel::Float. It differs: by 1 in 14-19% of the values for Gemma 3n's
// bilinear, and for Gemma 4's bicubic by up to 28 near sharp edges (the float path keeps the first pass's
// overshoot that the uint8 path clamps) and up to 3 on a photo-like image.
//
// Everything runs on the CPU, as the reference processors do by default; callers move the results to their device
// (the numbers are the same whatever the training device).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "io/model_config.h"     // defines: gt::io::Family
#include "data/image_tokens.h"  // defines: ImageSize, gemma4_target_size
#include "media/image_decode.h"  // defines: Image

namespace gt::media {

enum class ImageResample { Bilinear, Bicubic };

// Which of torchvision's two uint8 resize paths to reproduce (see above).
enum class ImageResizeKernel { Uint8, Float };

// The settings of one family's image processor. Field names are the processor's (the keys of its settings file);
// defaults are the family's (5.17 class defaults for Gemma 4, the released settings for Gemma 3n).
struct ImageProcessorConfig {
  io::Family family = io::Family::Gemma4;
  std::string source;  // the file the settings were read from; "" for the family defaults

  // Gemma 4 (Gemma4ImageProcessor)
  int64_t max_soft_tokens = 280;  // one of 70, 140, 280, 560, 1120
  int64_t patch_size = 16;
  int64_t pooling_kernel_size = 3;
  // Gemma 3n (SiglipImageProcessor): the fixed output size
  int64_t height = 768, width = 768;

  ImageResample resample = ImageResample::Bicubic;  // Gemma 3n: Bilinear
  bool do_resize = true;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = false;
  std::vector<double> image_mean{0.0, 0.0, 0.0};  // Gemma 3n: 0.5 (stored, not applied)
  std::vector<double> image_std{1.0, 1.0, 1.0};
  ImageResizeKernel kernel = ImageResizeKernel::Uint8;

  int64_t max_patches() const { return max_soft_tokens * pooling_kernel_size * pooling_kernel_size; }
  // Soft tokens of one image: Gemma 4's budget (an upper bound; gemma4_soft_tokens gives an image's count),
  // Gemma 3n's fixed 256.
  int64_t soft_tokens_per_image() const;
};

// The family's defaults ("gemma3n" or "gemma4"), overridden by the image processor settings of `model_dir` when it
// has some: the "image_processor" object of processor_config.json, else preprocessor_config.json. token_budget > 0
// (--image-token-budget) then replaces max_soft_tokens (Gemma 4: 70, 140, 280, 560 or 1120; Gemma 3n: only 256, its
// fixed count). Throws gt::InputError naming the file and key for a mistyped or unsupported value (resample other than
// bilinear/bicubic, a size without height and width, a budget the processor refuses, an image_processor_type of
// another family), and for an unknown family.
ImageProcessorConfig image_processor_config(const std::string& family, const std::string& model_dir = "",
                                            int64_t token_budget = 0);

// Gemma 4's size rule lives with the token count, torch-free (data/image_tokens.h): gemma4_target_size(h, w, p,
// max_patches, k) and ImageSize.
using data::gemma4_target_size;
using data::ImageSize;
ImageSize gemma4_target_size(const ImageProcessorConfig& config, int64_t height, int64_t width);
// Soft tokens of an image of `resized` size: (height / p) * (width / p) / k^2.
int64_t gemma4_soft_tokens(const ImageProcessorConfig& config, ImageSize resized);

// [3, H, W] uint8 CPU tensor of a decoded image.
at::Tensor image_to_tensor(const Image& image);

// torchvision's resize of a [3, H, W] (or [C, H, W]) uint8 image to `size`, antialiased, uint8 result; the input
// itself when it already has that size. See the file comment for the two kernels.
at::Tensor resize_uint8(const at::Tensor& image, ImageSize size, ImageResample resample,
                        ImageResizeKernel kernel = ImageResizeKernel::Uint8);

// TorchvisionBackend's rescale and normalisation of a uint8 image: float32 result. do_rescale alone: v * float32(f);
// with do_normalize: (v - float32(mean) * float32(1 / f)) / (float32(std) * float32(1 / f)), as the backend fuses them.
at::Tensor rescale_and_normalize(const ImageProcessorConfig& config, const at::Tensor& image);

struct Gemma4ImageInput {
  at::Tensor pixel_values;  // [max_patches, 3 * p * p] float32: real patches, then zero rows
  at::Tensor position_ids;  // [max_patches, 2] int64: (x, y) = (column, row) of each patch; (-1, -1) for padding
  int64_t soft_tokens = 0;  // real patches / k^2
  ImageSize resized;        // the size the image was resized to
};

// Gemma4ImageProcessor on one image ([3, H, W] uint8 tensor or a decoded Image). Throws gt::InputError when the image
// cannot be processed (its size rounds to nothing, or without resizing it is not a multiple of the patch size or has
// more patches than max_patches).
Gemma4ImageInput gemma4_preprocess(const ImageProcessorConfig& config, const at::Tensor& image);
Gemma4ImageInput gemma4_preprocess(const ImageProcessorConfig& config, const Image& image);

// Gemma 3n's processor on one image: [3, height, width] float32.
at::Tensor gemma3n_preprocess(const ImageProcessorConfig& config, const at::Tensor& image);
at::Tensor gemma3n_preprocess(const ImageProcessorConfig& config, const Image& image);

}  // namespace gt::media
