#include "infer/sampling.h"

#include <limits>

#include "core/error.h"

namespace gt::infer {

void check_sampling_options(const SamplingOptions& o) {
  if (!(o.temperature >= 0.0)) fail_input("--temperature is ", o.temperature, ", expected 0 (greedy) or more");
  if (o.top_k < 0) fail_input("--top-k is ", o.top_k, ", expected 0 (off) or more");
  if (!(o.top_p > 0.0 && o.top_p <= 1.0)) fail_input("--top-p is ", o.top_p, ", expected a value in (0, 1]");
  if (!(o.repetition_penalty > 0.0))
    fail_input("--repetition-penalty is ", o.repetition_penalty, ", expected a positive value (1 = off)");
}

at::Tensor next_tokens(at::Tensor logits, const SamplingOptions& o, const at::Tensor& seen, at::Generator& generator) {
  if (o.repetition_penalty != 1.0 && seen.defined()) {
    // Penalised logits move towards less likely: divided when positive, multiplied when negative.
    at::Tensor penalised = at::where(logits < 0, logits * o.repetition_penalty, logits / o.repetition_penalty);
    logits = at::where(seen, penalised, logits);
  }
  if (o.greedy()) return logits.argmax(-1);
  const float lowest = -std::numeric_limits<float>::infinity();
  logits = logits / o.temperature;
  const int64_t V = logits.size(-1);
  if (o.top_k > 0 && o.top_k < V) {
    at::Tensor kth = std::get<0>(logits.topk(o.top_k, -1)).select(-1, o.top_k - 1).unsqueeze(-1);
    logits = logits.masked_fill(logits < kth, lowest);
  }
  if (o.top_p < 1.0) {
    // Drop the least likely tokens whose cumulative probability (ascending) stays within 1 - top_p; the most
    // likely token always stays.
    auto [sorted, order] = logits.sort(-1, /*descending=*/false);
    at::Tensor cumulative = sorted.softmax(-1).cumsum(-1);
    at::Tensor drop_sorted = cumulative <= (1.0 - o.top_p);
    drop_sorted.select(-1, V - 1).fill_(false);
    at::Tensor drop = at::zeros_like(drop_sorted).scatter(-1, order, drop_sorted);
    logits = logits.masked_fill(drop, lowest);
  }
  at::Tensor probs = logits.softmax(-1).to(at::kCPU);
  return at::multinomial(probs, 1, /*replacement=*/false, generator).squeeze(-1).to(logits.device());
}

}  // namespace gt::infer
