#include "data/text_metrics.h"

#include <algorithm>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "data/text_normalizer.h"  // defines: utf8_to_code_points, is_python_whitespace, normalize_text_none

namespace gt::data {

namespace {

// One cell of the edit-distance table: the best alignment of a reference prefix with a hypothesis prefix.
struct Alignment {
  int64_t substitutions = 0, deletions = 0, insertions = 0, hits = 0;
  int64_t cost() const { return substitutions + deletions + insertions; }
};

// Better = fewer edits, then more hits (both add up along a path, so choosing per cell gives the best path).
bool better(const Alignment& a, const Alignment& b) {
  if (a.cost() != b.cost()) return a.cost() < b.cost();
  return a.hits > b.hits;
}

// Levenshtein alignment with unit costs over two token sequences, two rows of the table at a time: O(|ref|·|hyp|)
// time, O(|hyp|) memory.
template <typename Token>
EditCounts align(const std::vector<Token>& ref, const std::vector<Token>& hyp) {
  const size_t m = hyp.size();
  std::vector<Alignment> prev(m + 1), cur(m + 1);
  for (size_t j = 0; j <= m; ++j) prev[j].insertions = static_cast<int64_t>(j);
  for (size_t i = 1; i <= ref.size(); ++i) {
    cur[0] = Alignment{};
    cur[0].deletions = static_cast<int64_t>(i);
    for (size_t j = 1; j <= m; ++j) {
      Alignment best = prev[j - 1];  // diagonal: hit or substitution
      if (ref[i - 1] == hyp[j - 1]) {
        ++best.hits;
      } else {
        ++best.substitutions;
      }
      Alignment deletion = prev[j];
      ++deletion.deletions;
      if (better(deletion, best)) best = deletion;
      Alignment insertion = cur[j - 1];
      ++insertion.insertions;
      if (better(insertion, best)) best = insertion;
      cur[j] = best;
    }
    std::swap(prev, cur);
  }
  const Alignment& a = prev[m];
  EditCounts out;
  out.substitutions = a.substitutions;
  out.deletions = a.deletions;
  out.insertions = a.insertions;
  out.hits = a.hits;
  out.reference_length = static_cast<int64_t>(ref.size());
  return out;
}

std::vector<std::u32string> split_words(std::u32string_view s) {
  std::vector<std::u32string> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_python_whitespace(s[i])) ++i;
    const size_t begin = i;
    while (i < s.size() && !is_python_whitespace(s[i])) ++i;
    if (i > begin) words.emplace_back(s.substr(begin, i - begin));
  }
  return words;
}

// Words as small integers (one id per distinct word over both texts), so the table compares integers.
std::pair<std::vector<int64_t>, std::vector<int64_t>> word_ids(std::string_view reference,
                                                               std::string_view hypothesis) {
  std::unordered_map<std::u32string, int64_t> ids;
  auto to_ids = [&](std::string_view text) {
    std::vector<int64_t> out;
    for (auto& w : split_words(utf8_to_code_points(text))) {
      out.push_back(ids.emplace(std::move(w), static_cast<int64_t>(ids.size())).first->second);
    }
    return out;
  };
  auto ref = to_ids(reference);
  auto hyp = to_ids(hypothesis);
  return {std::move(ref), std::move(hyp)};
}

// Python's str.strip() on code points.
std::vector<char32_t> stripped_code_points(std::string_view text) {
  const std::u32string s = utf8_to_code_points(text);
  size_t begin = 0, end = s.size();
  while (begin < end && is_python_whitespace(s[begin])) ++begin;
  while (end > begin && is_python_whitespace(s[end - 1])) --end;
  return {s.begin() + static_cast<std::ptrdiff_t>(begin), s.begin() + static_cast<std::ptrdiff_t>(end)};
}

// sacrebleu's extract_all_char_ngrams with whitespace removed: counts of each n-gram, n = 1..6.
using NgramCounts = std::unordered_map<std::u32string, int64_t>;

std::array<NgramCounts, kChrfCharOrder> char_ngrams(std::string_view text) {
  std::u32string s;
  for (char32_t c : utf8_to_code_points(text)) {
    if (!is_python_whitespace(c)) s.push_back(c);
  }
  std::array<NgramCounts, kChrfCharOrder> out;
  for (size_t n = 1; n <= kChrfCharOrder; ++n) {
    for (size_t i = 0; i + n <= s.size(); ++i) ++out[n - 1][s.substr(i, n)];
  }
  return out;
}

int64_t total(const NgramCounts& counts) {
  int64_t sum = 0;
  for (const auto& [ngram, count] : counts) sum += count;
  return sum;
}

}  // namespace

double EditCounts::rate() const {
  if (reference_length == 0) return static_cast<double>(errors());
  return static_cast<double>(errors()) / static_cast<double>(reference_length);
}

EditCounts& EditCounts::operator+=(const EditCounts& other) {
  substitutions += other.substitutions;
  deletions += other.deletions;
  insertions += other.insertions;
  hits += other.hits;
  reference_length += other.reference_length;
  return *this;
}

EditCounts word_errors(std::string_view reference, std::string_view hypothesis) {
  const auto [ref, hyp] = word_ids(reference, hypothesis);
  return align(ref, hyp);
}

EditCounts char_errors(std::string_view reference, std::string_view hypothesis) {
  return align(stripped_code_points(reference), stripped_code_points(hypothesis));
}

ChrfStatistics& ChrfStatistics::operator+=(const ChrfStatistics& other) {
  for (size_t i = 0; i < kChrfCharOrder; ++i) {
    hypothesis[i] += other.hypothesis[i];
    reference[i] += other.reference[i];
    matched[i] += other.matched[i];
  }
  return *this;
}

ChrfStatistics chrf_statistics(std::string_view reference, std::string_view hypothesis) {
  const auto ref = char_ngrams(reference);
  const auto hyp = char_ngrams(hypothesis);
  ChrfStatistics out;
  for (size_t i = 0; i < kChrfCharOrder; ++i) {
    int64_t matched = 0;
    for (const auto& [ngram, count] : hyp[i]) {
      const auto it = ref[i].find(ngram);
      if (it != ref[i].end()) matched += std::min(count, it->second);
    }
    // sacrebleu (_get_match_statistics): hypothesis n-grams are not counted at an order where the reference has none.
    out.hypothesis[i] = ref[i].empty() ? 0 : total(hyp[i]);
    out.reference[i] = total(ref[i]);
    out.matched[i] = matched;
  }
  return out;
}

double chrf_score(const ChrfStatistics& s) {
  constexpr double kBeta = 2.0;
  constexpr double factor = kBeta * kBeta;
  double precision = 0.0, recall = 0.0;
  int effective_order = 0;
  for (size_t i = 0; i < kChrfCharOrder; ++i) {
    if (s.hypothesis[i] > 0 && s.reference[i] > 0) {
      precision += static_cast<double>(s.matched[i]) / static_cast<double>(s.hypothesis[i]);
      recall += static_cast<double>(s.matched[i]) / static_cast<double>(s.reference[i]);
      ++effective_order;
    }
  }
  if (effective_order == 0) return 0.0;
  precision /= effective_order;
  recall /= effective_order;
  if (precision + recall == 0.0) return 0.0;
  // Same operation order as sacrebleu, so the doubles agree to the last bit.
  double score = (1.0 + factor) * precision * recall;
  score /= factor * precision + recall;
  return 100.0 * score;
}

double chrf(std::string_view reference, std::string_view hypothesis) {
  return chrf_score(chrf_statistics(reference, hypothesis));
}

void ChrfAccumulator::add(std::string_view reference, std::string_view hypothesis) {
  statistics_ += chrf_statistics(reference, hypothesis);
  ++rows_;
}

bool exact_match(std::string_view reference, std::string_view hypothesis) {
  return normalize_text_none(reference) == normalize_text_none(hypothesis);
}

}  // namespace gt::data
