// `gemma-tune train`: options come from the table in core/train_config.h (defaults < --config YAML < flags),
// then train/commands.h runs the loop. --resume RUNDIR continues a run with the config it was started with.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/config_flags.h"
#include "core/error.h"
#include "core/train_config.h"
#include "train/commands.h"

namespace gt::cli {

void add_train(CLI::App& app) {
  auto flags = std::make_shared<ConfigFlags>();
  auto config_file = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand(
      "train",
      "Train a LoRA adapter on a dataset. Options come from --config FILE (YAML, keys as below with '_') and flags; "
      "flags win. Writes a run folder with config.yaml, metadata.json, metrics.jsonl, checkpoints/ and adapter/.");
  sub->add_option("--config", *config_file, "YAML run config");
  auto access_token = std::make_shared<std::string>();
  sub->add_option("--access-token", *access_token,
                  "OAuth 2.0 access token for gs:// data (e.g. `gcloud auth print-access-token`); never stored. "
                  "Without it: GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default credentials, or the "
                  "metadata server");
  add_config_flags(sub, *flags);
  sub->callback([flags, config_file, access_token] {
    TrainConfig cfg;
    if (!flags->options["resume"]->empty()) {
      // A resumed run keeps the configuration it started with (anything else would change its numbers).
      const std::string dir = flags->values["resume"];
      const std::string saved = (std::filesystem::path(dir) / "config.yaml").string();
      if (!std::filesystem::exists(saved)) fail_input(dir, ": not a run folder (no config.yaml)");
      apply_yaml(cfg, saved);
      for (const auto& [key, opt] : flags->options)
        if (key != "resume" && !opt->empty())
          std::cerr << "note: " << flag_name(key) << " is ignored with --resume (the run keeps " << saved << ")\n";
      cfg.resume = dir;
    } else {
      if (!config_file->empty()) apply_yaml(cfg, *config_file);
      apply_config_flags(*flags, cfg);
      if (cfg.model.empty()) fail_input("train: --model DIR is required (a Hugging Face Gemma 3n or Gemma 4 folder)");
      if (cfg.data.empty()) fail_input("train: --data DIR_OR_FILE is required");
    }
    cfg.access_token = *access_token;  // given again on every command line, --resume included
    const int code = train::run_train(cfg);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace gt::cli
