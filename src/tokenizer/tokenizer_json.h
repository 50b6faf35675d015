// Reading a tokenizer.json document fast. Torch-free.
//
// The file is ~14 MB for Gemma, almost all of it model.vocab (262,144 entries) and model.merges (514,906 pairs).
// A full nlohmann DOM of it takes ~0.8 s to build; a SAX pass takes ~0.1 s. So this reader streams the document
// once: model.vocab (when it is an object) and model.merges (when it is an array) go straight into flat arrays,
// and everything else (added_tokens, normalizer, ...: small) is built into an ordinary nlohmann::json.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gt::tok {

struct TokenizerJson {
  // The document without model.vocab and model.merges when those were read below.
  nlohmann::json doc;

  bool vocab_read = false;                              // model.vocab was an object
  std::vector<std::pair<std::string, int64_t>> vocab;  // its entries, in file order

  // model.merges, either as [left, right] pairs (tokenizers >= 0.20) or as "left right" strings (older files).
  struct Merge {
    uint32_t begin;  // into merge_chars
    uint32_t mid;    // pair: left = [begin, mid), right = [mid, end); string form: mid == begin
    uint32_t end;
    bool is_pair;
  };
  bool merges_read = false;  // model.merges was an array
  std::vector<Merge> merges;
  std::string merge_chars;
};

// Parses `text` (the content of `path`, which only names the file in messages). Throws gt::InputError naming the
// file and the place on invalid JSON or on malformed model.vocab / model.merges entries.
TokenizerJson parse_tokenizer_json(const std::string& text, const std::string& path);

}  // namespace gt::tok
