// What training and eval need from the audio side of either family: the audio encoder (`model.audio_tower.*`)
// followed by its multimodal embedder (`model.embed_audio.*`), giving the soft tokens that replace the audio
// placeholder tokens of the text, in the language model's embedding space. Frozen; callers run it without autograd.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "io/model_config.h"  // defines: gt::io::ModelConfig

namespace gt::models {

struct AudioSoftTokens {
  // Soft tokens of every clip, concatenated in clip order: [sum(tokens_per_clip), text hidden size]. This is what
  // the model scatters, in order, into the positions of the audio placeholder token (masked_scatter).
  at::Tensor embeddings;
  std::vector<int64_t> tokens_per_clip;
};

class AudioTower {
 public:
  virtual ~AudioTower() = default;
  // features [N_clips, T_frames, n_mel] float32 as the feature extractor makes them; feature_mask [N_clips, T_frames]
  // bool, true = a real frame (the extractor's attention mask). Gemma 3n gives exactly
  // audio_soft_tokens_per_image (188) tokens per clip, padded as Gemma3nModel does; Gemma 4 gives the valid tokens
  // of each clip (Gemma4Model drops the masked ones).
  virtual AudioSoftTokens encode(const at::Tensor& features, const at::Tensor& feature_mask) = 0;
  // Embeddings of hard audio token ids (Gemma 3n: ids >= embed_audio.vocab_offset); undefined for Gemma 4.
  virtual at::Tensor embed_hard_tokens(const at::Tensor& ids) { return {}; }
  // Fills every weight as transformers' _init_weights does for a fresh model (for init-random and benchmarks).
  virtual void init_random(at::Generator& gen) = 0;
  // Children "audio_tower" and "embed_audio", named as in the checkpoint below the prefix "model.".
  virtual torch::nn::Module& module() = 0;
};

// The family's audio tower and embedder from cfg.audio_config_json, weights in `dtype` on `device`, uninitialised.
std::shared_ptr<AudioTower> make_audio_tower(const io::ModelConfig& cfg, at::ScalarType dtype, at::Device device);

// make_audio_tower + weights from the checkpoint of `model_dir` (only the audio tensors are read). Frozen.
std::shared_ptr<AudioTower> load_audio_tower(const std::string& model_dir, const io::ModelConfig& cfg,
                                             at::ScalarType dtype, at::Device device);

}  // namespace gt::models
