#include "data/dataset_files.h"

#include <filesystem>

#include "core/error.h"

namespace fs = std::filesystem;

namespace gt::data {

namespace {

// <folder>/<split>.jsonl or <folder>/<split>.csv, "" when neither exists.
std::string split_file(const fs::path& folder, const std::string& split) {
  const fs::path jsonl = folder / (split + ".jsonl");
  const fs::path csv = folder / (split + ".csv");
  const bool has_jsonl = fs::is_regular_file(jsonl), has_csv = fs::is_regular_file(csv);
  if (has_jsonl && has_csv)
    fail_input(folder.string(), ": has both ", split, ".jsonl and ", split, ".csv; keep one, or name the file to use");
  if (has_jsonl) return jsonl.string();
  if (has_csv) return csv.string();
  return {};
}

}  // namespace

DatasetFiles find_dataset_files(const std::string& folder) {
  const fs::path dir(folder);
  if (!fs::exists(dir)) fail_input(folder, ": no such dataset folder");
  if (!fs::is_directory(dir)) fail_input(folder, ": is a file; expected a dataset folder holding train.jsonl or train.csv");
  DatasetFiles files;
  files.train = split_file(dir, "train");
  if (files.train.empty()) fail_input(folder, ": has no train.jsonl or train.csv");
  files.validation = split_file(dir, "validation");
  return files;
}

std::string evaluation_file(const std::string& data) {
  if (!std::filesystem::is_directory(data)) return data;
  const DatasetFiles f = find_dataset_files(data);
  return f.validation.empty() ? f.train : f.validation;
}

}  // namespace gt::data
