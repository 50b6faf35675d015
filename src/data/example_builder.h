// From a parsed row (text_rows.h) to an Example: tokenization, labels, and fitting into max_seq_len.
// Torch-free.
//
// Over-long conversations are cut the way the reference tool does it, on characters, re-tokenizing each try:
//   1. characters are removed from the START of the first user prompt (binary search over UTF-8 character
//      boundaries for the shortest cut that fits; what is left is trimmed on the left);
//   2. if the prompt is gone and it still does not fit, the last answer is cut at its END to the longest
//      prefix that fits (trimmed on the right).
// Media placeholders (Turn::media) are never cut; rows with media skip step 2 (kTooLong) instead of cutting the
// answer, since a transcript missing its end no longer matches its audio.
// If not even one character of the answer fits, the row is skipped (kTooLong): an example whose answer is
// empty would only teach the model to stop at once. Token counts are not strictly monotonic in the number of
// characters (BPE), so the search can miss a slightly better cut, but what it returns always fits: every
// candidate is tokenized and measured.
// Completion rows are <bos> + text; labels = input_ids (every token trained; the shifted loss never uses
// labels[0], so <bos> is never a target); over-long ones keep their first max_seq_len tokens.
// Pre-tokenized rows are taken as they are; over-long ones are skipped (kTooLong): cutting ids would cut labels
// whose meaning only the writer knows.
// Every result has at least one target (a label != -100 at position >= 1), or the row is skipped
// (kNothingToTrain). Example::source is left for the caller to fill.
#pragma once

#include <cstdint>

#include "data/chat_format.h"
#include "data/example.h"
#include "data/text_rows.h"

namespace gt::data {

RowResult<Example> build_chat_example(const ChatFormat& format, std::vector<Turn> turns, int64_t max_seq_len);
RowResult<Example> build_completion_example(const tok::Tokenizer& tokenizer, int32_t bos_id, std::string_view text,
                                            int64_t max_seq_len);
RowResult<Example> build_token_example(TokenRow row, int64_t max_seq_len);

}  // namespace gt::data
