// Which files make up a dataset folder. Torch-free.
//
// A folder holds train.jsonl or train.csv (required) and validation.jsonl or validation.csv (optional).
// Both formats of the same split in one folder is an error rather than a silent preference: the two files
// may differ, and training on the one the user did not mean is worse than stopping.
#pragma once

#include <string>

namespace gt::data {

struct DatasetFiles {
  std::string train;
  std::string validation;  // empty: no validation split
};

// Throws gt::InputError naming the folder when it does not exist, has no train file, or has a split twice.
DatasetFiles find_dataset_files(const std::string& folder);

// The file eval reads for `data`: the file itself, or a folder's validation split (its train split when it has
// none).
std::string evaluation_file(const std::string& data);

}  // namespace gt::data
