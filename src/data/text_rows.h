// What a row of a text dataset says, before tokenization: a conversation, a plain text, or ids given as is.
// Torch-free.
//
// JSONL objects are recognised by their keys, first match wins:
//   {"input_ids": [...], "labels": [...]}   pre-tokenized (either mode); labels optional (then = input_ids)
//   {"messages": [{"role", "content"}...]}  a conversation (instruction mode)
//   {"<prompt>", "<response>"}              one exchange (instruction mode; column names from the options)
//   {"<text>"}                              plain text (completion mode)
// CSV rows have string fields only: prompt/response columns (instruction) or the text column (completion).
//
// Trimming removes ASCII whitespace (space, tab, CR, LF, FF, VT), as gt::trim does.
// Conversation rules (those of Gemma's Hugging Face chat templates): roles are system (first only), user and
// assistant/model, alternating user, model, user, model... and ending with a model turn. Content is a string
// or a list of parts; text parts ({"type": "text", "text": ...}) are trimmed and joined with nothing between them
// (as the templates do). Audio parts ({"type": "audio", "path" | "audio" | "url": source}) are accepted with
// --modality audio and refused otherwise; image parts are refused for now.
// Audio rows (--modality audio): CSV rows and flat JSONL objects with the audio column (default "audio_path") and
// the text column (the transcript, trained) become the reference's turn pair: user = the clip followed by the
// prompt (the prompt column when the row has one, otherwise the audio prompt option), model = the transcript. Every turn's content is trimmed of leading
// and trailing whitespace; an empty user turn (kEmptyPrompt) or model turn (kEmptyAnswer) skips the row, an
// empty system message is dropped. The options' system prompt is used only by rows that bring none.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "data/chat_format.h"   // Turn
#include "data/example.h"       // RowResult
#include "data/text_options.h"

namespace gt::data {

struct ChatRow {
  std::vector<Turn> turns;  // [system] user model (user model)...
  // Audio clips (--modality audio): the index of the user turn they belong to, and the source as written in the
  // row (a path, relative to the dataset folder or absolute, or an http(s) URL), in order.
  std::vector<std::pair<size_t, std::string>> audio;
};
struct CompletionRow {
  std::string text;  // as given (not trimmed); non-empty after trimming
};
struct TokenRow {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> labels;
};
using TextRow = std::variant<ChatRow, CompletionRow, TokenRow>;

// Reads a JSONL object. Token rows are checked against `vocab_size` (ids in [0, vocab_size), labels -100 or in
// that range, equal lengths).
RowResult<TextRow> text_row_from_json(const nlohmann::json& row, const TextDatasetOptions& options,
                                      size_t vocab_size);
// Reads a CSV row (column -> value). The columns the mode needs must exist (the dataset checks the header).
RowResult<TextRow> text_row_from_csv(const std::map<std::string, std::string>& fields,
                                     const TextDatasetOptions& options);

}  // namespace gt::data
