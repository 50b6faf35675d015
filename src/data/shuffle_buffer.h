// A seeded, bounded shuffle of a stream (issue #10): rows that arrive in file order leave in a pseudo-random order
// that depends only on (seed, epoch) and the stream, holding at most `capacity` rows. Torch-free.
//
// The rule (a "reservoir" shuffle as tf.data's shuffle(buffer_size) and Hugging Face datasets' buffered shuffle do
// it): the first `capacity` rows fill the buffer; after that each arriving row takes the place of a row drawn at
// random, which leaves; at the end of the stream the rest leave in random order. Each row leaves exactly once, no more
// than `capacity` places before its place in the stream and possibly long after it, so the shuffle mixes as far as
// the buffer reaches; the shards themselves are visited in a shuffled order too (data/streaming_batches.h).
//
// The draws come from std::mt19937_64 (its output is fixed by the C++ standard) reduced with `% n` (not
// std::uniform_int_distribution, whose results differ between standard libraries), so Linux and macOS builds shuffle
// alike. The whole state (generator and buffered rows) serialises to JSON for checkpoints; a buffer restored from it
// continues exactly as the original would have.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace gt::data {

// A row held by the buffer: where it came from (to name it in messages and skipped.jsonl) and its text.
struct BufferedRow {
  int64_t shard = 0;  // index into the dataset's shard list
  int64_t row = 0;    // 1-based record number in the shard
  int64_t line = 0;   // line on which it starts
  std::string text;
  std::string error;  // a malformed record (RecordSplitter), kept so that it is recorded when it leaves
  bool operator==(const BufferedRow&) const = default;
};

// A row as checkpoints store it ({"shard", "row", "line", "text"[, "error"]}), and back (nlohmann::json exceptions
// when a key is missing: callers name the checkpoint).
nlohmann::json buffered_row_json(const BufferedRow& row);
BufferedRow buffered_row_from_json(const nlohmann::json& j);

class ShuffleBuffer {
 public:
  // capacity 0 or 1: no shuffling (rows leave as they arrive).
  ShuffleBuffer(size_t capacity, uint64_t seed, int64_t epoch);

  // Adds a row; returns the row that leaves (nullopt while the buffer is still filling).
  std::optional<BufferedRow> push(BufferedRow row);
  // After the stream's end: the next row to leave, nullopt when empty.
  std::optional<BufferedRow> drain();

  size_t size() const { return rows_.size(); }
  size_t capacity() const { return capacity_; }
  size_t bytes() const { return bytes_; }  // text held

  nlohmann::json to_json() const;
  // Throws gt::InputError naming `where` when the state is malformed.
  static ShuffleBuffer from_json(const nlohmann::json& j, const std::string& where);

 private:
  size_t draw(size_t n);

  size_t capacity_ = 0;
  std::mt19937_64 rng_;
  std::vector<BufferedRow> rows_;
  size_t bytes_ = 0;
};

}  // namespace gt::data
