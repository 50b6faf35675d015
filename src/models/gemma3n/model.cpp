#include "models/gemma3n/model.h"

#include "models/gemma3n/audio.h"
#include "models/gemma3n/multimodal_embedder.h"
#include "models/gemma3n/vision.h"

namespace gt::models::gemma3n {

Model::Model(const io::ModelConfig& cfg, std::shared_ptr<TextModel> text, std::shared_ptr<AudioTower> audio,
             std::shared_ptr<torch::nn::Module> vision)
    : models::Model(cfg, std::move(text), std::move(audio), std::move(vision)) {
  if (audio_) audio_tower_ = dynamic_cast<AudioTowerImpl*>(audio_.get());
}

at::Tensor Model::image_features(const MediaInputs& media) {
  const at::Tensor f = vision_part<VisionTowerImpl>("vision_tower").forward(media.pixel_values);  // [N, C, R, R]
  const at::Tensor soft = vision_part<MultimodalEmbedderImpl>("embed_vision").embed_soft(vision_soft_tokens(f));
  return soft.reshape({-1, soft.size(-1)});  // [N · R², D]
}

at::Tensor Model::image_soft_tokens(const MediaInputs& media, std::vector<int64_t>& per_image) {
  const at::Tensor soft = image_features(media);
  const int64_t n = media.pixel_values.size(0);  // every image gives the same R² tokens
  per_image.assign(static_cast<size_t>(n), n > 0 ? soft.size(0) / n : 0);
  return soft;
}

at::Tensor Model::embed_inputs(const at::Tensor& ids, const MediaInputs& media) {
  torch::NoGradGuard no_grad;
  at::Tensor x = text_->embed(ids);
  if (vision_) {
    // Ids of the vision vocabulary (below the audio one) go through embed_vision's hard path, the others look up
    // its last id and are discarded.
    MultimodalEmbedderImpl& embed = vision_part<MultimodalEmbedderImpl>("embed_vision");
    const MultimodalEmbedderShape& s = embed.shape();
    const int64_t end = s.vocab_offset + s.vocab_size;
    const at::Tensor hard = (ids >= s.vocab_offset).logical_and(ids < end);
    const at::Tensor safe = at::where(hard, ids, at::scalar_tensor(end - 1, ids.options()));
    x = at::where(hard.unsqueeze(-1), embed.embed_hard(safe).to(x.scalar_type()), x);
  }
  if (audio_tower_) {
    // Ids of the audio vocabulary go through embed_audio's hard path; the other positions look up the last audio
    // id, as Gemma3nModel does, and are discarded.
    const MultimodalEmbedderShape& s = audio_tower_->embed_audio->shape();
    const at::Tensor hard = ids >= s.vocab_offset;
    const at::Tensor safe = at::where(hard, ids, at::scalar_tensor(s.vocab_offset + s.vocab_size - 1, ids.options()));
    x = at::where(hard.unsqueeze(-1), audio_tower_->embed_hard_tokens(safe).to(x.scalar_type()), x);
  }
  if (media.has_images())
    x = scatter_soft_tokens(x, ids, *cfg_.media.image_token_id, image_soft_tokens_or_cached(media), "image");
  if (media.has_audio()) x = scatter_soft_tokens(x, ids, *cfg_.media.audio_token_id, audio_soft_tokens(media), "audio");
  return x;
}

}  // namespace gt::models::gemma3n
