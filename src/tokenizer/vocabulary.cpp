#include "tokenizer/vocabulary.h"

#include <functional>

#include "core/error.h"

namespace gt::tok {

namespace {
uint64_t hash_of(std::string_view s) { return std::hash<std::string_view>{}(s); }
}  // namespace

size_t Vocabulary::slot_of(std::string_view token, uint32_t hash) const {
  const size_t mask = table_.size() - 1;
  size_t slot = hash & mask;
  for (;; slot = (slot + 1) & mask) {
    const Slot& e = table_[slot];
    if (e.id < 0 || (e.hash == hash && tokens_[e.id] == token)) return slot;
  }
}

void Vocabulary::rehash(size_t capacity) {
  std::vector<Slot> old = std::move(table_);
  table_.assign(capacity, Slot{-1, 0});
  for (const Slot& e : old)
    if (e.id >= 0) table_[slot_of(tokens_[e.id], e.hash)] = e;
}

void Vocabulary::reserve(size_t n) {
  tokens_.reserve(n);
  flags_.reserve(n);
  size_t cap = 1024;
  while (cap < 2 * n) cap *= 2;
  if (cap > table_.size()) rehash(cap);
}

void Vocabulary::add(int32_t id, std::string token, uint8_t flags) {
  GT_CHECK(id >= 0 && !has(id), "id ", id);
  if (size_t(id) >= tokens_.size()) {
    tokens_.resize(size_t(id) + 1);
    flags_.resize(size_t(id) + 1, 0);
  }
  tokens_[id] = std::move(token);
  flags_[id] = flags | kPresent;
  // Keep the table at most half full, so probes stay short.
  if (2 * (count_ + 1) > table_.size()) rehash(table_.empty() ? 1024 : table_.size() * 2);
  const auto hash = uint32_t(hash_of(tokens_[id]));
  Slot& slot = table_[slot_of(tokens_[id], hash)];
  GT_CHECK(slot.id < 0, "token string added twice");
  slot = Slot{id, hash};
  ++count_;
}

int32_t Vocabulary::find(std::string_view token) const {
  if (table_.empty()) return -1;
  return table_[slot_of(token, uint32_t(hash_of(token)))].id;
}

}  // namespace gt::tok
