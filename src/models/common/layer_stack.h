// The loop over decoder layers shared by both families: per layer it picks the mask and RoPE table of the
// layer's type, hands KV-shared layers the keys/values of their source layer (the last non-shared layer of the
// same type), and, when gradient checkpointing is on, runs each layer through
// models/common/checkpoint.h with those keys/values as explicit inputs and outputs.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>

#include "io/model_config.h"
#include "models/common/attention.h"
#include "models/common/rope.h"
#include "models/text_model.h"

namespace gt::models {

using KeyValue = std::pair<at::Tensor, at::Tensor>;

// One layer: state -> state. shared_in is set for KV-shared layers; shared_out is set for the layer whose keys
// and values later layers share (it must fill it).
using LayerFn = std::function<at::Tensor(int64_t l, const at::Tensor& state, const at::Tensor& ple, const at::Tensor& mask,
                                         const RopeTable& rope, const KeyValue* shared_in, KeyValue* shared_out)>;

// Runs every layer. `ple` [B, T, L, P]; `rope` holds a table per layer type. Returns the last state.
at::Tensor run_layer_stack(const io::TextConfig& c, at::Tensor state, const at::Tensor& ple, AttentionMasks& masks,
                           const std::map<io::LayerType, RopeTable>& rope, bool checkpointing, const LayerFn& layer,
                           Trace* trace);

// RoPE tables for both layer types of a text config (the head dim of each type's layers).
std::map<io::LayerType, RopeTable> rope_tables(const io::TextConfig& c, int64_t seq_len, at::ScalarType dtype,
                                               at::Device device);

}  // namespace gt::models
