#include "models/gemma4/model.h"

#include "core/error.h"
#include "models/audio_tower.h"
#include "models/gemma4/multimodal_embedder.h"
#include "models/gemma4/vision.h"

namespace gt::models::gemma4 {

Model::Model(const io::ModelConfig& cfg, std::shared_ptr<TextModel> text, std::shared_ptr<AudioTower> audio,
             std::shared_ptr<torch::nn::Module> vision)
    : models::Model(cfg, std::move(text), std::move(audio), std::move(vision)) {}

at::Tensor Model::image_features(const MediaInputs& media) {
  std::vector<int64_t> per_image;
  return image_soft_tokens(media, per_image);
}

at::Tensor Model::image_soft_tokens(const MediaInputs& media, std::vector<int64_t>& per_image) {
  if (!media.pixel_position_ids.defined())
    fail_input("Gemma 4 images need pixel_position_ids beside pixel_values (Gemma4ImageProcessor makes both)");
  VisionModelImpl& tower = vision_part<VisionModelImpl>("vision_tower");
  const at::Tensor w = text_->lm_head_weight();
  VisionOutput out = tower.forward(media.pixel_values.to(w.device()), media.pixel_position_ids.to(w.device()));
  per_image = std::move(out.tokens_per_image);
  // The embedder works token by token, so the per-image counts hold after it.
  return vision_part<MultimodalEmbedderImpl>("embed_vision").forward(out.tokens);
}

at::Tensor Model::decoder_ids(const at::Tensor& ids) const {
  at::Tensor media;
  for (const auto& id : {cfg_.media.image_token_id, cfg_.media.video_token_id, cfg_.media.audio_token_id}) {
    if (!id) continue;
    const at::Tensor m = ids == *id;
    media = media.defined() ? media.logical_or(m) : m;
  }
  if (!media.defined()) return ids;
  return at::where(media, at::scalar_tensor(cfg_.text.pad_token_id, ids.options()), ids);
}

at::Tensor Model::embed_inputs(const at::Tensor& ids, const MediaInputs& media) {
  torch::NoGradGuard no_grad;
  at::Tensor x = text_->embed(decoder_ids(ids));
  if (media.has_images())
    x = scatter_soft_tokens(x, ids, *cfg_.media.image_token_id, image_soft_tokens_or_cached(media), "image");
  if (media.has_audio()) x = scatter_soft_tokens(x, ids, *cfg_.media.audio_token_id, audio_soft_tokens(media), "audio");
  return x;
}

}  // namespace gt::models::gemma4
