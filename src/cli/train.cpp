// `gemma-tune train`: options come from the table in core/train_config.h (defaults < --config YAML < flags),
// then train/commands.h runs the loop. --resume RUNDIR continues a run with the config it was started with.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>

#include "cli/commands.h"
#include "cli/config_flags.h"
#include "core/error.h"  // defines: fail_input, cat
#include "core/strings.h"  // defines: redact_url_secrets
#include "core/system_info.h"  // defines: command_line
#include "core/train_config.h"
#include "train/commands.h"
#include "train/launcher.h"

namespace gt::cli {

namespace {

// Options a resumed run may take anew: where it runs, how it is watched, logged, saved and cached; none changes its
// numbers. Every other option must match the run's own config.yaml.
bool may_change_on_resume(const std::string& key) {
  static const std::set<std::string> keys = {"resume",     "device",     "nproc",       "live",        "live_host",
                                             "live_every", "live_layer", "log_every",   "save_every",
                                             "keep_checkpoints", "eval_every", "cache_dir", "cache_size",
                                             "gcs_endpoint", "bq_endpoint", "tower_cache"};
  return keys.count(key) > 0;
}

// --resume (flag or `resume:` in --config): the run's own config.yaml, with the options that may change taken from
// `given`; any other option given with another value than the run's is refused, listing each.
TrainConfig resumed_config(const TrainConfig& given, const std::vector<std::string>& keys) {
  const std::string dir = given.resume;
  const std::string saved = (std::filesystem::path(dir) / "config.yaml").string();
  if (!std::filesystem::exists(saved)) fail_input(dir, ": not a run folder (no config.yaml)");
  TrainConfig cfg;
  apply_yaml(cfg, saved);
  const TrainConfig run_had = cfg;
  std::string conflicts;
  std::set<std::string> seen;
  for (const ConfigField& f : train_config_fields()) {
    if (f.key == "resume" || !seen.insert(f.key).second) continue;
    const std::string had = config_value_text(cfg, f);
    // A URL's credentials are never stored (config.yaml holds it redacted): it must be given again, with them.
    const bool redacted = had.find("REDACTED") != std::string::npos;
    if (std::find(keys.begin(), keys.end(), f.key) == keys.end()) {
      if (redacted)
        conflicts += cat("\n  ", f.key, ": the run's URL ", had, " had credentials, which are never stored; give ",
                         flag_name(f.key), " again with them");
      continue;
    }
    const std::string want = config_value_text(given, f);
    if (want == had) continue;
    if (redacted && redact_url_secrets(want) == had) {
      apply_text(cfg, f.key, want);
      continue;
    }
    if (may_change_on_resume(f.key)) {
      apply_text(cfg, f.key, want);
      std::cerr << "note: " << flag_name(f.key) << " " << want << " (the run had " << had << ")\n";
    } else {
      conflicts += cat("\n  ", f.key, ": the run has ", had.empty() ? "\"\"" : had, ", given ",
                       want.empty() ? "\"\"" : want);
    }
  }
  if (!conflicts.empty())
    fail_input("--resume ", dir, ": a resumed run keeps the settings it started with (", saved,
               "), so that it goes on exactly as it would have; these differ:", conflicts,
               "\nLeave them out to resume, or start a new run with them.");
  cfg.resume = dir;
  // Another number of processes trains on the same global batches: each takes its share of them.
  if (cfg.nproc != run_had.nproc) {
    const int64_t global = run_had.batch_size * run_had.nproc;
    if (global % cfg.nproc != 0)
      fail_input("--resume ", dir, " --nproc ", cfg.nproc, ": the run's global batch of ", global, " examples (",
                 run_had.nproc, " x --batch-size ", run_had.batch_size, ") does not split evenly into ", cfg.nproc,
                 " processes; give a --nproc that divides ", global);
    cfg.batch_size = global / cfg.nproc;
    std::cerr << "note: " << cfg.nproc << " process(es) of " << cfg.batch_size << " examples each keep the run's global "
              << "batch of " << global << "\n";
  }
  return cfg;
}

}  // namespace

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
    // What was asked for: defaults < --config < flags, and which keys were given at all.
    TrainConfig given;
    std::vector<std::string> keys;
    if (!config_file->empty()) keys = apply_yaml(given, *config_file);
    apply_config_flags(*flags, given);
    for (const auto& [key, opt] : flags->options)
      if (!opt->empty()) keys.push_back(key);
    TrainConfig cfg;
    if (!given.resume.empty()) {
      cfg = resumed_config(given, keys);
    } else {
      cfg = given;
      if (cfg.model.empty()) fail_input("train: --model DIR is required (a Hugging Face Gemma 3n or Gemma 4 folder)");
      if (cfg.data.empty()) fail_input("train: --data DIR_OR_FILE is required");
    }
    cfg.access_token = *access_token;  // given again on every command line, --resume included
    // --nproc N: this process starts the N processes of the run (each runs this same command line, with RANK set).
    const bool launcher = cfg.nproc > 1 && !std::getenv("WORLD_SIZE");
    if (launcher) validate(cfg);  // refused here once, not by every process
    const int code = launcher ? train::launch_ranks(static_cast<int>(cfg.nproc), command_line()) : train::run_train(cfg);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace gt::cli
