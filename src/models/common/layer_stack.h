// The loop over decoder layers shared by both families: per layer it picks the mask and RoPE table of the
// layer's type (both built once per forward by stack_context), hands KV-shared layers the keys/values of their source layer (the last non-shared layer of the
// same type), and, when gradient checkpointing is on, runs each layer through
// models/common/checkpoint.h with those keys/values as explicit inputs and outputs.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>

#include "io/model_config.h"
#include "models/common/attention.h"
#include "models/common/kv_cache.h"
#include "models/common/rope.h"
#include "models/text_model.h"

namespace gt::models {

using KeyValue = std::pair<at::Tensor, at::Tensor>;

// What every layer of one forward shares: the masks, a RoPE table per layer type, and the KV cache if generating.
struct StackContext {
  AttentionMasks masks;
  std::map<io::LayerType, RopeTable> rope;
  KvCache* cache = nullptr;
};

// The context of a forward over `in` with B sequences of T tokens whose activations are in `dtype` on `device`.
StackContext stack_context(const io::TextConfig& c, const TextInputs& in, int64_t B, int64_t T, at::ScalarType dtype,
                           at::Device device);

// One layer: state -> state. shared_in is set for KV-shared layers; shared_out is set for the layer whose keys
// and values later layers share (it must fill it). A layer that owns keys/values appends them to `cache` (when
// set) and attends over, and shares, what the append returns.
using LayerFn = std::function<at::Tensor(int64_t l, const at::Tensor& state, const at::Tensor& ple, const at::Tensor& mask,
                                         const RopeTable& rope, const KeyValue* shared_in, KeyValue* shared_out,
                                         KvCache* cache)>;

// Runs every layer (`ple` [B, T, L, P]) and commits the step's tokens to ctx.cache. Returns the last state.
at::Tensor run_layer_stack(const io::TextConfig& c, at::Tensor state, const at::Tensor& ple, StackContext& ctx,
                           bool checkpointing, const LayerFn& layer, Trace* trace);

// RoPE tables for both layer types of a text config (the head dim of each type's layers) at `positions` ([T] or
// [B, T] int64).
std::map<io::LayerType, RopeTable> rope_tables(const io::TextConfig& c, const at::Tensor& positions,
                                               at::ScalarType dtype, at::Device device);

}  // namespace gt::models
