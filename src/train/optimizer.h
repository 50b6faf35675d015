// AdamW over the adapter parameters (PyTorch's torch.optim.AdamW arithmetic, decoupled weight decay) and the
// learning-rate schedules of Hugging Face Trainer (constant / linear / cosine, each after a linear warmup).
// The optimizer state is a set of named tensors, so a checkpoint stores it as safetensors next to the adapter.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace gt::train {

struct AdamWOptions {
  double lr = 2e-4;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;
};

// The parameters (all float32 on one device, as LoRA factors are) are moved into one flat buffer, and their
// gradients are views of one flat gradient buffer, so an update is six kernels instead of six per tensor (a
// Gemma E2B adapter has about 400 tensors; per-tensor updates cost ~18 ms a step on an H100).
class AdamW {
 public:
  // params: (name, tensor) pairs; names key the saved state. The tensors keep their identity (modules still
  // hold them) but their storage becomes part of the flat buffer.
  AdamW(std::vector<std::pair<std::string, at::Tensor>> params, AdamWOptions opts);
  // One update with learning rate `lr`.
  void step(double lr);
  // Zeroes the gradients (they stay allocated: backward accumulates into the flat buffer).
  void zero_grad();
  // L2 norm of all gradients; when max_norm > 0 and the norm exceeds it, gradients are scaled by
  // max_norm / (norm + 1e-6) (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping.
  double clip_grad_norm(double max_norm);
  int64_t steps_taken() const { return step_; }
  // The parameters, the flat gradient buffer their .grad tensors are views of, and each one's span in it
  // (train::GradientSync sums ranges of it across processes).
  const std::vector<std::pair<std::string, at::Tensor>>& parameters() const { return params_; }
  const at::Tensor& flat_grad() const { return flat_grad_; }
  const std::vector<std::pair<int64_t, int64_t>>& spans() const { return spans_; }

  // "<name>.exp_avg", "<name>.exp_avg_sq" tensors plus "__step__" (int64).
  std::vector<std::pair<std::string, at::Tensor>> state() const;
  // Restores what state() returned; throws gt::InputError naming missing or mis-shaped entries.
  void load_state(const std::map<std::string, at::Tensor>& state, const std::string& where);

 private:
  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::vector<std::pair<int64_t, int64_t>> spans_;  // offset and size of each parameter in the flat buffers
  at::Tensor flat_, flat_grad_, exp_avg_, exp_avg_sq_;
  AdamWOptions opts_;
  int64_t step_ = 0;
};

// Learning rate at optimizer step `step` (0-based) of `total`, as transformers' get_*_schedule_with_warmup.
double scheduled_lr(const std::string& kind, double peak, int64_t step, int64_t total, int64_t warmup);

}  // namespace gt::train
