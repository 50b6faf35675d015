// `gemma-tune init-random`: a random-weight checkpoint in the published layout, for the demo, tests and
// benchmarks (no download needed).
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/option_ranges.h"
#include "train/commands.h"

namespace gt::cli {

void add_init_random(CLI::App& app) {
  auto o = std::make_shared<train::InitRandomOptions>();
  CLI::App* sub = app.add_subcommand(
      "init-random", "Write a random-weight Gemma 3n or Gemma 4 checkpoint in the published layout: tiny (for tests "
                     "and the demo) or at the real E2B / E4B shapes (for benchmarks).");
  sub->add_option("--family", o->family, "gemma3n | gemma4")->capture_default_str();
  sub->add_option("--size", o->size, "tiny | E2B | E4B")->capture_default_str();
  sub->add_option("--out", o->out, "New folder to write")->required();
  sub->add_option("--tokenizer", o->tokenizer,
                  "A Gemma 3 tokenizer.json to adapt to the family's special tokens (default: "
                  ".cache/gemma3-tokenizer/tokenizer.json from `make deps`)");
  sub->add_option("--seed", o->seed, "Seed of the random weights")->capture_default_str();
  sub->add_option("--dtype", o->dtype, "bfloat16 (as published) | float32")->capture_default_str();
  sub->add_option("--vocab-size", o->vocab_size,
                  "Vocabulary rows (default: the family's 262,144 / 262,400); for small test tokenizers")
      ->check(number_at_least(1));
  sub->add_flag("--config-only", o->config_only, "Write config.json only (to inspect a preset or build it elsewhere)");
  sub->callback([o] { train::run_init_random(*o); });
}

}  // namespace gt::cli
