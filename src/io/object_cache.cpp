#include "io/object_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/files.h"
#include "core/strings.h"
#include "io/integrity.h"  // defines: sha256_hex

// POSIX calls rather than std::filesystem throughout: parts of std::filesystem were seen to break in binaries linked
// with libtorch's wheels (core/files.h), and this file ends up in the gemma-tune binary.

namespace gt::io {

namespace {

constexpr const char* kMarkerName = "CACHEDIR.TAG";
// The Cache Directory Tagging Specification's signature (https://bford.info/cachedir/): backup tools that honour it
// skip the folder, which only holds copies of remote objects.
constexpr const char* kCacheDirSignature = "Signature: 8a477f597d28d172789f06886806bc55";
// What tells gemma-tune's marker from another program's CACHEDIR.TAG.
constexpr const char* kMarkerWords = "gemma-tune object cache";
constexpr const char* kObjectsFolder = "objects";
// A partial file untouched this long is abandoned whatever its pid says: a live download appends at least every few
// minutes (HttpClient gives up on a transfer stalled for low_speed_time_s), while a pid can be reused by an unrelated
// process, or be another host's when the folder is on a shared file system.
constexpr int64_t kStalePartialNs = int64_t(24) * 3600 * 1000000000;
// How often a commit re-reads the whole folder for entries other processes stored (a scan costs a stat per entry, too
// much for every commit of a cache of many small media files). Evictions check their candidates on disk anyway.
constexpr int64_t kRefreshNs = int64_t(10) * 1000000000;

std::string errno_text(int err) { return std::strerror(err); }

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t mtime_ns(const struct stat& st) { return int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec; }

timespec to_timespec(int64_t ns) {
  timespec t{};
  t.tv_sec = static_cast<time_t>(ns / 1000000000);
  t.tv_nsec = static_cast<long>(ns % 1000000000);
  return t;
}

// Sets a file's mtime to `ns` (atime untouched). Explicit times need the file's owner; a cache shared by several
// users falls back to "now", which any writer may set and which orders the same way up to the clock's granularity.
bool set_mtime(const std::string& path, int64_t ns) {
  timespec times[2] = {{0, UTIME_OMIT}, to_timespec(ns)};
  if (::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0) return true;
  if (errno != EPERM && errno != EACCES) return false;
  times[1] = {0, UTIME_NOW};
  return ::utimensat(AT_FDCWD, path.c_str(), times, 0) == 0;
}

bool is_entry_name(std::string_view name) {
  if (name.size() != 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// "<anything>.part.<pid>.<suffix>" -> pid; nullopt for any other name.
std::optional<long> partial_pid(std::string_view name) {
  const size_t at = name.find(".part.");
  if (at == std::string_view::npos || at == 0) return std::nullopt;
  std::string_view rest = name.substr(at + 6);
  const size_t dot = rest.find('.');
  if (dot == 0 || dot == std::string_view::npos || dot + 1 == rest.size() || dot > 9) return std::nullopt;
  long pid = 0;
  for (char c : rest.substr(0, dot)) {
    if (c < '0' || c > '9') return std::nullopt;
    pid = pid * 10 + (c - '0');
  }
  return pid;
}

std::vector<std::string> list_folder(const std::string& dir, int* err) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    *err = errno;
    return names;
  }
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  ::closedir(d);
  *err = 0;
  return names;
}

// mkdir -p. Returns 0 or the errno of the step that failed.
int make_folders(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
  const size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    if (int err = make_folders(path.substr(0, slash))) return err;
  }
  if (::mkdir(path.c_str(), 0777) == 0 || errno == EEXIST) {
    if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    return ENOTDIR;
  }
  return errno;
}

std::string read_small_file(const std::string& path) {
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n = 0;
  while (out.size() < 65536 && (n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

bool write_all(int fd, std::string_view bytes, int* err) {
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      *err = errno;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string key_of(const std::string& url, const std::string& version) { return sha256_hex(url + '\n' + version); }

// Partial files this process is writing (full paths), over all its ObjectCache objects: the pid in a partial's name
// cannot tell this process's own files from those of an earlier process that had the same pid (a container's
// process is often pid 1 every time), so a folder's cleaning asks here about files named with our pid.
std::mutex g_live_mutex;
std::set<std::string> g_live_partials;

void register_partial(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_live_mutex);
  g_live_partials.insert(path);
}
void unregister_partial(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_live_mutex);
  g_live_partials.erase(path);
}
bool is_live_partial_of_ours(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_live_mutex);
  return g_live_partials.count(path) > 0;
}

}  // namespace

struct ObjectCache::Impl {
  struct Entry {
    uint64_t size = 0;
    int64_t stamp = 0;  // last use, ns since the epoch: the file's mtime
  };

  std::string objects;  // <dir>/objects
  mutable std::mutex mutex;
  std::unordered_map<std::string, Entry> entries;
  uint64_t held = 0;
  std::set<std::string> writing;  // keys with a Writer of this object in progress
  int64_t last_stamp = 0;
  int64_t last_refresh = 0;  // when refresh() last read the folder
  std::mt19937_64 rng{std::random_device{}()};
  ObjectCacheStats stats;

  std::string path_of(const std::string& key) const { return objects + "/" + key; }

  // A recency stamp newer than any this process has seen or set: the realtime clock in ns, forced to increase
  // (file timestamps are only as fine as the kernel's coarse clock, so the stamps are set explicitly).
  int64_t next_stamp() {
    last_stamp = std::max(now_ns(), last_stamp + 1);
    return last_stamp;
  }

  void put(const std::string& key, uint64_t size, int64_t stamp) {
    auto [it, added] = entries.try_emplace(key, Entry{size, stamp});
    if (!added) {
      held -= it->second.size;
      it->second = Entry{size, stamp};
    }
    held += size;
    last_stamp = std::max(last_stamp, stamp);
  }

  void erase(const std::string& key) {
    auto it = entries.find(key);
    if (it == entries.end()) return;
    held -= it->second.size;
    entries.erase(it);
  }

  // Merges the folder's entries into the index: entries stored or used by other processes since (their mtime is newer
  // than ours), entries they evicted (gone). Partial and foreign files are left alone here.
  void refresh() {
    int err = 0;
    const std::vector<std::string> names = list_folder(objects, &err);
    if (err) return;  // keep the index as it is; the next commit tries again
    last_refresh = now_ns();
    std::unordered_map<std::string, Entry> fresh;
    uint64_t total = 0;
    for (const std::string& name : names) {
      if (!is_entry_name(name)) continue;
      struct stat st {};
      if (::lstat(path_of(name).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      int64_t stamp = mtime_ns(st);
      if (auto it = entries.find(name); it != entries.end()) stamp = std::max(stamp, it->second.stamp);
      fresh[name] = Entry{static_cast<uint64_t>(st.st_size), stamp};
      total += static_cast<uint64_t>(st.st_size);
      last_stamp = std::max(last_stamp, stamp);
    }
    entries = std::move(fresh);
    held = total;
  }

  // Unlinks least-recently-used entries (never `keep`) until the entries fit max_bytes. Each candidate is looked at
  // on disk first: one that another process used since (a newer mtime than ours) is kept with its new recency, one
  // that is gone (evicted elsewhere) is forgotten.
  void evict(uint64_t max_bytes, const std::string& keep) {
    // A second pass in the rare case that the first one found every candidate used elsewhere since.
    for (int pass = 0; pass < 2 && held > max_bytes; ++pass) {
      std::vector<std::pair<int64_t, std::string>> order;
      order.reserve(entries.size());
      for (const auto& [key, e] : entries)
        if (key != keep) order.emplace_back(e.stamp, key);
      std::sort(order.begin(), order.end());
      for (const auto& [stamp, key] : order) {
        if (held <= max_bytes) break;
        const std::string path = path_of(key);
        struct stat st {};
        if (::lstat(path.c_str(), &st) != 0) {
          erase(key);
          continue;
        }
        if (mtime_ns(st) > stamp) {
          entries[key].stamp = mtime_ns(st);
          last_stamp = std::max(last_stamp, mtime_ns(st));
          continue;
        }
        // A reader that has the file open keeps reading it. A file that cannot be unlinked is forgotten all the
        // same, so that eviction ends.
        if (::unlink(path.c_str()) == 0) ++stats.evicted;
        erase(key);
      }
    }
  }
};

// ---------------------------------------------------------------------------------------------------------------------
// Opening a folder

ObjectCache::ObjectCache(std::string dir, uint64_t max_bytes)
    : dir_(std::move(dir)), max_bytes_(max_bytes), impl_(std::make_unique<Impl>()) {
  while (dir_.size() > 1 && dir_.back() == '/') dir_.pop_back();
  const std::string where = cat("object cache folder ", quote(dir_, 400), " (--cache-dir)");
  if (dir_.empty()) fail_input("object cache folder (--cache-dir): empty path; expected a folder");
  if (int err = make_folders(dir_))
    fail_input(where, ": cannot create it (", errno_text(err), "); expected a folder gemma-tune can create and write");

  // Claim the folder: an empty one gets our marker (written before anything else, so that another process opening
  // the same new folder at the same moment sees either nothing or the marker); a non-empty one must have it.
  const std::string marker = dir_ + "/" + kMarkerName;
  const auto marker_is_ours = [&] {
    const std::string text = read_small_file(marker);
    return starts_with(text, kCacheDirSignature) && text.find(kMarkerWords) != std::string::npos;
  };
  for (int attempt = 0;; ++attempt) {
    if (marker_is_ours()) break;
    int err = 0;
    std::vector<std::string> names = list_folder(dir_, &err);
    if (err) fail_input(where, ": cannot list it (", errno_text(err), ")");
    std::sort(names.begin(), names.end());
    const auto other = std::find_if(names.begin(), names.end(), [](const std::string& n) { return n != kMarkerName; });
    if (other != names.end())
      fail_input(where, " is not empty and is not a gemma-tune cache (it has no ", kMarkerName,
                 " written by gemma-tune; found ", quote(*other), "); expected a new or empty folder, or one gemma-tune "
                 "made before. Nothing in it was changed");
    if (!names.empty()) {
      // Only a CACHEDIR.TAG that is not ours (yet): another process may be writing it this instant.
      if (attempt >= 50)
        fail_input(where, " has a ", kMarkerName, " that gemma-tune did not write (another program's cache?); "
                   "expected a new or empty folder, or one gemma-tune made before. Nothing in it was changed");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    const int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
      if (errno == EEXIST) continue;  // another process won the race: read its marker
      fail_input(where, ": cannot write in it (", errno_text(errno), " creating ", kMarkerName,
                 "); expected a folder gemma-tune can write");
    }
    const std::string text = cat(kCacheDirSignature, "\n# This folder is a ", kMarkerWords,
                                 " (--cache-dir): copies of remote dataset objects in objects/,\n"
                                 "# each named by the SHA-256 of its URL and version. Deleting the folder is safe while "
                                 "no gemma-tune run uses it.\n");
    int werr = 0;
    const bool ok = write_all(fd, text, &werr);
    ::close(fd);
    if (!ok) {
      ::unlink(marker.c_str());
      fail_input(where, ": cannot write in it (", errno_text(werr), " writing ", kMarkerName, ")");
    }
    break;
  }

  impl_->objects = dir_ + "/" + kObjectsFolder;
  const std::string& objects = impl_->objects;
  if (::mkdir(objects.c_str(), 0777) != 0 && errno != EEXIST)
    fail_input(where, ": cannot create ", quote(objects, 400), " (", errno_text(errno), ")");
  struct stat st {};
  if (::stat(objects.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    fail_input(where, ": ", quote(objects, 400), " is not a folder; expected the cache's folder of entries");

  // Can this process write here? (An existing cache may belong to another user or sit on a read-only mount.) The
  // probe is named like a partial file of this process, so that a cleaning process beside us leaves it alone.
  {
    const std::string probe = cat(objects, "/probe.part.", ::getpid(), ".", std::hex, impl_->rng());
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
      fail_input(where, ": cannot write in it (", errno_text(errno), " creating a file in ", quote(objects, 400),
                 "); expected a folder gemma-tune can write");
    ::close(fd);
    ::unlink(probe.c_str());
  }

  // Clean and index objects/: entries are indexed; partial files of processes that are gone are removed; anything
  // else (not a name this cache writes) is removed, since only this cache writes under objects/.
  int err = 0;
  const std::vector<std::string> names = list_folder(objects, &err);
  if (err) fail_input(where, ": cannot list ", quote(objects, 400), " (", errno_text(err), ")");
  const int64_t now = now_ns();
  const long self = static_cast<long>(::getpid());
  std::lock_guard<std::mutex> lock(impl_->mutex);
  for (const std::string& name : names) {
    const std::string path = objects + "/" + name;
    if (::lstat(path.c_str(), &st) != 0) continue;  // gone meanwhile (another process)
    if (is_entry_name(name) && S_ISREG(st.st_mode)) {
      impl_->put(name, static_cast<uint64_t>(st.st_size), mtime_ns(st));
      continue;
    }
    if (auto pid = partial_pid(name); pid && S_ISREG(st.st_mode)) {
      bool alive;
      if (*pid == self)
        alive = is_live_partial_of_ours(path);  // else an earlier process with our pid left it
      else
        alive = *pid > 0 && (::kill(static_cast<pid_t>(*pid), 0) == 0 || errno == EPERM);
      if (alive && now - mtime_ns(st) < kStalePartialNs) continue;
      ::unlink(path.c_str());
      continue;
    }
    try {
      remove_tree(path);  // does not follow symbolic links
    } catch (const InputError&) {
      // Left in place: it does not count as an entry, and cannot be served.
    }
  }
  impl_->last_refresh = now_ns();
  impl_->evict(max_bytes_, "");
}

void ObjectCache::refresh() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->refresh();
  impl_->evict(max_bytes_, "");
}

ObjectCache::~ObjectCache() = default;

std::string ObjectCache::entry_path(const std::string& url, const std::string& version) const {
  return impl_->path_of(key_of(url, version));
}

// ---------------------------------------------------------------------------------------------------------------------
// Finding

std::optional<std::string> ObjectCache::find(const std::string& url, const std::string& version, uint64_t size) {
  const std::string key = key_of(url, version);
  const std::string path = impl_->path_of(key);
  std::lock_guard<std::mutex> lock(impl_->mutex);
  struct stat st {};
  // Looked up on disk, not only in the index: another process may have stored or evicted it since.
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    impl_->erase(key);
    ++impl_->stats.misses;
    return std::nullopt;
  }
  if (static_cast<uint64_t>(st.st_size) != size) {
    // Damaged (truncated by hand, a disk error) or left by a buggy writer: never serve it.
    ::unlink(path.c_str());
    impl_->erase(key);
    ++impl_->stats.dropped;
    ++impl_->stats.misses;
    return std::nullopt;
  }
  const int64_t stamp = impl_->next_stamp();
  if (!set_mtime(path, stamp) && errno == ENOENT) {  // evicted by another process this instant
    impl_->erase(key);
    ++impl_->stats.misses;
    return std::nullopt;
  }
  impl_->put(key, size, stamp);
  ++impl_->stats.hits;
  return path;
}

// ---------------------------------------------------------------------------------------------------------------------
// Storing

std::unique_ptr<ObjectCache::Writer> ObjectCache::store(const std::string& url, const std::string& version,
                                                        uint64_t size) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (version.empty() || size > max_bytes_) {
    ++impl_->stats.refused;
    return nullptr;
  }
  const std::string key = key_of(url, version);
  if (impl_->writing.count(key)) {
    ++impl_->stats.refused;
    return nullptr;
  }
  for (int attempt = 0; attempt < 4; ++attempt) {
    const std::string part = cat(impl_->path_of(key), ".part.", ::getpid(), ".", std::hex, impl_->rng());
    register_partial(part);  // before the file exists, so that no cleaning in this process removes it
    const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) {
      impl_->writing.insert(key);
      return std::unique_ptr<Writer>(new Writer(*this, key, part, fd, size));
    }
    const int err = errno;
    unregister_partial(part);
    if (err != EEXIST) break;
  }
  ++impl_->stats.refused;
  return nullptr;
}

ObjectCache::Writer::Writer(ObjectCache& cache, std::string key, std::string part_path, int fd, uint64_t size)
    : cache_(cache), key_(std::move(key)), part_path_(std::move(part_path)), fd_(fd), size_(size) {}

ObjectCache::Writer::~Writer() {
  if (fd_ >= 0) ::close(fd_);
  if (!part_path_.empty()) {
    ::unlink(part_path_.c_str());
    unregister_partial(part_path_);
  }
  if (!done_) {
    std::lock_guard<std::mutex> lock(cache_.impl_->mutex);
    cache_.impl_->writing.erase(key_);
  }
}

void ObjectCache::Writer::fail(std::string message) {
  if (failed_) return;
  failed_ = true;
  error_ = std::move(message);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!part_path_.empty()) {
    ::unlink(part_path_.c_str());  // frees the space at once (a full disk)
    unregister_partial(part_path_);
    part_path_.clear();
  }
  std::lock_guard<std::mutex> lock(cache_.impl_->mutex);
  ++cache_.impl_->stats.failed;
}

void ObjectCache::Writer::append(std::string_view bytes) {
  if (failed_ || done_ || bytes.empty()) return;
  if (bytes.size() > size_ - written_) {
    fail(cat(part_path_, ": received more than the object's ", size_, " bytes (", written_ + bytes.size(),
             " so far); not cached"));
    return;
  }
  int err = 0;
  if (!write_all(fd_, bytes, &err)) {
    fail(cat(part_path_, ": cannot write (", errno_text(err), "); the object is not cached"));
    return;
  }
  written_ += bytes.size();
}

bool ObjectCache::Writer::commit() {
  if (done_) return false;
  Impl& impl = *cache_.impl_;
  const auto finish = [&] {
    done_ = true;
    std::lock_guard<std::mutex> lock(impl.mutex);
    impl.writing.erase(key_);
  };
  if (!failed_ && written_ != size_)
    fail(cat(part_path_, ": received ", written_, " bytes; expected the object's ", size_, "; not cached"));
  // On disk before it is named: after a crash, an entry of the right size must not hold blocks never written.
  if (!failed_ && ::fsync(fd_) != 0) fail(cat(part_path_, ": cannot write (", errno_text(errno), " on fsync)"));
  if (failed_) {
    finish();
    return false;
  }
  int64_t stamp;
  {
    std::lock_guard<std::mutex> lock(impl.mutex);
    stamp = impl.next_stamp();
  }
  const timespec times[2] = {{0, UTIME_OMIT}, to_timespec(stamp)};
  ::futimens(fd_, times);  // recency: newest; a failure only makes it look older
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail(cat(part_path_, ": cannot write (", errno_text(errno), " on close)"));
  const std::string entry = impl.path_of(key_);
  if (!failed_ && ::rename(part_path_.c_str(), entry.c_str()) != 0)
    fail(cat(part_path_, ": cannot rename it to ", entry, " (", errno_text(errno), ")"));
  if (failed_) {
    finish();
    return false;
  }
  unregister_partial(part_path_);
  part_path_.clear();
  done_ = true;
  std::lock_guard<std::mutex> lock(impl.mutex);
  impl.writing.erase(key_);
  // Entries other processes stored count against the budget too; learnt every kRefreshNs.
  if (now_ns() - impl.last_refresh >= kRefreshNs) impl.refresh();
  if (auto it = impl.entries.find(key_); it != impl.entries.end()) stamp = std::max(stamp, it->second.stamp);
  impl.put(key_, size_, stamp);
  ++impl.stats.stored;
  impl.evict(cache_.max_bytes_, key_);
  return true;
}

ObjectCacheStats ObjectCache::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  ObjectCacheStats s = impl_->stats;
  s.bytes_held = impl_->held;
  return s;
}

// ---------------------------------------------------------------------------------------------------------------------
// --cache-size

uint64_t parse_byte_size(const std::string& value, const std::string& option) {
  const std::string s = trim(value);
  const auto malformed = [&]() {
    fail_input(option, " ", quote(value), ": not a byte size; expected a number with an optional binary unit K, M, G, "
               "T or P (1K = 1024 bytes; B or iB may follow), e.g. 512M, 20G, 1.5G or 100000");
  };
  size_t i = 0;
  std::string int_digits, frac_digits;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') int_digits += s[i++];
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') frac_digits += s[i++];
  }
  if (int_digits.empty() && frac_digits.empty()) malformed();
  std::string unit;
  for (; i < s.size(); ++i) unit += static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
  int shift = 0;
  if (!unit.empty()) {
    static const std::string letters = "kmgtp";
    size_t u = 0;
    if (const size_t at = letters.find(unit[0]); at != std::string::npos) {
      shift = 10 * static_cast<int>(at + 1);
      u = 1;
    }
    const std::string tail = unit.substr(u);
    const bool ok = tail.empty() ? u == 1 : (tail == "b" || (u == 1 && tail == "ib"));
    if (!ok) malformed();
  }
  // Integer arithmetic: int_part * 2^shift + floor(fraction * 2^shift / 10^digits). Fraction digits past the 18th
  // are dropped (a round-down of at most 2^50 / 10^18 bytes), so every product fits 128 bits.
  const auto too_large = [&]() {
    fail_input(option, " ", quote(value), ": too large; expected at most 2^64 - 1 bytes (16E)");
  };
  int_digits.erase(0, std::min(int_digits.find_first_not_of('0'), int_digits.size()));
  if (int_digits.size() > 20) too_large();  // >= 10^20 > 2^64 whatever the unit
  if (frac_digits.size() > 18) frac_digits.resize(18);
  unsigned __int128 whole = 0, frac = 0, scale = 1;
  for (char c : int_digits) whole = whole * 10 + static_cast<unsigned>(c - '0');
  for (char c : frac_digits) {
    frac = frac * 10 + static_cast<unsigned>(c - '0');
    scale *= 10;
  }
  const unsigned __int128 bytes = (whole << shift) + (frac << shift) / scale;  // < 2^71 * 2^50 + 2^110: no overflow
  if (bytes > static_cast<unsigned __int128>(UINT64_MAX)) too_large();
  if (bytes == 0) fail_input(option, " ", quote(value), ": must be at least 1 byte");
  return static_cast<uint64_t>(bytes);
}

}  // namespace gt::io
