// A LoRA adapter folded into the base weights: W' = W + (lora_alpha / r) B A for every adapted Linear (PEFT's
// merge_and_unload), computed in float32 and rounded once to the output dtype. The adapter's module paths are the
// checkpoint's (models/peft_adapter.h), so module X's delta goes to tensor "X.weight".
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "models/peft_adapter.h"

namespace gt::exporting {

struct LoraDelta {
  at::Tensor A;  // [r, in]
  at::Tensor B;  // [out, r]
  double scale = 1.0;
};

// The adapter's factors by checkpoint tensor name ("X.weight"). Throws gt::InputError naming the adapter key when a
// factor lacks its partner, or when the checkpoint has no tensor "X.weight" of shape [out, in].
std::map<std::string, LoraDelta> read_lora_deltas(const std::string& adapter_dir, const io::Checkpoint& base);

// Every tensor of `base` (views over the mapped files, no copy), the adapted ones merged and every floating tensor in
// `dtype` (undefined: as stored).
std::vector<std::pair<std::string, at::Tensor>> merged_tensors(const io::Checkpoint& base,
                                                               const std::map<std::string, LoraDelta>& deltas,
                                                               std::optional<at::ScalarType> dtype);

}  // namespace gt::exporting
