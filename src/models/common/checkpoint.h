// Gradient (activation) checkpointing for libtorch C++, which has no torch.utils.checkpoint: a function of some
// tensors runs without recording its graph; in the backward pass it runs again, with the random generator
// states it had the first time (so dropout masks repeat), and the gradients flow through that recomputation.
// Parameters used inside (LoRA factors) receive their gradients during the recomputed backward, as with
// PyTorch's reentrant checkpoint. Memory: only the inputs of each checkpointed call stay alive.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

namespace gt::models {

using CheckpointFn = std::function<std::vector<at::Tensor>(const std::vector<at::Tensor>&)>;

// Outputs of fn(inputs), differentiable with respect to the inputs that require grad and to the parameters fn
// uses. Undefined inputs are passed through as undefined. When grad mode is off, this is just fn(inputs).
std::vector<at::Tensor> checkpoint(const CheckpointFn& fn, const std::vector<at::Tensor>& inputs);

}  // namespace gt::models
