#include "io/remote_media.h"

#include <cctype>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "core/error.h"

namespace gt::io {
namespace {

struct Shared {
  std::mutex m;
  std::function<ObjectReaderOptions()> make_options;
  std::optional<ObjectReaderOptions> options;  // made on the first fetch
  size_t cache_bytes = size_t(256) << 20;
  int generation = 0;  // bumped by set_remote_media_options: threads rebuild their reader
  // LRU: most recent at the front.
  std::list<std::pair<std::string, std::shared_ptr<const std::string>>> order;
  std::unordered_map<std::string, decltype(order)::iterator> index;
  size_t held = 0;
  RemoteMediaStats stats;
};

Shared& shared() {
  static Shared s;
  return s;
}

struct ThreadReader {
  int generation = -1;
  std::unique_ptr<ObjectReader> reader;
};

ObjectReader& thread_reader() {
  thread_local ThreadReader t;
  Shared& s = shared();
  ObjectReaderOptions options;
  int generation = 0;
  {
    std::lock_guard lock(s.m);
    if (!s.options) s.options = s.make_options ? s.make_options() : ObjectReaderOptions{};
    generation = s.generation;
    if (t.reader && t.generation == generation) return *t.reader;
    options = *s.options;
  }
  t.reader = std::make_unique<ObjectReader>(options);
  t.generation = generation;
  return *t.reader;
}

}  // namespace

bool is_gcs_url(std::string_view source) {
  return source.size() >= 5 && std::tolower(static_cast<unsigned char>(source[0])) == 'g' &&
         std::tolower(static_cast<unsigned char>(source[1])) == 's' && source.substr(2, 3) == "://";
}

void set_remote_media_options(std::function<ObjectReaderOptions()> options, size_t cache_bytes) {
  Shared& s = shared();
  std::lock_guard lock(s.m);
  s.make_options = std::move(options);
  s.options.reset();
  s.cache_bytes = cache_bytes;
  ++s.generation;
  s.order.clear();
  s.index.clear();
  s.held = 0;
}

std::string fetch_remote_media(const std::string& url, uint64_t max_bytes) {
  Shared& s = shared();
  {
    std::lock_guard lock(s.m);
    if (auto it = s.index.find(url); it != s.index.end()) {
      s.order.splice(s.order.begin(), s.order, it->second);  // now the most recent
      ++s.stats.hits;
      return *it->second->second;
    }
  }
  ObjectReader& reader = thread_reader();
  const ObjectRef o = reader.object(url);
  if (o.size && *o.size > max_bytes)
    fail_input(url, ": ", *o.size, " bytes, more than the ", max_bytes, " bytes a medium may have");
  if (o.size && *o.size == 0) fail_input(url, ": the object is empty (0 bytes)");
  std::string bytes;
  if (o.size) bytes.reserve(*o.size);
  reader.read(o, 0, std::nullopt, [&](std::string_view chunk) {
    bytes.append(chunk);
    return bytes.size() <= max_bytes;
  });
  if (bytes.size() > max_bytes) fail_input(url, ": more than the ", max_bytes, " bytes a medium may have");
  auto kept = std::make_shared<const std::string>(bytes);
  std::lock_guard lock(s.m);
  ++s.stats.fetches;
  if (kept->size() <= s.cache_bytes && !s.index.count(url)) {
    s.order.emplace_front(url, kept);
    s.index[url] = s.order.begin();
    s.held += kept->size();
    while (s.held > s.cache_bytes && !s.order.empty()) {
      s.held -= s.order.back().second->size();
      s.index.erase(s.order.back().first);
      s.order.pop_back();
    }
  }
  return bytes;
}

RemoteMediaStats remote_media_stats() {
  Shared& s = shared();
  std::lock_guard lock(s.m);
  return s.stats;
}

}  // namespace gt::io
