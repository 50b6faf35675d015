// Images and clips that dataset rows name by gs:// URL (issue #10): fetched whole through ObjectReader with the run's
// credentials and kept in a small in-memory LRU, so that the probe when a row becomes an example and the decode when
// its batch is built fetch the object once. Torch-free; the media decoders (media/image_decode, media/audio_decode)
// call fetch_remote_media for gs:// sources.
//
// The reader options (endpoint, credentials) come from a function set by the command (train/run_setup), called once,
// on the first fetch: a run that names no gs:// medium never looks for credentials.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "io/object_reader.h"

namespace gt::io {

// "gs://..." (any letter case of the scheme).
bool is_gcs_url(std::string_view source);

// Where fetches get their ObjectReaderOptions; without a call, the defaults (emulator variables, anonymous access).
// cache_bytes: the LRU's budget (0 = no cache).
void set_remote_media_options(std::function<ObjectReaderOptions()> options, size_t cache_bytes = size_t(256) << 20);

// The bytes of the object at `url`, from the cache or fetched (thread-safe; one reader per thread). Throws
// gt::InputError naming the URL when it cannot be read, is empty, or is larger than max_bytes.
std::string fetch_remote_media(const std::string& url, uint64_t max_bytes);

// Fetches and cache hits so far (tests, logs).
struct RemoteMediaStats {
  int64_t fetches = 0;
  int64_t hits = 0;
};
RemoteMediaStats remote_media_stats();

}  // namespace gt::io
