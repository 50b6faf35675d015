// The BPE merge table: (left id, right id) -> (rank, merged id), the lookup on BPE's hot path. Torch-free.
//
// Open addressing with linear probing over one contiguous array; the pair is packed into a uint64 key and
// spread with a Fibonacci multiply, so a lookup is one multiply and, almost always, one cache line.
#pragma once

#include <cstdint>
#include <vector>

namespace gt::tok {

class MergeTable {
 public:
  struct Merge {
    uint32_t rank;  // position in model.merges: lower merges first
    int32_t id;     // id of the merged token
  };

  // Sizes the table for `n` merges (keeps it at most half full).
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    entries_.assign(cap, Entry{kEmpty, 0, 0});
    shift_ = 64;
    for (size_t c = cap; c > 1; c >>= 1) --shift_;
    count_ = 0;
  }

  // Inserts or replaces (a later duplicate of a merge wins, as in Hugging Face and transformers.js).
  void put(int32_t left, int32_t right, Merge m) {
    if (2 * (count_ + 1) > entries_.size()) grow();
    Entry& e = entries_[slot_of(key_of(left, right))];
    if (e.key == kEmpty) ++count_;
    e = Entry{key_of(left, right), m.rank, m.id};
  }

  // True and `m` set when (left, right) merges.
  bool find(int32_t left, int32_t right, Merge& m) const {
    if (entries_.empty()) return false;
    const Entry& e = entries_[slot_of(key_of(left, right))];
    if (e.key == kEmpty) return false;
    m = Merge{e.rank, e.id};
    return true;
  }

  size_t size() const { return count_; }

  // Calls f(left, right, merge) for every entry, in no particular order.
  template <typename F>
  void for_each(F&& f) const {
    for (const Entry& e : entries_)
      if (e.key != kEmpty) f(int32_t(e.key >> 32), int32_t(uint32_t(e.key)), Merge{e.rank, e.id});
  }

 private:
  struct Entry {
    uint64_t key;
    uint32_t rank;
    int32_t id;
  };
  static constexpr uint64_t kEmpty = ~uint64_t(0);  // ids are non-negative int32, so no pair packs to this

  static uint64_t key_of(int32_t left, int32_t right) { return (uint64_t(uint32_t(left)) << 32) | uint32_t(right); }

  size_t slot_of(uint64_t key) const {
    const size_t mask = entries_.size() - 1;
    size_t slot = size_t((key * 0x9E3779B97F4A7C15ull) >> shift_);
    while (entries_[slot].key != kEmpty && entries_[slot].key != key) slot = (slot + 1) & mask;
    return slot;
  }

  void grow() {
    std::vector<Entry> old = std::move(entries_);
    reserve(old.empty() ? 8 : old.size());
    for (const Entry& e : old)
      if (e.key != kEmpty) {
        entries_[slot_of(e.key)] = e;
        ++count_;
      }
  }

  std::vector<Entry> entries_;
  int shift_ = 64;
  size_t count_ = 0;
};

}  // namespace gt::tok
