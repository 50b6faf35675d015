// `gemma-tune eval`: mean cross-entropy of a model (optionally with a LoRA adapter) over a dataset. The options
// that decide how data is read and the model is run are train's (cli/config_flags.h): same names, same defaults.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/config_flags.h"
#include "train/commands.h"

namespace gt::cli {

void add_eval(CLI::App& app) {
  auto o = std::make_shared<train::EvalOptions>();
  auto flags = std::make_shared<ConfigFlags>();
  CLI::App* sub = app.add_subcommand(
      "eval", "Mean cross-entropy over the supervised tokens of a dataset (sum of token losses / token count), with "
              "or without a LoRA adapter. A dataset folder is evaluated on its validation split if it has one.");
  add_config_flags(sub, *flags,
                   {"model", "data", "modality", "mode", "prompt_column", "response_column", "text_column",
                    "system_prompt", "audio_column", "audio_prompt", "max_duration", "image_column", "caption_column",
                    "question_column", "answer_column", "image_prompt", "audiovisual_prompt", "image_token_budget",
                    "batch_size", "max_seq_len", "device", "dtype"});
  flags->options.at("model")->required();
  flags->options.at("data")->required();
  sub->add_option("--adapter", o->adapter,
                  "LoRA adapter folder (PEFT format: gemma-tune's or PEFT's); an adapter trained on images brings its "
                  "image token budget unless --image-token-budget is given");
  sub->add_flag("--json", o->json, "Print one JSON object {\"loss\": ..., \"tokens\": ...}");
  sub->callback([o, flags] {
    apply_config_flags(*flags, o->run);
    o->image_token_budget_given = !flags->options.at("image_token_budget")->empty();
    train::run_eval(*o);
  });
}

}  // namespace gt::cli
