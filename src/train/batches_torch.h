// Turns data::Batch (plain vectors) into the tensors a model takes.
#pragma once

#include <torch/torch.h>

#include "data/batching.h"
#include "models/text_model.h"

namespace gt::train {

struct BatchTensors {
  models::TextInputs inputs;
  at::Tensor labels;  // [B, T] int64
};

// attention_mask is left undefined when no row is padded (lets the fused attention use its causal kernel).
BatchTensors to_tensors(const data::Batch& b, const at::Device& device);

// "auto" -> bfloat16 on cuda/mps, float32 on cpu.
at::ScalarType resolve_dtype(const std::string& requested, const std::string& device);

// Mean loss (sum over supervised tokens / their count) of `examples`, without gradients. `audio`, when given,
// merges each batch's clips into the inputs (train/audio_inputs.h).
struct EvalResult {
  double loss = 0;
  int64_t tokens = 0;
};
class AudioInputs;
EvalResult evaluate(models::TextModel& model, const std::vector<data::Example>& examples, int64_t batch_size,
                    int64_t pad_id, const at::Device& device, const std::string& label = "eval",
                    AudioInputs* audio = nullptr);

}  // namespace gt::train
