#include "data/example_text.h"

#include <vector>

#include "core/error.h"

namespace gt::data {

namespace {

// A special token repeated at least this often in a row is written once with its count.
constexpr size_t kCollapseRun = 4;

// Decodes ids, writing long runs of one special token as "<token>×N".
std::string decode_collapsed(const std::vector<int32_t>& ids, const tok::Tokenizer& tokenizer) {
  std::string out;
  std::vector<int32_t> plain;
  size_t i = 0;
  while (i < ids.size()) {
    size_t j = i;
    while (j < ids.size() && ids[j] == ids[i]) ++j;
    if (j - i >= kCollapseRun && tokenizer.is_special(ids[i])) {
      out += tokenizer.decode(plain);
      plain.clear();
      out += cat(tokenizer.token(ids[i]), "×", j - i);
    } else {
      plain.insert(plain.end(), ids.begin() + static_cast<std::ptrdiff_t>(i), ids.begin() + static_cast<std::ptrdiff_t>(j));
    }
    i = j;
  }
  return out + tokenizer.decode(plain);
}

}  // namespace

TrainedMarks ansi_trained_marks() { return {"\x1b[1;32m", "\x1b[0m"}; }

std::string render_example(const Example& ex, const tok::Tokenizer& tokenizer, const TrainedMarks& marks,
                           size_t max_tokens) {
  GT_CHECK(ex.labels.size() == ex.input_ids.size(), "labels ", ex.labels.size(), " vs ids ", ex.input_ids.size());
  std::string out;
  std::vector<int32_t> run;
  bool run_trained = false;
  auto flush = [&] {
    if (run.empty()) return;
    const std::string text = decode_collapsed(run, tokenizer);
    out += run_trained ? marks.open + text + marks.close : text;
    run.clear();
  };
  const size_t n = ex.input_ids.size();
  const bool cut = max_tokens >= 2 && n > max_tokens;
  const size_t head_end = cut ? max_tokens / 2 : n, tail_start = cut ? n - max_tokens / 2 : n;
  for (size_t t = 0; t < n; ++t) {
    if (t == head_end && cut) {
      flush();
      out += cat("…(", tail_start - head_end, " tokens)…");
      t = tail_start;
    }
    const bool trained = t >= 1 && ex.labels[t] != kIgnoreIndex;
    if (trained != run_trained) flush();
    run_trained = trained;
    run.push_back(ex.input_ids[t]);
  }
  flush();
  return out;
}

}  // namespace gt::data
