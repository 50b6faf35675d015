// The family dispatch of audio_tower.h: Gemma 3n's tower lives in models/gemma3n/audio.*, Gemma 4's in
// models/gemma4/audio.*; this file only chooses, and loads the checkpoint's audio tensors.
#include "models/audio_tower.h"

#include "core/error.h"
#include "io/safetensors.h"
#include "models/common/weights.h"
#include "models/gemma3n/audio.h"
#if __has_include("models/gemma4/audio.h")
#include "models/gemma4/audio.h"
#define GT_HAVE_GEMMA4_AUDIO 1
#endif

namespace gt::models {

// The Gemma 4 header may declare its factory in gt::models::gemma4 or in gt::models; a using-directive finds
// either, so this file does not depend on that choice.
namespace gemma4 {}

std::shared_ptr<AudioTower> make_audio_tower(const io::ModelConfig& cfg, at::ScalarType dtype, at::Device device) {
  if (!cfg.has_audio_config())
    fail_input(cfg.path, ": no audio_config; this ", io::family_name(cfg.family),
               " checkpoint has no audio tower (a text-only model cannot take audio)");
  switch (cfg.family) {
    case io::Family::Gemma3n:
      return gemma3n::make_gemma3n_audio_tower(cfg, dtype, device);
    case io::Family::Gemma4: {
      // ---- Gemma 4: filled by models/gemma4/audio.* ------------------------------------------------------------
#ifdef GT_HAVE_GEMMA4_AUDIO
      using namespace gemma4;
      return make_gemma4_audio_tower(cfg, dtype, device);
#else
      fail_input(cfg.path, ": the Gemma 4 audio tower is not built into this gemma-tune");
#endif
    }
  }
  GT_CHECK(false, "unknown model family");
  return nullptr;
}

std::shared_ptr<AudioTower> load_audio_tower(const std::string& model_dir, const io::ModelConfig& cfg,
                                             at::ScalarType dtype, at::Device device) {
  std::shared_ptr<AudioTower> tower = make_audio_tower(cfg, dtype, device);
  const io::Checkpoint ckpt = io::Checkpoint::open(model_dir);
  load_weights(tower->module(), ckpt, "model.");  // audio_tower.* and embed_audio.*; names every missing tensor
  for (auto& p : tower->module().parameters(/*recurse=*/true)) p.set_requires_grad(false);  // frozen
  tower->module().eval();
  return tower;
}

}  // namespace gt::models
