// Options of a text dataset (instruction or completion). Torch-free.
#pragma once

#include <cstdint>
#include <string>

namespace gt::data {

enum class TextMode {
  Instruction,  // prompt/response or messages rows, in the model family's chat format; answers trained
  Completion,   // plain text rows: <bos> + text, every token trained
};

struct TextDatasetOptions {
  TextMode mode = TextMode::Instruction;
  int64_t max_seq_len = 2048;  // tokens, <bos> included
  // Column names (CSV header names, and keys of JSONL objects).
  std::string prompt_column = "prompt";
  std::string response_column = "response";
  std::string text_column = "text";
  // A system message for instruction rows that bring none of their own (empty: none).
  std::string system_prompt;
  // Where skipped rows are appended as JSON lines (the run folder's skipped.jsonl); empty: not written.
  std::string skipped_log;
};

}  // namespace gt::data
