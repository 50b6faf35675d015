// Byte-pair encoding of one word, as Hugging Face `tokenizers` (models/bpe) and transformers.js do it. Torch-free.
//
//   1. Initial symbols are the word's code points. A code point missing from the vocabulary becomes the <0xXX>
//      tokens of its UTF-8 bytes (byte_fallback), or <unk> when byte fallback is off or a byte token is missing
//      (consecutive <unk> fuse into one when fuse_unk). A byte that is not valid UTF-8 is a symbol of its own
//      and takes the same fallback path (Hugging Face only ever sees valid UTF-8; this keeps any input encodable).
//   2. Repeatedly merge the adjacent pair with the lowest merge rank; among equal ranks the leftmost pair first.
//
// Gemma has no real pre-tokenizer, so a whole paragraph is one word. Two things keep that fast and exact:
//   - Chunks. Where no merge can ever join two neighbouring code points, the word can be cut there and each
//     piece encoded alone with the same result: merges on one side never change pairs on the other, so each
//     piece sees its own merges in the same order. finish() proves, from the merges themselves, which cuts are
//     safe: before a "▁" (U+2581) whose left neighbour is neither "▁" nor a character that some merged token
//     has right before a "▁" (Gemma has one such token, ">▁</", so no cut after ">"). If any merge involves a
//     byte or <unk> token (whose string is not the text it covers), no cut is made at all.
//   - Per-call word cache (word_cache.h): a repeated chunk is encoded once.
// A chunk is merged with linked symbols in flat arrays and a min-heap of candidate merges keyed by
// (rank, position), O(n log n) even for a 100 KB run without spaces; entries made stale by an earlier merge are
// skipped when popped (lazy invalidation). Short chunks use a linear scan for the minimum instead, which is the
// same order and cheaper below a few dozen symbols. A symbol keeps the position of its leftmost initial symbol,
// which is exactly the tie-break of the reference implementations.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/merge_table.h"  // defines: gt::tok::MergeTable
#include "tokenizer/word_cache.h"   // defines: gt::tok::WordCache

namespace gt::tok {

class Vocabulary;

struct BpeOptions {
  bool byte_fallback = false;
  bool fuse_unk = false;
  int32_t unk_id = -1;  // -1: no unknown token
};

// Scratch space of one encode() call, reused across its words.
struct BpeScratch {
  std::vector<int32_t> ids;         // symbol token id; -1 once merged into its left neighbour
  std::vector<int32_t> prev;        // index of the previous live symbol, -1 at the start
  std::vector<int32_t> next;        // index of the next live symbol, -1 at the end
  std::vector<uint32_t> pair_rank;  // rank of the merge of symbol i with its next, kNoMerge if none
  std::vector<int32_t> pair_id;     // id that merge gives
  std::vector<uint64_t> heap;       // (rank << 32 | position) of candidate merges, a min-heap
  std::vector<int32_t> chunk_ids;   // ids of the chunk being encoded
  WordCache cache;
};

class BpeModel {
 public:
  // Indexes the single-code-point and <0xXX> tokens of `vocab` (model tokens only); merges come next.
  void init(const Vocabulary& vocab, BpeOptions options);
  MergeTable& merges() { return merges_; }
  // Decides where words may be cut into chunks (see above); call once all merges are in.
  void finish(const Vocabulary& vocab);

  // Appends the ids of `word` to `out`. Returns false when some code point can be encoded neither by the
  // vocabulary, nor by byte fallback, nor as <unk>; `bad_cp` then holds it (and `out` may hold part of the word).
  bool encode_word(std::string_view word, std::vector<int32_t>& out, BpeScratch& scratch, char32_t& bad_cp) const;

 private:
  static constexpr uint32_t kNoMerge = ~uint32_t(0);
  static constexpr char32_t kWordStart = 0x2581;  // "▁": what Gemma's normalizer makes of a space

  bool encode_chunk(std::string_view chunk, BpeScratch& s, char32_t& bad_cp) const;
  bool initial_symbols(std::string_view chunk, BpeScratch& s, char32_t& bad_cp) const;
  void merge_linear(BpeScratch& s) const;
  void merge_heap(BpeScratch& s) const;
  // True when the word may be cut right before the "▁" at byte `at` (at > 0).
  bool may_cut_before(std::string_view word, size_t at) const;

  MergeTable merges_;
  std::vector<int32_t> cp_ids_;        // code point -> id of the one-code-point token, or -1
  std::array<int32_t, 256> byte_ids_;  // byte -> id of its <0xXX> token, or -1
  BpeOptions options_;
  bool chunks_ = false;                    // words may be cut before "▁"
  std::vector<char32_t> no_cut_after_;     // ... except after these characters
};

}  // namespace gt::tok
