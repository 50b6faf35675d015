#include "train/image_inputs.h"

#include "core/error.h"
#include "core/strings.h"
#include "media/image_decode.h"
#include "media/image_processor.h"

namespace gt::train {

namespace {

// Resized images kept between batches: a Gemma 4 image at budget 280 is ~1.9 MB as uint8, a Gemma 3n one 1.7 MB, so
// 512 MiB hold ~270 of them.
constexpr size_t kCacheBytes = size_t{512} << 20;

// The skip code of a decoding error (the decoder's messages say which case it is).
const char* skip_kind_of(const std::string& message) {
  if (message.find("is empty (0 bytes)") != std::string::npos || message.find("empty body") != std::string::npos)
    return data::skip_kind::kEmptyImage;
  if (message.find("more than the limit of") != std::string::npos) return data::skip_kind::kImageTooLarge;
  return data::skip_kind::kBadImage;
}

}  // namespace

ImageInputs::ImageInputs(const std::string& model_dir, const io::ModelConfig& cfg, int64_t token_budget)
    : family_(cfg.family) {
  if (!cfg.has_vision_config())
    fail_input(cfg.path, ": the model has no vision_config, so it cannot take images (is it a text-only checkpoint?)");
  if (!cfg.media.image_token_id)
    fail_input(cfg.path, ": the model config has no image_token_id, which image inputs need");
  processor_ = std::make_unique<media::ImageProcessorConfig>(media::image_processor_config(
      std::string(io::family_name(cfg.family)), model_dir, cfg.family == io::Family::Gemma4 ? token_budget : 0));
  rule_ = data::default_image_token_rule(cfg.family, processor_->max_soft_tokens);
  rule_.patch_size = processor_->patch_size;
  rule_.pooling_kernel_size = processor_->pooling_kernel_size;
  // Gemma 3n: the tower's output tokens per image, whatever the processor's size (config.json says how many).
  if (cfg.family == io::Family::Gemma3n) rule_.fixed_count = cfg.media.vision_soft_tokens_per_image.value_or(256);
  placeholder_id_ = static_cast<int32_t>(*cfg.media.image_token_id);
  no_resize_ = std::make_unique<media::ImageProcessorConfig>(*processor_);
  no_resize_->do_resize = false;
}

at::Tensor ImageInputs::resized(const data::ImageRef& ref) {
  if (auto it = cache_.find(ref.source); it != cache_.end()) return it->second;
  const media::Image image = media::decode_image(ref.source);
  if (image.width != ref.width || image.height != ref.height)
    fail_input(ref.source, ": decodes to ", image.width, "x", image.height, " now, ", ref.width, "x", ref.height,
               " when the dataset was read; did the file change during the run?");
  at::Tensor out = media::image_to_tensor(image);
  if (processor_->do_resize) {
    const media::ImageSize size = family_ == io::Family::Gemma4
                                      ? media::gemma4_target_size(*processor_, image.height, image.width)
                                      : media::ImageSize{processor_->height, processor_->width};
    out = media::resize_uint8(out, size, processor_->resample, processor_->kernel);
  }
  const size_t bytes = out.nbytes();
  if (cached_bytes_ + bytes <= kCacheBytes) {
    cache_.emplace(ref.source, out);
    cached_bytes_ += bytes;
  }
  return out;
}

ImageInputs::~ImageInputs() = default;

data::ImageRowOptions ImageInputs::row_options(const TrainConfig& run) const {
  data::ImageRowOptions o;
  o.column = run.image_column;
  o.caption_column = run.caption_column;
  o.question_column = run.question_column;
  o.answer_column = run.answer_column;
  o.prompt = run.image_prompt;
  const data::ImageTokenRule rule = rule_;
  o.probe = [rule](const std::string& source) -> data::RowResult<data::ImageRef> {
    using R = data::RowResult<data::ImageRef>;
    try {
      const media::Image image = media::decode_image(source);
      data::ImageRef ref;
      ref.source = source;
      ref.width = image.width;
      ref.height = image.height;
      ref.soft_tokens = data::image_soft_token_count(rule, image.height, image.width);
      return R::ok(std::move(ref));
    } catch (const InputError& e) {
      return R::fail(skip_kind_of(e.what()), e.what());
    }
  };
  o.placeholder_text = [rule](const data::ImageRef& ref) { return data::image_prompt_text(rule, ref.soft_tokens); };
  o.placeholder_id = placeholder_id_;
  return o;
}

std::string ImageInputs::cache_settings() const {
  return cat("image max_soft_tokens ", processor_->max_soft_tokens, " patch_size ", processor_->patch_size,
             " pooling_kernel_size ", processor_->pooling_kernel_size, " budget ", rule_.budget, " fixed_count ",
             rule_.fixed_count);
}

void ImageInputs::add_to(models::MediaInputs& media, const data::Batch& batch) {
  if (batch.images.empty()) return;
  std::vector<at::Tensor> pixels, positions;
  for (const data::ImageRef& ref : batch.images) {
    const at::Tensor image = resized(ref);
    if (family_ == io::Family::Gemma4) {
      media::Gemma4ImageInput in = media::gemma4_preprocess(*no_resize_, image);
      if (in.soft_tokens != ref.soft_tokens)
        fail_input(ref.source, ": the image processor gives ", in.soft_tokens, " soft tokens, the text holds ",
                   ref.soft_tokens, " placeholders for it");
      pixels.push_back(std::move(in.pixel_values));
      positions.push_back(std::move(in.position_ids));
    } else {
      pixels.push_back(media::gemma3n_preprocess(*no_resize_, image));
    }
  }
  media.pixel_values = at::stack(pixels);
  if (!positions.empty()) media.pixel_position_ids = at::stack(positions);
}

}  // namespace gt::train
