#include "data/image_tokens.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace gt::data {

ImageTokenRule default_image_token_rule(io::Family family, int64_t budget) {
  ImageTokenRule r;
  r.family = family;
  if (family == io::Family::Gemma3n) {
    r.begin_marker = "<start_of_image>";
    r.soft_token = "<image_soft_token>";
    r.end_marker = "<end_of_image>";
    r.around = "\n\n";
  } else {
    r.begin_marker = "<|image>";
    r.soft_token = "<|image|>";
    r.end_marker = "<image|>";
  }
  r.budget = budget;
  return r;
}

ImageSize gemma4_target_size(int64_t height, int64_t width, int64_t patch_size, int64_t max_patches,
                             int64_t pooling_kernel_size) {
  GT_CHECK(height > 0 && width > 0 && patch_size > 0 && max_patches > 0 && pooling_kernel_size > 0, height, "x", width);
  // Python floats, as get_aspect_ratio_preserving_size computes them.
  const double total_px = static_cast<double>(height * width);
  const double target_px = static_cast<double>(max_patches * patch_size * patch_size);
  const double factor = std::sqrt(target_px / total_px);
  const double ideal_height = factor * static_cast<double>(height);
  const double ideal_width = factor * static_cast<double>(width);
  const int64_t side = pooling_kernel_size * patch_size;
  int64_t th = static_cast<int64_t>(std::floor(ideal_height / static_cast<double>(side))) * side;
  int64_t tw = static_cast<int64_t>(std::floor(ideal_width / static_cast<double>(side))) * side;
  if (th == 0 && tw == 0)
    fail_input("a ", height, "x", width, " image cannot be resized for a budget of ", max_patches,
               " patches: both sides round to 0 (they must be multiples of ", side, ")");
  const int64_t max_side = (max_patches / (pooling_kernel_size * pooling_kernel_size)) * side;
  if (th == 0) {
    th = side;
    tw = std::min(static_cast<int64_t>(std::floor(static_cast<double>(width) / static_cast<double>(height))) * side, max_side);
  } else if (tw == 0) {
    tw = side;
    th = std::min(static_cast<int64_t>(std::floor(static_cast<double>(height) / static_cast<double>(width))) * side, max_side);
  }
  if (th * tw > max_patches * patch_size * patch_size)
    fail_input("resizing a ", height, "x", width, " image to ", th, "x", tw, " exceeds the budget of ", max_patches,
               " patches of ", patch_size, "x", patch_size, " (the image is too elongated)");
  return {th, tw};
}

ImageSize gemma4_image_target_size(const ImageTokenRule& rule, int64_t height, int64_t width) {
  if (height <= 0 || width <= 0) fail_input("an image of ", width, "x", height, " pixels has no area");
  const int64_t k = rule.pooling_kernel_size;
  return gemma4_target_size(height, width, rule.patch_size, rule.budget * k * k, k);
}

int64_t image_soft_token_count(const ImageTokenRule& rule, int64_t height, int64_t width) {
  if (rule.family == io::Family::Gemma3n) return rule.fixed_count;
  const ImageSize t = gemma4_image_target_size(rule, height, width);
  const int64_t k = rule.pooling_kernel_size, p = rule.patch_size;
  return (t.height / p) * (t.width / p) / (k * k);
}

std::string image_prompt_text(const ImageTokenRule& rule, int64_t soft_tokens) {
  std::string out = rule.around + rule.begin_marker;
  out.reserve(out.size() + static_cast<size_t>(soft_tokens) * rule.soft_token.size() + rule.end_marker.size() + 2);
  for (int64_t i = 0; i < soft_tokens; ++i) out += rule.soft_token;
  return out + rule.end_marker + rule.around;
}

}  // namespace gt::data
