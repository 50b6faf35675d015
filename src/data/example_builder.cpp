#include "data/example_builder.h"

#include <algorithm>

#include "core/error.h"
#include "data/utf8_text.h"

namespace gt::data {

namespace {

constexpr std::string_view kSpace = " \t\r\n\f\v";

std::string left_trimmed(std::string_view s) {
  const size_t b = s.find_first_not_of(kSpace);
  return b == std::string_view::npos ? std::string() : std::string(s.substr(b));
}

std::string right_trimmed(std::string_view s) {
  const size_t e = s.find_last_not_of(kSpace);
  return e == std::string_view::npos ? std::string() : std::string(s.substr(0, e + 1));
}

RowResult<Example> checked(Example ex) {
  if (ex.supervised_tokens() == 0)
    return RowResult<Example>::fail(skip_kind::kNothingToTrain,
                                    cat("no position after the first has a label (", ex.input_ids.size(),
                                        " tokens), so there is nothing to train on"));
  return RowResult<Example>::ok(std::move(ex));
}

}  // namespace

RowResult<Example> build_chat_example(const ChatFormat& format, std::vector<Turn> turns, int64_t max_seq_len) {
  const size_t limit = static_cast<size_t>(std::max<int64_t>(max_seq_len, 0));
  size_t user = turns.size(), model = turns.size();
  for (size_t i = 0; i < turns.size(); ++i) {
    if (turns[i].role == Role::User && user == turns.size()) user = i;
    if (turns[i].role == Role::Model) model = i;
  }
  GT_CHECK(user < turns.size() && model < turns.size(), "a conversation needs a user and a model turn");

  const size_t full_tokens = format.count_tokens(turns);
  const bool truncated = full_tokens > limit;
  if (truncated) {
    auto fits = [&] { return format.count_tokens(turns) <= limit; };

    // 1. Cut the start of the first prompt: the smallest cut (index into its character boundaries) that fits.
    // Media keep their place relative to the text that remains: those inside the removed part move to its start.
    const std::string prompt = turns[user].content;
    const std::vector<InlineMedia> media = turns[user].media;
    const std::vector<size_t> pb = utf8_boundaries(prompt);
    auto cut_prompt = [&](size_t k) {
      turns[user].content = left_trimmed(std::string_view(prompt).substr(pb[k]));
      const size_t removed = prompt.size() - turns[user].content.size();
      for (size_t i = 0; i < media.size(); ++i)
        turns[user].media[i].offset = media[i].offset > removed ? media[i].offset - removed : 0;
    };
    cut_prompt(pb.size() - 1);  // the whole prompt gone
    if (fits()) {
      size_t lo = 0, hi = pb.size() - 1;  // lo does not fit, hi fits
      while (hi - lo > 1) {
        const size_t mid = lo + (hi - lo) / 2;
        cut_prompt(mid);
        (fits() ? hi : lo) = mid;
      }
      cut_prompt(hi);
    } else if (std::any_of(turns.begin(), turns.end(), [](const Turn& t) { return !t.media.empty(); })) {
      // An answer cut short would teach the model to drop the end of what it hears or sees: media rows are skipped.
      return RowResult<Example>::fail(
          skip_kind::kTooLong, cat("needs ", full_tokens, " tokens, more than max_seq_len=", max_seq_len,
                                   ", and still needs ", format.count_tokens(turns),
                                   " with the prompt text removed; the media placeholders and the answer of a row "
                                   "with images or audio are never cut (raise --max-seq-len)"));
    } else {
      // 2. Prompt gone: keep the longest prefix of the last answer that fits (at least one character).
      const std::string answer = turns[model].content;
      const std::vector<size_t> ab = utf8_boundaries(answer);
      auto cut_answer = [&](size_t k) { turns[model].content = right_trimmed(std::string_view(answer).substr(0, ab[k])); };
      cut_answer(1);
      if (ab.size() <= 2 || !fits()) {
        const size_t least = format.count_tokens(turns);
        return RowResult<Example>::fail(
            skip_kind::kTooLong,
            cat("needs ", full_tokens, " tokens, more than max_seq_len=", max_seq_len,
                ", and still needs ", least, " with the first prompt removed and the last answer cut to one character"));
      }
      size_t lo = 1, hi = ab.size() - 1;  // lo fits, hi does not
      while (hi - lo > 1) {
        const size_t mid = lo + (hi - lo) / 2;
        cut_answer(mid);
        (fits() ? lo : hi) = mid;
      }
      cut_answer(lo);
    }
  }

  RowResult<LabeledIds> ids = format.tokenize(format.render(turns));
  if (!ids) return RowResult<Example>::fail(ids.error.kind, ids.error.reason);
  GT_CHECK(ids.value->input_ids.size() <= limit, "a truncated example must fit");
  Example ex;
  ex.input_ids = std::move(ids.value->input_ids);
  ex.labels = std::move(ids.value->labels);
  ex.truncated = truncated;
  return checked(std::move(ex));
}

RowResult<Example> build_completion_example(const tok::Tokenizer& tokenizer, int32_t bos_id, std::string_view text,
                                            int64_t max_seq_len) {
  Example ex;
  ex.input_ids.push_back(bos_id);
  const std::vector<int32_t> ids = tokenizer.encode(text);
  ex.input_ids.insert(ex.input_ids.end(), ids.begin(), ids.end());
  const size_t limit = static_cast<size_t>(std::max<int64_t>(max_seq_len, 0));
  if (ex.input_ids.size() > limit) {
    ex.input_ids.resize(limit);
    ex.truncated = true;
  }
  ex.labels = ex.input_ids;
  return checked(std::move(ex));
}

RowResult<Example> build_token_example(TokenRow row, int64_t max_seq_len) {
  if (static_cast<int64_t>(row.input_ids.size()) > max_seq_len)
    return RowResult<Example>::fail(skip_kind::kTooLong, cat("has ", row.input_ids.size(),
                                                             " pre-tokenized ids, more than max_seq_len=", max_seq_len,
                                                             "; pre-tokenized rows are not cut"));
  Example ex;
  ex.input_ids = std::move(row.input_ids);
  ex.labels = std::move(row.labels);
  return checked(std::move(ex));
}

}  // namespace gt::data
