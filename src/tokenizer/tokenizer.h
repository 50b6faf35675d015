// Hugging Face `tokenizer.json` tokenizer, as Gemma 3, Gemma 3n and Gemma 4 publish it. Torch-free.
//
// What is implemented (the combination Gemma uses, checked when loading; anything else is refused with the
// field named):
//   added tokens   matched first, on the raw text, leftmost-longest (special and non-special alike);
//                  tokens with "normalized": true are matched on the normalized text of each remaining segment
//   normalizer     Replace(String " " -> "▁"), or a Sequence of Replace, or null
//   pre_tokenizer  Split(String " ", MergedWithPrevious) (a no-op once spaces became "▁"), or null
//   model          BPE with byte_fallback over the whole segment: lowest merge rank first, leftmost on ties
//   decoder        Replace("▁" -> " "), ByteFallback (invalid UTF-8 -> U+FFFD per byte), Fuse
// The tokenizer is immutable once built and safe to share between threads; encode() keeps its scratch space
// on the stack of the call (the per-call "session" of llama.cpp's vocab).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gt::tok {

class Tokenizer {
 public:
  // Reads a tokenizer.json file. Throws gt::InputError naming the file and field on bad or unsupported content.
  static Tokenizer from_file(const std::string& path);
  // Reads <model_dir>/tokenizer.json.
  static Tokenizer from_model_dir(const std::string& model_dir);

  // Token ids of `text`; no BOS/EOS added. Invalid UTF-8 bytes are encoded through byte fallback.
  std::vector<int32_t> encode(std::string_view text) const;
  // Text of `ids`: "▁" -> " ", byte tokens fused into UTF-8. Special tokens are kept unless skip_special.
  // Throws gt::InputError for an id outside the vocabulary.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  // Id of a token by its exact string (vocabulary or added token), if any.
  std::optional<int32_t> find_id(std::string_view token) const;
  // Same, but throws gt::InputError naming the tokenizer file when the token does not exist.
  int32_t require_id(std::string_view token) const;
  // String of a token id (throws gt::InputError when out of range).
  const std::string& token(int32_t id) const;
  bool is_special(int32_t id) const;
  // Number of ids (largest id + 1).
  size_t vocab_size() const;
  const std::string& source_path() const;

 private:
  struct Impl;
  explicit Tokenizer(std::shared_ptr<const Impl> impl);
  std::shared_ptr<const Impl> impl_;
};

}  // namespace gt::tok
