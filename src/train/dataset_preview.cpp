#include "train/dataset_preview.h"

#include <filesystem>

#include "core/error.h"
#include "data/dataset_files.h"  // defines: find_dataset_files
#include "io/object_reader.h"    // defines: is_remote_url
#include "train/run_setup.h"     // defines: RunSetup (the options and readers `train` uses)

namespace fs = std::filesystem;

namespace gt::train {

DatasetPreview preview_dataset(const TrainConfig& cfg, size_t n_rows, const data::TrainedMarks& marks) {
  GT_CHECK(!io::is_remote_url(cfg.data), "preview of a remote dataset: ", cfg.data);
  // The files `train` picks (train/trainer.cpp): a folder's splits, or the file itself.
  data::DatasetFiles files;
  if (fs::is_directory(cfg.data))
    files = data::find_dataset_files(cfg.data);
  else
    files.train = cfg.data;
  if (!cfg.val_data.empty()) files.validation = cfg.val_data;

  const RunSetup setup(cfg);  // dataset_options.skipped_log stays empty: nothing is written
  const data::TextDataset train = setup.load_dataset(files.train);
  DatasetPreview p;
  p.train = train.summary;
  for (size_t i = 0; i < train.skipped.size() && i < n_rows; ++i) p.first_skipped.push_back(train.skipped[i]);
  for (size_t i = 0; i < train.examples.size() && i < n_rows; ++i)
    p.rows.push_back({train.examples[i].source, data::render_example(train.examples[i], setup.tokenizer, marks, kPreviewTokens)});
  if (!files.validation.empty()) p.validation = setup.load_dataset(files.validation).summary;
  return p;
}

}  // namespace gt::train
