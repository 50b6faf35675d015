// Images and clips that dataset rows name by URL (issue #10): gs:// objects and http(s) URLs, fetched whole through
// ObjectReader (the run's credentials for gs://, none for http(s); retries with backoff; the version pinned) and kept
// in a small in-memory LRU, so that the probe when a row becomes an example and the decode when its batch is built
// fetch the object once. Torch-free; the media decoders (media/image_decode, media/audio_decode) call
// fetch_remote_media for every remote source.
//
// Fetching ahead: a streamed dataset names the media of the rows about to be used (prefetch_remote_media, called by
// data/streaming_batches), and a small pool of threads fetches them into the LRU while the current batch trains. A
// fetch of a URL whose prefetch is under way waits for it rather than fetching twice; a prefetch that failed is
// reported by the fetch that needs the medium (with the same message), not by the pool.
//
// The reader options (endpoint, credentials, the on-disk cache) come from a function set by the command
// (train/run_setup), called once, on the first fetch: a run that names no remote medium never looks for credentials.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "io/object_reader.h"

namespace gt::io {

// "gs://...", "http://..." or "https://..." (any letter case of the scheme): a medium fetched by fetch_remote_media.
bool is_remote_medium(std::string_view source);

struct RemoteMediaOptions {
  size_t cache_bytes = size_t(256) << 20;  // the in-memory LRU's budget (0 = no cache: prefetching is then pointless)
  int prefetch_workers = 4;                // threads of the fetch-ahead pool (0 = no fetching ahead)
};

// Where fetches get their ObjectReaderOptions; without a call, the defaults (emulator variables, anonymous access).
// Clears the LRU and waits for the pool's fetches under way to end.
void set_remote_media_options(std::function<ObjectReaderOptions()> options, RemoteMediaOptions media = {});

// The bytes of the object at `url`: from the LRU, from a prefetch of it under way, or fetched now (thread-safe;
// readers and their connections are reused between fetches). Throws gt::InputError naming the URL when it cannot be read, is empty, or is larger than
// max_bytes.
std::string fetch_remote_media(const std::string& url, uint64_t max_bytes);

// Queues `url` for the fetch-ahead pool (no-op when it is cached, queued or being fetched, or when the pool has 0
// workers). Never throws for the URL's sake: failures are kept for the fetch that needs it. At most 256 URLs wait;
// older ones are dropped beyond that (they are fetched when needed, as without fetching ahead). The pool fetches up to
// kMaxPrefetchBytes; the fetch that uses the medium applies its own bound.
constexpr uint64_t kMaxPrefetchBytes = uint64_t(2) << 30;
void prefetch_remote_media(const std::string& url);

// Blocks until the pool has nothing queued or under way (tests, benchmarks).
void wait_for_remote_media_prefetch();

// Counts so far (tests, logs): objects fetched (by callers or the pool), LRU hits, prefetches that a fetch then found
// done or under way.
struct RemoteMediaStats {
  int64_t fetches = 0;
  int64_t hits = 0;
  int64_t prefetched = 0;     // fetched by the pool
  int64_t prefetch_used = 0;  // fetch_remote_media calls served by a prefetch (done, failed, or waited for)
};
RemoteMediaStats remote_media_stats();

}  // namespace gt::io
