// Remote images and clips (io/remote_media.h) on the http stand-in: an http(s) URL is fetched once and then served
// from the in-memory LRU; media handed to the fetch-ahead pool are fetched once even when several threads ask for
// them while the pool works; a prefetch that failed is reported by the fetch that needs the medium (naming the URL
// and the status), once, and a later fetch tries again; the LRU's budget bounds what it keeps.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"
#include "io/http_standin.h"
#include "io/remote_media.h"

using gt::io::fetch_remote_media;
using gt::io::ObjectReaderOptions;
using gt::io::prefetch_remote_media;
using gt::io::remote_media_stats;
using gt::io::RemoteMediaOptions;
using gt::test::HttpStandin;

namespace {

class RemoteMedia : public ::testing::Test {
 protected:
  void SetUp() override { configure({}); }
  void TearDown() override { gt::io::set_remote_media_options({}); }

  void configure(RemoteMediaOptions media) {
    gt::io::set_remote_media_options(
        [] {
          ObjectReaderOptions o;
          o.http.retry.max_attempts = 3;
          o.http.retry.sleep = [](double) {};
          return o;
        },
        media);
  }
  // GET requests per object path (HEADs not counted: they carry no body).
  std::map<std::string, int> gets() const {
    std::map<std::string, int> n;
    for (const auto& r : server.requests())
      if (r.method == "GET") ++n[r.path];
    return n;
  }
  std::string body(int i) const { return "image bytes " + std::to_string(i) + std::string(100 + i, 'x'); }

  HttpStandin server;
};

}  // namespace

TEST_F(RemoteMedia, IsRemoteMediumKnowsTheSchemesInAnyCase) {
  EXPECT_TRUE(gt::io::is_remote_medium("gs://b/a.png"));
  EXPECT_TRUE(gt::io::is_remote_medium("HTTPS://host/a.png"));
  EXPECT_TRUE(gt::io::is_remote_medium("http://host/a.wav"));
  EXPECT_FALSE(gt::io::is_remote_medium("images/gs://a.png"));
  EXPECT_FALSE(gt::io::is_remote_medium("/abs/a.png"));
  EXPECT_FALSE(gt::io::is_remote_medium("bq://p.d.t"));
}

TEST_F(RemoteMedia, AnHttpUrlIsFetchedOnceThenServedFromMemory) {
  server.put_object("/o/a.png", body(1));
  const auto before = remote_media_stats();
  EXPECT_EQ(fetch_remote_media(server.url("/o/a.png"), 1 << 20), body(1));
  EXPECT_EQ(fetch_remote_media(server.url("/o/a.png"), 1 << 20), body(1));
  EXPECT_EQ(gets()["/o/a.png"], 1);
  const auto after = remote_media_stats();
  EXPECT_EQ(after.fetches - before.fetches, 1);
  EXPECT_EQ(after.hits - before.hits, 1);
  // The caller's bound applies to a cached copy too.
  try {
    fetch_remote_media(server.url("/o/a.png"), 10);
    ADD_FAILURE() << "a medium above the bound was returned";
  } catch (const gt::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/o/a.png"), std::string::npos) << e.what();
  }
}

TEST_F(RemoteMedia, PrefetchedMediaAreFetchedOnceWhateverTheThreadsAsking) {
  configure({.cache_bytes = 1 << 20, .prefetch_workers = 3});
  constexpr int kCount = 24;
  for (int i = 0; i < kCount; ++i) server.put_object("/o/m" + std::to_string(i) + ".png", body(i));
  const auto before = remote_media_stats();
  for (int i = 0; i < kCount; ++i) prefetch_remote_media(server.url("/o/m" + std::to_string(i) + ".png"));
  // Four threads ask for every medium at once while the pool is at work: each waits for the fetch under way or
  // takes the cached copy; nobody fetches a medium a second time.
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int k = 0; k < kCount; ++k) {
        const int i = (k + 5 * t) % kCount;
        if (fetch_remote_media(server.url("/o/m" + std::to_string(i) + ".png"), 1 << 20) != body(i)) ++wrong[t];
      }
    });
  for (std::thread& t : threads) t.join();
  gt::io::wait_for_remote_media_prefetch();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
  const std::map<std::string, int> n = gets();
  for (int i = 0; i < kCount; ++i) EXPECT_EQ(n.at("/o/m" + std::to_string(i) + ".png"), 1) << i;
  const auto after = remote_media_stats();
  EXPECT_EQ(after.fetches - before.fetches, kCount);
  // Once the pool is idle, fetching everything again is all hits.
  for (int i = 0; i < kCount; ++i) fetch_remote_media(server.url("/o/m" + std::to_string(i) + ".png"), 1 << 20);
  EXPECT_EQ(remote_media_stats().fetches - before.fetches, kCount);
}

TEST_F(RemoteMedia, PrefetchingAheadFetchesBeforeAnyoneAsks) {
  configure({.cache_bytes = 1 << 20, .prefetch_workers = 2});
  for (int i = 0; i < 5; ++i) server.put_object("/o/p" + std::to_string(i) + ".png", body(i));
  const auto before = remote_media_stats();
  for (int i = 0; i < 5; ++i) prefetch_remote_media(server.url("/o/p" + std::to_string(i) + ".png"));
  gt::io::wait_for_remote_media_prefetch();
  EXPECT_EQ(gets().size(), 5u);
  EXPECT_EQ(remote_media_stats().prefetched - before.prefetched, 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(fetch_remote_media(server.url("/o/p" + std::to_string(i) + ".png"), 1 << 20), body(i));
  EXPECT_EQ(remote_media_stats().hits - before.hits, 5);
  EXPECT_EQ(gets().size(), 5u);
  // Queued again after use: cached, so nothing is fetched.
  prefetch_remote_media(server.url("/o/p0.png"));
  gt::io::wait_for_remote_media_prefetch();
  EXPECT_EQ(gets()["/o/p0.png"], 1);
}

TEST_F(RemoteMedia, AFailedPrefetchIsReportedByTheFetchThatNeedsItThenTriedAgain) {
  configure({.cache_bytes = 1 << 20, .prefetch_workers = 1});
  const std::string url = server.url("/o/missing.png");
  prefetch_remote_media(url);
  gt::io::wait_for_remote_media_prefetch();
  const size_t asked = server.request_count();
  EXPECT_GE(asked, 1u);
  auto message = [&] {
    try {
      fetch_remote_media(url, 1 << 20);
    } catch (const gt::InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const std::string first = message();
  EXPECT_NE(first.find("/o/missing.png"), std::string::npos) << first;
  EXPECT_NE(first.find("404"), std::string::npos) << first;
  EXPECT_EQ(server.request_count(), asked) << "the pool's failure is reported, not fetched again at once";
  // Reported once: the next fetch asks the server again (the object may have appeared).
  server.put_object("/o/missing.png", body(7));
  EXPECT_EQ(fetch_remote_media(url, 1 << 20), body(7));
}

TEST_F(RemoteMedia, TheLruKeepsItsBudgetAndAZeroBudgetFetchesEveryTime) {
  configure({.cache_bytes = 250, .prefetch_workers = 0});  // room for two of the ~115-byte bodies
  for (int i = 0; i < 3; ++i) server.put_object("/o/l" + std::to_string(i) + ".png", body(i));
  auto get = [&](int i) { return fetch_remote_media(server.url("/o/l" + std::to_string(i) + ".png"), 1 << 20); };
  get(0), get(1), get(0), get(2);  // l1 is the least recently used when l2 comes in
  get(0);
  EXPECT_EQ(gets()["/o/l0.png"], 1);
  get(1);
  EXPECT_EQ(gets()["/o/l1.png"], 2);
  configure({.cache_bytes = 0, .prefetch_workers = 4});
  get(2), get(2);
  prefetch_remote_media(server.url("/o/l2.png"));  // pointless without a cache: ignored
  gt::io::wait_for_remote_media_prefetch();
  EXPECT_EQ(gets()["/o/l2.png"], 3);
}
