// Epoch order, padding and the data position a checkpoint stores.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "data/batching.h"
#include "data_test_util.h"

using gt::data::Batch;
using gt::data::BatchIterator;
using gt::data::BatchOptions;
using gt::data::DataPosition;
using gt::data::epoch_order;
using gt::data::Example;

namespace {

// Example i has i+1 tokens (ids 10*i+1 ...), the first one not trained.
std::vector<Example> examples(int n) {
  std::vector<Example> out;
  for (int i = 0; i < n; ++i) {
    Example e;
    for (int t = 0; t <= i; ++t) {
      e.input_ids.push_back(10 * i + t + 1);
      e.labels.push_back(t == 0 ? gt::data::kIgnoreIndex : 10 * i + t + 1);
    }
    e.source = "x:" + std::to_string(i + 1);
    out.push_back(e);
  }
  return out;
}

}  // namespace

TEST(Batching, OrderIsAPermutationFixedBySeedAndEpoch) {
  const auto a = epoch_order(50, 42, 0);
  EXPECT_EQ(a, epoch_order(50, 42, 0));
  EXPECT_NE(a, epoch_order(50, 42, 1));
  EXPECT_NE(a, epoch_order(50, 43, 0));
  auto sorted = a;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int64_t> iota(50);
  std::iota(iota.begin(), iota.end(), 0);
  EXPECT_EQ(sorted, iota);
  EXPECT_NE(a, iota);
  EXPECT_EQ(epoch_order(5, 42, 3, /*shuffle=*/false), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(epoch_order(0, 42, 0).empty());
}

TEST(Batching, OrderIsTheSameOnEveryPlatform) {
  // Recorded once; std::mt19937_64 and std::seed_seq are fixed by the standard and the shuffle is ours, so any
  // change here means resumed runs would see a different order than the run they continue.
  EXPECT_EQ(epoch_order(10, 42, 0), (std::vector<int64_t>{0, 6, 5, 1, 3, 9, 7, 8, 4, 2}));
  EXPECT_EQ(epoch_order(10, 42, 1), (std::vector<int64_t>{3, 8, 9, 4, 7, 2, 1, 0, 5, 6}));
}

TEST(Batching, CollatePadsRightWithMasks) {
  const auto ex = examples(4);
  const std::vector<int64_t> idx = {2, 0};
  const Batch b = gt::data::collate(ex, idx, /*pad_id=*/0);
  EXPECT_EQ(b.batch_size, 2);
  EXPECT_EQ(b.seq_len, 3);
  EXPECT_EQ(b.input_ids, (std::vector<int64_t>{21, 22, 23, 1, 0, 0}));
  EXPECT_EQ(b.labels, (std::vector<int64_t>{-100, 22, 23, -100, -100, -100}));
  EXPECT_EQ(b.attention_mask, (std::vector<int64_t>{1, 1, 1, 1, 0, 0}));
  EXPECT_EQ(b.example_indices, idx);
  EXPECT_EQ(b.supervised_tokens, 2);
  EXPECT_EQ(b.real_tokens, 4);

  const Batch m = gt::data::collate(ex, idx, /*pad_id=*/7, /*pad_to_multiple_of=*/4);
  EXPECT_EQ(m.seq_len, 4);
  EXPECT_EQ(m.input_ids, (std::vector<int64_t>{21, 22, 23, 7, 1, 7, 7, 7}));
  EXPECT_EQ(m.attention_mask, (std::vector<int64_t>{1, 1, 1, 0, 1, 0, 0, 0}));
}

TEST(Batching, EpochsNeverShareABatch) {
  const auto ex = examples(5);
  BatchIterator it(ex, BatchOptions{.batch_size = 2, .seed = 1});
  EXPECT_EQ(it.batches_per_epoch(), 3);
  std::vector<int64_t> seen;
  for (int i = 0; i < 3; ++i) {
    const Batch b = it.next();
    EXPECT_EQ(b.batch_size, i < 2 ? 2 : 1);
    seen.insert(seen.end(), b.example_indices.begin(), b.example_indices.end());
  }
  EXPECT_EQ(seen, epoch_order(5, 1, 0));
  EXPECT_EQ(it.position(), (DataPosition{1, 0}));
  const Batch first_of_next = it.next();
  EXPECT_EQ(first_of_next.example_indices[0], epoch_order(5, 1, 1)[0]);
}

TEST(Batching, DropLastSkipsTheShortBatch) {
  const auto ex = examples(5);
  BatchIterator it(ex, BatchOptions{.batch_size = 2, .seed = 1, .drop_last = true});
  EXPECT_EQ(it.batches_per_epoch(), 2);
  it.next();
  it.next();
  EXPECT_EQ(it.position(), (DataPosition{1, 0}));
  EXPECT_EQ(it.next().batch_size, 2);
}

TEST(Batching, ResumeFromAPositionGivesTheSameBatches) {
  const auto ex = examples(7);
  const BatchOptions o{.batch_size = 3, .seed = 9};
  BatchIterator straight(ex, o);
  std::vector<std::vector<int64_t>> want;
  DataPosition saved;
  for (int i = 0; i < 8; ++i) {
    if (i == 4) saved = straight.position();  // a checkpoint after 4 batches
    want.push_back(straight.next().input_ids);
  }
  EXPECT_EQ(saved, (DataPosition{1, 3}));
  BatchIterator resumed(ex, o, saved);
  for (int i = 4; i < 8; ++i) EXPECT_EQ(resumed.next().input_ids, want[i]) << "batch " << i;
  EXPECT_EQ(resumed.position(), straight.position());
}

TEST(Batching, EndOfEpochPositionMovesOnAndBadPositionsAreRefused) {
  const auto ex = examples(4);
  BatchIterator at_end(ex, BatchOptions{.batch_size = 2}, DataPosition{2, 4});
  EXPECT_EQ(at_end.position(), (DataPosition{3, 0}));
  gt::test::expect_input_error_with([&] { BatchIterator it(ex, BatchOptions{}, DataPosition{0, 5}); },
                                    {"data position (epoch 0, index 5)", "4 examples", "another dataset"});
  gt::test::expect_input_error_with([&] { BatchIterator it(ex, BatchOptions{.batch_size = 0}); }, {"batch_size is 0"});
  gt::test::expect_input_error_with([&] { BatchIterator it(ex, BatchOptions{.batch_size = 5, .drop_last = true}); },
                                    {"larger than the dataset"});
  const std::vector<Example> none;
  gt::test::expect_input_error_with([&] { BatchIterator it(none, BatchOptions{}); }, {"no examples"});
}

// A data-parallel rank trains on its rows of the global batch: the same tokens, labels, examples, media and counts as
// those rows would have in a batch of their own, cut to their own longest row.
TEST(Batching, RowsOfAGlobalBatchAreABatchOfTheirOwn) {
  std::vector<Example> ex = examples(6);
  ex[1].audio = {{"a1.wav", 16000, 1.0, false, 4}};
  ex[4].images = {{"i4.png", 8, 8, 3}, {"i4b.png", 8, 8, 3}};
  ex[5].audio = {{"a5.wav", 16000, 1.0, false, 4}};
  const std::vector<int64_t> order = {5, 1, 0, 4};
  const Batch global = gt::data::collate(ex, order, /*pad_id=*/0, /*pad_to_multiple_of=*/1);
  ASSERT_EQ(global.seq_len, 6);
  for (const auto& [begin, end] : std::vector<std::pair<int64_t, int64_t>>{{0, 2}, {2, 4}, {1, 3}, {3, 4}}) {
    const Batch part = gt::data::rows_of(global, begin, end);
    const Batch own = gt::data::collate(ex, std::span<const int64_t>(order).subspan(begin, end - begin), 0);
    SCOPED_TRACE("rows " + std::to_string(begin) + ".." + std::to_string(end));
    EXPECT_EQ(part.batch_size, own.batch_size);
    EXPECT_EQ(part.seq_len, own.seq_len);
    EXPECT_EQ(part.input_ids, own.input_ids);
    EXPECT_EQ(part.labels, own.labels);
    EXPECT_EQ(part.attention_mask, own.attention_mask);
    EXPECT_EQ(part.example_indices, own.example_indices);
    EXPECT_EQ(part.supervised_tokens, own.supervised_tokens);
    EXPECT_EQ(part.real_tokens, own.real_tokens);
    ASSERT_EQ(part.audio.size(), own.audio.size());
    for (size_t i = 0; i < own.audio.size(); ++i) EXPECT_EQ(part.audio[i].source, own.audio[i].source);
    ASSERT_EQ(part.images.size(), own.images.size());
    for (size_t i = 0; i < own.images.size(); ++i) EXPECT_EQ(part.images[i].source, own.images[i].source);
  }
  // Rounded up like the global batch, never past it; no rows is an empty batch.
  EXPECT_EQ(gt::data::rows_of(global, 2, 3, 4).seq_len, 4);  // example 0: 1 token
  EXPECT_EQ(gt::data::rows_of(global, 0, 1, 4).seq_len, 6);  // example 5: 6 tokens; 8 would pass the batch's 6
  EXPECT_EQ(gt::data::rows_of(global, 2, 2).batch_size, 0);
  EXPECT_THROW(gt::data::rows_of(global, 3, 5), std::exception);
}

TEST(Batching, RowsOfAPackedBatchKeepTheirDocuments) {
  std::vector<Example> ex = examples(5);  // 1..5 tokens
  ex[2].audio = {{"a2.wav", 16000, 1.0, false, 4}};
  const std::vector<int64_t> order = {0, 1, 2, 3, 4};
  int64_t used = 0;
  // Rows of 6: [0 1 2] (1+2+3), [3] (4), [4] (5).
  const Batch packed = gt::data::pack_examples(ex, order, 3, 6, 0, 1, &used);
  ASSERT_EQ(packed.batch_size, 3);
  const Batch first = gt::data::rows_of(packed, 0, 1);
  EXPECT_EQ(first.example_indices, (std::vector<int64_t>{0, 1, 2}));
  ASSERT_EQ(first.audio.size(), 1u);
  EXPECT_EQ(first.segment_ids, (std::vector<int64_t>{1, 2, 2, 3, 3, 3}));
  EXPECT_EQ(first.position_ids, (std::vector<int64_t>{0, 0, 1, 0, 1, 2}));
  const Batch rest = gt::data::rows_of(packed, 1, 3);
  EXPECT_EQ(rest.example_indices, (std::vector<int64_t>{3, 4}));
  EXPECT_TRUE(rest.audio.empty());
  EXPECT_EQ(rest.seq_len, 5);
  EXPECT_EQ(first.supervised_tokens + rest.supervised_tokens, packed.supervised_tokens);
  EXPECT_EQ(first.real_tokens + rest.real_tokens, packed.real_tokens);
}
