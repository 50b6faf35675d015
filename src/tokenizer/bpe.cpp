#include "tokenizer/bpe.h"

#include <algorithm>
#include <functional>

#include "tokenizer/utf8.h"        // defines: utf8_decode
#include "tokenizer/vocabulary.h"  // defines: gt::tok::Vocabulary

namespace gt::tok {

namespace {
// Chunks of at most this many symbols find their next merge by a linear scan rather than a heap.
constexpr int32_t kLinearMaxSymbols = 48;
const std::string_view kWordStartUtf8 = "\xE2\x96\x81";
}  // namespace

void BpeModel::init(const Vocabulary& vocab, BpeOptions options) {
  options_ = options;
  cp_ids_.assign(0x110000, -1);
  for (size_t id = 0; id < vocab.size(); ++id) {
    if (!vocab.is(int32_t(id), Vocabulary::kModel)) continue;
    const std::string& t = vocab.token(int32_t(id));
    char32_t cp;
    if (!t.empty() && utf8_decode(t, 0, cp) == t.size()) cp_ids_[cp] = int32_t(id);
  }
  static const char* kHex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    // The byte tokens are spelled "<0x0A>": upper-case hex, two digits (sentencepiece's byte pieces).
    const char name[7] = {'<', '0', 'x', kHex[b >> 4], kHex[b & 15], '>', 0};
    byte_ids_[b] = vocab.find_model(name);
  }
}

void BpeModel::finish(const Vocabulary& vocab) {
  chunks_ = cp_ids_[kWordStart] >= 0;
  no_cut_after_.clear();
  std::vector<bool> opaque(vocab.size(), false);  // tokens whose string is not the text they cover
  for (int32_t id : byte_ids_)
    if (id >= 0) opaque[id] = true;
  if (options_.unk_id >= 0) opaque[options_.unk_id] = true;
  merges_.for_each([&](int32_t left, int32_t right, MergeTable::Merge m) {
    if (opaque[left] || opaque[right]) chunks_ = false;
    // Every character right before a "▁" inside a merged token (other than "▁" itself) forbids a cut after it.
    const std::string& t = vocab.token(m.id);
    for (size_t at = t.find(kWordStartUtf8, 1); at != std::string::npos; at = t.find(kWordStartUtf8, at + 1)) {
      size_t start = at - 1;
      while (start > 0 && (static_cast<unsigned char>(t[start]) & 0xC0) == 0x80) --start;
      char32_t cp;
      if (utf8_decode(t, start, cp) != at - start) {
        chunks_ = false;  // not reachable for valid token strings; stay exact anyway
        continue;
      }
      if (cp != kWordStart && std::find(no_cut_after_.begin(), no_cut_after_.end(), cp) == no_cut_after_.end())
        no_cut_after_.push_back(cp);
    }
  });
}

bool BpeModel::may_cut_before(std::string_view word, size_t at) const {
  size_t start = at - 1;
  while (start > 0 && at - start < 4 && (static_cast<unsigned char>(word[start]) & 0xC0) == 0x80) --start;
  char32_t cp;
  if (utf8_decode(word, start, cp) != at - start) return true;  // an invalid byte: a byte symbol, never merged
  if (cp == kWordStart) return false;                          // inside a run of "▁": the run stays whole
  return std::find(no_cut_after_.begin(), no_cut_after_.end(), cp) == no_cut_after_.end();
}

bool BpeModel::encode_word(std::string_view word, std::vector<int32_t>& out, BpeScratch& s, char32_t& bad_cp) const {
  size_t begin = 0;
  if (chunks_) {
    for (size_t at = word.find(kWordStartUtf8, 1); at != std::string_view::npos;
         at = word.find(kWordStartUtf8, at + 1)) {
      if (!may_cut_before(word, at)) continue;
      if (!encode_chunk(word.substr(begin, at - begin), s, bad_cp)) return false;
      out.insert(out.end(), s.chunk_ids.begin(), s.chunk_ids.end());
      begin = at;
    }
  }
  if (!encode_chunk(word.substr(begin), s, bad_cp)) return false;
  out.insert(out.end(), s.chunk_ids.begin(), s.chunk_ids.end());
  return true;
}

// Leaves the ids of `chunk` in s.chunk_ids.
bool BpeModel::encode_chunk(std::string_view chunk, BpeScratch& s, char32_t& bad_cp) const {
  s.chunk_ids.clear();
  if (chunk.empty()) return true;
  if (const auto cached = s.cache.find(chunk); !cached.empty()) {
    s.chunk_ids.assign(cached.begin(), cached.end());
    return true;
  }
  if (!initial_symbols(chunk, s, bad_cp)) return false;
  const auto n = int32_t(s.ids.size());
  if (n > 1) {
    s.prev.resize(n);
    s.next.resize(n);
    s.pair_rank.resize(n);
    s.pair_id.resize(n);
    MergeTable::Merge m;
    for (int32_t i = 0; i < n; ++i) {
      s.prev[i] = i - 1;
      s.next[i] = i + 1 < n ? i + 1 : -1;
      const bool merges = i + 1 < n && merges_.find(s.ids[i], s.ids[i + 1], m);
      s.pair_rank[i] = merges ? m.rank : kNoMerge;
      s.pair_id[i] = merges ? m.id : -1;
    }
    if (n <= kLinearMaxSymbols)
      merge_linear(s);
    else
      merge_heap(s);
  }
  for (int32_t i = 0; i >= 0; i = n > 1 ? s.next[i] : -1) s.chunk_ids.push_back(s.ids[i]);
  s.cache.insert(chunk, s.chunk_ids);
  return true;
}

bool BpeModel::initial_symbols(std::string_view chunk, BpeScratch& s, char32_t& bad_cp) const {
  std::vector<int32_t>& ids = s.ids;
  ids.clear();
  bool last_was_unk = false;
  for (size_t pos = 0; pos < chunk.size();) {
    char32_t cp;
    size_t len = utf8_decode(chunk, pos, cp);
    if (len > 0) {
      const int32_t id = cp_ids_[cp];
      if (id >= 0) {
        ids.push_back(id);
        last_was_unk = false;
        pos += len;
        continue;
      }
    } else {
      len = 1;  // an invalid byte: a symbol of its own
    }
    bool bytes_ok = options_.byte_fallback;
    for (size_t i = 0; bytes_ok && i < len; ++i) bytes_ok = byte_ids_[static_cast<unsigned char>(chunk[pos + i])] >= 0;
    if (bytes_ok) {
      for (size_t i = 0; i < len; ++i) ids.push_back(byte_ids_[static_cast<unsigned char>(chunk[pos + i])]);
      last_was_unk = false;
    } else if (options_.unk_id >= 0) {
      if (!(options_.fuse_unk && last_was_unk)) ids.push_back(options_.unk_id);
      last_was_unk = true;
    } else {
      bad_cp = cp;
      return false;
    }
    pos += len;
  }
  return true;
}

namespace {
// Merges the pair at `left` with its next symbol and refreshes the pair ranks around it. Returns the new
// neighbours' positions through `before` / `after` (-1 when none).
void merge_at(const MergeTable& merges, BpeScratch& s, int32_t left, int32_t& before, int32_t& after,
              uint32_t no_merge) {
  const int32_t right = s.next[left];
  s.ids[left] = s.pair_id[left];
  s.ids[right] = -1;
  after = s.next[right];
  s.next[left] = after;
  if (after >= 0) s.prev[after] = left;
  MergeTable::Merge m;
  if (after >= 0 && merges.find(s.ids[left], s.ids[after], m)) {
    s.pair_rank[left] = m.rank;
    s.pair_id[left] = m.id;
  } else {
    s.pair_rank[left] = no_merge;
  }
  before = s.prev[left];
  if (before >= 0) {
    if (merges.find(s.ids[before], s.ids[left], m)) {
      s.pair_rank[before] = m.rank;
      s.pair_id[before] = m.id;
    } else {
      s.pair_rank[before] = no_merge;
    }
  }
}
}  // namespace

void BpeModel::merge_linear(BpeScratch& s) const {
  for (;;) {
    // The lowest rank; the scan goes left to right with a strict <, so the leftmost wins ties.
    uint32_t best_rank = kNoMerge;
    int32_t best = -1;
    for (int32_t i = 0; i >= 0; i = s.next[i])
      if (s.pair_rank[i] < best_rank) {
        best_rank = s.pair_rank[i];
        best = i;
      }
    if (best < 0) return;
    int32_t before, after;
    merge_at(merges_, s, best, before, after, kNoMerge);
  }
}

void BpeModel::merge_heap(BpeScratch& s) const {
  std::vector<uint64_t>& heap = s.heap;
  heap.clear();
  const auto n = int32_t(s.ids.size());
  for (int32_t i = 0; i < n; ++i)
    if (s.pair_rank[i] != kNoMerge) heap.push_back((uint64_t(s.pair_rank[i]) << 32) | uint32_t(i));
  const auto later = std::greater<uint64_t>();  // makes std::*_heap a min-heap
  std::make_heap(heap.begin(), heap.end(), later);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const uint64_t top = heap.back();
    heap.pop_back();
    const int32_t left = int32_t(uint32_t(top));
    // Stale unless the pair at `left` still has this rank (a rank names one pair of ids, so the same pair).
    if (s.ids[left] < 0 || s.pair_rank[left] != uint32_t(top >> 32)) continue;
    int32_t before, after;
    merge_at(merges_, s, left, before, after, kNoMerge);
    if (before >= 0 && s.pair_rank[before] != kNoMerge) {
      heap.push_back((uint64_t(s.pair_rank[before]) << 32) | uint32_t(before));
      std::push_heap(heap.begin(), heap.end(), later);
    }
    if (s.pair_rank[left] != kNoMerge) {
      heap.push_back((uint64_t(s.pair_rank[left]) << 32) | uint32_t(left));
      std::push_heap(heap.begin(), heap.end(), later);
    }
  }
}

}  // namespace gt::tok
