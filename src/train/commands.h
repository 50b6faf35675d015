// The commands that need libtorch, behind a torch-free interface so that src/cli/ stays light:
// each cli/<command>.cpp parses options into these structs and calls one function here.
#pragma once

#include <cstdint>
#include <string>

#include "core/train_config.h"

namespace gt::train {

// Trains as `cfg` says (a new run, or cfg.resume). Returns the process exit code: 0 done, 130 interrupted
// (a checkpoint was written). Throws gt::InputError for bad input; the run folder records the failure.
int run_train(const TrainConfig& cfg);

// eval reads data and runs the model with the options of a training run (same table, same defaults): run.data is
// a file, or a folder evaluated on its validation split (its train split when it has none).
struct EvalOptions {
  TrainConfig run;
  std::string adapter;  // LoRA adapter folder (PEFT format); empty: the base model
  bool json = false;
  // false: an adapter trained on images brings its image token budget (it must be the one it was trained with)
  bool image_token_budget_given = false;
};
// Mean cross-entropy over supervised tokens of the whole dataset; prints it (or one JSON object).
void run_eval(const EvalOptions& o);

struct InitRandomOptions {
  std::string family = "gemma4";
  std::string size = "tiny";
  std::string out;
  std::string tokenizer;  // Gemma 3 layout tokenizer.json to adapt and copy; default: the npm one if present
  int64_t seed = 0;
  std::string dtype = "bfloat16";
  int64_t vocab_size = 0;  // 0: the family's; smaller values pair with small test tokenizers
  bool config_only = false;
};
void run_init_random(const InitRandomOptions& o);

struct PrepareOptions {
  std::string data, out;
  std::string modality = "audio";
  std::string audio_column = "audio_path";
  double max_duration = 30.0;  // seconds kept of each clip
  double min_duration = 0.0;   // shorter clips are skipped
};
// Decodes every clip of an audio dataset into <out>/clips (16 kHz mono wav), writes the rows pointing at them,
// skipped.jsonl and prepare.json (durations, bad rows).
void run_prepare(const PrepareOptions& o);

}  // namespace gt::train
