// LoRA adapters in Hugging Face PEFT's format, so that PEFT (and tools that read it) load what gemma-tune trains,
// and gemma-tune evaluates adapters PEFT trained:
//   adapter_config.json         peft_type LORA, r, lora_alpha, lora_dropout, target_modules, task_type, ...
//   adapter_model.safetensors   "base_model.model.<module path>.lora_A.weight" [r, in] and ".lora_B.weight" [out, r]
// Module paths are those of the checkpoint ("model.language_model.layers.0.self_attn.q_proj" in the multimodal
// layout), so every key of a saved adapter matches a module of the base model. Loading is strict: a key that
// matches no module, or a module left without its weights, is an error (PEFT only warns, and a wrong prefix then
// silently leaves every lora_B at zero).
#pragma once

#include <string>

#include "models/common/lora_targets.h"
#include "models/text_model.h"

namespace gt::models {

struct AdapterConfig {
  int64_t r = 16;
  double lora_alpha = 32.0;
  double lora_dropout = 0.05;
  LoraTargets target_modules = LoraTargets::defaults();
  std::string base_model_name_or_path;
  std::string task_type = "CAUSAL_LM";
  // Image runs: Gemma 4's soft tokens per image the adapter was trained with (the same budget must be used with
  // it), written as "gemma_tune_image_token_budget" beside PEFT's keys; 0 = none.
  int64_t image_token_budget = 0;
  // The run's --modality ("text", "image", ...), written as "gemma_tune_modality"; empty = unknown (PEFT's own).
  std::string modality;
};

constexpr const char* kAdapterPrefix = "base_model.model.";

// Reads <dir>/adapter_config.json; throws gt::InputError on unsupported settings (DoRA, rsLoRA, rank or alpha
// patterns, biases), naming the key.
AdapterConfig read_adapter_config(const std::string& dir);

// Writes adapter_config.json and adapter_model.safetensors into `dir` (created if needed).
void save_adapter(const std::string& dir, TextModel& model, const AdapterConfig& cfg);

// Adds LoRA as the config says and loads the weights. Returns the number of adapted modules.
size_t load_adapter(const std::string& dir, TextModel& model);

// Copies <dir>/adapter_model.safetensors into a model that already has its LoRA layers (resume). Strict as above.
void load_adapter_weights(const std::string& dir, TextModel& model);

// The model's parameter name for a key of a PEFT file: "base_model.model.X.lora_A.default.weight" and
// "base_model.model.X.lora_A.weight" both give "X.lora_A.weight".
std::string adapter_key_to_parameter(const std::string& key);

}  // namespace gt::models
