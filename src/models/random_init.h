// Random weights for a text decoder, as transformers initialises a fresh Gemma model (normal(0, 0.02) for linear
// and embedding weights, ones for norm scales and layer scalars, zeros for AltUp's correct_output_scale), and
// writing a model in the published checkpoint layout. Used by `init-random` and by the benchmarks.
#pragma once

#include <string>

#include "models/text_model.h"

namespace gt::models {

void random_init(TextModel& model, uint64_t seed, double std = 0.02);

// Writes config.json (the given JSON text) and the text decoder's weights under the config's text prefix, as
// model.safetensors or shards with an index.
void save_text_model(const std::string& dir, TextModel& model, const std::string& config_json);

}  // namespace gt::models
