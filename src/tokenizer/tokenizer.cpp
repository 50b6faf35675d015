// Encoding and decoding with a loaded tokenizer (loading is in tokenizer_load.cpp). Torch-free.
//
// encode(text):
//   1. split `text` on added tokens with "normalized": false (raw text, leftmost-longest);
//   2. each remaining segment: normalize (Replace rules), split on added tokens with "normalized": true;
//   3. each remaining piece: pre-tokenize (Split, if any), then BPE each word.
// All scratch space lives in this call's Session, so one Tokenizer serves many threads.
#include "tokenizer/tokenizer.h"

#include <cstdio>

#include "core/error.h"                // defines: gt::fail_input
#include "core/strings.h"              // defines: gt::quote
#include "tokenizer/tokenizer_impl.h"  // defines: gt::tok::Tokenizer::Impl, gt::tok::TokenizerParts

namespace gt::tok {

namespace {

// Per-call scratch space (llama.cpp's tokenizer "session").
struct Session {
  std::vector<AddedTokenMatcher::Piece> raw_pieces, normalized_pieces;
  std::vector<std::pair<size_t, size_t>> words;
  std::string norm_buf, norm_spare;
  BpeScratch bpe;
};

void encode_word(const TokenizerParts& t, std::string_view word, std::vector<int32_t>& out, Session& s) {
  if (word.empty()) return;
  if (t.ignore_merges) {
    const int32_t id = t.vocab.find_model(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  char32_t bad_cp = 0;
  if (!t.bpe.encode_word(word, out, s.bpe, bad_cp)) {
    char name[16];
    std::snprintf(name, sizeof name, "U+%04X", unsigned(bad_cp));
    fail_input("tokenizer ", t.path, ": cannot encode ", name,
               ": it is not in model.vocab, byte fallback cannot spell it, and model.unk_token is null");
  }
}

// Step 3: a normalized piece that holds no added token.
void encode_normalized(const TokenizerParts& t, std::string_view text, std::vector<int32_t>& out, Session& s) {
  if (t.pre_tokenizer.empty()) return encode_word(t, text, out, s);
  t.pre_tokenizer.split(text, s.words);
  for (const auto& [begin, end] : s.words) encode_word(t, text.substr(begin, end - begin), out, s);
}

// Step 2: a raw segment between added tokens.
void encode_segment(const TokenizerParts& t, std::string_view raw, std::vector<int32_t>& out, Session& s) {
  const std::string_view text = t.normalizer.apply(raw, s.norm_buf, s.norm_spare);
  if (t.normalized_added.empty()) return encode_normalized(t, text, out, s);
  t.normalized_added.split(text, s.normalized_pieces);
  for (const auto& p : s.normalized_pieces) {
    if (p.id >= 0)
      out.push_back(p.id);
    else
      encode_normalized(t, text.substr(p.begin, p.end - p.begin), out, s);
  }
}

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  const Impl& t = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  Session s;
  if (t.raw_added.empty()) {
    encode_segment(t, text, out, s);
    return out;
  }
  t.raw_added.split(text, s.raw_pieces);
  for (const auto& p : s.raw_pieces) {
    if (p.id >= 0)
      out.push_back(p.id);
    else
      encode_segment(t, text.substr(p.begin, p.end - p.begin), out, s);
  }
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  const Impl& t = *impl_;
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (skip_special && t.vocab.is(id, Vocabulary::kSpecial)) continue;
    tokens.push_back(token(id));
  }
  return run_decoder(t.decoder, std::move(tokens));
}

std::optional<int32_t> Tokenizer::find_id(std::string_view token) const {
  const int32_t id = impl_->vocab.find(token);
  if (id < 0) return std::nullopt;
  return id;
}

int32_t Tokenizer::require_id(std::string_view token) const {
  const int32_t id = impl_->vocab.find(token);
  if (id < 0)
    fail_input("tokenizer ", impl_->path, ": has no token ", quote(token),
               " (neither in model.vocab nor in added_tokens)");
  return id;
}

const std::string& Tokenizer::token(int32_t id) const {
  if (!impl_->vocab.has(id))
    fail_input("tokenizer ", impl_->path, ": token id ", id, " is not in the vocabulary (ids 0..",
               impl_->vocab.size() - 1, ")");
  return impl_->vocab.token(id);
}

bool Tokenizer::is_special(int32_t id) const { return impl_->vocab.is(id, Vocabulary::kSpecial); }

size_t Tokenizer::vocab_size() const { return impl_->vocab.size(); }

const std::string& Tokenizer::source_path() const { return impl_->path; }

}  // namespace gt::tok
