// A cache of BPE results for the words of one encode() call: word bytes -> token ids. Torch-free.
//
// Text repeats its words, so most words of a long document are encoded once and then copied. Keys and ids live
// in two arenas, the table holds offsets, so a lookup allocates nothing. The cache stops growing at kMaxEntries
// (a new word is then simply not cached).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gt::tok {

class WordCache {
 public:
  static constexpr size_t kMaxWordBytes = 64;  // longer words rarely repeat; not cached
  static constexpr size_t kMaxEntries = size_t(1) << 17;  // bounds the memory: at most ~12 MB

  // The ids of `word`, or an empty span when it is not cached.
  std::span<const int32_t> find(std::string_view word) const {
    if (slots_.empty()) return {};
    const uint64_t h = hash_of(word);
    for (size_t i = h & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      const Slot& s = slots_[i];
      if (s.ids_len == 0) return {};
      if (s.hash == h && std::string_view(keys_.data() + s.key_off, s.key_len) == word)
        return {ids_.data() + s.ids_off, s.ids_len};
    }
  }

  // Remembers `ids` (non-empty) for `word` (not already cached).
  void insert(std::string_view word, std::span<const int32_t> ids) {
    if (word.size() > kMaxWordBytes || ids.empty() || count_ >= kMaxEntries) return;
    if (2 * (count_ + 1) > slots_.size()) grow();
    const uint64_t h = hash_of(word);
    size_t i = h & (slots_.size() - 1);
    while (slots_[i].ids_len != 0) i = (i + 1) & (slots_.size() - 1);
    slots_[i] = Slot{h, uint32_t(keys_.size()), uint32_t(word.size()), uint32_t(ids_.size()), uint32_t(ids.size())};
    keys_.append(word);
    ids_.insert(ids_.end(), ids.begin(), ids.end());
    ++count_;
  }

 private:
  struct Slot {
    uint64_t hash;
    uint32_t key_off, key_len;
    uint32_t ids_off, ids_len;  // ids_len == 0: empty slot
  };
  static uint64_t hash_of(std::string_view s) { return std::hash<std::string_view>{}(s); }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 256 : old.size() * 2, Slot{0, 0, 0, 0, 0});
    for (const Slot& s : old) {
      if (s.ids_len == 0) continue;
      size_t i = s.hash & (slots_.size() - 1);
      while (slots_[i].ids_len != 0) i = (i + 1) & (slots_.size() - 1);
      slots_[i] = s;
    }
  }

  std::vector<Slot> slots_;
  std::string keys_;
  std::vector<int32_t> ids_;
  size_t count_ = 0;
};

}  // namespace gt::tok
