#include "tokenizer/added_tokens.h"

#include "tokenizer/utf8.h"  // defines: whitespace_run_before, whitespace_run_after

namespace gt::tok {

AddedTokenMatcher::AddedTokenMatcher() : nodes_(1) {
  for (int32_t& c : root_children_) c = -1;
}

int32_t AddedTokenMatcher::child(int32_t node, unsigned char b) const {
  if (node == 0) return root_children_[b];
  for (const auto& [byte, next] : nodes_[node].children)
    if (byte == b) return next;
  return -1;
}

bool AddedTokenMatcher::add(std::string_view pattern, int32_t id, bool lstrip, bool rstrip) {
  if (pattern.empty()) return true;  // an empty pattern never matches
  int32_t node = 0;
  for (char ch : pattern) {
    const auto b = static_cast<unsigned char>(ch);
    int32_t next = child(node, b);
    if (next < 0) {
      next = int32_t(nodes_.size());
      nodes_.emplace_back();
      nodes_[node].children.emplace_back(b, next);
      if (node == 0) root_children_[b] = next;
    }
    node = next;
  }
  if (nodes_[node].token >= 0) return false;
  nodes_[node].token = int32_t(tokens_.size());
  tokens_.push_back(Token{id, lstrip, rstrip});
  return true;
}

void AddedTokenMatcher::split(std::string_view text, std::vector<Piece>& out) const {
  out.clear();
  const size_t n = text.size();
  size_t plain_begin = 0;  // start of the plain text not yet emitted
  size_t pos = 0;
  while (pos < n) {
    int32_t node = root_children_[static_cast<unsigned char>(text[pos])];
    if (node < 0) {
      ++pos;
      continue;
    }
    // Longest pattern starting at pos.
    int32_t best = nodes_[node].token;
    size_t best_end = pos + 1;
    for (size_t j = pos + 1; j < n; ++j) {
      node = child(node, static_cast<unsigned char>(text[j]));
      if (node < 0) break;
      if (nodes_[node].token >= 0) {
        best = nodes_[node].token;
        best_end = j + 1;
      }
    }
    if (best < 0) {
      ++pos;
      continue;
    }
    const Token& t = tokens_[best];
    size_t begin = pos, end = best_end;
    if (t.lstrip) begin -= whitespace_run_before(text, plain_begin, begin);
    if (t.rstrip) end += whitespace_run_after(text, end);
    if (begin > plain_begin) out.push_back(Piece{plain_begin, begin, -1});
    out.push_back(Piece{begin, end, t.id});
    plain_begin = pos = end;
  }
  if (plain_begin < n) out.push_back(Piece{plain_begin, n, -1});
}

}  // namespace gt::tok
