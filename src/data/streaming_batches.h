// Training batches from a dataset read as a stream (issue #10): a dataset larger than the disk or the memory, in
// shards on Cloud Storage, behind https URLs, or local. Torch-free.
//
// Per epoch: the shards in an order drawn from (seed, epoch) (data/batching.h epoch_order), read by ShardStream
// (prefetching workers, bounded memory), their rows through a ShuffleBuffer (seeded, bounded), each row leaving the
// buffer made into an example by ExampleMaker; `batch_size` consecutive examples form a batch (collate), and a batch
// never spans two epochs (an epoch's last batch may be smaller). Rows that cannot be used are skipped, appended to
// the skipped log as they are found, and counted; an epoch that yields no example at all is an error.
//
// Exactness: each row of every shard is offered once per epoch, whatever the faults of the network (ShardStream).
// state() is the position after the last batch returned: the epoch, the stream's position (shard, byte, line, row),
// the shuffle buffer (generator and held rows, text included) and the CSV headers those rows need. A StreamingBatches
// built from it continues with exactly the batches the original would have returned next, reading nothing twice.
// The shard list (URLs and versions) is stored too: resuming on a dataset whose shards changed is an error.
//
// Media: rows leave the buffer media_ahead rows before they are made into examples, and the remote images and clips
// they name are handed to the fetch-ahead pool (io/remote_media), so that a batch's media are mostly fetched by the
// time it is built. Those rows are part of state() too.
//
// Memory: O(prefetch_bytes + shuffle buffer rows + media_ahead rows' media + one batch), whatever the dataset's size.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/batching.h"
#include "data/example_maker.h"
#include "data/shard_stream.h"
#include "data/shuffle_buffer.h"
#include "data/text_dataset.h"

namespace gt::data {

struct StreamingOptions {
  int64_t batch_size = 1;
  uint64_t seed = 42;
  bool shuffle = true;             // shard order and the shuffle buffer
  size_t shuffle_buffer = 10000;   // rows held for shuffling (<= 1: none)
  int64_t pad_id = 0;
  int64_t pad_to_multiple_of = 1;
  ShardStreamOptions stream;
  std::string skipped_log;         // "": skipped rows are only counted
  std::set<std::string> exclude;   // rows left out (--exclude): by their own id or as "<shard name>:<row>"
  // Rows drawn ahead of use whose remote images and clips the fetch-ahead pool fetches (io/remote_media) while
  // earlier rows are made into examples and trained on; only when rows may name media. 0: none fetched ahead.
  int64_t media_ahead = 16;
};

struct StreamingCounters {
  int64_t epoch = 0;
  int64_t rows = 0;        // rows offered this epoch (usable or not)
  int64_t examples = 0;    // examples made this epoch
  int64_t skipped = 0;     // rows skipped this epoch
  int64_t excluded = 0;    // rows left out by `exclude` this epoch
  std::map<std::string, int64_t> skipped_by_kind;  // this epoch
  int64_t total_rows = 0;  // over the run, this process
  uint64_t total_bytes = 0;  // bytes read over the run, this process
  StreamStats stream;      // the current epoch's stream
};

class StreamingBatches {
 public:
  // `state`: from a checkpoint (state()), or null to start at epoch 0. Throws gt::InputError when the state does not
  // belong to these shards or is malformed.
  StreamingBatches(std::vector<io::ObjectRef> shards, const ExampleMaker& maker, StreamingOptions options,
                   ShardStream::ReaderFactory make_reader, const nlohmann::json& state = nullptr);
  ~StreamingBatches();

  Batch next();
  // The next example of the current epoch, nullptr at its end (the epoch does not advance; next() does that).
  std::unique_ptr<Example> next_example();
  nlohmann::json state() const;
  StreamingCounters counters() const;
  const std::vector<io::ObjectRef>& shards() const { return shards_; }

 private:
  void start_epoch(const nlohmann::json* state);
  // A row that left the buffer -> an example, or nullptr (skipped and recorded).
  std::unique_ptr<Example> make(const BufferedRow& row);
  // The next row to leave the shuffle buffer this epoch, nullopt at its end.
  std::optional<BufferedRow> next_row();
  // Hands the remote media a row names to the fetch-ahead pool.
  void fetch_media_ahead(const BufferedRow& row) const;

  std::vector<io::ObjectRef> shards_;
  const ExampleMaker& maker_;
  StreamingOptions options_;
  ShardStream::ReaderFactory make_reader_;

  int64_t epoch_ = 0;
  std::vector<int64_t> order_;              // shard indices in this epoch's order
  std::unique_ptr<ShardStream> stream_;
  std::unique_ptr<ShuffleBuffer> buffer_;
  std::deque<BufferedRow> ahead_;           // rows out of the buffer, not yet made into examples (oldest first)
  bool stream_done_ = false;
  std::map<int64_t, std::shared_ptr<const std::vector<std::string>>> headers_;  // CSV shards seen, by shard
  StreamingCounters counters_;
  uint64_t bytes_before_ = 0;  // bytes read by the streams of earlier epochs
};

// The BigQuery results a state() names (a query's job), to resume reading them rather than run the query again.
// Throws gt::InputError when the state names other shards or is malformed.
std::vector<io::ObjectRef> saved_shards(const nlohmann::json& state);

// Every example of a remote dataset in read order (no shuffle), in memory: validation and eval sets. Rows skipped go
// to `skipped_log` ("" = none); the summary counts as load_text_dataset's does. Throws gt::InputError when no row is
// usable.
TextDataset read_streamed_dataset(std::vector<io::ObjectRef> shards, const ExampleMaker& maker,
                                  ShardStream::ReaderFactory make_reader, const std::string& skipped_log,
                                  const std::string& where);

}  // namespace gt::data
