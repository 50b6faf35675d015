// io::ObjectReader with the disk cache (ObjectReaderOptions::cache, --cache-dir) on the Cloud Storage and http
// stand-ins: a whole read stores the object and later reads of it, whole or ranged, come from the disk byte-identical
// without a request for its bytes; a new generation misses; a read stopped early, a read whose checksum fails, and an
// http object without an ETag leave no entry; an entry removed behind the cache's back is read from the network again.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "core/error.h"
#include "io/gcs_standin.h"
#include "io/http_standin.h"
#include "io/object_cache.h"
#include "io/object_reader.h"
#include "test_util.h"

using gt::io::ObjectCache;
using gt::io::ObjectReader;
using gt::io::ObjectReaderOptions;
using gt::io::ObjectRef;
using gt::test::GcsStandin;
using gt::test::HttpStandin;
using gt::test::TempDir;

namespace {

std::string pattern(size_t n, int seed) { return gt::test::patterned_bytes(n, seed); }

class ObjectReaderCache : public ::testing::Test {
 protected:
  ObjectReaderOptions options() const {
    ObjectReaderOptions o;
    o.http.retry.max_attempts = 3;
    o.http.retry.sleep = [](double) {};
    o.gcs_endpoint = gt::io::GcsEndpoint{gcs.base(), true, "test"};
    o.cache = cache;
    return o;
  }
  // The bytes [begin, end) of `o` as read now.
  std::string read(const ObjectRef& o, uint64_t begin = 0, std::optional<uint64_t> end = std::nullopt) {
    std::string out;
    ObjectReader(options()).read(o, begin, end, [&](std::string_view c) {
      out.append(c);
      return true;
    });
    return out;
  }
  int media_requests() const {
    int n = 0;
    for (const auto& r : gcs.requests()) n += r.target.find("alt=media") != std::string::npos;
    return n;
  }

  TempDir dir{"reader-cache"};
  std::shared_ptr<ObjectCache> cache = std::make_shared<ObjectCache>((dir / "cache").string(), 1 << 20);
  GcsStandin gcs;
};

}  // namespace

TEST_F(ObjectReaderCache, AWholeReadIsStoredAndLaterReadsComeFromTheDisk) {
  const std::string bytes = pattern(300000, 1);
  gcs.put("bkt", "d/train-0.jsonl", bytes);
  const ObjectRef o = ObjectReader(options()).object("gs://bkt/d/train-0.jsonl");
  EXPECT_EQ(read(o), bytes);
  EXPECT_EQ(media_requests(), 1);
  EXPECT_EQ(cache->stats().stored, 1);
  EXPECT_EQ(read(o), bytes);
  EXPECT_EQ(read(o, 1000), bytes.substr(1000));                 // a resumed shard
  EXPECT_EQ(read(o, 5, uint64_t(17)), bytes.substr(5, 12));     // a range
  EXPECT_EQ(media_requests(), 1) << "every later read came from the disk";
  EXPECT_EQ(cache->stats().hits, 3);
  // A new generation is another object: read from the bucket, stored beside the old one.
  const std::string changed = pattern(1000, 2);
  gcs.replace("bkt", "d/train-0.jsonl", changed);
  const ObjectRef o2 = ObjectReader(options()).object("gs://bkt/d/train-0.jsonl");
  EXPECT_EQ(read(o2), changed);
  EXPECT_EQ(media_requests(), 2);
  EXPECT_EQ(cache->stats().stored, 2);
}

TEST_F(ObjectReaderCache, StoppedFailedAndPartialReadsLeaveNoEntry) {
  const std::string bytes = pattern(200000, 3);
  gcs.put("bkt", "d/a.jsonl", bytes);
  const ObjectRef o = ObjectReader(options()).object("gs://bkt/d/a.jsonl");
  // Stopped by the sink after the first chunk (a stream being closed, a CSV header read).
  ObjectReader(options()).read(o, 0, std::nullopt, [](std::string_view) { return false; });
  // A ranged read is not the whole object.
  EXPECT_EQ(read(o, 10), bytes.substr(10));
  // Bytes that do not match the listed checksum: an error after the bytes, and no entry.
  ObjectRef corrupt = o;
  corrupt.gcs.crc32c = GcsStandin::crc32c_b64(bytes + "x");
  EXPECT_THROW(read(corrupt), gt::InputError);
  EXPECT_EQ(cache->stats().stored, 0);
  EXPECT_FALSE(cache->find(o.url, o.version, *o.size));
  // Cut connections are resumed within the read: the entry is whole.
  gcs.set_faults([](GcsStandin::Faults& f) {
    f.drop_after = 70000;
    f.drop_replies = 2;
  });
  EXPECT_EQ(read(o), bytes);
  ASSERT_EQ(cache->stats().stored, 1);
  const auto path = cache->find(o.url, o.version, *o.size);
  ASSERT_TRUE(path);
  EXPECT_EQ(gt::test::read_file(*path), bytes);
  // Removed behind the cache's back: read from the network again (and stored again).
  std::filesystem::remove(*path);
  const int before = media_requests();
  EXPECT_EQ(read(o), bytes);
  EXPECT_EQ(media_requests(), before + 1);
}

TEST_F(ObjectReaderCache, HttpObjectsAreCachedByTheirETagOnly) {
  HttpStandin web;
  web.put_object("/o/tagged.jsonl", pattern(5000, 4), "1", "v1");
  web.put_object("/o/untagged.jsonl", pattern(5000, 5));
  auto gets = [&](const std::string& path) {
    int n = 0;
    for (const auto& r : web.requests()) n += r.method == "GET" && r.path == path;
    return n;
  };
  const ObjectRef tagged = ObjectReader(options()).object(web.url("/o/tagged.jsonl"));
  const ObjectRef untagged = ObjectReader(options()).object(web.url("/o/untagged.jsonl"));
  EXPECT_EQ(tagged.version, "\"v1\"");
  EXPECT_EQ(untagged.version, "");
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(read(tagged), pattern(5000, 4));
    EXPECT_EQ(read(untagged), pattern(5000, 5));
  }
  EXPECT_EQ(gets("/o/tagged.jsonl"), 1);
  EXPECT_EQ(gets("/o/untagged.jsonl"), 2) << "an unversioned object could change under its name: never cached";
}

TEST_F(ObjectReaderCache, LocalFilesAndObjectsAboveTheBudgetAreReadAsIs) {
  const std::string big = pattern((1 << 20) + 1, 6);
  gcs.put("bkt", "d/big.jsonl", big);
  const ObjectRef o = ObjectReader(options()).object("gs://bkt/d/big.jsonl");
  EXPECT_EQ(read(o), big);
  EXPECT_EQ(read(o), big);
  EXPECT_EQ(media_requests(), 2);
  EXPECT_EQ(cache->stats().stored, 0);
  gt::test::write_file(dir / "local.jsonl", "{}\n");
  const ObjectRef local = ObjectReader(options()).object((dir / "local.jsonl").string());
  EXPECT_EQ(read(local), "{}\n");
  EXPECT_EQ(cache->stats().stored, 0);
}
