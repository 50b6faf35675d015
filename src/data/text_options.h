// Options of a dataset: text (instruction or completion) and, with --modality audio, audio rows. Torch-free.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/train_config.h"  // default_train_config: every default is the run option's
#include "data/example.h"         // AudioRef, RowResult

namespace gt::data {

enum class TextMode {
  Instruction,  // prompt/response or messages rows, in the model family's chat format; answers trained
  Completion,   // plain text rows: <bos> + text, every token trained
};

// Audio rows (--modality audio). Decoding and the model's processor rules live outside the torch-free data layer:
// the caller gives them as functions (train/audio_inputs.h builds them from FFmpeg and the model config).
struct AudioRowOptions {
  std::string column = default_train_config().audio_column;  // CSV column / flat JSONL key of the clip
  std::string prompt = default_train_config().audio_prompt;  // the user turn's text after the clip
  std::string base_dir;  // relative paths resolve against it; empty: the folder of the dataset file
  // Decodes `source` (absolute path or URL) and fills samples, seconds, cut and soft_tokens; a clip that cannot
  // be used is a RowError (kBadAudio, kEmptyAudio) naming what is wrong.
  std::function<RowResult<AudioRef>(const std::string& source)> probe;
  // The text that stands for one clip in a user turn (begin-of-audio marker, placeholders, end marker).
  std::function<std::string(const AudioRef&)> placeholder_text;
  int32_t placeholder_id = -1;  // the id of the audio placeholder token, to check the counts after tokenization
};

struct TextDatasetOptions {
  TextMode mode = TextMode::Instruction;
  int64_t max_seq_len = default_train_config().max_seq_len;  // tokens, <bos> included
  // Column names (CSV header names, and keys of JSONL objects).
  std::string prompt_column = default_train_config().prompt_column;
  std::string response_column = default_train_config().response_column;
  std::string text_column = default_train_config().text_column;
  // A system message for instruction rows that bring none of their own (empty: none).
  std::string system_prompt;
  // Where skipped rows are appended as JSON lines (the run folder's skipped.jsonl); empty: not written.
  std::string skipped_log;
  // Set for --modality audio: rows may (CSV: must) bring audio clips.
  std::optional<AudioRowOptions> audio;
};

}  // namespace gt::data
