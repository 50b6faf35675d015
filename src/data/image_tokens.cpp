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

ImageSize gemma4_image_target_size(const ImageTokenRule& rule, int64_t height, int64_t width) {
  if (height <= 0 || width <= 0) fail_input("an image of ", width, "x", height, " pixels has no area");
  const int64_t k = rule.pooling_kernel_size, p = rule.patch_size;
  const int64_t max_patches = rule.budget * k * k;
  const int64_t side = k * p;
  const double h = static_cast<double>(height), w = static_cast<double>(width);
  const double f = std::sqrt(static_cast<double>(max_patches * p * p) / (h * w));
  ImageSize t{static_cast<int64_t>(std::floor(f * h / static_cast<double>(side))) * side,
              static_cast<int64_t>(std::floor(f * w / static_cast<double>(side))) * side};
  if (t.height == 0 && t.width == 0)
    fail_input("an image of ", width, "x", height, " pixels cannot be scaled to the image token budget ", rule.budget);
  const int64_t max_side = (max_patches / (k * k)) * side;
  if (t.height == 0) {
    t.height = side;
    t.width = std::min(static_cast<int64_t>(std::floor(w / h)) * side, max_side);
  } else if (t.width == 0) {
    t.width = side;
    t.height = std::min(static_cast<int64_t>(std::floor(h / w)) * side, max_side);
  }
  if (t.height * t.width > max_patches * p * p)
    fail_input("an image of ", width, "x", height, " pixels needs more than ", rule.budget,
               " soft tokens at any scale (its aspect ratio is too extreme)");
  return t;
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
