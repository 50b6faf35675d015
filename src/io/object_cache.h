// An on-disk LRU cache of whole remote objects (issue #10: `--cache-dir`, `--cache-size`), so that the second and
// later epochs of a run read shards and media from the local disk instead of the network. Torch-free.
//
//   gt::io::ObjectCache cache("/scratch/gt-cache", gt::io::parse_byte_size("20G", "--cache-size"));
//   if (auto path = cache.find(o.url, o.version, *o.size)) read_local(*path);       // open it at once (see find)
//   else if (auto w = cache.store(o.url, o.version, *o.size)) {
//     download(o, [&](std::string_view chunk) { w->append(chunk); feed(chunk); return true; });
//     w->commit();                                      // false: not cached (disk full, short read); data was fine
//   }
//
// Layout of the folder:
//   <dir>/CACHEDIR.TAG      the marker: the Cache Directory Tagging signature (backup tools skip the folder) and a
//                           line saying it is gemma-tune's cache. The cache only ever deletes files under objects/.
//   <dir>/objects/<sha>     one entry per object: <sha> is the lower-case hex SHA-256 of url + '\n' + version, so a
//                           new version of an object never meets an old entry. Its mtime is its last use.
//   <dir>/objects/<sha>.part.<pid>.<random>   an entry being written by process <pid>; renamed to <sha> only once
//                           complete (fsync'd and of the expected size), so no reader ever sees half an entry.
//
// Folder rules: a folder that does not exist or is empty becomes a cache (marker written first). A non-empty folder
// without gemma-tune's marker is refused with an InputError (the user may have pointed --cache-dir at a folder of
// their own, e.g. one that happens to have an objects/ folder); nothing in it is touched.
//
// Several processes may share one folder. Recency is the entries' mtimes, which every hit and commit sets (to the ns),
// so eviction follows one LRU order across processes: each eviction candidate is looked at on disk first (one used
// elsewhere since is kept, one removed elsewhere is forgotten). Each process keeps its own index of sizes, re-read
// from the folder by a commit at most every 10 s (refresh()), so entries other processes stored count against the
// budget with that delay. Eviction just unlinks: a reader that has an entry open keeps reading it (POSIX). Two processes downloading the same object both write their own partial file and both rename it
// into place; the bytes are the same (same URL and pinned version), the last rename wins.
//
// Budget: max_bytes bounds the complete entries; the partial files of downloads in progress (at most one object per
// writer) come on top of it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace gt::io {

struct ObjectCacheStats {
  int64_t hits = 0;       // find() calls that returned a path
  int64_t misses = 0;     // find() calls that returned nullopt (dropped entries included)
  int64_t stored = 0;     // writers committed into entries
  int64_t evicted = 0;    // entries this process removed to keep within max_bytes
  int64_t refused = 0;    // store() calls that returned nullptr (unversioned, too large, already being written, or
                          // the partial file could not be created)
  int64_t failed = 0;     // writers that failed: a write error (disk full), a wrong byte count, a failed rename
  int64_t dropped = 0;    // entries removed by find() because their file had another size than the object's
  uint64_t bytes_held = 0;  // total size of the entries this process knows of (see refresh())
};

class ObjectCache {
 public:
  // Opens (creating it and its parents) the cache folder `dir`, holding at most max_bytes of entries. Removes partial
  // files left by processes that are gone (or untouched for a day: their pid may have been reused), and files that
  // are not entries (only under <dir>/objects/); indexes existing entries (LRU order from their modification times)
  // and evicts the oldest when they exceed max_bytes (a smaller --cache-size than last time). Throws gt::InputError
  // naming the folder when it cannot be created or written, or is a non-empty folder that is not a cache.
  ObjectCache(std::string dir, uint64_t max_bytes);
  ~ObjectCache();
  ObjectCache(const ObjectCache&) = delete;
  ObjectCache& operator=(const ObjectCache&) = delete;

  // The path of a complete cached copy of the object identified by (url, version) whose size is `size`, or nullopt.
  // A hit refreshes the entry's recency (in memory and its file's mtime, so other processes see it). An entry whose
  // file is missing or has another size is dropped (counted as a miss). The entry may still be evicted (by another
  // thread or process) before the caller opens the path: open it at once and treat a failed open as a miss.
  std::optional<std::string> find(const std::string& url, const std::string& version, uint64_t size);

  // Receives one object's bytes while they are downloaded; used by one thread. Must not outlive its ObjectCache.
  class Writer {
   public:
    ~Writer();  // an uncommitted writer deletes its partial file
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    // Appends to the partial file. Never throws: a write error (disk full), or more bytes than the object's size,
    // makes the writer failed (its partial file is deleted at once, freeing the space) and later appends do nothing.
    void append(std::string_view bytes);
    // Makes the partial file an entry (fsync, then an atomic rename) after checking that exactly `size` bytes were
    // written, then evicts least-recently-used entries until the total fits max_bytes. Returns false, leaving
    // nothing behind, when the writer failed or the byte count differs. A second call returns false.
    bool commit();

    bool failed() const { return failed_; }
    // Why the writer failed ("" while it has not), naming the file, for a warning.
    const std::string& error() const { return error_; }
    uint64_t bytes_written() const { return written_; }

   private:
    friend class ObjectCache;
    Writer(ObjectCache& cache, std::string key, std::string part_path, int fd, uint64_t size);
    void fail(std::string message);  // closes and unlinks the partial file

    ObjectCache& cache_;
    std::string key_;
    std::string part_path_;
    int fd_ = -1;
    uint64_t size_ = 0;
    uint64_t written_ = 0;
    bool failed_ = false;
    bool done_ = false;  // committed (or commit attempted)
    std::string error_;
  };

  // A writer for a new entry, or nullptr when the object cannot be cached: version empty (an unpinned object could
  // change under the same name), size > max_bytes, another thread of this process is already writing the same
  // entry, or the partial file cannot be created (e.g. the disk is full).
  std::unique_ptr<Writer> store(const std::string& url, const std::string& version, uint64_t size);

  // Re-reads the folder now (entries other processes stored, used or removed), then evicts down to max_bytes. A
  // commit does so on its own every 10 s.
  void refresh();

  ObjectCacheStats stats() const;
  const std::string& dir() const { return dir_; }
  uint64_t max_bytes() const { return max_bytes_; }
  // Where the entry of (url, version) lives (whether or not it exists): <dir>/objects/<sha256 hex>.
  std::string entry_path(const std::string& url, const std::string& version) const;

 private:
  struct Impl;
  std::string dir_;
  uint64_t max_bytes_;
  std::unique_ptr<Impl> impl_;
};

// "512M", "20G", "1.5G", "100000" (bytes), "64K", "2T" (binary units: 1K = 1024; K M G T P; case-insensitive; an
// optional trailing B or iB) -> bytes, rounded down to a whole byte. Throws gt::InputError naming `option` and the
// value when malformed, zero, or beyond 2^64 - 1.
uint64_t parse_byte_size(const std::string& value, const std::string& option);

}  // namespace gt::io
