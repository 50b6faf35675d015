// `gemma-tune eval --generate`: the task metrics of a model (optionally with an adapter, or both side by side) on
// the rows of a dataset. Every row's last model turn is the reference; the model answers the conversation up to it
// (infer/prompts.h), greedily unless asked otherwise. Written to the output folder:
//   predictions.csv  id (file:row), reference, prediction, and per row: wer, cer, chrf, exact_match (after the
//                    normaliser), generated tokens, stopped (false: cut by max-new-tokens); with --compare-adapter
//                    the prediction and metrics of the base model and of the adapter side by side
//   metrics.json     corpus WER and CER (errors summed over rows / reference words or characters, as jiwer), chrF
//                    (sacrebleu's corpus statistics), exact match rate, the teacher-forced loss and perplexity on the
//                    same rows, generation speed, the normaliser, the settings
// WER/CER are the figures for speech (audio runs), chrF and exact match for text and captions; all are written.
#pragma once

#include <string>

#include "core/train_config.h"

namespace gt::infer {

struct TaskEvalOptions {
  std::string adapter;
  bool compare_adapter = false;  // also run the base model and report both
  std::string out;               // output folder (created)
  std::string normalizer = "basic";
  int64_t max_new_tokens = 256;
  int64_t max_rows = 0;          // 0: every row
  bool json = false;             // print metrics.json on standard output
  bool image_token_budget_given = false;
};

void run_task_eval(const TrainConfig& run, const TaskEvalOptions& o);

// `gemma-tune blacklist`: the rows of a dataset whose answer the model gets badly wrong (per-row WER or CER above,
// or chrF below, a threshold), written as a CSV whose "id" column training reads back with --exclude. Rows are
// scored from an eval --generate predictions.csv, or generated now (eval --generate into <out>-eval/).
struct BlacklistOptions {
  std::string predictions;       // empty: generate now
  std::string metric = "wer";    // wer | cer | chrf
  double threshold = 0.5;
  std::string out = "blacklist.csv";
  std::string split = "train";   // a dataset folder's split to score: train | validation
  TaskEvalOptions eval;          // how to generate (adapter, max_new_tokens, normalizer)
};
void run_blacklist(const TrainConfig& run, const BlacklistOptions& o);

}  // namespace gt::infer
