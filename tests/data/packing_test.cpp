// Packed batches (--pack, data::pack_examples): whole examples one after another in batch_size rows of pack_length
// tokens, documents numbered along each row with positions restarting, each document's first label ignored, every
// example once per epoch, resumable from any position, and far fewer positions than padded batches.
#include <gtest/gtest.h>

#include <numeric>

#include "core/error.h"
#include "data/batching.h"

using gt::data::Batch;
using gt::data::BatchIterator;
using gt::data::BatchOptions;
using gt::data::DataPosition;
using gt::data::Example;
using gt::data::kIgnoreIndex;
using gt::data::pack_examples;

namespace {

// Example i: lengths[i] tokens with ids 1000 * i + t and labels equal to the ids (every target trained).
std::vector<Example> examples_of(const std::vector<int64_t>& lengths) {
  std::vector<Example> out;
  for (size_t i = 0; i < lengths.size(); ++i) {
    Example e;
    for (int64_t t = 0; t < lengths[i]; ++t) {
      e.input_ids.push_back(static_cast<int32_t>(1000 * i + t));
      e.labels.push_back(static_cast<int32_t>(1000 * i + t));
    }
    e.source = "train.jsonl:" + std::to_string(i + 1);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

TEST(PackedBatches, RowsDocumentsPositionsAndLabels) {
  const auto ex = examples_of({5, 3, 4, 6, 2});
  const std::vector<int64_t> order = {0, 1, 2, 3, 4};
  int64_t used = 0;
  // Rows of 10: [5 + 3] [4 + 6]; example 4 (2 tokens) fits no row left.
  Batch b = pack_examples(ex, order, 2, 10, /*pad_id=*/0, 1, &used);
  EXPECT_EQ(used, 4);
  EXPECT_EQ(b.batch_size, 2);
  EXPECT_EQ(b.seq_len, 10);
  EXPECT_EQ(b.example_indices, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(b.real_tokens, 18);
  const std::vector<int64_t> seg = {1, 1, 1, 1, 1, 2, 2, 2, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2};
  const std::vector<int64_t> pos = {0, 1, 2, 3, 4, 0, 1, 2, 0, 0, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5};
  EXPECT_EQ(b.segment_ids, seg);
  EXPECT_EQ(b.position_ids, pos);
  EXPECT_EQ(b.input_ids[5], 1000);  // example 1's first token after example 0's five
  EXPECT_EQ(b.labels[5], kIgnoreIndex);  // never predicted from example 0's last token
  EXPECT_EQ(b.labels[6], 1001);
  EXPECT_EQ(b.labels[14], kIgnoreIndex);
  EXPECT_EQ(b.attention_mask[8], 0);
  // Supervised targets as unpacked: every position but each document's first.
  EXPECT_EQ(b.supervised_tokens, (5 - 1) + (3 - 1) + (4 - 1) + (6 - 1));
  int64_t unignored = 0;
  for (int64_t l : b.labels) unignored += l != kIgnoreIndex;
  EXPECT_EQ(unignored, b.supervised_tokens);

  // The rest: one row with example 4 only, as long as it is.
  Batch rest = pack_examples(ex, std::span<const int64_t>(order).subspan(4), 2, 10, 0, 1, &used);
  EXPECT_EQ(used, 1);
  EXPECT_EQ(rest.batch_size, 1);
  EXPECT_EQ(rest.seq_len, 2);
  EXPECT_THROW(pack_examples(ex, order, 2, 4, 0, 1, &used), gt::InputError);  // example 0 has 5 tokens
}

TEST(PackedBatches, EveryExampleOncePerEpochAndResumable) {
  std::vector<int64_t> lengths;
  for (int i = 0; i < 97; ++i) lengths.push_back(3 + (i * 37) % 60);
  const auto ex = examples_of(lengths);
  BatchOptions o;
  o.batch_size = 2;
  o.seed = 9;
  o.pack_length = 256;
  BatchIterator it(ex, o);
  const int64_t per_epoch = it.batches_per_epoch();
  std::vector<Batch> all;
  std::vector<int> seen(ex.size(), 0);
  int64_t positions = 0, real = 0;
  while (it.position().epoch == 0) {
    all.push_back(it.next());
    for (int64_t i : all.back().example_indices) ++seen[static_cast<size_t>(i)];
    positions += all.back().batch_size * all.back().seq_len;
    real += all.back().real_tokens;
  }
  EXPECT_EQ(static_cast<int64_t>(all.size()), per_epoch);
  for (int s : seen) EXPECT_EQ(s, 1);
  // Padded batches of 2 compute 2 x the longer of each 2 (rows of 3..62 tokens); packed rows of 256 are filled in
  // order (no sorting), the last example of a row left for the next when it does not fit.
  const int64_t total = std::accumulate(lengths.begin(), lengths.end(), int64_t{0});
  EXPECT_EQ(real, total);
  BatchOptions plain = o;
  plain.pack_length = 0;
  BatchIterator padded(ex, plain);
  int64_t padded_positions = 0, padded_batches = 0;
  while (padded.position().epoch == 0) {
    const Batch b = padded.next();
    padded_positions += b.batch_size * b.seq_len;
    ++padded_batches;
  }
  std::printf("[packing] %zu examples, %lld tokens: %lld positions in %zu packed batches, %lld in %lld padded ones\n",
              ex.size(), static_cast<long long>(total), static_cast<long long>(positions), all.size(),
              static_cast<long long>(padded_positions), static_cast<long long>(padded_batches));
  EXPECT_LT(positions, total * 115 / 100) << "packed rows are more than 15% padding (the epoch's last one included)";
  EXPECT_LT(positions * 100, padded_positions * 85) << "packing saves less than 15% of the padded positions";

  // Resume from the position after batch k: the same batches follow.
  BatchIterator again(ex, o);
  for (int k = 0; k < 5; ++k) again.next();
  BatchIterator resumed(ex, o, again.position());
  for (size_t k = 5; k < all.size(); ++k) {
    Batch b = resumed.next();
    EXPECT_EQ(b.example_indices, all[k].example_indices) << "batch " << k;
    EXPECT_EQ(b.input_ids, all[k].input_ids) << "batch " << k;
  }
  EXPECT_EQ(resumed.position().epoch, 1);
}
