// One dataset row -> one training example, for whole files (text_dataset.h) and streams (streaming_batches.h) alike:
// what the row says (text_rows.h), tokenized and fitted (example_builder.h, chat_format.h), and for media rows each
// image and clip probed (decoded once: bad ones skip the row, and the number of placeholder tokens is known).
// Torch-free.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/chat_format.h"
#include "data/example.h"
#include "data/text_options.h"
#include "data/text_rows.h"
#include "io/model_config.h"  // io::Family
#include "tokenizer/tokenizer.h"

namespace gt::data {

class ExampleMaker {
 public:
  // `media_base`: what relative media paths resolve against: a folder, or a URL prefix ("gs://bkt/data/",
  // "https://host/set/") for a remote dataset. `where` names the dataset in errors. Throws gt::InputError when
  // max_seq_len < 2 or the tokenizer lacks the chat markers (instruction mode) or <bos> (completion mode).
  ExampleMaker(const TextDatasetOptions& options, const tok::Tokenizer& tokenizer, io::Family family,
               std::string media_base, const std::string& where);

  // A parsed row, a JSONL object, a CSV record's fields.
  RowResult<Example> build(const TextRow& row) const;
  RowResult<Example> from_json(const nlohmann::json& row) const;
  RowResult<Example> from_csv(const std::map<std::string, std::string>& fields) const;

  // A medium's source as written in a row -> an absolute path or URL (see media_base); URLs stay as they are.
  std::string resolve(const std::string& source) const;

  // The remote media (gs://, http(s); resolved) a row names, for fetching them ahead (data/streaming_batches);
  // empty for a row without any, or one that cannot be parsed (build() reports it).
  std::vector<std::string> remote_media_of(const nlohmann::json& row) const;
  std::vector<std::string> remote_media_of(const std::map<std::string, std::string>& fields) const;
  // Whether rows may name media at all (--modality image, audio, audiovisual).
  bool takes_media() const { return options_.image || options_.audio; }

  const TextDatasetOptions& options() const { return options_; }

 private:
  RowResult<Example> build_media_example(const ChatRow& chat) const;
  std::vector<std::string> remote_media_of(const RowResult<TextRow>& parsed) const;

  const TextDatasetOptions& options_;
  const tok::Tokenizer& tokenizer_;
  std::optional<ChatFormat> chat_;
  int32_t bos_id_ = 0;
  std::string media_base_;
};

// A JSONL row's own "id" (a string or an integer), if it has one; "" otherwise.
std::string json_row_id(const nlohmann::json& row);

// Throws gt::InputError naming `where` when a CSV header lacks a column the options' mode needs (and which option
// names it).
void require_columns(const std::vector<std::string>& header, const TextDatasetOptions& options, const std::string& where);

}  // namespace gt::data
