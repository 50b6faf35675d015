#include <torch/torch.h>

#include "io/safetensors_torch.h"

#include <cstdint>
#include <cstring>

#include "core/error.h"

namespace gt::io {

at::ScalarType to_scalar_type(DType t) {
  switch (t) {
    case DType::F64: return at::kDouble;
    case DType::F32: return at::kFloat;
    case DType::F16: return at::kHalf;
    case DType::BF16: return at::kBFloat16;
    case DType::I64: return at::kLong;
    case DType::I32: return at::kInt;
    case DType::I16: return at::kShort;
    case DType::I8: return at::kChar;
    case DType::U8: return at::kByte;
    case DType::BOOL: return at::kBool;
  }
  GT_CHECK(false, "unhandled dtype");
}

DType from_scalar_type(at::ScalarType t, const std::string& what) {
  switch (t) {
    case at::kDouble: return DType::F64;
    case at::kFloat: return DType::F32;
    case at::kHalf: return DType::F16;
    case at::kBFloat16: return DType::BF16;
    case at::kLong: return DType::I64;
    case at::kInt: return DType::I32;
    case at::kShort: return DType::I16;
    case at::kChar: return DType::I8;
    case at::kByte: return DType::U8;
    case at::kBool: return DType::BOOL;
    default: fail_input(what, ": tensors of type ", c10::toString(t), " cannot be written to safetensors");
  }
}

at::Tensor to_tensor(const TensorView& view) {
  const auto type = to_scalar_type(view.info.dtype);
  const auto opts = at::TensorOptions().dtype(type).device(at::kCPU);
  const auto addr = reinterpret_cast<std::uintptr_t>(view.data);
  if (view.info.numel() == 0) return at::empty(view.info.shape, opts);
  if (addr % dtype_size(view.info.dtype) == 0) {
    std::shared_ptr<const void> owner = view.owner;
    return at::from_blob(const_cast<std::byte*>(view.data), view.info.shape, [owner](void*) mutable { owner.reset(); },
                         opts);
  }
  // Data section not aligned for this type (headers not padded to 8 bytes): copy.
  at::Tensor t = at::empty(view.info.shape, opts);
  std::memcpy(t.data_ptr(), view.data, view.info.nbytes());
  return t;
}

at::Tensor load_tensor(const Checkpoint& ckpt, const std::string& name) { return to_tensor(ckpt.view(name)); }

void save_tensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                  const std::map<std::string, std::string>& metadata) {
  std::vector<at::Tensor> keep;
  std::vector<TensorBytes> out;
  keep.reserve(tensors.size());
  out.reserve(tensors.size());
  for (const auto& [name, t] : tensors) {
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    keep.push_back(c);
    TensorBytes b;
    b.name = name;
    b.dtype = from_scalar_type(c.scalar_type(), path + ": tensor '" + name + "'");
    b.shape = c.sizes().vec();
    b.data = c.data_ptr();
    b.nbytes = c.numel() * c.element_size();
    out.push_back(std::move(b));
  }
  write_safetensors(path, out, metadata);
}

void save_model_folder(const std::string& dir, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       uint64_t max_shard_bytes) {
  std::vector<std::vector<std::pair<std::string, at::Tensor>>> shards(1);
  uint64_t in_shard = 0, total = 0;
  for (const auto& nt : tensors) {
    const uint64_t n = static_cast<uint64_t>(nt.second.numel()) * nt.second.element_size();
    if (in_shard > 0 && in_shard + n > max_shard_bytes) {
      shards.emplace_back();
      in_shard = 0;
    }
    shards.back().push_back(nt);
    in_shard += n;
    total += n;
  }
  if (shards.size() == 1) {
    save_tensors(dir + "/model.safetensors", shards[0], {{"format", "pt"}});
    return;
  }
  std::map<std::string, std::string> weight_map;
  char name[64];
  for (size_t i = 0; i < shards.size(); ++i) {
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    save_tensors(dir + "/" + name, shards[i], {{"format", "pt"}});
    for (const auto& nt : shards[i]) weight_map[nt.first] = name;
  }
  write_safetensors_index(dir, weight_map, total);
}

}  // namespace gt::io
