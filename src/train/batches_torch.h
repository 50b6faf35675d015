// Turns data::Batch (plain vectors) into the tensors a model takes.
#pragma once

#include <torch/torch.h>

#include "data/batching.h"
#include "models/model.h"

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
