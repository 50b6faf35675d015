#include "data/shard_stream.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/strings.h"
#include "data/csv_reader.h"
#include "io/decompress_stream.h"

namespace gt::data {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::shared_ptr<const std::vector<std::string>> parse_header(const SplitRecord& r, const std::string& url) {
  return std::make_shared<const std::vector<std::string>>(parse_csv_header(r, url));
}

}  // namespace

RecordFormat shard_format(const std::string& url) {
  std::string name = lower(url);
  if (name.rfind("bq://", 0) == 0) return RecordFormat::Jsonl;  // BigQuery rows come as JSON objects
  if (name.find("://") != std::string::npos) name = name.substr(0, name.find_first_of("?#"));  // a URL's query
  for (const char* z : {".gz", ".zst", ".zstd"})
    if (ends_with(name, z)) {
      name.resize(name.size() - std::string(z).size());
      break;
    }
  if (ends_with(name, ".jsonl") || ends_with(name, ".json")) return RecordFormat::Jsonl;
  if (ends_with(name, ".csv")) return RecordFormat::Csv;
  fail_input(url, ": a dataset shard must be .jsonl or .csv (optionally .gz or .zst compressed)");
}

struct ShardStream::State {
  struct Slot {
    std::deque<StreamRecord> queue;
    size_t bytes = 0;
    bool done = false;
    std::exception_ptr error;
  };

  std::vector<io::ObjectRef> shards;
  ShardStreamOptions options;
  StreamPosition start;
  ReaderFactory make_reader;
  size_t budget = 0;  // queue bytes per shard

  mutable std::mutex m;
  std::condition_variable data_cv, space_cv;
  std::map<int64_t, Slot> slots;
  int64_t current = 0;      // shard the caller reads
  int64_t next_assign = 0;  // next shard a worker takes
  bool stop = false;
  StreamPosition position;
  StreamStats stats;
  uint64_t buffered = 0;  // bytes in all queues
  std::vector<std::thread> threads;

  int64_t n() const { return static_cast<int64_t>(shards.size()); }

  // Blocks until the record fits in shard k's queue; false when the stream is being destroyed.
  bool push(int64_t k, StreamRecord rec) {
    std::unique_lock lock(m);
    const size_t size = rec.record.text.size() + 64;
    Slot& slot = slots[k];
    space_cv.wait(lock, [&] { return stop || slot.bytes == 0 || slot.bytes + size <= budget; });
    if (stop) return false;
    slot.bytes += size;
    buffered += size;
    stats.peak_buffered = std::max<uint64_t>(stats.peak_buffered, buffered);
    slot.queue.push_back(std::move(rec));
    data_cv.notify_all();
    return true;
  }

  void worker() {
    std::unique_ptr<io::ObjectReader> reader;
    while (true) {
      int64_t k = 0;
      {
        std::unique_lock lock(m);
        space_cv.wait(lock, [&] {
          return stop || next_assign >= n() || next_assign < current + options.workers;
        });
        if (stop || next_assign >= n()) return;
        k = next_assign++;
        slots[k];
      }
      try {
        if (!reader) reader = make_reader();
        read_shard(k, *reader);
      } catch (...) {
        std::lock_guard lock(m);
        slots[k].error = std::current_exception();
      }
      std::lock_guard lock(m);
      slots[k].done = true;
      data_cv.notify_all();
    }
  }

  // The first record of a CSV shard, read from its start.
  std::shared_ptr<const std::vector<std::string>> read_header(const io::ObjectRef& o, io::ObjectReader& reader) {
    auto dec = io::Decompressor::for_name(o.url);
    RecordSplitter split(RecordFormat::Csv, 0, 1, options.max_record_bytes);
    std::vector<SplitRecord> recs;
    std::string out;
    auto take = [&] {
      split.feed(out, recs);
      out.clear();
      return recs.empty();
    };
    const io::DownloadResult r = reader.read(o, 0, std::nullopt, [&](std::string_view chunk) {
      dec->feed(chunk, out);
      if (!take()) return false;
      while (dec->pending()) {
        dec->feed({}, out);
        if (!take()) return false;
      }
      return true;
    });
    if (!r.stopped) split.finish(recs);
    if (recs.empty()) fail_input(o.url, ": the shard has no CSV header");
    return parse_header(recs.front(), o.url);
  }

  // A BigQuery table or query result: its rows as JSONL records whose offsets count rows (a resume starts at a row).
  void read_rows(int64_t k, io::ObjectReader& reader, const StreamPosition& from) {
    const io::ObjectRef& o = shards[static_cast<size_t>(k)];
    uint64_t row = from.offset;
    reader.read_rows(o, row, [&](std::vector<std::string>& texts) {
      for (std::string& t : texts) {
        {
          std::lock_guard lock(m);
          stats.bytes_read += t.size();
          stats.bytes_decoded += t.size();
        }
        SplitRecord r;
        r.offset = row;
        r.end = row + 1;
        r.line = static_cast<int64_t>(row) + 1;
        r.end_line = r.line + 1;
        r.text = std::move(t);
        ++row;
        if (!push(k, StreamRecord{k, static_cast<int64_t>(row), std::move(r), nullptr})) return false;
      }
      return true;
    });
  }

  void read_shard(int64_t k, io::ObjectReader& reader) {
    const io::ObjectRef& o = shards[static_cast<size_t>(k)];
    if (o.kind == io::ObjectKind::BigQuery)
      return read_rows(k, reader, k == start.shard ? start : StreamPosition{k, 0, 1, 0});
    const RecordFormat format = shard_format(o.url);
    auto dec = io::Decompressor::for_name(o.url);
    const bool compressed = dec->codec() != io::Decompressor::Codec::identity;
    const StreamPosition from = k == start.shard ? start : StreamPosition{k, 0, 1, 0};
    std::shared_ptr<const std::vector<std::string>> header;
    if (format == RecordFormat::Csv && from.offset > 0) header = read_header(o, reader);
    // Uncompressed: a ranged read from the record's byte. Compressed: from the start, records before it dropped.
    const bool seek = !compressed && from.offset > 0;
    RecordSplitter split(format, seek ? from.offset : 0, seek ? from.line : 1, options.max_record_bytes);
    int64_t row = seek ? from.row : 0;
    bool need_header = format == RecordFormat::Csv && !seek;  // read from its start: the first record is the header
    if (seek && o.size && from.offset >= *o.size) return;  // resumed after the shard's last record
    std::vector<SplitRecord> recs;
    std::string out;
    // Hands the records cut so far to the queue; false when the stream is being destroyed.
    auto flush = [&]() {
      for (SplitRecord& r : recs) {
        if (need_header) {
          need_header = false;
          if (!header) header = parse_header(r, o.url);
          continue;
        }
        ++row;
        if (r.end <= from.offset) continue;  // before the resume point (compressed shards)
        if (!push(k, StreamRecord{k, row, std::move(r), header})) return false;
      }
      recs.clear();
      return true;
    };
    auto deliver = [&]() {
      {
        std::lock_guard lock(m);
        stats.bytes_decoded += out.size();
      }
      split.feed(out, recs);
      out.clear();
      return flush();
    };
    const io::DownloadResult res = reader.read(o, seek ? from.offset : 0, std::nullopt, [&](std::string_view chunk) {
      {
        std::lock_guard lock(m);
        stats.bytes_read += chunk.size();
        if (stop) return false;
      }
      dec->feed(chunk, out);
      if (!deliver()) return false;
      while (dec->pending()) {
        dec->feed({}, out);
        if (!deliver()) return false;
      }
      return true;
    });
    if (res.stopped) return;
    dec->finish();
    split.finish(recs);
    flush();
  }
};

ShardStream::ShardStream(std::vector<io::ObjectRef> shards, ShardStreamOptions options, StreamPosition start,
                         ReaderFactory make_reader)
    : s_(std::make_unique<State>()) {
  State& s = *s_;
  s.shards = std::move(shards);
  s.options = options;
  s.options.workers = std::max(1, options.workers);
  s.start = start;
  s.make_reader = std::move(make_reader);
  s.budget = std::max<size_t>(1, options.prefetch_bytes / static_cast<size_t>(s.options.workers));
  if (start.shard < 0 || start.shard > s.n())
    fail_input("the saved stream position names shard ", start.shard, " but the dataset has ", s.n(), " shard(s)");
  for (const io::ObjectRef& o : s.shards) shard_format(o.url);  // an unusable name fails here, before any read
  s.current = s.next_assign = start.shard;
  s.position = start;
  const int64_t threads = std::min<int64_t>(s.options.workers, s.n() - start.shard);
  for (int64_t i = 0; i < threads; ++i) s.threads.emplace_back([&s] { s.worker(); });
}

ShardStream::~ShardStream() {
  {
    std::lock_guard lock(s_->m);
    s_->stop = true;
  }
  s_->space_cv.notify_all();
  s_->data_cv.notify_all();
  for (std::thread& t : s_->threads) t.join();
}

std::optional<StreamRecord> ShardStream::next() {
  State& s = *s_;
  std::unique_lock lock(s.m);
  while (true) {
    if (s.current >= s.n()) return std::nullopt;
    auto it = s.slots.find(s.current);
    if (it != s.slots.end()) {
      State::Slot& slot = it->second;
      if (!slot.queue.empty()) {
        StreamRecord rec = std::move(slot.queue.front());
        slot.queue.pop_front();
        slot.bytes -= rec.record.text.size() + 64;
        s.buffered -= rec.record.text.size() + 64;
        s.space_cv.notify_all();
        s.position = {s.current, rec.record.end, rec.record.end_line, rec.row};
        ++s.stats.records;
        return rec;
      }
      if (slot.done) {
        if (slot.error) std::rethrow_exception(slot.error);  // kept: every later call throws it too
        s.slots.erase(it);
        ++s.current;
        ++s.stats.shards_done;
        s.position = {s.current, 0, 1, 0};
        s.space_cv.notify_all();
        continue;
      }
    }
    const auto t0 = std::chrono::steady_clock::now();
    s.data_cv.wait(lock);
    s.stats.wait_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
}

StreamPosition ShardStream::position() const {
  std::lock_guard lock(s_->m);
  return s_->position;
}

StreamStats ShardStream::stats() const {
  std::lock_guard lock(s_->m);
  return s_->stats;
}

const std::vector<io::ObjectRef>& ShardStream::shards() const { return s_->shards; }

}  // namespace gt::data
