// Length-grouped epoch order (--group-by-length): a permutation fixed by (seed, epoch, lengths, batch_size),
// batches of similar lengths, the short last batch kept last, resumable, and off by default.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <numeric>
#include <random>

#include "core/train_config.h"
#include "data/batching.h"
#include "data_test_util.h"

using gt::data::Batch;
using gt::data::BatchIterator;
using gt::data::BatchOptions;
using gt::data::DataPosition;
using gt::data::epoch_order;
using gt::data::Example;
using gt::data::kLengthGroupWindowBatches;
using gt::data::length_grouped_order;

namespace {

// n lengths in [lo, hi] from a fixed generator (the remainder, not uniform_int_distribution, so the same numbers
// on every standard library).
std::vector<int64_t> random_lengths(int64_t n, int64_t lo, int64_t hi, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (auto& l : out) l = lo + static_cast<int64_t>(rng() % static_cast<uint64_t>(hi - lo + 1));
  return out;
}

// Example i has lengths[i] tokens (ids 1, 2, ...), the first not trained.
std::vector<Example> examples_of(const std::vector<int64_t>& lengths) {
  std::vector<Example> out;
  for (size_t i = 0; i < lengths.size(); ++i) {
    Example e;
    for (int64_t t = 0; t < lengths[i]; ++t) {
      e.input_ids.push_back(static_cast<int32_t>(t + 1));
      e.labels.push_back(t == 0 ? gt::data::kIgnoreIndex : static_cast<int32_t>(t + 1));
    }
    e.source = "x:" + std::to_string(i + 1);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

std::vector<int64_t> sorted(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// Padding positions of one epoch of batches: sum over batches of B x T minus the real tokens.
int64_t epoch_padding(const std::vector<Example>& ex, BatchOptions o) {
  BatchIterator it(ex, o);
  int64_t pad = 0;
  for (int64_t i = 0; i < it.batches_per_epoch(); ++i) {
    const Batch b = it.next();
    pad += b.batch_size * b.seq_len - b.real_tokens;
  }
  EXPECT_EQ(it.position(), (DataPosition{1, 0}));
  return pad;
}

}  // namespace

TEST(LengthGroupedBatches, OrderIsAPermutationFixedBySeedAndEpoch) {
  const auto lengths = random_lengths(1000, 8, 1024, 1);
  const auto a = length_grouped_order(lengths, 8, 42, 0);
  EXPECT_EQ(sorted(a), iota(1000));
  EXPECT_EQ(a, length_grouped_order(lengths, 8, 42, 0));
  EXPECT_NE(a, length_grouped_order(lengths, 8, 42, 1));
  EXPECT_NE(a, length_grouped_order(lengths, 8, 43, 0));
  EXPECT_NE(a, epoch_order(1000, 42, 0));
  EXPECT_EQ(sorted(length_grouped_order(lengths, 8, 42, 0, /*shuffle=*/false)), iota(1000));
  EXPECT_TRUE(length_grouped_order({}, 8, 42, 0).empty());
  EXPECT_EQ(length_grouped_order(std::vector<int64_t>{5}, 8, 42, 0), (std::vector<int64_t>{0}));
  gt::test::expect_input_error_with([&] { length_grouped_order(lengths, 0, 42, 0); }, {"batch_size is 0"});
}

TEST(LengthGroupedBatches, WindowsOfTheShuffledOrderSortedIntoShuffledBatches) {
  // 1003 examples at batch size 4: windows of 256 examples (the 4th shorter: 1000 - 768 = 232), then 3 left over.
  const int64_t n = 1003, bs = 4, window = bs * kLengthGroupWindowBatches;
  auto lengths = random_lengths(n, 1, 40, 2);  // few distinct lengths: many ties
  const auto shuffled = epoch_order(n, 7, 3);
  const auto grouped = length_grouped_order(lengths, bs, 7, 3);
  const auto by_length_desc = [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; };
  bool batches_moved = false;
  for (int64_t start = 0; start < 1000; start += window) {
    const int64_t size = std::min(window, 1000 - start);
    // The window holds the same examples as the shuffled order's window...
    std::vector<int64_t> want(shuffled.begin() + start, shuffled.begin() + start + size);
    std::vector<int64_t> got(grouped.begin() + start, grouped.begin() + start + size);
    ASSERT_EQ(sorted(got), sorted(want)) << "window at " << start;
    // ...as the batches of its stable sort, longest first (ties in shuffled order), in some order.
    std::stable_sort(want.begin(), want.end(), by_length_desc);
    std::vector<std::vector<int64_t>> want_batches, got_batches;
    for (int64_t b = 0; b < size; b += bs) {
      want_batches.emplace_back(want.begin() + b, want.begin() + b + bs);
      got_batches.emplace_back(got.begin() + b, got.begin() + b + bs);
    }
    batches_moved = batches_moved || got_batches != want_batches;
    std::sort(want_batches.begin(), want_batches.end());
    std::sort(got_batches.begin(), got_batches.end());
    EXPECT_EQ(got_batches, want_batches) << "window at " << start;
  }
  EXPECT_TRUE(batches_moved) << "the batches of a window should be shuffled";
  // The short last batch: the shuffled order's last 3 examples, last and as they were.
  EXPECT_EQ(std::vector<int64_t>(grouped.end() - 3, grouped.end()),
            std::vector<int64_t>(shuffled.end() - 3, shuffled.end()));
}

TEST(LengthGroupedBatches, WithoutShuffleOnlySortsWithinWindows) {
  // Batch size 1: windows of 64 examples, each sorted longest first, ties in index order; nothing else moves.
  std::vector<int64_t> lengths(130);
  for (size_t i = 0; i < lengths.size(); ++i) lengths[i] = static_cast<int64_t>(i % 3);  // 0 1 2 0 1 2 ...
  const auto order = length_grouped_order(lengths, 1, 42, 5, /*shuffle=*/false);
  std::vector<int64_t> want;
  for (int64_t start : {0, 64, 128}) {
    const int64_t end = std::min<int64_t>(start + 64, 130);
    for (int64_t len : {2, 1, 0})
      for (int64_t i = start; i < end; ++i)
        if (lengths[i] == len) want.push_back(i);
  }
  EXPECT_EQ(order, want);
  // The same for every seed and epoch, and equal lengths leave 0..n-1 as it is.
  EXPECT_EQ(length_grouped_order(lengths, 1, 1, 0, false), want);
  EXPECT_EQ(length_grouped_order(std::vector<int64_t>(300, 9), 4, 42, 0, false), iota(300));
}

TEST(LengthGroupedBatches, OrderIsTheSameOnEveryPlatform) {
  // Recorded once (as batching_test.cpp's epoch_order pin): any change here means a resumed run with
  // --group-by-length would see a different order than the run it continues.
  // Batch size 2: one window of 10 examples, cut into pairs of length neighbours (epoch 0: lengths 10 9, 8 7, 6 5,
  // 4 3, 2 1) in shuffled order, then the one example set aside (the short last batch).
  const std::vector<int64_t> lengths = {5, 1, 9, 3, 3, 7, 2, 8, 6, 4, 10};
  EXPECT_EQ(length_grouped_order(lengths, 2, 42, 0), (std::vector<int64_t>{10, 2, 9, 3, 6, 1, 8, 0, 7, 5, 4}));
  EXPECT_EQ(length_grouped_order(lengths, 2, 42, 1), (std::vector<int64_t>{0, 9, 6, 1, 7, 8, 10, 2, 4, 3, 5}));
}

TEST(LengthGroupedBatches, EveryExampleOncePerEpochAndDropLastAsBefore) {
  const auto lengths = random_lengths(203, 1, 64, 3);
  const auto ex = examples_of(lengths);
  BatchIterator it(ex, BatchOptions{.batch_size = 4, .seed = 5, .group_by_length = true});
  EXPECT_EQ(it.batches_per_epoch(), 51);
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    std::vector<int64_t> seen;
    for (int64_t i = 0; i < 51; ++i) {
      const Batch b = it.next();
      EXPECT_EQ(b.batch_size, i < 50 ? 4 : 3);
      seen.insert(seen.end(), b.example_indices.begin(), b.example_indices.end());
    }
    EXPECT_EQ(seen, length_grouped_order(lengths, 4, 5, epoch));
    EXPECT_EQ(sorted(seen), iota(203)) << "epoch " << epoch;
    EXPECT_EQ(it.position(), (DataPosition{epoch + 1, 0}));
  }
  // drop_last drops the 3 examples the ungrouped order drops, and only full batches are made.
  BatchIterator dropping(ex, BatchOptions{.batch_size = 4, .seed = 5, .drop_last = true, .group_by_length = true});
  EXPECT_EQ(dropping.batches_per_epoch(), 50);
  std::vector<int64_t> seen;
  for (int64_t i = 0; i < 50; ++i) {
    const Batch b = dropping.next();
    EXPECT_EQ(b.batch_size, 4);
    seen.insert(seen.end(), b.example_indices.begin(), b.example_indices.end());
  }
  EXPECT_EQ(dropping.position(), (DataPosition{1, 0}));
  const auto plain = epoch_order(203, 5, 0);
  EXPECT_EQ(sorted(seen), sorted(std::vector<int64_t>(plain.begin(), plain.end() - 3)));
}

TEST(LengthGroupedBatches, ResumeFromAPositionGivesTheRemainingBatches) {
  const auto ex = examples_of(random_lengths(300, 1, 200, 4));
  const BatchOptions o{.batch_size = 8, .seed = 9, .group_by_length = true};
  BatchIterator straight(ex, o);
  ASSERT_EQ(straight.batches_per_epoch(), 38);
  std::vector<std::vector<int64_t>> want;
  DataPosition saved;
  for (int i = 0; i < 100; ++i) {
    if (i == 50) saved = straight.position();  // a checkpoint mid-way through the second epoch
    want.push_back(straight.next().example_indices);
  }
  EXPECT_EQ(saved, (DataPosition{1, 12 * 8}));
  BatchIterator resumed(ex, o, saved);
  for (int i = 50; i < 100; ++i) EXPECT_EQ(resumed.next().example_indices, want[i]) << "batch " << i;
  EXPECT_EQ(resumed.position(), straight.position());
}

TEST(LengthGroupedBatches, AtLeastThreeTimesLessPadding) {
  // 1000 examples of 8..1024 tokens at batch size 8 (125 batches an epoch).
  const auto ex = examples_of(random_lengths(1000, 8, 1024, 5));
  const int64_t plain = epoch_padding(ex, BatchOptions{.batch_size = 8, .seed = 42});
  const int64_t grouped = epoch_padding(ex, BatchOptions{.batch_size = 8, .seed = 42, .group_by_length = true});
  std::cout << "padding positions per epoch: " << plain << " without grouping, " << grouped
            << " with --group-by-length\n";
  RecordProperty("padding_plain", std::to_string(plain));
  RecordProperty("padding_grouped", std::to_string(grouped));
  EXPECT_GT(grouped, 0);
  EXPECT_LE(grouped * 3, plain);
}

TEST(LengthGroupedBatches, OffByDefault) {
  EXPECT_FALSE(BatchOptions{}.group_by_length);
  EXPECT_FALSE(gt::default_train_config().group_by_length);
  // The default iterator still walks epoch_order (pinned in Batching.OrderIsTheSameOnEveryPlatform).
  const auto ex = examples_of(random_lengths(10, 1, 50, 6));
  BatchIterator it(ex, BatchOptions{.batch_size = 3, .seed = 42});
  std::vector<int64_t> seen;
  for (int i = 0; i < 4; ++i) {
    const Batch b = it.next();
    seen.insert(seen.end(), b.example_indices.begin(), b.example_indices.end());
  }
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 6, 5, 1, 3, 9, 7, 8, 4, 2}));
  EXPECT_EQ(seen, epoch_order(10, 42, 0));
}
