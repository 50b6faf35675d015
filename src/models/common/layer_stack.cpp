#include "models/common/layer_stack.h"

#include "core/error.h"
#include "models/common/checkpoint.h"

namespace gt::models {

using io::LayerType;

std::map<LayerType, RopeTable> rope_tables(const io::TextConfig& c, const at::Tensor& positions, at::ScalarType dtype,
                                           at::Device device) {
  std::map<LayerType, RopeTable> out;
  for (LayerType type : {LayerType::Sliding, LayerType::Full}) {
    int64_t hd = -1;
    for (int64_t l = 0; l < c.num_hidden_layers && hd < 0; ++l)
      if (c.layer_types[l] == type) hd = c.layer_head_dim[l];
    if (hd < 0) continue;  // no layer of this type
    const io::RopeParameters& p = type == LayerType::Full ? c.rope_full : c.rope_sliding;
    out[type] = rope_table(rope_inv_freq(p.rope_type, p.rope_theta, hd, p.partial_rotary_factor).to(device), positions, dtype);
  }
  return out;
}

StackContext stack_context(const io::TextConfig& c, const TextInputs& in, int64_t B, int64_t T, at::ScalarType dtype,
                           at::Device device) {
  const int64_t past = in.cache ? in.cache->length() : 0;
  const int64_t sliding_start = in.cache ? in.cache->sliding_start() : 0;
  if (in.attention_mask.defined())
    GT_CHECK(in.attention_mask.size(-1) == past + T, "attention_mask covers ", in.attention_mask.size(-1),
             " tokens, expected ", past + T, " (cached history + this step)");
  at::Tensor positions = in.position_ids.defined()
                             ? in.position_ids.to(device)
                             : torch::arange(past, past + T, at::TensorOptions().dtype(at::kLong).device(device));
  return StackContext{AttentionMasks(in.attention_mask, B, T, c.sliding_window, dtype, device, past, sliding_start,
                                     in.segment_ids),
                      rope_tables(c, positions, dtype, device), in.cache};
}

at::Tensor run_layer_stack(const io::TextConfig& c, at::Tensor state, const at::Tensor& ple, StackContext& ctx,
                           bool checkpointing, const LayerFn& layer, Trace* trace) {
  GT_CHECK(!(checkpointing && ctx.cache), "gradient checkpointing with a KV cache");
  std::map<LayerType, KeyValue> shared;
  const bool sharing = c.num_kv_shared_layers > 0;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const LayerType type = c.layer_types[l];
    const bool reads = c.is_kv_shared(l);
    const bool writes = sharing && !reads && [&] {
      // The source of the shared layers of this type.
      for (int64_t k = c.first_kv_shared_layer(); k < c.num_hidden_layers; ++k)
        if (c.layer_types[k] == type && c.kv_source_layer[k] == l) return true;
      return false;
    }();
    const at::Tensor mask = ctx.masks.for_layer(type == LayerType::Sliding);
    const RopeTable& table = ctx.rope.at(type);
    const at::Tensor ple_l = ple.select(2, l);
    const KeyValue* in = nullptr;
    if (reads) {
      auto it = shared.find(type);
      GT_CHECK(it != shared.end(), "layer ", l, " reads shared keys/values that no earlier layer wrote");
      in = &it->second;
    }
    if (!checkpointing || !at::GradMode::is_enabled()) {
      KeyValue out;
      state = layer(l, state, ple_l, mask, table, in, writes ? &out : nullptr, ctx.cache);
      if (writes) shared[type] = out;
    } else {
      std::vector<at::Tensor> inputs{state, ple_l};
      if (in) {
        inputs.push_back(in->first);
        inputs.push_back(in->second);
      }
      // Captured by value: the recomputation runs in the backward pass, after this forward has returned.
      RopeTable table_copy = table;
      auto fn = [layer, l, mask, table_copy, reads, writes](const std::vector<at::Tensor>& x) {
        KeyValue kv_in = reads ? KeyValue{x[2], x[3]} : KeyValue{};
        KeyValue kv_out;
        at::Tensor h =
            layer(l, x[0], x[1], mask, table_copy, reads ? &kv_in : nullptr, writes ? &kv_out : nullptr, nullptr);
        return writes ? std::vector<at::Tensor>{h, kv_out.first, kv_out.second} : std::vector<at::Tensor>{h};
      };
      std::vector<at::Tensor> outs = checkpoint(fn, inputs);
      state = outs[0];
      if (writes) shared[type] = {outs[1], outs[2]};
    }
    if (trace) trace->emplace_back(cat("layer.", l), state);
  }
  if (ctx.cache) ctx.cache->commit(ple.size(1));
  return state;
}

}  // namespace gt::models
