// The bundled data/sample-text dataset loads completely in both chat formats.
#include <gtest/gtest.h>

#include "data/dataset_files.h"
#include "data/text_dataset.h"
#include "data_test_util.h"

using gt::io::Family;

TEST(DataSampleText, EveryRowLoadsInBothFamilies) {
  const auto files = gt::data::find_dataset_files(gt::test::source_path("data/sample-text").string());
  for (Family family : {Family::Gemma3n, Family::Gemma4}) {
    const auto& tk = family == Family::Gemma3n ? gt::test::real_gemma3n_tokenizer() : gt::test::tiny_gemma4_tokenizer();
    const auto train = gt::data::load_text_dataset(files.train, {}, tk, family);
    const auto validation = gt::data::load_text_dataset(files.validation, {}, tk, family);
    EXPECT_EQ(train.examples.size(), 16u) << train.summary.describe();
    EXPECT_EQ(validation.examples.size(), 4u) << validation.summary.describe();
    EXPECT_TRUE(train.skipped.empty()) << train.skipped.front().reason;
    EXPECT_TRUE(validation.skipped.empty());
    EXPECT_EQ(train.summary.truncated, 0);
    // Row 10 is the multi-turn conversation: both answers are trained, so its labels have two runs.
    const auto& multi = train.examples.at(9);
    EXPECT_EQ(multi.source, "train.jsonl:10");
    int runs = 0;
    for (size_t i = 0; i < multi.labels.size(); ++i)
      runs += multi.labels[i] != gt::data::kIgnoreIndex && (i == 0 || multi.labels[i - 1] == gt::data::kIgnoreIndex);
    EXPECT_EQ(runs, 2);
  }
}
