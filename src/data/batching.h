// Epoch order, batches and the data position a checkpoint stores. Torch-free: batches are plain vectors that
// the training loop turns into tensors.
//
// Order: each epoch visits every example once, in an order computed from (seed, epoch) alone, so a resumed run
// recomputes exactly the order it was in. The shuffle is a Fisher-Yates driven by std::mt19937_64, whose output
// the C++ standard fixes; std::shuffle and std::uniform_int_distribution are not used because their results
// differ between standard libraries (libstdc++ on Linux, libc++ on macOS).
// Length grouping (BatchOptions::group_by_length, off by default): the same shuffled order, regrouped so that each
// batch holds examples of similar length (less padding); see length_grouped_order. Still a permutation computed
// from (seed, epoch, lengths, batch_size) alone, so resuming and DataPosition work unchanged.
// Batches: `batch_size` consecutive examples of the order, never spanning two epochs (the last batch of an
// epoch may be smaller, or is dropped with drop_last), right-padded to the longest example of the batch
// (optionally rounded up to a multiple): pad id in input_ids, -100 in labels, 0 in attention_mask.
// Packing (BatchOptions::pack_length > 0, off by default): consecutive examples of the order placed one after
// another in batch_size rows of pack_length tokens (pack_examples), so that short rows cost no padding compute.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "data/example.h"

namespace gt::data {

// Where the next batch starts: an epoch and an index into that epoch's order. Stored in checkpoints
// (train::TrainerState epoch / index_in_epoch) and given back to BatchIterator to resume.
struct DataPosition {
  int64_t epoch = 0;
  int64_t index_in_epoch = 0;
  bool operator==(const DataPosition&) const = default;
};

// The order of examples 0..n-1 in `epoch`: a permutation from (seed, epoch), or 0..n-1 when !shuffle.
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle = true);

// Examples per length-grouping window, in batches (transformers' LengthGroupedSampler uses 50 as its
// mega_batch_mult; a power of two here).
inline constexpr int64_t kLengthGroupWindowBatches = 64;

// The order of examples 0..n-1 (n = lengths.size(), lengths[i] = example i's token count) in `epoch` with length
// grouping, the idea of transformers' LengthGroupedSampler made deterministic:
//  1. epoch_order(n, seed, epoch, shuffle); its last n % batch_size examples are set aside (step 4);
//  2. the rest is cut into windows of batch_size * kLengthGroupWindowBatches examples (the last window shorter),
//     each sorted by length, longest first, with a stable sort (ties keep their shuffled order);
//  3. each window is cut into batches of batch_size, which (when shuffle) are put in an order drawn from
//     (seed, epoch) by the same generator as step 1, so a batch of long rows is not always a window's first;
//  4. the set-aside examples follow, unsorted: they are the epoch's short last batch, which must stay last (it is
//     what drop_last drops, and a short batch moved inside the order would shift every batch after it), and
//     drop_last thereby drops the same examples as without grouping.
// Throws gt::InputError when batch_size < 1.
std::vector<int64_t> length_grouped_order(std::span<const int64_t> lengths, int64_t batch_size, uint64_t seed,
                                          int64_t epoch, bool shuffle = true);

struct Batch {
  int64_t batch_size = 0;  // B: examples in this batch
  int64_t seq_len = 0;     // T: longest example of the batch (rounded up to pad_to_multiple_of)
  // Row-major [B, T]; int64 because that is what embedding lookups and cross-entropy take.
  std::vector<int64_t> input_ids;
  std::vector<int64_t> labels;
  std::vector<int64_t> attention_mask;  // 1 = real token, 0 = padding
  std::vector<int64_t> example_indices;  // indices into the dataset ([B] unpacked; every packed example, in order)
  // Packed batches only ([B, T], else empty): the document of each position (1, 2, ... along a row, 0 = padding),
  // and positions restarting at 0 with each document (models::TextInputs::segment_ids / position_ids).
  std::vector<int64_t> segment_ids;
  std::vector<int64_t> position_ids;
  int64_t supervised_tokens = 0;         // targets of the shifted loss (Example::supervised_tokens summed)
  int64_t real_tokens = 0;               // non-padding positions
  std::vector<AudioRef> audio;           // clips of the rows, row 0's first, each row's in text order
  std::vector<ImageRef> images;          // images of the rows, likewise
  // Per row ([B]): how many of example_indices, audio and images belong to it (rows_of cuts by them).
  std::vector<int64_t> row_examples, row_audio, row_images;
};

// Rows [begin, end) of `b` as a batch of their own (a data-parallel rank's share of a global batch), cut to their
// longest row (rounded up to pad_to_multiple_of), with their examples, media and token counts. begin == end gives
// an empty batch (batch_size 0).
Batch rows_of(const Batch& b, int64_t begin, int64_t end, int64_t pad_to_multiple_of = 1);

// Packs `order`'s examples, from its start, into at most `rows` rows of `row_len` tokens: each example goes whole into
// the current row if it fits, else starts the next row; packing stops at the first example that fits in no row left.
// The batch has as many rows as were used and the longest row's length (rounded up to pad_to_multiple_of); each
// document's first label is -100 (it would be scored from the previous document's last position; unpacked it is
// never scored). `consumed` gets the number of examples taken (at least one). Throws gt::InputError naming the
// example when one is longer than row_len.
Batch pack_examples(const std::vector<Example>& examples, std::span<const int64_t> order, int64_t rows, int64_t row_len,
                    int64_t pad_id, int64_t pad_to_multiple_of, int64_t* consumed);

// Pads `indices` of `examples` into one batch. pad_to_multiple_of <= 1: no rounding.
Batch collate(const std::vector<Example>& examples, std::span<const int64_t> indices, int64_t pad_id,
              int64_t pad_to_multiple_of = 1);

struct BatchOptions {
  int64_t batch_size = 1;
  uint64_t seed = 42;
  bool shuffle = true;
  bool drop_last = false;  // drop an epoch's last batch when it is smaller than batch_size
  int64_t pad_id = 0;
  int64_t pad_to_multiple_of = 1;
  // Local datasets only: batch rows of similar length (length_grouped_order). Last, so that positional
  // initialisers written before it keep their meaning.
  bool group_by_length = false;
  // > 0: pack examples into batch_size rows of this many tokens (pack_examples); drop_last is then ignored and
  // batches_per_epoch() counts the packed batches of epoch 0's order (other epochs' orders differ by a few).
  int64_t pack_length = 0;
};

// Endless batches over the epochs. Holds a reference to `examples`, which must outlive it.
class BatchIterator {
 public:
  // Starts at `start` (a position from a checkpoint). Throws gt::InputError when the position cannot belong to
  // this dataset (index past the end of the epoch); an index at the end of an epoch moves to the next one.
  BatchIterator(const std::vector<Example>& examples, BatchOptions options, DataPosition start = {});

  // The batch at position() and the move past it.
  Batch next();
  // Where the next batch starts; store this in a checkpoint after the step that used the last batch.
  DataPosition position() const { return position_; }
  // Batches in one epoch (with drop_last, the full ones only).
  int64_t batches_per_epoch() const;

 private:
  void normalize();  // moves an end-of-epoch position to the start of the next epoch
  std::vector<int64_t> order_of(int64_t epoch) const;  // epoch_order or length_grouped_order, as options_ say

  const std::vector<Example>& examples_;
  BatchOptions options_;
  DataPosition position_;
  int64_t order_epoch_ = -1;  // epoch whose order is cached
  std::vector<int64_t> order_;
};

}  // namespace gt::data
