// Gemma3nModel (transformers 5.17): the decoder, the towers a run built, and the input-embedding merge
// (Gemma3nModel.forward before the language model):
//   x = embed_tokens(ids) · sqrt(D)
//   ids of the vision vocabulary ([embed_vision.vocab_offset, embed_audio's), e.g. <end_of_image>) and of the audio
//   vocabulary (>= embed_audio.vocab_offset, e.g. <end_of_audio>) -> their embedder's hard path (when built)
//   every image's 256 soft tokens (get_image_features) -> the positions of image_token_id
//   every clip's soft tokens (188 each, padded as Gemma3nModel pads them) -> the positions of audio_token_id
// The per-layer (PLE) token part is taken from the ids by the decoder, which maps ids past its PLE table to row 0.
#pragma once

#include "models/model.h"

namespace gt::models::gemma3n {

class AudioTowerImpl;

class Model : public models::Model {
 public:
  Model(const io::ModelConfig& cfg, std::shared_ptr<TextModel> text, std::shared_ptr<AudioTower> audio,
        std::shared_ptr<torch::nn::Module> vision);
  at::Tensor embed_inputs(const at::Tensor& ids, const MediaInputs& media) override;
  // Gemma3nModel.get_image_features: the MobileNet's [N, C, 16, 16] output as N x 256 tokens (row-major), times
  // sqrt(C), through embed_vision's soft path: [N · 256, D].
  at::Tensor image_features(const MediaInputs& media);

 protected:
  at::Tensor image_soft_tokens(const MediaInputs& media, std::vector<int64_t>& per_image) override;

 private:
  AudioTowerImpl* audio_tower_ = nullptr;  // the typed audio_ (its embedder's hard-token range)
};

}  // namespace gt::models::gemma3n
