// Benchmark: the streamed-dataset reader (data/shard_stream.h) over Cloud Storage shards: rows/s and MB/s of reading,
// decompressing and cutting records, and the process's peak memory against the dataset's size and the prefetch
// budget. tools/bench_stream.sh makes the shards, serves them from the stand-in program (build/tests/gcs_standin, a
// separate process, so its copy of the data is not in this one's memory) and runs this.
//
//   STORAGE_EMULATOR_HOST=http://127.0.0.1:PORT bench_stream_read --data 'gs://bkt/set/*' [--workers 4]
//       [--prefetch-mb 64] [--passes 1] [--cache-dir DIR --cache-mb N]
//
// Prints one JSON line: rows, bytes read (as stored) and decoded, seconds, rows_per_s, mb_per_s (stored bytes),
// decoded_mb_per_s, peak_buffered_mb (the queue's high-water mark) and peak_rss_mb (VmHWM of this process). With a
// disk cache (io/object_cache.h, as --cache-dir gives training): each pass's seconds, the cache's hits, stored
// entries and evictions, and the bytes its folder holds at the end.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "core/error.h"
#include "data/shard_stream.h"
#include "io/object_cache.h"
#include "io/object_reader.h"

namespace {

double peak_rss_mb() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;  // kB
  return -1;  // not Linux
}

}  // namespace

int main(int argc, char** argv) {
  std::string data;
  int workers = 4, passes = 1;
  size_t prefetch_mb = 64, cache_mb = 0;
  std::string cache_dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--data") data = v;
    else if (a == "--workers") workers = std::stoi(v);
    else if (a == "--prefetch-mb") prefetch_mb = std::stoul(v);
    else if (a == "--passes") passes = std::stoi(v);
    else if (a == "--cache-dir") cache_dir = v;
    else if (a == "--cache-mb") cache_mb = std::stoul(v);
    else {
      std::cerr << "bench_stream_read: unknown option " << a << "\n";
      return 2;
    }
  }
  if (data.empty()) {
    std::cerr << "usage: bench_stream_read --data gs://bucket/prefix* [--workers N] [--prefetch-mb N] [--passes N] "
                 "[--cache-dir DIR --cache-mb N]\n";
    return 2;
  }
  try {
    gt::io::ObjectReaderOptions options;
    if (!cache_dir.empty()) options.cache = std::make_shared<gt::io::ObjectCache>(cache_dir, uint64_t(cache_mb) << 20);
    const auto shards = gt::io::ObjectReader(options).expand(data);
    std::vector<double> pass_seconds;
    const double rss_before = peak_rss_mb();
    int64_t rows = 0;
    uint64_t bytes = 0, decoded = 0, peak_buffered = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int p = 0; p < passes; ++p) {
      const auto tp = std::chrono::steady_clock::now();
      gt::data::ShardStream stream(shards, {.workers = workers, .prefetch_bytes = prefetch_mb << 20}, {},
                                   [options] { return std::make_unique<gt::io::ObjectReader>(options); });
      while (stream.next()) ++rows;
      const gt::data::StreamStats s = stream.stats();
      bytes += s.bytes_read;
      decoded += s.bytes_decoded;
      peak_buffered = std::max(peak_buffered, s.peak_buffered);
      pass_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - tp).count());
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    nlohmann::json out{{"shards", shards.size()},
                   {"workers", workers},
                   {"prefetch_mb", prefetch_mb},
                   {"rows", rows},
                   {"stored_mb", static_cast<double>(bytes) / 1e6},
                   {"decoded_mb", static_cast<double>(decoded) / 1e6},
                   {"seconds", secs},
                   {"rows_per_s", static_cast<double>(rows) / secs},
                   {"mb_per_s", static_cast<double>(bytes) / 1e6 / secs},
                   {"decoded_mb_per_s", static_cast<double>(decoded) / 1e6 / secs},
                   {"peak_buffered_mb", static_cast<double>(peak_buffered) / (1 << 20)},
                   {"peak_rss_mb_before", rss_before},
                   {"peak_rss_mb", peak_rss_mb()},
                   {"pass_seconds", pass_seconds}};
    if (options.cache) {
      const gt::io::ObjectCacheStats c = options.cache->stats();
      uint64_t held = 0;
      for (const auto& e : std::filesystem::recursive_directory_iterator(cache_dir))
        if (e.is_regular_file()) held += e.file_size();
      out["cache_mb"] = cache_mb;
      out["cache_hits"] = c.hits;
      out["cache_stored"] = c.stored;
      out["cache_evicted"] = c.evicted;
      out["cache_folder_mb"] = static_cast<double>(held) / (1 << 20);
    }
    std::cout << out.dump() << "\n";
  } catch (const gt::InputError& e) {
    std::cerr << "bench_stream_read: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
