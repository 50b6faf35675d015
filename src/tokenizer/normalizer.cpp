#include "tokenizer/normalizer.h"

namespace gt::tok {

namespace {

void replace_all(std::string_view in, const Normalizer::Rule& r, std::string& out) {
  out.clear();
  out.reserve(in.size() + in.size() / 4);
  size_t from = 0;
  for (size_t at = in.find(r.pattern); at != std::string_view::npos; at = in.find(r.pattern, from)) {
    out.append(in.data() + from, at - from);
    out.append(r.content);
    from = at + r.pattern.size();
  }
  out.append(in.data() + from, in.size() - from);
}

}  // namespace

std::string_view Normalizer::apply(std::string_view text, std::string& buf, std::string& spare) const {
  std::string_view cur = text;
  std::string* dst = &buf;
  std::string* other = &spare;
  for (const Rule& r : rules_) {
    if (cur.find(r.pattern) == std::string_view::npos) continue;
    replace_all(cur, r, *dst);
    cur = *dst;
    std::swap(dst, other);
  }
  return cur;
}

void SplitPreTokenizer::split(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
  out.clear();
  size_t from = 0;  // start of the text not yet in a piece
  for (size_t at = text.find(pattern_); at != std::string_view::npos; at = text.find(pattern_, from)) {
    // Text before the match takes the match with it; a match with no text before it (at the start, or right
    // after another match) is a piece of its own.
    const size_t end = at + pattern_.size();
    out.emplace_back(from, end);
    from = end;
  }
  if (from < text.size()) out.emplace_back(from, text.size());
}

}  // namespace gt::tok
