#include "data/image_tokens.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "data/audio_tokens.h"  // read_processor_config_files
#include "io/json_section.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace gt::data {

namespace {

bool valid_budget(int64_t b) { return b == 70 || b == 140 || b == 280 || b == 560 || b == 1120; }

// The image processor's settings of a model folder, as transformers finds them: the "image_processor" object of
// processor_config.json, else preprocessor_config.json. Empty object when neither has them.
struct ImageSettings {
  json j = json::object();
  std::string file, prefix;
};

ImageSettings image_settings(const std::string& model_dir) {
  ImageSettings out;
  if (model_dir.empty()) return out;
  const ProcessorConfigFiles files = read_processor_config_files(model_dir);
  if (!files.processor_json.empty()) {
    const json p = json::parse(files.processor_json);
    if (p.contains("image_processor") && p["image_processor"].is_object()) {
      out.j = p["image_processor"];
      out.file = files.processor_file;
      out.prefix = "image_processor.";
      return out;
    }
  }
  const fs::path pre = fs::path(model_dir) / "preprocessor_config.json";
  if (fs::exists(pre)) {
    std::ifstream in(pre);
    std::stringstream text;
    text << in.rdbuf();
    out.j = io::JsonSection::parse_object(text.str(), pre.string());
    out.file = pre.string();
  }
  return out;
}

}  // namespace

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

ImageTokenRule image_token_rule(const io::ModelConfig& config, const std::string& model_dir, int64_t budget) {
  ImageTokenRule r = default_image_token_rule(config.family, 280);
  if (config.family == io::Family::Gemma3n) {
    if (const auto n = config.media.vision_soft_tokens_per_image) {
      if (*n <= 0) fail_input(config.path, ": vision_soft_tokens_per_image is ", *n, ", expected a positive integer");
      r.fixed_count = *n;
    }
    return r;
  }
  const ImageSettings s = image_settings(model_dir);
  const io::JsonSection sec(s.j, s.file, s.prefix);
  sec.read("max_soft_tokens", r.budget);
  sec.read("patch_size", r.patch_size);
  sec.read("pooling_kernel_size", r.pooling_kernel_size);
  if (r.patch_size <= 0) fail_input(sec.where("patch_size"), " is ", r.patch_size, ", expected a positive integer");
  if (r.pooling_kernel_size <= 0)
    fail_input(sec.where("pooling_kernel_size"), " is ", r.pooling_kernel_size, ", expected a positive integer");
  if (!valid_budget(r.budget))
    fail_input(sec.where("max_soft_tokens"), " is ", r.budget, ", expected one of 70, 140, 280, 560, 1120");
  if (budget != 0) {
    if (!valid_budget(budget))
      fail_input("--image-token-budget is ", budget, ", expected one of 70, 140, 280, 560, 1120");
    r.budget = budget;
  }
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
