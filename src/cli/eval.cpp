// `gemma-tune eval`: mean cross-entropy of a model (optionally with a LoRA adapter) over a dataset. The options
// that decide how data is read and the model is run are train's (cli/config_flags.h): same names, same defaults.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/option_ranges.h"
#include "cli/config_flags.h"
#include "infer/task_eval.h"
#include "train/commands.h"

namespace gt::cli {

void add_eval(CLI::App& app) {
  auto o = std::make_shared<train::EvalOptions>();
  auto flags = std::make_shared<ConfigFlags>();
  CLI::App* sub = app.add_subcommand(
      "eval", "Mean cross-entropy over the supervised tokens of a dataset (sum of token losses / token count), with "
              "or without a LoRA adapter. A dataset folder is evaluated on its validation split if it has one.");
  add_config_flags(sub, *flags,
                   {"model", "data", "exclude", "modality", "mode", "prompt_column", "response_column", "text_column",
                    "system_prompt", "audio_column", "audio_prompt", "max_duration", "image_column", "caption_column",
                    "question_column", "answer_column", "image_prompt", "audiovisual_prompt", "image_token_budget",
                    "batch_size", "max_seq_len", "device", "dtype", "gcs_endpoint", "bq_endpoint", "cache_dir",
                    "cache_size"});
  flags->options.at("model")->required();
  flags->options.at("data")->required();
  sub->add_option("--adapter", o->adapter,
                  "LoRA adapter folder (PEFT format: gemma-tune's or PEFT's); an adapter trained on images brings its "
                  "image token budget unless --image-token-budget is given");
  sub->add_flag("--json", o->json,
                "Print one JSON object {\"loss\": ..., \"tokens\": ...} (with --generate: metrics.json's content)");
  auto task = std::make_shared<infer::TaskEvalOptions>();
  auto generate = std::make_shared<bool>(false);
  sub->add_flag("--generate", *generate,
                "Answer every row (greedy) and score the answers against the rows' answers: WER and CER (speech), chrF "
                "and exact match (text, captions), plus loss and perplexity; writes predictions.csv and metrics.json "
                "to --out");
  sub->add_flag("--compare-adapter", task->compare_adapter,
                "With --generate: run the base model too and report base and adapter side by side");
  sub->add_option("--out", task->out, "With --generate: output folder (default: eval-YYYYmmdd-HHMMSS)");
  sub->add_option("--normalizer", task->normalizer,
                  "With --generate: text normaliser before scoring: basic (Whisper's BasicTextNormalizer: lower case, "
                  "no punctuation or symbols, NFKC, collapsed spaces) or none")
      ->capture_default_str();
  sub->add_option("--max-new-tokens", task->max_new_tokens, "With --generate: most tokens per answer")
      ->capture_default_str()
      ->check(positive_number());
  sub->add_option("--max-rows", task->max_rows, "With --generate: score only the first N rows (0 = all)")
      ->capture_default_str()
      ->check(non_negative_number());
  sub->callback([o, flags, task, generate] {
    apply_config_flags(*flags, o->run);
    // The shared options get train's checks (--batch-size 0, --max-duration -1: a clear error, not libtorch's).
    validate(o->run);
    o->image_token_budget_given = !flags->options.at("image_token_budget")->empty();
    if (*generate) {
      task->adapter = o->adapter;
      task->json = o->json;
      task->image_token_budget_given = o->image_token_budget_given;
      infer::run_task_eval(o->run, *task);
      return;
    }
    train::run_eval(*o);
  });
}

}  // namespace gt::cli
