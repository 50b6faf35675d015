// Gemma3nModel (transformers 5.17): the decoder, the towers a run built, and the input-embedding merge
// (Gemma3nModel.forward before the language model):
//   x = embed_tokens(ids) · sqrt(D)
//   ids of the audio vocabulary (>= embed_audio.vocab_offset, e.g. <end_of_audio>) -> embed_audio's hard path
//   every clip's soft tokens (188 each, padded as Gemma3nModel pads them) -> the positions of audio_token_id
// The per-layer (PLE) token part is taken from the ids by the decoder, which maps ids past its PLE table to row 0.
#pragma once

#include "models/model.h"

namespace gt::models::gemma3n {

class AudioTowerImpl;

class Model : public models::Model {
 public:
  Model(const io::ModelConfig& cfg, std::shared_ptr<TextModel> text, std::shared_ptr<AudioTower> audio);
  at::Tensor embed_inputs(const at::Tensor& ids, const MediaInputs& media) override;
  at::Tensor forward(const TextInputs& in, const MediaInputs& media, Trace* trace = nullptr) override;

 private:
  AudioTowerImpl* audio_tower_ = nullptr;  // the typed audio_ (its embedder's hard-token range)
};

}  // namespace gt::models::gemma3n
