// The bridge between io/safetensors (bytes) and libtorch tensors.
#pragma once

#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

#include "io/safetensors.h"  // defines: gt::io::TensorView, Checkpoint, TensorBytes

namespace gt::io {

// A CPU tensor over the mapped bytes (no copy when the bytes are aligned; the mapping stays alive as long as
// the tensor does). Writes to it are private to the process.
at::Tensor to_tensor(const TensorView& view);

// Loads `name` from a checkpoint as a CPU tensor.
at::Tensor load_tensor(const Checkpoint& ckpt, const std::string& name);

// Writes named tensors (any device, any of the supported dtypes) to a safetensors file.
void save_tensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                  const std::map<std::string, std::string>& metadata = {});

// Writes named tensors as a Hugging Face model folder: model.safetensors, or model-0000i-of-0000n.safetensors
// shards of at most max_shard_bytes plus model.safetensors.index.json when they do not fit in one.
void save_model_folder(const std::string& dir, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       uint64_t max_shard_bytes = 4ull << 30);

at::ScalarType to_scalar_type(DType t);
// Throws gt::InputError naming `what` for a scalar type safetensors cannot hold here (e.g. complex).
DType from_scalar_type(at::ScalarType t, const std::string& what);

}  // namespace gt::io
