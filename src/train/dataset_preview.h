// What `wizard` shows of a local dataset before a run: its files read exactly as `train` reads them (the same
// RunSetup: tokenizer, chat format, media probes, max_seq_len, skips), summarised, and the first examples as text
// with the trained part marked. Nothing is written (no skipped.jsonl). Torch-free interface.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/train_config.h"
#include "data/example.h"
#include "data/example_text.h"
#include "data/text_dataset.h"

namespace gt::train {

struct PreviewRow {
  std::string source;  // "train.jsonl:3"
  std::string text;    // data::render_example
};

struct DatasetPreview {
  data::TextDatasetSummary train;
  data::TextDatasetSummary validation;  // validation.file is empty when there is no validation split
  std::vector<data::SkippedRow> first_skipped;  // the train file's first skipped rows (at most as many as rows asked)
  std::vector<PreviewRow> rows;                 // the train file's first examples
};

// Tokens of a previewed example shown at most (the first and last half; data::render_example).
inline constexpr size_t kPreviewTokens = 160;

// The training files of cfg.data (a folder's train and validation splits, or one file; cfg.val_data replaces the
// validation split) read with cfg's options, and the first `n_rows` examples rendered with `marks`. Throws
// gt::InputError as `train` would (no train file, bad model folder, no usable row, ...). cfg.data must be local.
DatasetPreview preview_dataset(const TrainConfig& cfg, size_t n_rows, const data::TrainedMarks& marks);

}  // namespace gt::train
