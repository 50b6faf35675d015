// KV-cache decoding for both families (transformers' GenerationMixin.generate with a DynamicCache): one prefill
// forward over the prompts (media go through their towers there, once), then one forward per new token that
// reads the cached keys and values (models/common/kv_cache.h). Batches are left-padded: every row's last prompt
// token is the batch's last position, positions count real tokens only, and padding is masked out of every
// attention, so a row generates what it would alone. Rows that stop leave the batch (their cache rows are dropped).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "infer/sampling.h"
#include "models/model.h"

namespace gt::infer {

struct GenerationOptions {
  int64_t max_new_tokens = 256;
  SamplingOptions sampling;
  uint64_t seed = 0;
  // Generation of a row ends when it draws one of these (the stop token is not part of the output).
  std::vector<int64_t> stop_ids;
  int64_t pad_id = 0;
};

// Prompts as the decoder takes them: left-padded ids [B, P], attention mask [B, P] (undefined when no row is
// padded), RoPE positions [B, P] (0.. over each row's real tokens; 0 on padding). CPU tensors.
struct PromptBatch {
  at::Tensor input_ids;
  at::Tensor attention_mask;
  at::Tensor position_ids;
};
// Throws gt::InputError when a prompt is empty.
PromptBatch left_pad(const std::vector<std::vector<int64_t>>& prompts, int64_t pad_id);

struct Generation {
  std::vector<int64_t> ids;  // generated ids, the stop token excluded
  bool stopped = false;      // ended by a stop token (else by max_new_tokens)
  int64_t prompt_tokens = 0;
};

struct GenerationTimes {
  double prefill_s = 0;      // the prompt forward and the first token
  double decode_s = 0;       // every later token
  int64_t new_tokens = 0;    // tokens drawn over all rows, stop tokens included
};

// Called for every generated token of a row (not for stop tokens), as soon as it is drawn.
using TokenCallback = std::function<void(int64_t row, int64_t id)>;

// Generates for every row of `prompts`; `media` holds the batch's clips and images in row order (as a training
// batch's). Runs without autograd in eval mode (the module's mode is restored).
std::vector<Generation> generate(models::Model& model, const PromptBatch& prompts, const models::MediaInputs& media,
                                 const GenerationOptions& o, const TokenCallback& on_token = {},
                                 GenerationTimes* times = nullptr);

}  // namespace gt::infer
