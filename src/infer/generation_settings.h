// What a model folder says about generating: generation_config.json (transformers' GenerationConfig) gives the
// sampling defaults (do_sample, temperature, top_k, top_p, repetition_penalty) and stop tokens (eos_token_id);
// the family's end-of-turn marker (<end_of_turn> / <turn|>) and config.json's eos_token_id stop generation too.
// Command-line options override the file, as arguments to transformers' generate() override the model's config.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "infer/sampling.h"
#include "io/model_config.h"
#include "tokenizer/tokenizer.h"

namespace gt::infer {

struct GenerationSettings {
  SamplingOptions sampling;  // do_sample false or absent -> greedy (temperature 0)
  std::vector<int64_t> stop_ids;
  bool from_file = false;    // generation_config.json was there
};

// Reads <model_dir>/generation_config.json when present (invalid values stop with the key named). Stop ids: the
// file's eos_token_id, config.json's, and the end-of-turn marker of the family when the tokenizer has it.
GenerationSettings read_generation_settings(const std::string& model_dir, const io::ModelConfig& cfg,
                                            const tok::Tokenizer& tokenizer);

// The end-of-turn marker of a family: "<end_of_turn>" (Gemma 3n) or "<turn|>" (Gemma 4).
const char* end_of_turn_marker(io::Family family);

}  // namespace gt::infer
