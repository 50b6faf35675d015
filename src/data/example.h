// One training example as the collator receives it, and the record of a row that could not become one.
// Torch-free.
//
// Labels follow Hugging Face: aligned with input_ids (not shifted); kIgnoreIndex (-100) means "not trained",
// any other value is the id the model should predict at that position. The loss shifts them, so labels[0] is
// never a target (models/common/loss.h scores position t against labels[t + 1]).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace gt::data {

inline constexpr int32_t kIgnoreIndex = -100;

// An audio clip of an example: where it comes from and what decoding it found when the dataset was read. The
// samples themselves are decoded again when a batch needs them (holding every clip would not fit in memory).
struct AudioRef {
  std::string source;       // absolute path or URL
  int64_t samples = 0;      // mono samples at the feature extractor's rate, after the max_duration cut
  double seconds = 0;       // duration as used (after the cut)
  bool cut = false;         // longer than max_duration, cut to it
  int64_t soft_tokens = 0;  // audio placeholder tokens the clip takes in the text
};

// An image of an example: where it comes from and its size when the dataset was read (decoded again, and run
// through the family's image processor, when a batch needs it).
struct ImageRef {
  std::string source;       // absolute path or URL
  int64_t width = 0, height = 0;
  int64_t soft_tokens = 0;  // image placeholder tokens the image takes in the text
};

struct Example {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> labels;  // same length as input_ids; kIgnoreIndex or a token id
  std::string source;           // "train.jsonl:12": file name and row, for messages
  std::string row_id;           // the row's own "id" column / key, when it has one (blacklists name rows by it)
  bool truncated = false;       // cut to fit max_seq_len
  std::vector<AudioRef> audio;   // clips in the order their placeholders appear in input_ids
  std::vector<ImageRef> images;  // images in the order their placeholders appear in input_ids

  // Targets the shifted loss actually uses: positions 1..T-1 whose label is not kIgnoreIndex.
  int64_t supervised_tokens() const;
};

// A row that was left out. `kind` is a short stable code used to count skips by cause (SkipKind below);
// `reason` is the human sentence, naming the column or key and what was expected vs found.
struct SkippedRow {
  std::string file;
  int64_t row = 0;  // 1-based: the JSONL line, or the CSV data row (1 = first record after the header)
  std::string kind;
  std::string reason;
};

// Stable codes for SkippedRow::kind (they appear in skipped.jsonl and in summaries).
namespace skip_kind {
inline constexpr const char* kBadJson = "bad_json";              // a JSONL line that does not parse
inline constexpr const char* kNotObject = "not_object";          // a JSONL line that is not an object
inline constexpr const char* kCsvQuote = "csv_quote";            // unterminated quote, text after a closing quote
inline constexpr const char* kCsvFieldCount = "csv_field_count"; // more or fewer fields than the header
inline constexpr const char* kMissingColumn = "missing_column";  // a needed key or column is absent (or null)
inline constexpr const char* kWrongType = "wrong_type";          // a value of the wrong JSON type
inline constexpr const char* kInvalidUtf8 = "invalid_utf8";      // a text field that is not valid UTF-8
inline constexpr const char* kEmptyPrompt = "empty_prompt";      // a user turn that is empty after trimming
inline constexpr const char* kEmptyAnswer = "empty_answer";      // a model turn or text empty after trimming
inline constexpr const char* kBadConversation = "bad_conversation";  // roles out of order, unknown role
inline constexpr const char* kMediaPart = "media_part";          // image/audio content in a text run
inline constexpr const char* kWrongMode = "wrong_mode";          // e.g. a plain-text row in instruction mode
inline constexpr const char* kBadTokens = "bad_tokens";          // pre-tokenized ids/labels invalid
inline constexpr const char* kTooLong = "too_long";              // does not fit max_seq_len even when cut
inline constexpr const char* kLabelBoundary = "label_boundary";  // a turn boundary fell inside a token
inline constexpr const char* kNothingToTrain = "nothing_to_train";  // no position has a target
inline constexpr const char* kBadAudio = "bad_audio";            // a clip that cannot be read or decoded
inline constexpr const char* kEmptyAudio = "empty_audio";        // a clip with no samples
inline constexpr const char* kAudioTokens = "audio_tokens";      // placeholder tokens do not match the clips
inline constexpr const char* kBadImage = "bad_image";            // an image that cannot be read or decoded
inline constexpr const char* kEmptyImage = "empty_image";        // an image file with no bytes
inline constexpr const char* kImageTooLarge = "image_too_large"; // more pixels than the decoding limit
inline constexpr const char* kImageTokens = "image_tokens";      // placeholder tokens do not match the images
}  // namespace skip_kind

// Why a row was rejected, before the file and row are known.
struct RowError {
  std::string kind;
  std::string reason;
};

// A value or the reason there is none (a minimal std::expected, which C++20 lacks).
template <typename T>
struct RowResult {
  std::optional<T> value;
  RowError error;

  static RowResult ok(T v) { return RowResult{std::move(v), {}}; }
  static RowResult fail(std::string kind, std::string reason) {
    return RowResult{std::nullopt, RowError{std::move(kind), std::move(reason)}};
  }
  explicit operator bool() const { return value.has_value(); }
};

// Appends `rows` to the JSON-lines file `path` ({"file","row","kind","reason"} per line, invalid UTF-8 replaced),
// creating it if needed, and flushes, so the record survives a later failure. Throws gt::InputError when the file
// cannot be written.
void append_skipped_rows(const std::string& path, std::span<const SkippedRow> rows);

}  // namespace gt::data
