#include "models/common/kv_cache.h"

#include "core/error.h"

namespace gt::models {

KvCache::KvCache(const io::TextConfig& c) : kv_(c.num_hidden_layers), window_(c.sliding_window) {
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) sliding_.push_back(c.layer_types[l] == io::LayerType::Sliding);
}

std::pair<at::Tensor, at::Tensor> KvCache::append(int64_t l, const at::Tensor& k, const at::Tensor& v) {
  GT_CHECK(l >= 0 && l < static_cast<int64_t>(kv_.size()), "KV cache has no layer ", l);
  auto& [ck, cv] = kv_[l];
  if (ck.defined()) {
    // The step's new keys after the held ones: cache index order, which the masks assume.
    ck = at::cat({ck, k}, 2);
    cv = at::cat({cv, v}, 2);
  } else {
    ck = k;
    cv = v;
  }
  return {ck, cv};
}

void KvCache::commit(int64_t T) {
  length_ += T;
  if (window_ <= 0) return;
  const int64_t start = std::max<int64_t>(0, length_ - (window_ - 1));
  for (size_t l = 0; l < kv_.size(); ++l) {
    auto& [k, v] = kv_[l];
    if (!sliding_[l] || !k.defined()) continue;
    const int64_t drop = start - sliding_start_;
    GT_CHECK(k.size(2) == length_ - sliding_start_, "KV cache layer ", l, " holds ", k.size(2), " tokens, expected ",
             length_ - sliding_start_, " (a step appended to some layers only?)");
    if (drop > 0) {
      // A copy, so the dropped tokens' memory is freed rather than kept alive by a view.
      k = k.slice(2, drop).contiguous();
      v = v.slice(2, drop).contiguous();
    }
  }
  sliding_start_ = start;
}

void KvCache::select_rows(const at::Tensor& rows) {
  for (auto& [k, v] : kv_) {
    if (!k.defined()) continue;
    k = k.index_select(0, rows.to(k.device()));
    v = v.index_select(0, rows.to(v.device()));
  }
}

int64_t KvCache::bytes() const {
  int64_t n = 0;
  for (const auto& [k, v] : kv_)
    if (k.defined()) n += k.nbytes() + v.nbytes();
  return n;
}

}  // namespace gt::models
