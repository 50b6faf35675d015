// Choosing the linear layers that get a LoRA adapter, with PEFT's matching rules so that an adapter_config.json
// means the same thing here and in PEFT:
//   a list of names  a module matches when its full name equals a name or ends with "." + name
//   a regex          a module matches when the regex matches its whole full name (re.fullmatch)
// Full names are checkpoint paths without the trailing ".weight", e.g. "model.language_model.layers.3.mlp.up_proj".
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "models/common/lora_linear.h"

namespace gt::models {

struct LoraTargets {
  std::vector<std::string> names;  // used when regex is empty
  std::string regex;
  // The reference default: the seven projections of the language model.
  static LoraTargets defaults();
  // "q_proj,v_proj" -> names; "re:<pattern>" or a string with regex characters -> regex.
  static LoraTargets parse(const std::string& text);
  std::string describe() const;
  // The same names as a regex limited to modules under `prefix` (e.g. "model.language_model."). A multimodal
  // checkpoint also has q_proj/k_proj/... in its towers, which PEFT would try to adapt from a plain name list;
  // adapters of multimodal checkpoints therefore record this form. A regex target is returned unchanged.
  LoraTargets scoped_to(const std::string& prefix) const;
};

bool lora_target_matches(const LoraTargets& t, const std::string& full_name);

// Adds LoRA to every LoraLinear under `root` whose full name (prefix + path) matches. Returns the full names
// adapted, in module order. Throws gt::InputError when nothing matches (naming the targets and a few available
// names) or when a matching module is not a linear layer.
std::vector<std::string> apply_lora(torch::nn::Module& root, const std::string& prefix, const LoraTargets& targets,
                                    const LoraOptions& options);

// Every LoRA factor parameter under root, with full names "<prefix><path>.lora_A.weight".
std::vector<std::pair<std::string, at::Tensor>> lora_parameters(torch::nn::Module& root, const std::string& prefix);

}  // namespace gt::models
