// Gemma4Model (transformers 5.17): the decoder, the towers a run built, and the input-embedding merge
// (Gemma4Model.forward before the language model):
//   ids' = ids with every image/video/audio placeholder replaced by the pad token
//   x    = embed_tokens(ids') · sqrt(D);  each clip's valid soft tokens -> the positions of audio_token_id;
//   each image's pooled soft tokens (vision_tower, then embed_vision: get_image_features) -> image_token_id
//   the decoder's per-layer token inputs are looked up from ids' (get_per_layer_inputs); its per-layer
//   projection sees x, soft tokens included.
#pragma once

#include "models/model.h"

namespace gt::models::gemma4 {

class Model : public models::Model {
 public:
  Model(const io::ModelConfig& cfg, std::shared_ptr<TextModel> text, std::shared_ptr<AudioTower> audio,
        std::shared_ptr<torch::nn::Module> vision);
  at::Tensor embed_inputs(const at::Tensor& ids, const MediaInputs& media) override;

  // ids with the media placeholders replaced by the pad token (ids' above).
  at::Tensor decoder_ids(const at::Tensor& ids) const override;
  // Gemma4Model.get_image_features: the soft tokens of every image in the text's embedding space, [sum n_i, D].
  at::Tensor image_features(const MediaInputs& media);

 protected:
  at::Tensor image_soft_tokens(const MediaInputs& media, std::vector<int64_t>& per_image) override;
};

}  // namespace gt::models::gemma4
