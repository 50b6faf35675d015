// `gemma-tune blacklist`: rows the model answers badly, as a CSV that `train --exclude` reads. See infer/task_eval.h.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/option_ranges.h"
#include "cli/config_flags.h"
#include "infer/task_eval.h"

namespace gt::cli {

void add_blacklist(CLI::App& app) {
  auto o = std::make_shared<infer::BlacklistOptions>();
  auto run = std::make_shared<TrainConfig>();
  auto flags = std::make_shared<ConfigFlags>();
  CLI::App* sub = app.add_subcommand(
      "blacklist",
      "List the dataset rows whose answer the model gets badly wrong (per-row WER or CER above --threshold, or chrF "
      "below it) in a CSV that `train --exclude FILE` leaves out. Scores an eval --generate predictions.csv, or "
      "generates answers now (the eval --generate files go to <out>-eval/).");
  add_config_flags(sub, *flags,
                   {"model", "data", "modality", "mode", "prompt_column", "response_column", "system_prompt",
                    "audio_column", "audio_prompt", "max_duration", "image_column", "caption_column", "question_column",
                    "answer_column", "image_prompt", "audiovisual_prompt", "image_token_budget", "batch_size",
                    "max_seq_len", "device", "dtype"});
  sub->add_option("--predictions", o->predictions, "An eval --generate predictions.csv to score instead of generating");
  sub->add_option("--metric", o->metric, "wer | cer | chrf")->capture_default_str();
  sub->add_option("--threshold", o->threshold, "WER/CER above it, or chrF (0-100) below it, lists a row")
      ->capture_default_str();
  sub->add_option("--out", o->out, "The CSV to write (columns id, reference, prediction, metric)")->capture_default_str();
  sub->add_option("--split", o->split, "Of a dataset folder: train | validation")->capture_default_str();
  sub->add_option("--adapter", o->eval.adapter, "LoRA adapter folder to generate with");
  sub->add_option("--normalizer", o->eval.normalizer, "basic | none (see eval --generate)")->capture_default_str();
  sub->add_option("--max-new-tokens", o->eval.max_new_tokens, "Most tokens per answer")
      ->capture_default_str()
      ->check(positive_number());
  sub->callback([o, run, flags] {
    apply_config_flags(*flags, *run);
    if (o->predictions.empty() && (run->model.empty() || run->data.empty()))
      throw CLI::ValidationError("blacklist", "--model and --data are required unless --predictions is given");
    o->eval.image_token_budget_given = !flags->options.at("image_token_budget")->empty();
    infer::run_blacklist(*run, *o);
  });
}

}  // namespace gt::cli
