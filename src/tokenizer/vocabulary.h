// The id <-> token string tables of a tokenizer: the BPE model's vocabulary plus the added tokens, with what
// each id is (model token, added token, special). Torch-free.
//
// Ids may have gaps (tokenizer.json allows it); a gap has no string and `has(id)` is false.
// String lookup is an open-addressing table of ids keyed by the token's own string, so no string is stored twice.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gt::tok {

class Vocabulary {
 public:
  enum Flag : uint8_t {
    kPresent = 1,  // the id has a string
    kModel = 2,    // from model.vocab: visible to BPE (merges, code points, byte tokens)
    kAdded = 4,    // listed in added_tokens
    kSpecial = 8,  // an added token with "special": true (dropped by decode's skip_special)
  };

  // Makes room for `n` tokens (saves rehashing while loading).
  void reserve(size_t n);
  // Sets the string of a new id. The caller has checked that neither the id nor the string is taken.
  void add(int32_t id, std::string token, uint8_t flags);
  // Adds flags to an existing id (an added token that is also a model token).
  void add_flags(int32_t id, uint8_t flags) { flags_[id] |= flags; }

  // Id of a token string, or -1.
  int32_t find(std::string_view token) const;
  // Id of a model-vocabulary token string, or -1 (what BPE may use).
  int32_t find_model(std::string_view token) const {
    int32_t id = find(token);
    return id >= 0 && (flags_[id] & kModel) ? id : -1;
  }

  // Largest id + 1.
  size_t size() const { return tokens_.size(); }
  bool has(int32_t id) const { return id >= 0 && size_t(id) < tokens_.size() && (flags_[id] & kPresent); }
  bool is(int32_t id, Flag f) const { return has(id) && (flags_[id] & f); }
  // The caller has checked has(id).
  const std::string& token(int32_t id) const { return tokens_[id]; }

 private:
  // A slot holds the id and 32 bits of the string's hash, so a probe rarely has to compare strings.
  struct Slot {
    int32_t id;  // -1: empty
    uint32_t hash;
  };
  void rehash(size_t capacity);
  size_t slot_of(std::string_view token, uint32_t hash) const;

  std::vector<std::string> tokens_;
  std::vector<uint8_t> flags_;
  std::vector<Slot> table_;  // open addressing, linear probing; size a power of two
  size_t count_ = 0;
};

}  // namespace gt::tok
