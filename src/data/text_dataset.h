// A text dataset file (JSONL or CSV) turned into tokenized, labelled examples. Torch-free.
//
// The steps, each in its own file: read rows (jsonl_reader.h, csv_reader.h), say what a row is (text_rows.h),
// tokenize and fit it (example_builder.h, chat_format.h). Bad rows are skipped and recorded with file, row and
// reason (appended to options.skipped_log as they are found, before anything can stop the load); a file with no
// usable row is a gt::InputError that gives the counts and the first reasons.
// The format comes from the extension: .jsonl or .csv.
// Media (options.audio, options.image): each clip and image is probed (decoded once) while the file is read, so that
// bad ones are skipped up front and the number of placeholder tokens is known; a relative path resolves against the
// dataset folder.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "data/example.h"
#include "data/text_options.h"
#include "io/model_config.h"      // io::Family
#include "tokenizer/tokenizer.h"

namespace gt::data {

struct TextDatasetSummary {
  std::string file;
  int64_t rows_read = 0;  // records seen, usable or not (blank lines are not rows)
  int64_t examples = 0;
  int64_t skipped = 0;
  std::map<std::string, int64_t> skipped_by_kind;  // SkippedRow::kind -> count
  int64_t truncated = 0;
  int64_t total_tokens = 0;
  int64_t supervised_tokens = 0;  // Example::supervised_tokens summed
  int64_t longest = 0;            // tokens of the longest example
  int64_t audio_clips = 0;        // clips of the examples
  int64_t audio_cut = 0;          // clips longer than max_duration, cut to it
  double audio_seconds = 0;       // duration of the clips as used (after the cut)
  int64_t images = 0;             // images of the examples
  int64_t excluded = 0;           // examples left out on purpose (exclude_rows)

  // One line: "train.jsonl: 16 rows, 15 examples (2 truncated), 1 skipped (empty_answer 1), 1234 tokens,
  // 567 supervised, longest 140" (+ ", 15 clips, 42.0 s of audio (1 cut to max_duration)" with audio, ", 15 images"
  // with images).
  std::string describe() const;
  // Adds an example to the counts (examples, truncated, tokens, longest, media).
  void count(const Example& ex);
};

struct TextDataset {
  std::vector<Example> examples;  // in file order
  std::vector<SkippedRow> skipped;
  TextDatasetSummary summary;
};

// Loads one file. `family` picks the chat format (instruction mode). Throws gt::InputError for an unreadable file,
// an unknown extension, a CSV header without the columns the mode needs, a tokenizer without the chat markers,
// or a file with no usable row.
TextDataset load_text_dataset(const std::string& path, const TextDatasetOptions& options,
                              const tok::Tokenizer& tokenizer, io::Family family);

// Reads the "id" column of a CSV file (a blacklist): the rows to leave out, each named by the row's own id
// (Example::row_id: an "id" column or key of the dataset) or as Example::source ("train.jsonl:12").
// Throws gt::InputError naming the file when it cannot be read or has no id column.
std::set<std::string> read_excluded_ids(const std::string& csv_path);

// Removes the examples whose row_id or source is in `ids` and updates the summary (examples, tokens, excluded).
void exclude_rows(TextDataset& ds, const std::set<std::string>& ids);

}  // namespace gt::data
