// Task metrics that `eval --generate` reports for each row and for the whole set: word and character error rates
// (as jiwer 4.0 computes them; Hugging Face `evaluate`'s "wer" and "cer" are built on jiwer), chrF (as sacrebleu's
// CHRF with its defaults) and exact match. Torch-free.
//
// The functions score their inputs as given, apart from the whitespace rules each states: normalise the reference
// and the answer first with data/text_normalizer.h (the run's --normalizer), as eval does. Text is read as UTF-8;
// ill-formed bytes count as U+FFFD. Characters are Unicode code points (Python's str indexing), not grapheme
// clusters: "é" written as e + U+0301 is two characters, and a flag emoji is two.
//
// Corpus figures are never the mean of per-row figures: WER/CER = sum of errors / sum of reference lengths (keep
// EditCounts and add them up), and corpus chrF sums the n-gram statistics of all rows before computing one score
// (ChrfAccumulator), as jiwer and sacrebleu do for a list of sentences.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace gt::data {

// ---- Word and character error rates ----

// The outcome of one minimal-edit alignment of a reference with a hypothesis. Among the alignments with the fewest
// edits, the one with the most hits is counted; S, D and I then follow from the lengths (H + S + D = reference
// length, H + S + I = hypothesis length), so the split is deterministic. jiwer (rapidfuzz opcodes) returns some
// minimal alignment, so its S/D/I split may differ from ours when several exist (e.g. "a b" vs "b c": two
// substitutions, or a deletion, a hit and an insertion); S + D + I, and so the rate, are the same.
struct EditCounts {
  int64_t substitutions = 0;
  int64_t deletions = 0;   // in the reference, missing from the hypothesis
  int64_t insertions = 0;  // in the hypothesis, not in the reference
  int64_t hits = 0;
  int64_t reference_length = 0;  // words or characters: hits + substitutions + deletions

  int64_t errors() const { return substitutions + deletions + insertions; }

  // (S + D + I) / reference_length. An empty reference gives the number of insertions (0 when the hypothesis is
  // empty too), as jiwer 4 does (jiwer 3 refused empty references): a row whose reference is silence and whose
  // answer is "" scores 0, an answer of 3 words scores 3. This keeps every row reportable and agrees with the
  // corpus rule, where those insertions count as errors over the other rows' reference words.
  double rate() const;

  EditCounts& operator+=(const EditCounts& other);
  bool operator==(const EditCounts&) const = default;
};

// Words are the runs between whitespace (Python's str.split(), whitespace as in is_python_whitespace). jiwer's
// default splits on " " after folding each run of two or more whitespace characters into one space, so a lone tab
// or no-break space between words is a separator here and not there; both normalisers leave only plain spaces,
// where the two agree.
EditCounts word_errors(std::string_view reference, std::string_view hypothesis);

// Characters are code points after stripping leading and trailing whitespace; spaces inside count as characters
// and runs of them are NOT collapsed. This is jiwer's default CER transform (Strip, then ReduceToListOfListOfChars).
EditCounts char_errors(std::string_view reference, std::string_view hypothesis);

// ---- chrF ----
// sacrebleu's CHRF with its defaults: character n-grams of orders 1..6, no word n-grams (word_order 0), beta 2,
// case kept, whitespace removed before extracting n-grams (every whitespace code point, as ''.join(s.split())),
// and eps_smoothing=False, sacrebleu's default: precision and recall are averaged over the "effective" orders only
// (those where both the hypothesis and the reference have n-grams), then combined into one F-beta; no order has
// n-grams -> 0. Scores are 0-100.

inline constexpr int kChrfCharOrder = 6;

// Per order n = index + 1: n-grams in the hypothesis, in the reference, and matched (sum over distinct n-grams of
// min(count in hypothesis, count in reference)). As in sacrebleu, `hypothesis` is 0 for an order at which the
// reference has no n-gram at all.
struct ChrfStatistics {
  std::array<int64_t, kChrfCharOrder> hypothesis{};
  std::array<int64_t, kChrfCharOrder> reference{};
  std::array<int64_t, kChrfCharOrder> matched{};

  ChrfStatistics& operator+=(const ChrfStatistics& other);
  bool operator==(const ChrfStatistics&) const = default;
};

ChrfStatistics chrf_statistics(std::string_view reference, std::string_view hypothesis);
double chrf_score(const ChrfStatistics& statistics);  // 0-100

// Sentence-level chrF (sacrebleu's CHRF().sentence_score(hypothesis, [reference]).score). Two empty strings score 0.
double chrf(std::string_view reference, std::string_view hypothesis);

// Corpus chrF (sacrebleu's CHRF().corpus_score(hypotheses, [references]).score): statistics summed over the rows,
// one score at the end.
class ChrfAccumulator {
 public:
  void add(std::string_view reference, std::string_view hypothesis);
  double score() const { return chrf_score(statistics_); }
  const ChrfStatistics& statistics() const { return statistics_; }
  int64_t rows() const { return rows_; }

 private:
  ChrfStatistics statistics_;
  int64_t rows_ = 0;
};

// ---- Exact match ----

// True when the two texts are the same code points after collapsing whitespace runs and stripping (so already
// normalised texts compare as plain strings, and stray spaces never decide a row).
bool exact_match(std::string_view reference, std::string_view hypothesis);

}  // namespace gt::data
