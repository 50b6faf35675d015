// The text steps between added-token splitting and BPE: the normalizer (a sequence of literal Replace rules) and
// the pre-tokenizer (Split on a literal string, delimiter MergedWithPrevious). Torch-free.
//
// Gemma: normalizer Replace(" " -> "▁"); pre-tokenizer Split(" ", MergedWithPrevious), which finds no space left
// after the normalizer, so each segment between added tokens reaches BPE as one word.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gt::tok {

// Replace(String pattern -> content), applied in order, each to the output of the previous one; occurrences are
// found left to right without overlap (Hugging Face's NormalizedString::replace with a String pattern).
class Normalizer {
 public:
  struct Rule {
    std::string pattern;  // never empty
    std::string content;
  };
  void add_rule(std::string pattern, std::string content) { rules_.push_back(Rule{std::move(pattern), std::move(content)}); }
  bool empty() const { return rules_.empty(); }

  // The normalized text: `text` itself when there are no rules, else a view of `buf` (or `spare`) that is valid
  // until the next call with the same buffers.
  std::string_view apply(std::string_view text, std::string& buf, std::string& spare) const;

 private:
  std::vector<Rule> rules_;
};

// Split(String pattern, behavior MergedWithPrevious, invert false): each occurrence of the pattern ends the
// piece before it; an occurrence at the very start, or right after another one, is a piece of its own
// ("a  b" with " " -> "a ", " ", "b"), as `tokenizers` folds its matches.
class SplitPreTokenizer {
 public:
  void set_pattern(std::string pattern) { pattern_ = std::move(pattern); }
  bool empty() const { return pattern_.empty(); }
  // Replaces `out` by the (begin, end) byte ranges of the pieces of `text`; none is empty.
  void split(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;

 private:
  std::string pattern_;
};

}  // namespace gt::tok
