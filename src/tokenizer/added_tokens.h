// Splitting text on added tokens, as Hugging Face's AddedVocabulary does. Torch-free.
//
// Matching is leftmost-longest (Aho-Corasick LeftmostLongest in `tokenizers`; a trie walk in transformers.js):
// scanning left to right, at the first position where any token matches, the longest token there wins, and
// scanning resumes after it. A byte trie makes this O(text length x longest token); the root is a dense table,
// so positions where no token can start cost one load.
//
// lstrip / rstrip (Hugging Face semantics): the match swallows the Unicode whitespace right before / after it,
// never reaching back past the previous match. After an rstrip match, scanning resumes after the swallowed
// whitespace (HF would still look for tokens inside it and produce overlapping pieces; no real tokenizer has a
// token that starts with whitespace and another with rstrip, so this never differs in practice).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gt::tok {

class AddedTokenMatcher {
 public:
  // One piece of split text: bytes [begin, end), and the added token's id or -1 for plain text.
  struct Piece {
    size_t begin;
    size_t end;
    int32_t id;
  };

  AddedTokenMatcher();
  // Adds a pattern; returns false when the same pattern is already there (the caller reports it).
  bool add(std::string_view pattern, int32_t id, bool lstrip, bool rstrip);
  bool empty() const { return tokens_.empty(); }

  // Replaces `out` by the pieces of `text`, in order; plain pieces are never empty.
  void split(std::string_view text, std::vector<Piece>& out) const;

 private:
  struct Token {
    int32_t id;
    bool lstrip;
    bool rstrip;
  };
  struct Node {
    int32_t token = -1;  // index into tokens_ when a pattern ends here
    std::vector<std::pair<unsigned char, int32_t>> children;
  };
  int32_t child(int32_t node, unsigned char b) const;

  std::vector<Token> tokens_;
  std::vector<Node> nodes_;      // nodes_[0] is the root
  int32_t root_children_[256];  // dense copy of the root's edges
};

}  // namespace gt::tok
