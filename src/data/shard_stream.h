// The records of a sharded dataset, read as a stream (issue #10): shards one after the other in a given order, each
// read sequentially (ranged reads, decompressed on the fly when .gz/.zst), cut into JSONL lines or CSV records,
// prefetched by a small pool of threads into a bounded queue. Torch-free. Memory stays O(prefetch_bytes +
// workers x (read chunk + decompressor output + longest record)) whatever the shards' sizes.
//
//   data::ShardStream stream(shards, {.workers = 4, .prefetch_bytes = 64 << 20}, start, make_reader);
//   while (auto r = stream.next()) use(*r);             // in order: shard 0's records, then shard 1's, ...
//   checkpoint(stream.position());                      // where the record after the last one returned starts
//
// Order and exactness: records come in shard order and, within a shard, in file order, whatever the number of
// workers; each record exactly once. Worker k reads shard (current + k) ahead while the caller consumes the
// current one; a shard's queue holds at most prefetch_bytes / workers bytes of records (one record always fits),
// so a worker waits when its queue is full.
//
// Resuming: a StreamPosition names a shard and the decoded byte offset of its next record (SplitRecord::end of the
// last record used). An uncompressed shard is read from that byte (a ranged read: nothing before it is fetched);
// a compressed one is decoded from its start and the records before the offset are dropped (gzip and zstd streams
// cannot be entered in the middle). A CSV shard's header is read first from its start either way.
//
// BigQuery (bq:// tables and query results, io::ObjectReader::read_rows): one shard whose records are its rows as
// JSON objects ({column: value as text, or null}, columns mapped as CSV columns are); its offsets count rows, so a
// resume starts at the saved row (startIndex), fetching nothing before it.
//
// Errors: a shard that cannot be read (after HttpClient's retries), is corrupt, or changed since it was listed ends
// the stream with gt::InputError naming the shard, thrown from next() when the caller reaches that shard (records
// before it are delivered first). Malformed records are not errors: they come with SplitRecord::error set.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/record_splitter.h"
#include "io/object_reader.h"

namespace gt::data {

// Where the next record of a stream starts.
struct StreamPosition {
  int64_t shard = 0;    // index into the stream's shard list
  uint64_t offset = 0;  // decoded byte offset of the next record in that shard (0: its start)
  int64_t line = 1;     // 1-based line at offset
  int64_t row = 0;      // records of that shard before offset (the CSV header not counted)
  bool operator==(const StreamPosition&) const = default;
};

struct StreamRecord {
  int64_t shard = 0;
  int64_t row = 0;  // 1-based record number within the shard (CSV: after the header)
  SplitRecord record;
  // CSV shards: the shard's header fields (shared by its records); null for JSONL.
  std::shared_ptr<const std::vector<std::string>> header;
};

// JSONL or CSV by the shard's name, a compression extension (.gz, .zst, .zstd) looked through:
// "train-0001.jsonl.zst" -> Jsonl. Throws gt::InputError naming it for any other extension.
RecordFormat shard_format(const std::string& url);

struct ShardStreamOptions {
  int workers = 4;                                 // shards read at once (>= 1)
  size_t prefetch_bytes = size_t(64) << 20;        // decoded record bytes held ahead, all shards together
  size_t max_record_bytes = size_t(64) << 20;      // RecordSplitter's bound (a longer CSV record is malformed)
};

struct StreamStats {
  uint64_t bytes_read = 0;     // bytes received (compressed as stored)
  uint64_t bytes_decoded = 0;  // bytes after decompression
  int64_t records = 0;         // records returned by next()
  int64_t shards_done = 0;     // shards whose last record was returned
  double wait_seconds = 0;     // time next() spent waiting for data
  uint64_t peak_buffered = 0;  // most record bytes (+64 each) held in the queues at once: the prefetch bound at work
};

class ShardStream {
 public:
  using ReaderFactory = std::function<std::unique_ptr<io::ObjectReader>()>;

  // Starts reading at `start`. `make_reader` gives each worker thread its own reader (HTTP connections are per
  // thread). Throws gt::InputError when start.shard is out of range.
  ShardStream(std::vector<io::ObjectRef> shards, ShardStreamOptions options, StreamPosition start,
              ReaderFactory make_reader);
  ~ShardStream();  // stops the workers (a read in progress is abandoned at its next chunk)
  ShardStream(const ShardStream&) = delete;
  ShardStream& operator=(const ShardStream&) = delete;

  // The next record, or nullopt after the last shard's last record.
  std::optional<StreamRecord> next();
  // Where the record after the last one next() returned starts ({shards.size(), 0, 1, 0} at the end).
  StreamPosition position() const;
  StreamStats stats() const;
  const std::vector<io::ObjectRef>& shards() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace gt::data
