// Which files make up a dataset folder.
#include <gtest/gtest.h>

#include "data/dataset_files.h"
#include "data_test_util.h"

using gt::data::find_dataset_files;

TEST(DataFolder, TrainAndValidation) {
  gt::test::TempDir dir("folder");
  gt::test::write_file(dir / "train.jsonl", "{}\n");
  gt::test::write_file(dir / "validation.csv", "a\n");
  const auto files = find_dataset_files(dir.path().string());
  EXPECT_EQ(files.train, (dir / "train.jsonl").string());
  EXPECT_EQ(files.validation, (dir / "validation.csv").string());
}

TEST(DataFolder, ValidationIsOptional) {
  gt::test::TempDir dir("folder");
  gt::test::write_file(dir / "train.csv", "a\n");
  const auto files = find_dataset_files(dir.path().string());
  EXPECT_EQ(files.train, (dir / "train.csv").string());
  EXPECT_EQ(files.validation, "");
}

TEST(DataFolder, Errors) {
  gt::test::TempDir dir("folder");
  const std::string d = dir.path().string();
  gt::test::expect_input_error_with([&] { find_dataset_files(d); }, {d, "no train.jsonl or train.csv"});
  gt::test::write_file(dir / "train.csv", "a\n");
  gt::test::write_file(dir / "train.jsonl", "{}\n");
  gt::test::expect_input_error_with([&] { find_dataset_files(d); }, {d, "both train.jsonl and train.csv"});
  std::filesystem::remove(dir / "train.csv");
  gt::test::write_file(dir / "validation.csv", "a\n");
  gt::test::write_file(dir / "validation.jsonl", "{}\n");
  gt::test::expect_input_error_with([&] { find_dataset_files(d); }, {"both validation.jsonl and validation.csv"});
  gt::test::expect_input_error_with([&] { find_dataset_files(d + "/missing"); }, {"missing", "no such dataset folder"});
  gt::test::expect_input_error_with([&] { find_dataset_files((dir / "train.jsonl").string()); }, {"is a file"});
}

TEST(DataFolder, BundledSampleLoads) {
  const auto files = find_dataset_files(gt::test::source_path("data/sample-text").string());
  EXPECT_NE(files.train.find("train.jsonl"), std::string::npos);
  EXPECT_NE(files.validation.find("validation.jsonl"), std::string::npos);
}
