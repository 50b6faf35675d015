// The family dispatch of audio_tower.h: Gemma 3n's tower lives in models/gemma3n/audio.*, Gemma 4's in
// models/gemma4/audio.*; this file only chooses, and loads the checkpoint's audio tensors (for the tower alone;
// models/model.cpp loads it as part of the whole model).
#include "models/audio_tower.h"

#include "core/error.h"
#include "io/safetensors.h"
#include "models/common/weights.h"
#include "models/gemma3n/audio.h"
#include "models/gemma4/audio.h"

namespace gt::models {

std::shared_ptr<AudioTower> make_audio_tower(const io::ModelConfig& cfg, at::ScalarType dtype, at::Device device) {
  if (!cfg.has_audio_config())
    fail_input(cfg.path, ": no audio_config; this ", io::family_name(cfg.family),
               " checkpoint has no audio tower (a text-only model cannot take audio)");
  switch (cfg.family) {
    case io::Family::Gemma3n:
      return gemma3n::make_gemma3n_audio_tower(cfg, dtype, device);
    case io::Family::Gemma4:
      return gemma4::make_gemma4_audio_tower(cfg, dtype, device);
  }
  GT_CHECK(false, "unknown model family");
  return nullptr;
}

std::shared_ptr<AudioTower> load_audio_tower(const std::string& model_dir, const io::ModelConfig& cfg,
                                             at::ScalarType dtype, at::Device device) {
  std::shared_ptr<AudioTower> tower = make_audio_tower(cfg, dtype, device);
  load_frozen_weights(tower->module(), io::Checkpoint::open(model_dir), "model.");  // audio_tower.*, embed_audio.*
  return tower;
}

}  // namespace gt::models
