// `gemma-tune prepare`: check and cache an audio dataset (see train/prepare.cpp).
#include <CLI/CLI.hpp>

#include <memory>

#include "cli/commands.h"
#include "cli/option_ranges.h"
#include "train/commands.h"

namespace gt::cli {

void add_prepare(CLI::App& app) {
  auto o = std::make_shared<train::PrepareOptions>();
  CLI::App* sub = app.add_subcommand(
      "prepare",
      "Check an audio dataset and cache it: decode every clip (any format FFmpeg reads, or an http(s) URL), mix to "
      "mono, resample to 16 kHz, cut to --max-duration, write <out>/clips/*.wav and the rows pointing at them, "
      "report durations and bad rows (<out>/skipped.jsonl, <out>/prepare.json). Training also works without it.");
  sub->add_option("--data", o->data, "Dataset folder (train.csv|jsonl, validation.csv|jsonl) or one file")->required();
  sub->add_option("--out", o->out, "New folder for the prepared dataset")->required();
  sub->add_option("--modality", o->modality, "audio")->capture_default_str();
  sub->add_option("--audio-column", o->audio_column, "Column or JSON key of the clip")->capture_default_str();
  sub->add_option("--max-duration", o->max_duration, "Seconds kept of each clip (longer ones are cut and counted)")
      ->capture_default_str()
      ->check(positive_number());
  sub->add_option("--min-duration", o->min_duration, "Clips shorter than this are skipped")
      ->capture_default_str()
      ->check(non_negative_number());
  sub->callback([o] { train::run_prepare(*o); });
}

}  // namespace gt::cli
