#include "models/common/flat_parameters.h"

#include <algorithm>
#include <mutex>
#include <stdexcept>

namespace gt::models {

namespace {

// One registered buffer: its storage (weakly: a buffer that is freed drops out of the registry, and a new buffer
// allocated at the same address is never mistaken for it) and its cast copies, one per dtype asked for.
struct FlatBuffer {
  c10::weak_intrusive_ptr<c10::StorageImpl> storage;
  struct Copy {
    at::Tensor low;
    int64_t version = -1;
  };
  std::vector<std::pair<at::ScalarType, Copy>> copies;
};

struct Registry {
  std::mutex mu;
  std::vector<FlatBuffer> buffers;

  void drop_freed() {
    std::erase_if(buffers, [](const FlatBuffer& b) { return b.storage.expired(); });
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void register_flat_parameters(const at::Tensor& flat, const std::vector<std::pair<std::string, at::Tensor>>& params) {
  if (flat.dim() != 1 || !flat.is_contiguous() || flat.storage_offset() != 0)
    throw std::invalid_argument("register_flat_parameters: the buffer must be 1-D, contiguous and start its storage");
  for (const auto& [name, p] : params) {
    if (!p.storage().is_alias_of(flat.storage()))
      throw std::invalid_argument("register_flat_parameters: parameter '" + name + "' does not live in the buffer");
    p.unsafeGetTensorImpl()->set_version_counter(flat.unsafeGetTensorImpl()->version_counter());
  }
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.drop_freed();
  r.buffers.push_back({flat.storage().getWeakStorageImpl(), {}});
}

at::Tensor cast_in_flat_buffer(const at::Tensor& param, at::ScalarType dtype) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.drop_freed();
  const c10::StorageImpl* storage = param.storage().unsafeGetStorageImpl();
  for (FlatBuffer& b : r.buffers) {
    const auto held = b.storage.lock();
    if (held.get() != storage) continue;
    auto it = std::find_if(b.copies.begin(), b.copies.end(), [&](const auto& c) { return c.first == dtype; });
    if (it == b.copies.end()) it = b.copies.insert(b.copies.end(), {dtype, {}});
    FlatBuffer::Copy& copy = it->second;
    if (copy.version != param._version()) {
      torch::NoGradGuard no_grad;
      const int64_t n = static_cast<int64_t>(param.storage().nbytes()) / param.element_size();
      copy.low = at::empty({0}, param.options()).set_(param.storage(), 0, {n}, {1}).to(dtype);
      copy.version = param._version();
    }
    return copy.low.as_strided(param.sizes(), param.strides(), param.storage_offset());
  }
  return {};
}

}  // namespace gt::models
