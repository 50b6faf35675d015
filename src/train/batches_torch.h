// Turns data::Batch (plain vectors) into the tensors a model takes.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "data/batching.h"
#include "models/model.h"
#include "train/tower_cache.h"

namespace gt::train {

class AudioInputs;
class ImageInputs;

// The media readers of a run; null = that medium is not read.
struct MediaReaders {
  AudioInputs* audio = nullptr;
  ImageInputs* images = nullptr;
};

struct BatchTensors {
  models::TextInputs inputs;
  models::MediaInputs media;
  at::Tensor labels;  // [B, T] int64
};

// The batch's clips and images as the model takes them, through the readers given (on the CPU; the model moves
// them); a medium without a reader is left out.
models::MediaInputs media_inputs(const data::Batch& b, const MediaReaders& readers);

// attention_mask is left undefined when no row is padded (lets the fused attention use its causal kernel). The
// batch's clips and images become `media` through the readers given (on the CPU; the model moves them).
BatchTensors to_tensors(const data::Batch& b, const at::Device& device, const MediaReaders& readers = {});

// --tower-cache: the frozen towers' soft tokens of a run's training batches from disk (train/tower_cache.h).
struct CachedTowers {
  TowerCache cache;
  models::Model& model;      // computes the items not in the cache
  std::string audio_settings, image_settings;  // tower_settings of each tower the run reads
  int64_t hidden = 0;        // the text's hidden size (the soft tokens' width)
  at::ScalarType dtype;      // the text embedding's dtype (the soft tokens' as scattered)
};

// The cache of `dir` for a run reading `readers`' media with `model` (weights from `model_dir`, `device`); null when
// dir is empty or the run reads no media. Throws gt::InputError when the folder cannot be created or a file of
// model_dir cannot be read.
std::unique_ptr<CachedTowers> open_tower_cache(const std::string& dir, const std::string& model_dir,
                                               const MediaReaders& readers, models::Model& model,
                                               const at::Device& device);

// As to_tensors above, with the batch's media as precomputed soft tokens (MediaInputs::audio_soft_tokens,
// image_soft_tokens): every clip and image is looked up in the cache; those missing are decoded, turned into
// features / pixels and run through the towers (without autograd; only them, as a smaller batch), and stored. A batch
// whose every item is in the cache decodes nothing and runs no tower.
BatchTensors to_tensors(const data::Batch& b, const at::Device& device, const MediaReaders& readers,
                        CachedTowers& towers);

// "auto" -> bfloat16 on cuda/mps, float32 on cpu.
at::ScalarType resolve_dtype(const std::string& requested, const std::string& device);

// Mean loss (sum over supervised tokens / their count) of `examples`, without gradients; `readers` prepare each
// batch's media.
struct EvalResult {
  double loss = 0;
  int64_t tokens = 0;
};
EvalResult evaluate(models::Model& model, const std::vector<data::Example>& examples, int64_t batch_size,
                    int64_t pad_id, const at::Device& device, const std::string& label = "eval",
                    const MediaReaders& readers = {});

}  // namespace gt::train
