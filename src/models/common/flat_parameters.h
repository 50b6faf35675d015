// Parameters that live in one flat float32 buffer (train::AdamW moves the adapter's tensors into one, so an update is
// a few kernels over the whole buffer) and their copies in a lower dtype, made by one cast of the whole buffer each
// time it changes instead of one cast per parameter. models::LoraLinear's bf16 path uses its factors in the
// activations' dtype: two casts per adapted layer and optimizer step otherwise (~490 kernels a Gemma E2B step).
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace gt::models {

// Declares `flat` (1-D, contiguous) the buffer that holds `params` (each already set to a range of its storage) and
// gives every parameter the buffer's version counter, as a view of it would have: then a change to the buffer or to
// any of its parameters is seen by all, which is what keeps the shared copies current. Throws std::invalid_argument
// for a parameter outside the buffer.
void register_flat_parameters(const at::Tensor& flat, const std::vector<std::pair<std::string, at::Tensor>>& params);

// `param` in `dtype`: a view of one cast of the whole registered buffer that holds it, cast again when the buffer's
// version has moved since (a new tensor each time: views handed out earlier, saved by an autograd graph, keep their
// values). An undefined tensor when no registered buffer holds `param`.
at::Tensor cast_in_flat_buffer(const at::Tensor& param, at::ScalarType dtype);

}  // namespace gt::models
