#include "data/batching.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>

#include "core/error.h"

namespace gt::data {

namespace {

// Uniform in [0, bound) by rejection, so the result depends only on the generator's (standard-fixed) output.
uint64_t uniform_below(std::mt19937_64& rng, uint64_t bound) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  const uint64_t reject_from = kMax - kMax % bound;  // [0, reject_from) holds a whole number of `bound`s
  uint64_t x;
  do x = rng();
  while (x >= reject_from);
  return x % bound;
}

// The generator of an epoch's shuffles. std::seed_seq's mixing is specified by the standard, so (seed, epoch) ->
// state is the same everywhere.
std::mt19937_64 epoch_rng(uint64_t seed, int64_t epoch) {
  const auto e = static_cast<uint64_t>(epoch);
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(e),
                    static_cast<uint32_t>(e >> 32)};
  return std::mt19937_64(seq);
}

// Fisher-Yates over `v`, drawing from the back.
template <typename T>
void shuffle_in_place(std::vector<T>& v, std::mt19937_64& rng) {
  if (v.size() < 2) return;
  for (size_t i = v.size() - 1; i > 0; --i) std::swap(v[i], v[uniform_below(rng, i + 1)]);
}

}  // namespace

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch, bool shuffle) {
  std::vector<int64_t> order(static_cast<size_t>(std::max<int64_t>(n, 0)));
  std::iota(order.begin(), order.end(), 0);
  if (!shuffle || order.size() < 2) return order;
  std::mt19937_64 rng = epoch_rng(seed, epoch);
  shuffle_in_place(order, rng);
  return order;
}

std::vector<int64_t> length_grouped_order(std::span<const int64_t> lengths, int64_t batch_size, uint64_t seed,
                                          int64_t epoch, bool shuffle) {
  if (batch_size < 1) fail_input("batch_size is ", batch_size, "; expected at least 1");
  const auto n = static_cast<int64_t>(lengths.size());
  // Step 1, written out rather than through epoch_order so that step 3 continues the same generator.
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng = epoch_rng(seed, epoch);
  if (shuffle) shuffle_in_place(order, rng);

  const int64_t grouped = n / batch_size * batch_size;  // the rest is the short last batch, left where it is
  const int64_t window = batch_size * kLengthGroupWindowBatches;
  std::vector<int64_t> sorted;
  std::vector<int64_t> batch_order;
  for (int64_t start = 0; start < grouped; start += window) {
    const int64_t size = std::min(window, grouped - start);  // a whole number of batches
    const auto first = order.begin() + start;
    std::stable_sort(first, first + size, [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
    if (!shuffle) continue;
    batch_order.resize(static_cast<size_t>(size / batch_size));
    std::iota(batch_order.begin(), batch_order.end(), 0);
    shuffle_in_place(batch_order, rng);
    sorted.assign(first, first + size);
    for (size_t k = 0; k < batch_order.size(); ++k)
      std::copy_n(sorted.begin() + batch_order[k] * batch_size, batch_size,
                  first + static_cast<int64_t>(k) * batch_size);
  }
  return order;
}

Batch collate(const std::vector<Example>& examples, std::span<const int64_t> indices, int64_t pad_id,
              int64_t pad_to_multiple_of) {
  Batch b;
  b.batch_size = static_cast<int64_t>(indices.size());
  for (int64_t i : indices) {
    GT_CHECK(i >= 0 && static_cast<size_t>(i) < examples.size(), "example index ", i, " of ", examples.size());
    b.seq_len = std::max<int64_t>(b.seq_len, static_cast<int64_t>(examples[i].input_ids.size()));
  }
  if (pad_to_multiple_of > 1) b.seq_len = (b.seq_len + pad_to_multiple_of - 1) / pad_to_multiple_of * pad_to_multiple_of;
  const size_t cells = static_cast<size_t>(b.batch_size * b.seq_len);
  b.input_ids.assign(cells, pad_id);
  b.labels.assign(cells, kIgnoreIndex);
  b.attention_mask.assign(cells, 0);
  b.example_indices.assign(indices.begin(), indices.end());
  for (int64_t row = 0; row < b.batch_size; ++row) {
    const Example& ex = examples[indices[row]];
    GT_CHECK(ex.labels.size() == ex.input_ids.size(), ex.source, ": labels and input_ids differ in length");
    const size_t base = static_cast<size_t>(row * b.seq_len);
    std::copy(ex.input_ids.begin(), ex.input_ids.end(), b.input_ids.begin() + base);
    std::copy(ex.labels.begin(), ex.labels.end(), b.labels.begin() + base);
    std::fill_n(b.attention_mask.begin() + base, ex.input_ids.size(), 1);
    b.supervised_tokens += ex.supervised_tokens();
    b.audio.insert(b.audio.end(), ex.audio.begin(), ex.audio.end());
    b.images.insert(b.images.end(), ex.images.begin(), ex.images.end());
    b.row_examples.push_back(1);
    b.row_audio.push_back(static_cast<int64_t>(ex.audio.size()));
    b.row_images.push_back(static_cast<int64_t>(ex.images.size()));
    b.real_tokens += static_cast<int64_t>(ex.input_ids.size());
  }
  return b;
}

Batch pack_examples(const std::vector<Example>& examples, std::span<const int64_t> order, int64_t rows, int64_t row_len,
                    int64_t pad_id, int64_t pad_to_multiple_of, int64_t* consumed) {
  GT_CHECK(rows >= 1 && row_len >= 1 && !order.empty(), "pack_examples: ", rows, " rows of ", row_len, ", ",
           order.size(), " examples");
  // Which examples go to which row, at what offset.
  std::vector<std::vector<int64_t>> placed(1);
  int64_t fill = 0, longest = 0;
  size_t taken = 0;
  for (; taken < order.size(); ++taken) {
    const int64_t i = order[taken];
    GT_CHECK(i >= 0 && static_cast<size_t>(i) < examples.size(), "example index ", i, " of ", examples.size());
    const auto len = static_cast<int64_t>(examples[i].input_ids.size());
    if (len > row_len)
      fail_input(examples[i].source, ": ", len, " tokens do not fit a packed row of ", row_len,
                 " (--max-seq-len cuts rows; pack with a length at least that)");
    if (fill + len > row_len) {
      if (static_cast<int64_t>(placed.size()) == rows) break;
      placed.emplace_back();
      fill = 0;
    }
    placed.back().push_back(i);
    fill += len;
    longest = std::max(longest, fill);
  }
  *consumed = static_cast<int64_t>(taken);
  Batch b;
  b.batch_size = static_cast<int64_t>(placed.size());
  b.seq_len = longest;
  if (pad_to_multiple_of > 1) b.seq_len = (b.seq_len + pad_to_multiple_of - 1) / pad_to_multiple_of * pad_to_multiple_of;
  const size_t cells = static_cast<size_t>(b.batch_size * b.seq_len);
  b.input_ids.assign(cells, pad_id);
  b.labels.assign(cells, kIgnoreIndex);
  b.attention_mask.assign(cells, 0);
  b.segment_ids.assign(cells, 0);
  b.position_ids.assign(cells, 0);
  b.row_examples.assign(static_cast<size_t>(b.batch_size), 0);
  b.row_audio.assign(static_cast<size_t>(b.batch_size), 0);
  b.row_images.assign(static_cast<size_t>(b.batch_size), 0);
  for (int64_t row = 0; row < b.batch_size; ++row) {
    size_t at = static_cast<size_t>(row * b.seq_len);
    int64_t segment = 0;
    b.row_examples[row] = static_cast<int64_t>(placed[row].size());
    for (int64_t i : placed[row]) {
      const Example& ex = examples[i];
      GT_CHECK(ex.labels.size() == ex.input_ids.size(), ex.source, ": labels and input_ids differ in length");
      const size_t n = ex.input_ids.size();
      std::copy(ex.input_ids.begin(), ex.input_ids.end(), b.input_ids.begin() + at);
      std::copy(ex.labels.begin(), ex.labels.end(), b.labels.begin() + at);
      b.labels[at] = kIgnoreIndex;
      std::fill_n(b.attention_mask.begin() + at, n, 1);
      std::fill_n(b.segment_ids.begin() + at, n, ++segment);
      for (size_t k = 0; k < n; ++k) b.position_ids[at + k] = static_cast<int64_t>(k);
      b.example_indices.push_back(i);
      b.supervised_tokens += ex.supervised_tokens();
      b.audio.insert(b.audio.end(), ex.audio.begin(), ex.audio.end());
      b.images.insert(b.images.end(), ex.images.begin(), ex.images.end());
      b.row_audio[row] += static_cast<int64_t>(ex.audio.size());
      b.row_images[row] += static_cast<int64_t>(ex.images.size());
      b.real_tokens += static_cast<int64_t>(n);
      at += n;
    }
  }
  return b;
}

Batch rows_of(const Batch& b, int64_t begin, int64_t end, int64_t pad_to_multiple_of) {
  GT_CHECK(0 <= begin && begin <= end && end <= b.batch_size, "rows_of: rows ", begin, "..", end, " of ", b.batch_size);
  GT_CHECK(b.row_examples.size() == static_cast<size_t>(b.batch_size) &&
               b.row_audio.size() == b.row_examples.size() && b.row_images.size() == b.row_examples.size(),
           "rows_of: a batch without per-row counts");
  auto before = [&](const std::vector<int64_t>& counts, int64_t row) {
    int64_t n = 0;
    for (int64_t r = 0; r < row; ++r) n += counts[r];
    return n;
  };
  Batch out;
  out.batch_size = end - begin;
  if (out.batch_size == 0) return out;
  const auto T = static_cast<size_t>(b.seq_len);
  // The slice's longest row: its last real position, the rest being padding.
  int64_t longest = 0;
  for (int64_t r = begin; r < end; ++r)
    for (int64_t t = b.seq_len; t > longest; --t)
      if (b.attention_mask[static_cast<size_t>(r) * T + static_cast<size_t>(t - 1)] != 0) {
        longest = t;
        break;
      }
  out.seq_len = std::max<int64_t>(longest, 1);
  if (pad_to_multiple_of > 1)
    out.seq_len = std::min(b.seq_len, (out.seq_len + pad_to_multiple_of - 1) / pad_to_multiple_of * pad_to_multiple_of);
  const bool packed = !b.segment_ids.empty();
  for (int64_t r = begin; r < end; ++r) {
    const auto from = b.input_ids.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(r) * T);
    const auto take = static_cast<std::ptrdiff_t>(out.seq_len);
    const auto at = static_cast<std::ptrdiff_t>(static_cast<size_t>(r) * T);
    out.input_ids.insert(out.input_ids.end(), from, from + take);
    out.labels.insert(out.labels.end(), b.labels.begin() + at, b.labels.begin() + at + take);
    out.attention_mask.insert(out.attention_mask.end(), b.attention_mask.begin() + at, b.attention_mask.begin() + at + take);
    if (packed) {
      out.segment_ids.insert(out.segment_ids.end(), b.segment_ids.begin() + at, b.segment_ids.begin() + at + take);
      out.position_ids.insert(out.position_ids.end(), b.position_ids.begin() + at, b.position_ids.begin() + at + take);
    }
    // Targets of the shifted loss: a row's labels after its first position.
    for (int64_t t = 1; t < out.seq_len; ++t) out.supervised_tokens += b.labels[static_cast<size_t>(at + t)] != kIgnoreIndex;
    for (int64_t t = 0; t < out.seq_len; ++t) out.real_tokens += b.attention_mask[static_cast<size_t>(at + t)] != 0;
  }
  auto cut = [&](const auto& all, const std::vector<int64_t>& counts, auto& into) {
    const int64_t first = before(counts, begin), last = before(counts, end);
    into.assign(all.begin() + first, all.begin() + last);
  };
  cut(b.example_indices, b.row_examples, out.example_indices);
  cut(b.audio, b.row_audio, out.audio);
  cut(b.images, b.row_images, out.images);
  out.row_examples.assign(b.row_examples.begin() + begin, b.row_examples.begin() + end);
  out.row_audio.assign(b.row_audio.begin() + begin, b.row_audio.begin() + end);
  out.row_images.assign(b.row_images.begin() + begin, b.row_images.begin() + end);
  return out;
}

BatchIterator::BatchIterator(const std::vector<Example>& examples, BatchOptions options, DataPosition start)
    : examples_(examples), options_(options), position_(start) {
  const auto n = static_cast<int64_t>(examples.size());
  if (n == 0) fail_input("cannot make batches from a dataset with no examples");
  if (options.batch_size < 1) fail_input("batch_size is ", options.batch_size, "; expected at least 1");
  if (options.drop_last && options.batch_size > n)
    fail_input("batch_size ", options.batch_size, " is larger than the dataset (", n,
               " examples) and drop_last is set, so no batch would ever be made");
  if (start.epoch < 0 || start.index_in_epoch < 0 || start.index_in_epoch > n)
    fail_input("data position (epoch ", start.epoch, ", index ", start.index_in_epoch,
               ") does not fit a dataset of ", n, " examples; was the checkpoint made with another dataset?");
  normalize();
}

int64_t BatchIterator::batches_per_epoch() const {
  const auto n = static_cast<int64_t>(examples_.size());
  if (options_.pack_length > 0) {  // packed batches of epoch 0's order (the rows' fill depends on the order)
    const std::vector<int64_t> order = order_of(0);
    int64_t batches = 0;
    for (int64_t at = 0, used = 0; at < n; at += used, ++batches)
      pack_examples(examples_, std::span<const int64_t>(order).subspan(at), options_.batch_size, options_.pack_length,
                    options_.pad_id, 1, &used);
    return batches;
  }
  return options_.drop_last ? n / options_.batch_size : (n + options_.batch_size - 1) / options_.batch_size;
}

void BatchIterator::normalize() {
  const auto n = static_cast<int64_t>(examples_.size());
  const int64_t end = options_.drop_last && options_.pack_length <= 0 ? n / options_.batch_size * options_.batch_size : n;
  if (position_.index_in_epoch >= end) {
    ++position_.epoch;
    position_.index_in_epoch = 0;
  }
}

std::vector<int64_t> BatchIterator::order_of(int64_t epoch) const {
  if (!options_.group_by_length)
    return epoch_order(static_cast<int64_t>(examples_.size()), options_.seed, epoch, options_.shuffle);
  std::vector<int64_t> lengths(examples_.size());
  for (size_t i = 0; i < examples_.size(); ++i) lengths[i] = static_cast<int64_t>(examples_[i].input_ids.size());
  return length_grouped_order(lengths, options_.batch_size, options_.seed, epoch, options_.shuffle);
}

Batch BatchIterator::next() {
  if (order_epoch_ != position_.epoch) {
    order_ = order_of(position_.epoch);
    order_epoch_ = position_.epoch;
  }
  const auto n = static_cast<int64_t>(order_.size());
  if (options_.pack_length > 0) {
    int64_t used = 0;
    Batch b = pack_examples(examples_, std::span<const int64_t>(order_).subspan(position_.index_in_epoch),
                            options_.batch_size, options_.pack_length, options_.pad_id, options_.pad_to_multiple_of,
                            &used);
    position_.index_in_epoch += used;
    normalize();
    return b;
  }
  const int64_t count = std::min(options_.batch_size, n - position_.index_in_epoch);
  Batch b = collate(examples_, std::span<const int64_t>(order_).subspan(position_.index_in_epoch, count),
                    options_.pad_id, options_.pad_to_multiple_of);
  position_.index_in_epoch += count;
  normalize();
  return b;
}

}  // namespace gt::data
