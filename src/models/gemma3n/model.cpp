#include "models/gemma3n/model.h"

#include "models/gemma3n/audio.h"

namespace gt::models::gemma3n {

Model::Model(const io::ModelConfig& cfg, std::shared_ptr<TextModel> text, std::shared_ptr<AudioTower> audio)
    : models::Model(cfg, std::move(text), std::move(audio)) {
  if (audio_) audio_tower_ = dynamic_cast<AudioTowerImpl*>(audio_.get());
}

at::Tensor Model::embed_inputs(const at::Tensor& ids, const MediaInputs& media) {
  torch::NoGradGuard no_grad;
  at::Tensor x = text_->embed(ids);
  if (audio_tower_) {
    // Ids of the audio vocabulary go through embed_audio's hard path; the other positions look up the last audio
    // id, as Gemma3nModel does, and are discarded.
    const MultimodalEmbedderShape& s = audio_tower_->embed_audio->shape();
    const at::Tensor hard = ids >= s.vocab_offset;
    const at::Tensor safe = at::where(hard, ids, at::scalar_tensor(s.vocab_offset + s.vocab_size - 1, ids.options()));
    x = at::where(hard.unsqueeze(-1), audio_tower_->embed_hard_tokens(safe).to(x.scalar_type()), x);
  }
  if (media.has_audio()) x = scatter_soft_tokens(x, ids, *cfg_.media.audio_token_id, audio_soft_tokens(media), "audio");
  return x;
}

at::Tensor Model::forward(const TextInputs& in, const MediaInputs& media, Trace* trace) {
  TextInputs t = in;
  t.inputs_embeds = embed_inputs(in.input_ids, media);
  return text_->forward(t, trace);
}

}  // namespace gt::models::gemma3n
