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
// Trimming removes ASCII and Unicode white space (no-break spaces, ideographic space...), as gt::trim_space does:
// an answer of only no-break spaces is empty.
// Conversation rules (those of Gemma's Hugging Face chat templates): roles are system (first only), user and
// assistant/model, alternating user, model, user, model... and ending with a model turn. Content is a string
// or a list of parts; text parts ({"type": "text", "text": ...}) are trimmed and joined with nothing between them
// (as the templates do), and media parts keep their place among them: image parts ({"type": "image", "path" |
// "url" | "image": source}, or {"type": "image_url", "image_url": {"url": source}}) with --modality image or
// audiovisual, audio parts ({"type": "audio", "path" | "audio" | "url": source}) with --modality audio or
// audiovisual; refused (kMediaPart) otherwise, and in system and model turns.
// Flat media rows (CSV rows, and JSONL objects without "messages"), the reference's schemas (columns configurable):
//   audio        audio_path, text [, prompt]        user = clip + prompt (the row's, else the audio prompt option)
//   caption      image_path, caption                user = image + the image prompt option
//   VQA          image_path, question, answer       user = image + question
//   audiovisual  audio_path, image_path, caption    user = image + clip + the audiovisual prompt option
// and model = the transcript / caption / answer. Every turn's content is trimmed of leading and trailing whitespace;
// an empty user turn (kEmptyPrompt) or model turn (kEmptyAnswer) skips the row, an empty system message is dropped.
// The options' system prompt is used only by rows that bring none.
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

enum class MediaKind { Image, Audio };

// An image or clip of a conversation: the user turn it belongs to, the byte offset in that turn's content before
// which it sits, and the source as written in the row (a path, relative to the dataset folder or absolute, or an
// http(s) URL).
struct MediaPart {
  MediaKind kind = MediaKind::Image;
  size_t turn = 0;
  size_t offset = 0;
  std::string source;
};

struct ChatRow {
  std::vector<Turn> turns;       // [system] user model (user model)...
  std::vector<MediaPart> media;  // in text order
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
