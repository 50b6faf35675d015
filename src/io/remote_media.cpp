#include "io/remote_media.h"

#include <atomic>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <exception>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/error.h"
#include "core/strings.h"

namespace gt::io {
namespace {

constexpr size_t kMaxQueued = 256;  // URLs waiting for the pool, and failures kept for the fetch that needs them

using Bytes = std::shared_ptr<const std::string>;

// A fetch under way; whoever else wants the URL waits for it.
struct Pending {
  bool done = false;
  bool by_pool = false;
  Bytes bytes;
  std::exception_ptr error;
};

struct Shared {
  std::mutex m;
  std::condition_variable changed;  // a fetch ended, a URL was queued, or the pool is asked to stop
  std::function<ObjectReaderOptions()> make_options;
  std::optional<ObjectReaderOptions> options;  // made on the first fetch
  RemoteMediaOptions media;
  int generation = 0;  // bumped by set_remote_media_options: threads rebuild their reader
  // LRU: most recent at the front.
  std::list<std::pair<std::string, Bytes>> order;
  std::unordered_map<std::string, decltype(order)::iterator> index;
  size_t held = 0;
  std::unordered_map<std::string, std::shared_ptr<Pending>> in_flight;
  // The pool: URLs queued (oldest first), failures of its fetches kept until a fetch asks (oldest first).
  std::deque<std::pair<std::string, uint64_t>> queue;
  std::unordered_set<std::string> queued;
  std::deque<std::string> failed_order;
  std::unordered_map<std::string, std::exception_ptr> failed;
  std::vector<std::unique_ptr<ObjectReader>> idle;  // readers not lent out (LentReader)
  std::vector<std::thread> pool;
  std::atomic<bool> stop{false};
  int busy = 0;  // pool threads fetching
  RemoteMediaStats stats;

  ~Shared() { stop_pool(); }

  void stop_pool() {
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(m);
      stop = true;
      queue.clear();
      queued.clear();
      threads.swap(pool);
    }
    changed.notify_all();
    for (std::thread& t : threads) t.join();
    std::lock_guard lock(m);
    stop = false;
  }

  Bytes cached(const std::string& url) {  // under the lock
    const auto it = index.find(url);
    if (it == index.end()) return nullptr;
    order.splice(order.begin(), order, it->second);  // now the most recent
    return it->second->second;
  }

  void keep(const std::string& url, const Bytes& bytes) {  // under the lock
    if (bytes->size() > media.cache_bytes || index.count(url)) return;
    order.emplace_front(url, bytes);
    index[url] = order.begin();
    held += bytes->size();
    while (held > media.cache_bytes && !order.empty()) {
      held -= order.back().second->size();
      index.erase(order.back().first);
      order.pop_back();
    }
  }

  void remember_failure(const std::string& url, std::exception_ptr e) {  // under the lock
    if (!failed.count(url)) failed_order.push_back(url);
    failed[url] = std::move(e);
    while (failed_order.size() > kMaxQueued) {
      failed.erase(failed_order.front());
      failed_order.pop_front();
    }
  }

  // Fetches `url` as a Pending others can wait for, the lock released meanwhile; the result is published (LRU,
  // waiters woken) and the lock held again on return.
  std::shared_ptr<Pending> fetch(std::unique_lock<std::mutex>& lock, const std::string& url, uint64_t max_bytes,
                                 bool by_pool);
  void pool_thread();
};

Shared& shared() {
  static Shared s;
  return s;
}

// Readers (each with its HTTP connection) lent to fetching threads and returned after; dropped, connections closed,
// when the options change, so that no connection outlives the run that opened it.
class LentReader {
 public:
  LentReader() {
    Shared& s = shared();
    std::lock_guard lock(s.m);
    if (!s.options) s.options = s.make_options ? s.make_options() : ObjectReaderOptions{};
    generation_ = s.generation;
    if (!s.idle.empty()) {
      reader_ = std::move(s.idle.back());
      s.idle.pop_back();
    } else {
      options_ = *s.options;
    }
  }
  ~LentReader() {
    Shared& s = shared();
    std::lock_guard lock(s.m);
    if (reader_ && generation_ == s.generation) s.idle.push_back(std::move(reader_));
  }
  ObjectReader& operator*() {
    if (!reader_) reader_ = std::make_unique<ObjectReader>(*options_);
    return *reader_;
  }

 private:
  int generation_ = 0;
  std::optional<ObjectReaderOptions> options_;
  std::unique_ptr<ObjectReader> reader_;
};

// The whole object, read by this thread's reader; abandoned (an error) when the pool is stopped.
Bytes download(const std::string& url, uint64_t max_bytes) {
  LentReader lent;
  ObjectReader& reader = *lent;
  const ObjectRef o = reader.object(url);
  if (o.size && *o.size > max_bytes)
    fail_input(url, ": ", *o.size, " bytes, more than the ", max_bytes, " bytes a medium may have");
  if (o.size && *o.size == 0) fail_input(url, ": the object is empty (0 bytes)");
  std::string bytes;
  if (o.size) bytes.reserve(*o.size);
  const Shared& s = shared();
  const DownloadResult r = reader.read(o, 0, std::nullopt, [&](std::string_view chunk) {
    bytes.append(chunk);
    return bytes.size() <= max_bytes && !s.stop;
  });
  if (bytes.size() > max_bytes) fail_input(url, ": more than the ", max_bytes, " bytes a medium may have");
  if (r.stopped) fail_input(url, ": the fetch was abandoned (the run is ending)");
  if (bytes.empty()) fail_input(url, ": the object is empty (0 bytes)");
  return std::make_shared<const std::string>(std::move(bytes));
}

std::shared_ptr<Pending> Shared::fetch(std::unique_lock<std::mutex>& lock, const std::string& url, uint64_t max_bytes,
                                       bool by_pool) {
  auto p = std::make_shared<Pending>();
  p->by_pool = by_pool;
  in_flight[url] = p;
  lock.unlock();
  Bytes bytes;
  std::exception_ptr error;
  try {
    bytes = download(url, max_bytes);
  } catch (...) {
    error = std::current_exception();
  }
  lock.lock();
  ++stats.fetches;
  p->done = true;
  p->bytes = bytes;
  p->error = error;
  in_flight.erase(url);
  if (bytes) keep(url, bytes);
  changed.notify_all();
  return p;
}

void Shared::pool_thread() {
  std::unique_lock lock(m);
  while (true) {
    changed.wait(lock, [&] { return stop || !queue.empty(); });
    if (stop) return;
    auto [url, max_bytes] = std::move(queue.front());
    queue.pop_front();
    queued.erase(url);
    if (index.count(url) || in_flight.count(url)) continue;
    ++busy;
    const std::shared_ptr<Pending> p = fetch(lock, url, max_bytes, /*by_pool=*/true);
    --busy;
    ++stats.prefetched;
    if (p->error && !stop) remember_failure(url, p->error);
  }
}

}  // namespace

bool is_remote_medium(std::string_view source) {
  return starts_with_ci(source, "gs://") || starts_with_ci(source, "http://") || starts_with_ci(source, "https://");
}

void set_remote_media_options(std::function<ObjectReaderOptions()> options, RemoteMediaOptions media) {
  Shared& s = shared();
  s.stop_pool();
  std::unique_lock lock(s.m);
  s.changed.wait(lock, [&] { return s.in_flight.empty(); });  // callers' fetches under the old options
  s.make_options = std::move(options);
  s.options.reset();
  s.media = media;
  ++s.generation;
  s.idle.clear();
  s.order.clear();
  s.index.clear();
  s.held = 0;
  s.failed.clear();
  s.failed_order.clear();
}

std::string fetch_remote_media(const std::string& url, uint64_t max_bytes) {
  Shared& s = shared();
  std::unique_lock lock(s.m);
  if (Bytes b = s.cached(url)) {
    ++s.stats.hits;
    if (b->size() > max_bytes) fail_input(url, ": more than the ", max_bytes, " bytes a medium may have");
    return *b;
  }
  if (const auto f = s.failed.find(url); f != s.failed.end()) {
    const std::exception_ptr e = f->second;
    s.failed.erase(f);
    ++s.stats.prefetch_used;
    std::rethrow_exception(e);
  }
  if (const auto it = s.in_flight.find(url); it != s.in_flight.end()) {
    const std::shared_ptr<Pending> p = it->second;
    s.changed.wait(lock, [&] { return p->done; });
    if (p->by_pool) {
      ++s.stats.prefetch_used;
      s.failed.erase(url);  // reported here, once
    }
    if (p->error) std::rethrow_exception(p->error);
    if (p->bytes->size() > max_bytes) fail_input(url, ": more than the ", max_bytes, " bytes a medium may have");
    return *p->bytes;
  }
  // Fetched here: a queued prefetch of it becomes a no-op (the pool skips URLs in flight or cached).
  const std::shared_ptr<Pending> p = s.fetch(lock, url, max_bytes, /*by_pool=*/false);
  if (p->error) std::rethrow_exception(p->error);
  return *p->bytes;
}

void prefetch_remote_media(const std::string& url) {
  Shared& s = shared();
  {
    std::lock_guard lock(s.m);
    if (s.media.prefetch_workers <= 0 || s.media.cache_bytes == 0 || s.stop) return;
    if (s.index.count(url) || s.in_flight.count(url) || s.queued.count(url)) return;
    s.queue.emplace_back(url, kMaxPrefetchBytes);
    s.queued.insert(url);
    while (s.queue.size() > kMaxQueued) {
      s.queued.erase(s.queue.front().first);
      s.queue.pop_front();
    }
    while (static_cast<int>(s.pool.size()) < s.media.prefetch_workers) s.pool.emplace_back([&s] { s.pool_thread(); });
  }
  s.changed.notify_all();
}

void wait_for_remote_media_prefetch() {
  Shared& s = shared();
  std::unique_lock lock(s.m);
  s.changed.wait(lock, [&] { return s.queue.empty() && s.busy == 0; });
}

RemoteMediaStats remote_media_stats() {
  Shared& s = shared();
  std::lock_guard lock(s.m);
  return s.stats;
}

}  // namespace gt::io
