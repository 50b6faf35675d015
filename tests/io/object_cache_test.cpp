// The on-disk LRU cache of remote objects (io/object_cache.h): entries appear only complete and byte-exact, LRU
// order survives reopening (file mtimes), partial files of dead processes are cleaned while live ones are kept, damaged
// entries are misses, threads and two caches on one folder never see torn files, and --cache-size parses.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "core/error.h"
#include "io/object_cache.h"
#include "test_util.h"

namespace fs = std::filesystem;
using gt::io::ObjectCache;
using gt::io::parse_byte_size;
using gt::test::error_of;
using gt::test::read_file;
using gt::test::TempDir;
using gt::test::write_file;

namespace {

std::string blob(size_t n, int seed) { return gt::test::patterned_bytes(n, seed); }

// store + append in uneven pieces + commit.
bool put(ObjectCache& cache, const std::string& url, const std::string& version, const std::string& bytes) {
  auto w = cache.store(url, version, bytes.size());
  if (!w) return false;
  for (size_t at = 0; at < bytes.size();) {
    const size_t n = std::min<size_t>(bytes.size() - at, 1 + at % 97);
    w->append(std::string_view(bytes).substr(at, n));
    at += n;
  }
  return w->commit();
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

bool hits(ObjectCache& cache, const std::string& url, const std::string& bytes, const std::string& version = "1") {
  auto p = cache.find(url, version, bytes.size());
  return p && read_file(*p) == bytes;
}

void set_mtime_ago(const fs::path& p, int seconds) {
  fs::last_write_time(p, fs::file_time_type::clock::now() - std::chrono::seconds(seconds));
}

}  // namespace

TEST(ObjectCache, StoreCommitFindRoundTrip) {
  TempDir d("objcache");
  const fs::path dir = d / "nested/cache";  // parents are created
  ObjectCache cache(dir.string(), 1 << 20);
  EXPECT_EQ(cache.dir(), dir.string());
  EXPECT_EQ(cache.max_bytes(), uint64_t(1) << 20);
  EXPECT_TRUE(read_file(dir / "CACHEDIR.TAG").rfind("Signature: 8a477f597d28d172789f06886806bc55\n", 0) == 0);

  const std::string url = "gs://bkt/a.jsonl", version = "1700000000000001", bytes = blob(5000, 1);
  EXPECT_FALSE(cache.find(url, version, bytes.size()));
  ASSERT_TRUE(put(cache, url, version, bytes));
  auto path = cache.find(url, version, bytes.size());
  ASSERT_TRUE(path);
  EXPECT_EQ(read_file(*path), bytes);
  // The entry's name is the SHA-256 of url + '\n' + version (from `printf 'gs://bkt/a.jsonl\n1700000000000001' |
  // sha256sum`).
  EXPECT_EQ(*path, (dir / "objects/f257e49e81f6a83fe627c0fff3dab74c30b2bcfebd8d124a69954fad5936e096").string());
  EXPECT_EQ(cache.entry_path(url, version), *path);
  EXPECT_EQ(names_in(dir / "objects").size(), 1u);

  // An empty object is an entry like any other.
  ASSERT_TRUE(put(cache, "https://h/empty", "etag", ""));
  auto empty = cache.find("https://h/empty", "etag", 0);
  ASSERT_TRUE(empty);
  EXPECT_EQ(read_file(*empty), "");

  const auto s = cache.stats();
  EXPECT_EQ(s.stored, 2);
  EXPECT_EQ(s.hits, 2);
  EXPECT_EQ(s.misses, 1);
  EXPECT_EQ(s.bytes_held, 5000u);
  EXPECT_EQ(s.evicted, 0);
}

TEST(ObjectCache, UncommittedWriterLeavesNothing) {
  TempDir d("objcache");
  ObjectCache cache(d.path().string(), 1 << 20);
  const std::string bytes = blob(3000, 2);
  {
    auto w = cache.store("gs://b/x", "7", bytes.size());
    ASSERT_TRUE(w);
    w->append(bytes.substr(0, 1000));
    // The partial file exists under a name no reader looks up, and this process refuses a second writer of it.
    const auto names = names_in(d / "objects");
    ASSERT_EQ(names.size(), 1u);
    EXPECT_NE(names[0].find(".part." + std::to_string(::getpid()) + "."), std::string::npos) << names[0];
    EXPECT_FALSE(cache.find("gs://b/x", "7", bytes.size()));
    EXPECT_EQ(cache.store("gs://b/x", "7", bytes.size()), nullptr);
  }  // destroyed uncommitted
  EXPECT_TRUE(names_in(d / "objects").empty());
  EXPECT_FALSE(cache.find("gs://b/x", "7", bytes.size()));
  EXPECT_EQ(cache.stats().refused, 1);
  // The key is free again.
  EXPECT_TRUE(put(cache, "gs://b/x", "7", bytes));
  EXPECT_TRUE(hits(cache, "gs://b/x", bytes, "7"));
}

TEST(ObjectCache, WrongByteCountFailsAndLeavesNothing) {
  TempDir d("objcache");
  ObjectCache cache(d.path().string(), 1 << 20);
  const std::string bytes = blob(1000, 3);
  {
    auto w = cache.store("gs://b/short", "1", bytes.size());
    ASSERT_TRUE(w);
    w->append(bytes.substr(0, 999));  // the download stopped one byte early
    EXPECT_FALSE(w->commit());
    EXPECT_TRUE(w->failed());
    EXPECT_NE(w->error().find("received 999 bytes; expected the object's 1000"), std::string::npos) << w->error();
    EXPECT_FALSE(w->commit());
  }
  {
    auto w = cache.store("gs://b/long", "1", bytes.size());
    ASSERT_TRUE(w);
    w->append(bytes);
    w->append("x");  // one byte more than the object has: failed at once, never throws
    EXPECT_TRUE(w->failed());
    EXPECT_TRUE(names_in(d / "objects").empty());  // the partial file went with the failure
    EXPECT_FALSE(w->commit());
  }
  EXPECT_TRUE(names_in(d / "objects").empty());
  EXPECT_FALSE(cache.find("gs://b/short", "1", bytes.size()));
  EXPECT_FALSE(cache.find("gs://b/long", "1", bytes.size()));
  const auto s = cache.stats();
  EXPECT_EQ(s.failed, 2);
  EXPECT_EQ(s.stored, 0);
  EXPECT_EQ(s.bytes_held, 0u);
}

TEST(ObjectCache, OtherVersionMissesAndUnversionedIsRefused) {
  TempDir d("objcache");
  ObjectCache cache(d.path().string(), 1 << 20);
  const std::string v1 = blob(500, 4), v2 = blob(500, 5);
  ASSERT_TRUE(put(cache, "https://h/data.csv", "\"etag-1\"", v1));
  EXPECT_FALSE(cache.find("https://h/data.csv", "\"etag-2\"", v2.size()));
  EXPECT_FALSE(cache.find("https://h/other.csv", "\"etag-1\"", v1.size()));
  ASSERT_TRUE(put(cache, "https://h/data.csv", "\"etag-2\"", v2));
  EXPECT_TRUE(hits(cache, "https://h/data.csv", v1, "\"etag-1\""));
  EXPECT_TRUE(hits(cache, "https://h/data.csv", v2, "\"etag-2\""));
  // No version: the server may replace the object under the same name, so it is never cached.
  EXPECT_EQ(cache.store("https://h/data.csv", "", v1.size()), nullptr);
  EXPECT_EQ(cache.stats().refused, 1);
}

TEST(ObjectCache, EvictsLeastRecentlyUsedFirst) {
  TempDir d("objcache");
  ObjectCache cache(d.path().string(), 300);
  const std::string a = blob(100, 10), b = blob(100, 11), c = blob(100, 12), e = blob(100, 13);
  ASSERT_TRUE(put(cache, "gs://b/a", "1", a));
  ASSERT_TRUE(put(cache, "gs://b/b", "1", b));
  ASSERT_TRUE(put(cache, "gs://b/c", "1", c));
  EXPECT_EQ(cache.stats().evicted, 0);
  EXPECT_TRUE(hits(cache, "gs://b/a", a));  // a is now the most recent: b is the oldest
  ASSERT_TRUE(put(cache, "gs://b/e", "1", e));
  EXPECT_EQ(cache.stats().evicted, 1);
  EXPECT_EQ(cache.stats().bytes_held, 300u);
  EXPECT_FALSE(cache.find("gs://b/b", "1", 100));
  EXPECT_TRUE(hits(cache, "gs://b/c", c));  // order now: a, e, c
  EXPECT_TRUE(hits(cache, "gs://b/a", a));  // e, c, a
  // 200 more bytes: e and c go, a stays.
  const std::string f = blob(200, 14);
  ASSERT_TRUE(put(cache, "gs://b/f", "1", f));
  EXPECT_FALSE(cache.find("gs://b/e", "1", 100));
  EXPECT_FALSE(cache.find("gs://b/c", "1", 100));
  EXPECT_TRUE(hits(cache, "gs://b/a", a));
  EXPECT_TRUE(hits(cache, "gs://b/f", f));
  EXPECT_EQ(cache.stats().evicted, 3);
  EXPECT_EQ(names_in(d / "objects").size(), 2u);
}

TEST(ObjectCache, RefusesObjectLargerThanBudget) {
  TempDir d("objcache");
  ObjectCache cache(d.path().string(), 300);
  ASSERT_TRUE(put(cache, "gs://b/small", "1", blob(100, 20)));
  EXPECT_EQ(cache.store("gs://b/big", "1", 301), nullptr);
  EXPECT_EQ(cache.stats().refused, 1);
  EXPECT_TRUE(hits(cache, "gs://b/small", blob(100, 20)));  // nothing was evicted for it
  // Exactly the budget fits, and pushes out everything else.
  const std::string whole = blob(300, 21);
  ASSERT_TRUE(put(cache, "gs://b/whole", "1", whole));
  EXPECT_FALSE(cache.find("gs://b/small", "1", 100));
  EXPECT_TRUE(hits(cache, "gs://b/whole", whole));
}

TEST(ObjectCache, ReopenedCacheFindsEntriesAndKeepsOrderByMtime) {
  TempDir d("objcache");
  const std::string a = blob(100, 30), b = blob(100, 31), c = blob(100, 32), e = blob(100, 33);
  {
    ObjectCache cache(d.path().string(), 300);
    ASSERT_TRUE(put(cache, "gs://b/a", "1", a));
    ASSERT_TRUE(put(cache, "gs://b/b", "1", b));
    ASSERT_TRUE(put(cache, "gs://b/c", "1", c));
    EXPECT_TRUE(hits(cache, "gs://b/a", a));  // order: b, c, a (in the files' mtimes, set at ns resolution)
  }
  {
    ObjectCache cache(d.path().string(), 300);
    EXPECT_EQ(cache.stats().bytes_held, 300u);
    ASSERT_TRUE(put(cache, "gs://b/e", "1", e));  // b goes
    EXPECT_FALSE(cache.find("gs://b/b", "1", 100));
    EXPECT_TRUE(hits(cache, "gs://b/c", c));
    EXPECT_TRUE(hits(cache, "gs://b/a", a));
    EXPECT_TRUE(hits(cache, "gs://b/e", e));  // order: c, a, e
  }
  {
    // A smaller budget than last time: the oldest entries go at open.
    ObjectCache cache(d.path().string(), 150);
    EXPECT_EQ(cache.stats().evicted, 2);
    EXPECT_EQ(cache.stats().bytes_held, 100u);
    EXPECT_TRUE(hits(cache, "gs://b/e", e));
    EXPECT_FALSE(cache.find("gs://b/c", "1", 100));
    EXPECT_FALSE(cache.find("gs://b/a", "1", 100));
  }
}

TEST(ObjectCache, TwoCachesOnOneFolderShareRecencyAndEntries) {
  TempDir d("objcache");
  // Two cache objects on one folder stand for two processes.
  ObjectCache one(d.path().string(), 300), two(d.path().string(), 300);
  const auto exists = [&](const std::string& url) { return fs::exists(one.entry_path(url, "1")); };
  ASSERT_TRUE(put(one, "gs://b/a", "1", blob(100, 80)));
  ASSERT_TRUE(put(one, "gs://b/b", "1", blob(100, 81)));
  ASSERT_TRUE(put(one, "gs://b/c", "1", blob(100, 82)));
  EXPECT_TRUE(hits(two, "gs://b/a", blob(100, 80)));  // used by the other process: a's mtime is now the newest
  ASSERT_TRUE(put(one, "gs://b/e", "1", blob(100, 83)));
  EXPECT_FALSE(exists("gs://b/b"));  // not a, though a is the oldest in one's own memory
  EXPECT_TRUE(exists("gs://b/a") && exists("gs://b/c") && exists("gs://b/e"));
  EXPECT_EQ(one.stats().evicted, 1);
  // two knows only a and its own f until it reads the folder again; then c, the least recently used, goes.
  ASSERT_TRUE(put(two, "gs://b/f", "1", blob(100, 84)));
  EXPECT_EQ(two.stats().bytes_held, 200u);
  two.refresh();
  EXPECT_FALSE(exists("gs://b/c"));
  EXPECT_TRUE(exists("gs://b/a") && exists("gs://b/e") && exists("gs://b/f"));
  EXPECT_EQ(two.stats().bytes_held, 300u);
  EXPECT_EQ(two.stats().evicted, 1);
  // An entry the other process evicted is a plain miss here.
  EXPECT_FALSE(one.find("gs://b/c", "1", 100));
}

TEST(ObjectCache, OpenRemovesPartialsOfGoneProcessesAndForeignFilesOnly) {
  TempDir d("objcache");
  ObjectCache first(d.path().string(), 1 << 20);
  ASSERT_TRUE(put(first, "gs://b/kept", "1", blob(200, 40)));
  const fs::path objects = d / "objects";
  const std::string key(64, 'a');
  // pid_max is at most 4194304 on Linux, so no process has this pid.
  const fs::path dead = objects / (key + ".part.999999999.1f2e");
  const fs::path other_live = objects / (key + ".part." + std::to_string(::getppid()) + ".77");
  const fs::path stale = objects / (key + ".part." + std::to_string(::getppid()) + ".78");
  // Named with this process's pid but not written by it: an earlier process with the same pid (a container's pid 1).
  const fs::path same_pid_earlier = objects / (key + ".part." + std::to_string(::getpid()) + ".99");
  write_file(dead, "half");
  write_file(other_live, "half");
  write_file(stale, "half");
  set_mtime_ago(stale, 2 * 24 * 3600);
  write_file(same_pid_earlier, "half");
  write_file(objects / "notes.txt", "not an entry");
  write_file(objects / (key + "0"), "65 hex digits: not an entry name");
  write_file(objects / "subdir/file", "x");
  write_file(d / "outside.txt", "the cache never touches files outside objects/");  // after the marker: allowed

  // A download in progress in this process (through the first cache object) while a second one opens the folder.
  auto w = first.store("gs://b/in-progress", "1", 10);
  ASSERT_TRUE(w);
  w->append("01234");
  const std::string live_key = fs::path(first.entry_path("gs://b/in-progress", "1")).filename().string();
  std::string live_part;
  for (const auto& n : names_in(objects))
    if (n.rfind(live_key + ".part.", 0) == 0) live_part = n;
  ASSERT_FALSE(live_part.empty());

  ObjectCache second(d.path().string(), 1 << 20);
  const auto names = names_in(objects);
  const std::set<std::string> left(names.begin(), names.end());
  EXPECT_EQ(left.size(), 3u) << ::testing::PrintToString(names);
  EXPECT_TRUE(left.count(other_live.filename().string()));
  EXPECT_TRUE(left.count(live_part));
  EXPECT_TRUE(left.count(fs::path(first.entry_path("gs://b/kept", "1")).filename().string()));
  EXPECT_TRUE(fs::exists(d / "outside.txt"));
  EXPECT_TRUE(hits(second, "gs://b/kept", blob(200, 40)));
  EXPECT_EQ(second.stats().bytes_held, 200u);

  // The interrupted download still completes into an entry the other cache object finds.
  w->append("56789");
  EXPECT_TRUE(w->commit());
  EXPECT_TRUE(hits(second, "gs://b/in-progress", "0123456789"));
}

TEST(ObjectCache, TruncatedEntryIsDroppedAsMiss) {
  TempDir d("objcache");
  ObjectCache cache(d.path().string(), 1 << 20);
  const std::string bytes = blob(4000, 50);
  ASSERT_TRUE(put(cache, "gs://b/t", "3", bytes));
  const std::string path = cache.entry_path("gs://b/t", "3");
  fs::resize_file(path, 1234);  // a damaged copy (disk trouble, a user's editor)
  EXPECT_FALSE(cache.find("gs://b/t", "3", bytes.size()));
  EXPECT_FALSE(fs::exists(path));
  auto s = cache.stats();
  EXPECT_EQ(s.dropped, 1);
  EXPECT_EQ(s.misses, 1);
  EXPECT_EQ(s.bytes_held, 0u);
  // A file removed behind the cache's back is a plain miss.
  ASSERT_TRUE(put(cache, "gs://b/t", "3", bytes));
  fs::remove(path);
  EXPECT_FALSE(cache.find("gs://b/t", "3", bytes.size()));
  s = cache.stats();
  EXPECT_EQ(s.dropped, 1);
  EXPECT_EQ(s.misses, 2);
  EXPECT_EQ(s.bytes_held, 0u);
}

TEST(ObjectCache, ThreadsAndTwoCachesOnOneFolderNeverSeeTornFiles) {
  TempDir d("objcache");
  // Two cache objects on one folder stand for two processes: their writers of one key do not know of each other.
  ObjectCache one(d.path().string(), 16 * 1024);
  ObjectCache two(d.path().string(), 16 * 1024);
  constexpr int kObjects = 12;
  std::vector<std::string> objects;
  for (int i = 0; i < kObjects; ++i) objects.push_back(blob(1000 + 250 * static_cast<size_t>(i), 60 + i));
  std::atomic<int> torn{0}, served{0}, committed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      ObjectCache& cache = t % 2 ? two : one;
      for (int round = 0; round < 60; ++round) {
        const int i = (round * (t + 1) + t) % kObjects;  // threads meet on the same keys often
        const std::string url = "gs://b/obj-" + std::to_string(i);
        const std::string& bytes = objects[static_cast<size_t>(i)];
        if (auto p = cache.find(url, "1", bytes.size())) {
          const std::string got = read_file(*p);  // "" when evicted before the open: a miss for the caller
          if (!got.empty()) {
            ++served;
            if (got != bytes) ++torn;
          }
          continue;
        }
        if (auto w = cache.store(url, "1", bytes.size())) {
          for (size_t at = 0; at < bytes.size(); at += 300) w->append(std::string_view(bytes).substr(at, 300));
          if (w->commit()) ++committed;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(served.load(), 0);
  EXPECT_GT(committed.load(), 0);
  const auto s1 = one.stats(), s2 = two.stats();
  EXPECT_GT(s1.evicted + s2.evicted, 0);
  EXPECT_EQ(s1.failed + s2.failed, 0);
  // Every file left is a whole entry with its object's bytes; no partial file is left.
  std::map<std::string, const std::string*> by_name;
  for (int i = 0; i < kObjects; ++i)
    by_name[fs::path(one.entry_path("gs://b/obj-" + std::to_string(i), "1")).filename().string()] =
        &objects[static_cast<size_t>(i)];
  for (const auto& n : names_in(d / "objects")) {
    ASSERT_TRUE(by_name.count(n)) << n;
    EXPECT_EQ(read_file(d / "objects" / n), *by_name[n]) << n;
  }
  // Reopened, the folder is within the budget.
  ObjectCache again(d.path().string(), 16 * 1024);
  EXPECT_LE(again.stats().bytes_held, 16u * 1024);
}

TEST(ObjectCache, WriteErrorFailsQuietly) {
  TempDir d("objcache");
  ObjectCache cache(d.path().string(), 1 << 20);
  auto w = cache.store("gs://b/full", "1", 8192);
  ASSERT_TRUE(w);
  // A full disk, simulated by a file size limit: writes past it fail with EFBIG (SIGXFSZ ignored, as it would kill).
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  auto old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 1000;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  const std::string bytes = blob(8192, 70);
  EXPECT_NO_THROW(w->append(std::string_view(bytes).substr(0, 4096)));
  EXPECT_NO_THROW(w->append(std::string_view(bytes).substr(4096)));
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(w->failed());
  EXPECT_NE(w->error().find("cannot write (File too large)"), std::string::npos) << w->error();
  EXPECT_NE(w->error().find((d / "objects").string()), std::string::npos) << w->error();
  EXPECT_FALSE(w->commit());
  EXPECT_TRUE(names_in(d / "objects").empty());
  EXPECT_EQ(cache.stats().failed, 1);
  EXPECT_FALSE(cache.find("gs://b/full", "1", 8192));
}

TEST(ObjectCache, RefusesNonEmptyFolderThatIsNotACache) {
  TempDir d("objcache");
  write_file(d / "thesis.tex", "precious");
  write_file(d / "objects/mine.bin", "also precious");  // an objects/ folder of the user's own
  const std::string err = error_of([&] { ObjectCache cache(d.path().string(), 1 << 20); });
  EXPECT_NE(err.find(d.path().string()), std::string::npos) << err;
  EXPECT_NE(err.find("is not empty and is not a gemma-tune cache"), std::string::npos) << err;
  EXPECT_EQ(read_file(d / "thesis.tex"), "precious");
  EXPECT_EQ(read_file(d / "objects/mine.bin"), "also precious");
  EXPECT_FALSE(fs::exists(d / "CACHEDIR.TAG"));
  // An existing empty folder becomes a cache.
  fs::create_directories(d / "empty");
  ObjectCache ok((d / "empty").string(), 1 << 20);
  EXPECT_TRUE(fs::exists(d / "empty/CACHEDIR.TAG"));
}

TEST(ObjectCache, UnwritableFolderIsInputErrorNamingIt) {
  TempDir d("objcache");
  write_file(d / "plain-file", "x");
  const std::string under_file = (d / "plain-file/cache").string();
  std::string err = error_of([&] { ObjectCache cache(under_file, 1 << 20); });
  EXPECT_NE(err.find(under_file), std::string::npos) << err;
  EXPECT_NE(err.find("cannot create it"), std::string::npos) << err;

  // A cache folder this process may not write (another user's): refused at open, not at the first store.
  const fs::path dir = d / "locked";
  { ObjectCache cache(dir.string(), 1 << 20); }
  fs::permissions(dir / "objects", fs::perms::owner_read | fs::perms::owner_exec);
  const bool enforced = ::access((dir / "objects").c_str(), W_OK) != 0;  // root passes every permission check
  if (enforced) {
    err = error_of([&] { ObjectCache cache(dir.string(), 1 << 20); });
    EXPECT_NE(err.find(dir.string()), std::string::npos) << err;
    EXPECT_NE(err.find("cannot write in it"), std::string::npos) << err;
  }
  fs::permissions(dir / "objects", fs::perms::owner_all);
  if (!enforced) GTEST_SKIP() << "running as root: folder permissions are not enforced (the unwritable path case ran)";
}

TEST(ObjectCache, ParseByteSize) {
  EXPECT_EQ(parse_byte_size("100000", "--cache-size"), 100000u);
  EXPECT_EQ(parse_byte_size("64K", "--cache-size"), 65536u);
  EXPECT_EQ(parse_byte_size("512M", "--cache-size"), 512ull << 20);
  EXPECT_EQ(parse_byte_size("512m", "--cache-size"), 512ull << 20);
  EXPECT_EQ(parse_byte_size("20G", "--cache-size"), 20ull << 30);
  EXPECT_EQ(parse_byte_size("20GB", "--cache-size"), 20ull << 30);
  EXPECT_EQ(parse_byte_size("20gib", "--cache-size"), 20ull << 30);
  EXPECT_EQ(parse_byte_size("1.5G", "--cache-size"), 3ull << 29);
  EXPECT_EQ(parse_byte_size("2T", "--cache-size"), 2ull << 40);
  EXPECT_EQ(parse_byte_size("1P", "--cache-size"), 1ull << 50);
  EXPECT_EQ(parse_byte_size(" 7b ", "--cache-size"), 7u);
  EXPECT_EQ(parse_byte_size(".5K", "--cache-size"), 512u);
  EXPECT_EQ(parse_byte_size("0.1K", "--cache-size"), 102u);  // 102.4, rounded down
  EXPECT_EQ(parse_byte_size("16383.75P", "--cache-size"), (1ull << 63) - (1ull << 48) + (1ull << 63));
  EXPECT_EQ(parse_byte_size("1.0000000000000000000000000000001G", "--cache-size"), 1ull << 30);
  EXPECT_EQ(parse_byte_size("18446744073709551615", "--cache-size"), 18446744073709551615ull);

  for (const char* bad : {"", "G", "abc", "-1G", "1.5.5G", "1e9", "12X", "5 G", "1KBB", "1iB", "0x10", "1,5G"}) {
    const std::string err = error_of([&] { parse_byte_size(bad, "--cache-size"); });
    EXPECT_NE(err.find("--cache-size \"" + std::string(bad) + "\": not a byte size"), std::string::npos) << bad << ": " << err;
  }
  for (const char* zero : {"0", "0G", "0.0001K"})
    EXPECT_NE(error_of([&] { parse_byte_size(zero, "--cache-size"); }).find("must be at least 1 byte"), std::string::npos)
        << zero;
  for (const char* big : {"16384P", "18446744073709551616", "99999999999999999999999999999999T"})
    EXPECT_NE(error_of([&] { parse_byte_size(big, "--cache-size"); }).find("too large"), std::string::npos) << big;
}
