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

// The parameters (all float32 on one device, as LoRA factors are) are moved into one flat buffer and updated from
// one flat gradient buffer, so an update is six kernels instead of six per tensor (a Gemma E2B adapter has about 500
// tensors; per-tensor updates cost ~18 ms a step on an H100).
//
// Gradients reach the flat buffer one of two ways. By default zero_grad() leaves the parameters without gradients:
// the backward pass's AccumulateGrad then keeps each fresh gradient tensor as it comes (adding it to a zeroed view
// would be one kernel per parameter, ~490 a Gemma E2B step, plus zeroing the buffer), and clip_grad_norm() / step()
// first gather them into a flat buffer by one concatenation, after which the parameters' gradients are views of it
// until the next zero_grad(). The buffer exists only from that gathering to zero_grad(), so the backward pass holds
// the gradients once, as before. With accumulate_in_place() the gradients are always views of one lasting flat
// buffer that backward adds into (train::GradientSync sends ranges of it while backward runs).
class AdamW {
 public:
  // params: (name, tensor) pairs; names key the saved state. The tensors keep their identity (modules still
  // hold them) but their storage becomes part of the flat buffer.
  AdamW(std::vector<std::pair<std::string, at::Tensor>> params, AdamWOptions opts);
  // One update with learning rate `lr`.
  void step(double lr);
  // Starts the next step's gradients: drops them (or, accumulating in place, zeroes the flat buffer).
  void zero_grad();
  // Gradients from now on are accumulated in place into one lasting flat buffer (see above).
  void accumulate_in_place();
  // L2 norm of all gradients; when max_norm > 0 and the norm exceeds it, gradients are scaled by
  // max_norm / (norm + 1e-6) (torch.nn.utils.clip_grad_norm_). Returns the norm before clipping.
  double clip_grad_norm(double max_norm);
  int64_t steps_taken() const { return step_; }
  // The parameters, the flat gradient buffer (this step's gradients, gathered first where they are not in it yet)
  // and each parameter's span in it (train::GradientSync sums ranges of it across processes).
  const std::vector<std::pair<std::string, at::Tensor>>& parameters() const { return params_; }
  const at::Tensor& flat_grad();
  const std::vector<std::pair<int64_t, int64_t>>& spans() const { return spans_; }

  // "<name>.exp_avg", "<name>.exp_avg_sq" tensors plus "__step__" (int64).
  std::vector<std::pair<std::string, at::Tensor>> state() const;
  // Restores what state() returned; throws gt::InputError naming missing or mis-shaped entries.
  void load_state(const std::map<std::string, at::Tensor>& state, const std::string& where);

 private:
  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::vector<std::pair<int64_t, int64_t>> spans_;  // offset and size of each parameter in the flat buffers
  // Makes flat_grad_ hold the parameters' gradients (zeros for one without) and their .grad views of it.
  void gather_gradients();
  // Makes each parameter's .grad its view of flat_grad_, where it is not already.
  void point_gradients_at_flat();

  at::Tensor flat_, flat_grad_, exp_avg_, exp_avg_sq_;
  AdamWOptions opts_;
  int64_t step_ = 0;
  bool in_place_ = false;  // accumulate_in_place()
  bool gathered_ = true;   // the gradients are views of flat_grad_
};

// Learning rate at optimizer step `step` (0-based) of `total`, as transformers' get_*_schedule_with_warmup.
double scheduled_lr(const std::string& kind, double peak, int64_t step, int64_t total, int64_t warmup);

}  // namespace gt::train
