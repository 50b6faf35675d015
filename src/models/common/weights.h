// Filling a module's parameters and buffers from a checkpoint by name: the module's names, prefixed, are the
// checkpoint's tensor names (no rename tables). Every missing or mis-shaped tensor is collected and reported in
// one error that names the checkpoint, so a wrong folder shows all its faults at once.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "io/safetensors.h"  // defines: gt::io::Checkpoint

namespace gt::models {

struct LoadReport {
  size_t loaded = 0;
  uint64_t bytes = 0;
};

// Copies `prefix + name` for every parameter and buffer of `module` (LoRA factors excluded), converting to the
// tensor's dtype and device. Throws gt::InputError listing every missing tensor and shape mismatch.
LoadReport load_weights(torch::nn::Module& module, const io::Checkpoint& ckpt, const std::string& prefix);

// load_weights for a frozen part (a tower and its embedder): no parameter requires grad, and the module is in eval
// mode.
LoadReport load_frozen_weights(torch::nn::Module& module, const io::Checkpoint& ckpt, const std::string& prefix);

}  // namespace gt::models
