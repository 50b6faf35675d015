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
