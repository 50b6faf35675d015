// Choosing the next token from the logits of the last position, as transformers' generate does with its logits
// processors, in its order: repetition penalty (RepetitionPenaltyLogitsProcessor), then temperature, top-k and
// top-p (TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper), then one draw from the softmax; or the
// arg-max (the first maximum on ties) when the temperature is 0.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace gt::infer {

struct SamplingOptions {
  double temperature = 0.0;         // 0: greedy
  int64_t top_k = 0;                // 0: off
  double top_p = 1.0;               // 1: off
  double repetition_penalty = 1.0;  // 1: off; > 1 discourages tokens already in the prompt or the output
  bool greedy() const { return temperature <= 0.0; }
};

// Checks ranges; throws gt::InputError naming the option (--temperature ...) otherwise.
void check_sampling_options(const SamplingOptions& o);

// logits [B, V] float32 -> next ids [B] int64. `seen` [B, V] bool marks the tokens the repetition penalty applies
// to (undefined when the penalty is off). `generator` drives the draw (CPU generator; the draw runs on the CPU so
// a seed gives the same tokens on every device).
at::Tensor next_tokens(at::Tensor logits, const SamplingOptions& o, const at::Tensor& seen, at::Generator& generator);

}  // namespace gt::infer
