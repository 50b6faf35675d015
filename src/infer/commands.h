// The commands that generate, behind a torch-free interface (cli/generate.cpp parses options into these structs).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/train_config.h"

namespace gt::infer {

struct GenerateOptions {
  std::string model;
  std::string adapter;
  std::string prompt;          // --prompt TEXT
  std::string messages;        // --messages FILE.jsonl: one conversation per line, ending with a user turn
  std::string system;
  std::vector<std::string> images, audio;
  int64_t max_new_tokens = 256;
  // Unset: generation_config.json's (greedy when it has no do_sample).
  std::optional<double> temperature, top_p, repetition_penalty;
  std::optional<int64_t> top_k;
  int64_t seed = 0;
  bool raw = false;
  bool json = false;
  int64_t batch_size = 1;      // --messages rows generated together (output is printed per row when done)
  std::string device = "auto";
  std::string dtype = "auto";
  std::optional<int64_t> image_token_budget;  // unset: the adapter's, else the run default
  double max_duration = default_train_config().max_duration;
};

// Prints the answer(s) on standard output as they are generated (or one JSON object per prompt with --json).
void run_generate(const GenerateOptions& o);

}  // namespace gt::infer
