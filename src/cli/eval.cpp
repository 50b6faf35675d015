// `gemma-tune eval`: mean cross-entropy of a model (optionally with a LoRA adapter) over a dataset.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "train/commands.h"

namespace gt::cli {

void add_eval(CLI::App& app) {
  auto o = std::make_shared<train::EvalOptions>();
  o->dataset.max_seq_len = 1024;
  CLI::App* sub = app.add_subcommand(
      "eval", "Mean cross-entropy over the supervised tokens of a dataset (sum of token losses / token count), with "
              "or without a LoRA adapter. A dataset folder is evaluated on its validation split if it has one.");
  sub->add_option("--model", o->model, "Hugging Face model folder")->required();
  sub->add_option("--adapter", o->adapter, "LoRA adapter folder (PEFT format: gemma-tune's or PEFT's)");
  sub->add_option("--data", o->data, "Dataset file (.jsonl, .csv) or folder")->required();
  sub->add_option("--mode", o->mode, "instruction | completion")->capture_default_str();
  sub->add_option("--dtype", o->dtype, "auto | float32 | bfloat16")->capture_default_str();
  sub->add_option("--device", o->device, "auto | cpu | cuda | cuda:N | mps")->capture_default_str();
  sub->add_option("--batch-size", o->batch_size, "Examples per batch")->capture_default_str();
  sub->add_option("--max-seq-len", o->dataset.max_seq_len, "Longest example in tokens (longer ones are cut)")->capture_default_str();
  sub->add_option("--prompt-column", o->dataset.prompt_column, "Column or key of the prompt")->capture_default_str();
  sub->add_option("--response-column", o->dataset.response_column, "Column or key of the response")->capture_default_str();
  sub->add_option("--text-column", o->dataset.text_column, "Column or key of completion text")->capture_default_str();
  sub->add_option("--system-prompt", o->dataset.system_prompt, "System message for rows without one");
  sub->add_option("--modality", o->modality, "text | audio")->capture_default_str();
  sub->add_option("--audio-column", o->audio_column, "Column or key of the audio clip")->capture_default_str();
  sub->add_option("--audio-prompt", o->audio_prompt, "User text after each clip of an audio_path,text row")
      ->capture_default_str();
  sub->add_option("--max-duration", o->max_duration, "Longest clip in seconds; longer clips are cut")
      ->capture_default_str();
  sub->add_flag("--json", o->json, "Print one JSON object {\"loss\": ..., \"tokens\": ...}");
  sub->callback([o] { train::run_eval(*o); });
}

}  // namespace gt::cli
