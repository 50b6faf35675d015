// Random weights for a text decoder, as transformers initialises a fresh Gemma model (normal(0, 0.02) for linear
// and embedding weights, ones for norm scales and layer scalars, zeros for AltUp's correct_output_scale), and
// writing a model in the published checkpoint layout. Used by `init-random` and by the benchmarks.
#pragma once

#include <string>

#include "models/text_model.h"

namespace gt::models {

// embed_std: std of the token embedding (the tied output matrix). transformers uses 0.02 everywhere; at a tiny
// hidden size that leaves logits too flat for a LoRA to move them much, so tiny checkpoints use a larger value.
void random_init(TextModel& model, uint64_t seed, double std = 0.02, double embed_std = 0.02);

// Writes config.json (the given JSON text) and the text decoder's weights under the config's text prefix, plus
// `extra` tensors (full names, e.g. the towers' "model.audio_tower.*"), as model.safetensors or shards with an index.
void save_text_model(const std::string& dir, TextModel& model, const std::string& config_json,
                     const std::vector<std::pair<std::string, at::Tensor>>& extra = {});

}  // namespace gt::models
