// Checkpoints of a run: everything `--resume` needs to continue exactly as if never interrupted.
//   checkpoints/step-N/adapter_config.json, adapter_model.safetensors   the adapter (PEFT format, loadable as is)
//   checkpoints/step-N/optimizer.safetensors                            AdamW moments and step count
//   checkpoints/step-N/rng.safetensors                                  random generator states (cpu, accelerator)
//   checkpoints/step-N/trainer_state.json                               step, data position, counters
//   checkpoints/step-N/DONE                                             written last
// A checkpoint is written into step-N.tmp and renamed, and DONE is created after the rename, so a run killed
// mid-write never leaves a folder that resume would read (llm.c's DONE file). Only the newest `keep` complete
// checkpoints are kept.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "models/peft_adapter.h"
#include "models/text_model.h"
#include "train/optimizer.h"

namespace gt::train {

struct TrainerState {
  int64_t step = 0;            // optimizer steps done
  int64_t epoch = 0;           // epoch of the next micro-batch
  int64_t index_in_epoch = 0;  // position in that epoch's order
  int64_t tokens_seen = 0;     // supervised tokens trained on so far
  nlohmann::json stream;       // a streamed dataset's position (data::StreamingBatches::state()); null otherwise
  nlohmann::json to_json() const;
  static TrainerState from_json(const nlohmann::json& j, const std::string& where);
};

void save_checkpoint(const std::string& run_dir, int64_t keep, models::TextModel& model,
                     const models::AdapterConfig& adapter_cfg, const AdamW& opt, const TrainerState& state,
                     const at::Device& device);

// The run's final adapter/ folder (PEFT format), written as a checkpoint is: into adapter.tmp, every file fsynced,
// then renamed over any older adapter/ and the run folder fsynced, so a crash never leaves a half-written adapter/.
void save_final_adapter(const std::string& run_dir, models::TextModel& model, const models::AdapterConfig& adapter_cfg);

// The newest complete checkpoint folder of a run, if any.
std::optional<std::string> latest_checkpoint(const std::string& run_dir);

// Loads adapter weights (into a model that already has LoRA applied), optimizer state and generator states.
TrainerState load_checkpoint(const std::string& ckpt_dir, models::TextModel& model, AdamW& opt, const at::Device& device);

}  // namespace gt::train
