// The image side of a training or eval run's data (--modality image, audiovisual): it tells the dataset how to probe
// an image (decode once: size and soft-token count) and what text stands for it, and turns a batch's images into
// what the family's image processor makes (pixel values, and Gemma 4's patch positions), which the model's vision
// tower turns into soft tokens (models/model.h). Resized images are kept in memory up to a budget, so the epochs
// after the first decode and resize nothing on small datasets.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "core/train_config.h"
#include "data/batching.h"
#include "data/image_tokens.h"
#include "data/text_options.h"
#include "io/model_config.h"
#include "models/model.h"

namespace gt::media {
struct ImageProcessorConfig;
}

namespace gt::train {

class ImageInputs {
 public:
  // The image processor's settings from `model_dir` (processor_config.json / preprocessor_config.json) when it has
  // them, else the family's; token_budget (--image-token-budget) sets Gemma 4's soft tokens per image.
  ImageInputs(const std::string& model_dir, const io::ModelConfig& cfg, int64_t token_budget);
  ~ImageInputs();

  // What the dataset needs for image rows (columns and prompts from `run`): probe and placeholder text.
  data::ImageRowOptions row_options(const TrainConfig& run) const;

  // The processor's output for the batch's images, in order, into media.pixel_values (and pixel_position_ids for
  // Gemma 4), float32 on the CPU. Throws gt::InputError naming the image when one cannot be decoded now or has
  // another size than when the dataset was read.
  void add_to(models::MediaInputs& media, const data::Batch& batch);

  const data::ImageTokenRule& token_rule() const { return rule_; }
  // What besides the image's bytes and the checkpoint decides its soft tokens (the token budget and the rule's
  // counts), for --tower-cache keys.
  std::string cache_settings() const;
  const media::ImageProcessorConfig& processor() const { return *processor_; }
  // The image of `ref` as the processor resizes it, [3, H, W] uint8 (the live page shows it).
  at::Tensor preview(const data::ImageRef& ref) { return resized(ref); }

 private:
  io::Family family_;
  std::unique_ptr<media::ImageProcessorConfig> processor_;
  data::ImageTokenRule rule_;
  int32_t placeholder_id_ = -1;
  // The image of `ref` decoded and resized to what the processor feeds its patching / rescaling ([3, H, W] uint8).
  at::Tensor resized(const data::ImageRef& ref);
  std::unique_ptr<media::ImageProcessorConfig> no_resize_;  // the processor's settings for an image resized already
  std::unordered_map<std::string, at::Tensor> cache_;
  size_t cached_bytes_ = 0;
};

}  // namespace gt::train
