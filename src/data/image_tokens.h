// Image soft tokens in the prompt: how many one image takes and the text that stands for it, exactly as the
// reference processors of transformers 5.17 expand an image placeholder (Gemma3nProcessor, Gemma4Processor with
// Gemma4ImageProcessor's size rule). Torch-free, so the data layer can call it with an image's size.
//
//   Gemma 3n  every image: "\n\n<start_of_image>" + "<image_soft_token>" x 256 + "<end_of_image>\n\n" (the
//             processor's image_seq_length = config.vision_soft_tokens_per_image; the image is resized to 768x768).
//   Gemma 4   "<|image>" + "<|image|>" x n + "<image|>", no newlines. The image keeps its aspect ratio and is scaled,
//             up or down, to the largest size whose patches fit the budget (Gemma4ImageProcessor's target size):
//               max_patches = budget * k^2                      (k = pooling_kernel_size 3, p = patch_size 16)
//               f  = sqrt(max_patches * p^2 / (h * w));  side = k * p
//               th = floor(f * h / side) * side;  tw = floor(f * w / side) * side
//               an edge that rounds to 0 becomes one side, the other min(floor(long / short) * side, budget * side)
//               n  = (th / p) * (tw / p) / k^2
// A model's values come from its image processor settings (media::image_processor_config, train/image_inputs.h);
// --image-token-budget overrides the budget.
#pragma once

#include <cstdint>
#include <string>

#include "io/model_config.h"  // defines: gt::io::Family, gt::io::ModelConfig

namespace gt::data {

struct ImageTokenRule {
  io::Family family = io::Family::Gemma4;
  std::string begin_marker;  // <start_of_image> / <|image>
  std::string soft_token;    // <image_soft_token> / <|image|>: the placeholder the tower's output replaces
  std::string end_marker;    // <end_of_image> / <image|>
  std::string around;        // written before the begin marker and after the end marker: "\n\n" (3n), "" (4)
  int64_t fixed_count = 256;  // Gemma 3n: soft tokens of every image
  // Gemma 4: the processor's size rule.
  int64_t budget = 280;  // max_soft_tokens: 70, 140, 280, 560 or 1120
  int64_t patch_size = 16;
  int64_t pooling_kernel_size = 3;
};

struct ImageSize {
  int64_t height = 0, width = 0;
  bool operator==(const ImageSize&) const = default;
};

// Gemma4ImageProcessor's get_aspect_ratio_preserving_size: the largest size with sides multiples of
// pooling_kernel_size * patch_size that has at most max_patches patches, aspect ratio kept, with the reference's edge
// cases (a side that rounds to 0 becomes one unit and the other floor(ratio) units, at most max_patches / k^2 units).
// Throws gt::InputError as the reference raises: both sides round to 0, or the edge case exceeds the budget.
ImageSize gemma4_target_size(int64_t height, int64_t width, int64_t patch_size, int64_t max_patches,
                             int64_t pooling_kernel_size);

// The same for a rule (max_patches = budget * k^2): a 1 x 100000 image becomes 48 x 3360 at budget 70, the short
// edge is never below one pooling block. Throws gt::InputError naming the size for an image without area.
ImageSize gemma4_image_target_size(const ImageTokenRule& rule, int64_t height, int64_t width);

// The released values of a family at `budget` (Gemma 4 only).
ImageTokenRule default_image_token_rule(io::Family family, int64_t budget = 280);
// Soft tokens one image of height x width takes in the prompt.
int64_t image_soft_token_count(const ImageTokenRule& rule, int64_t height, int64_t width);
// The exact text the processor puts in place of one image placeholder.
std::string image_prompt_text(const ImageTokenRule& rule, int64_t soft_tokens);

}  // namespace gt::data
