// The libcurl client against a local stand-in server: byte-exact whole and ranged downloads, resume after dropped
// connections (each byte once), retries of 503/429 bursts, final errors naming URL and status, 404 not retried,
// an object replaced mid-read, 200 replies to whole-object reads, stalls, JSON calls; and the backoff schedule.
// Sleeps are injected as no-ops (or recorders), so every test runs in well under 2 s.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "io/http_client.h"
#include "io/http_standin.h"
#include "test_util.h"

using gt::io::DownloadOptions;
using gt::io::DownloadResult;
using gt::io::HttpClient;
using gt::io::HttpOptions;
using gt::io::RetryPolicy;
using gt::test::HttpStandin;

namespace {

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t v = rng();
    for (size_t k = 0; k < 8 && i + k < n; ++k) s[i + k] = char(v >> (8 * k));
  }
  return s;
}

// Options with a recorded no-op sleep and a fixed seed.
HttpOptions fast_options(std::vector<double>* sleeps = nullptr, int max_attempts = 8) {
  HttpOptions o;
  o.retry.seed = 42;
  o.retry.max_attempts = max_attempts;
  o.retry.sleep = [sleeps](double s) {
    if (sleeps) sleeps->push_back(s);
  };
  return o;
}

struct Fetched {
  std::string data;
  DownloadResult result;
  size_t chunks = 0;
};

Fetched fetch(HttpClient& http, const std::string& url, uint64_t begin = 0, std::optional<uint64_t> end = std::nullopt,
              const DownloadOptions& options = {}) {
  Fetched f;
  f.result = http.download(
      url, {{"Authorization", "Bearer secret-token"}}, begin, end,
      [&](std::string_view chunk) {
        f.data.append(chunk);
        ++f.chunks;
        return true;
      },
      options);
  return f;
}

}  // namespace

TEST(RetryPolicy, BackoffIsFullJitterDeterministicWithASeedAndCapped) {
  RetryPolicy p;
  p.seed = 7;
  // Caps: 0.5 * 2^attempt, truncated at 32 s.
  EXPECT_DOUBLE_EQ(p.backoff_cap_seconds(0), 0.5);
  EXPECT_DOUBLE_EQ(p.backoff_cap_seconds(3), 4.0);
  EXPECT_DOUBLE_EQ(p.backoff_cap_seconds(6), 32.0);
  EXPECT_DOUBLE_EQ(p.backoff_cap_seconds(1000), 32.0);  // no overflow
  auto rng1 = p.make_rng(), rng2 = p.make_rng();
  std::vector<double> a, b;
  for (int i = 0; i < 12; ++i) a.push_back(p.backoff_seconds(i, rng1));
  for (int i = 0; i < 12; ++i) b.push_back(p.backoff_seconds(i, rng2));
  EXPECT_EQ(a, b);  // same seed, same schedule
  for (int i = 0; i < 12; ++i) {
    EXPECT_GE(a[i], 0.0);
    EXPECT_LT(a[i], p.backoff_cap_seconds(i)) << "attempt " << i;
  }
  // Full jitter: over many draws the mean is half the cap and values spread over the whole interval.
  double sum = 0, lo = 1e9, hi = 0;
  for (int i = 0; i < 4000; ++i) {
    const double v = p.backoff_seconds(10, rng1);
    sum += v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_NEAR(sum / 4000, 16.0, 1.0);
  EXPECT_LT(lo, 1.0);
  EXPECT_GT(hi, 31.0);
  RetryPolicy other = p;
  other.seed = 8;
  auto rng3 = other.make_rng();
  EXPECT_NE(other.backoff_seconds(5, rng3), a[5]);
  // A different cap and multiplier.
  p.initial_s = 1;
  p.multiplier = 3;
  p.max_s = 10;
  EXPECT_DOUBLE_EQ(p.backoff_cap_seconds(2), 9.0);
  EXPECT_DOUBLE_EQ(p.backoff_cap_seconds(3), 10.0);
}

TEST(RetryPolicy, RetryableStatuses) {
  for (int s : {408, 429, 500, 502, 503, 504, 599}) EXPECT_TRUE(gt::io::retryable_status(s)) << s;
  for (int s : {200, 206, 301, 400, 401, 403, 404, 412, 416, 600}) EXPECT_FALSE(gt::io::retryable_status(s)) << s;
}

TEST(HttpClient, WholeAndRangedDownloadsAreByteExact) {
  HttpStandin server;
  const std::string obj = random_bytes(300000, 1);
  server.put_object("/o/a.bin", obj, "17");
  HttpClient http(fast_options());
  Fetched whole = fetch(http, server.url("/o/a.bin"));
  EXPECT_TRUE(whole.data == obj);
  EXPECT_EQ(whole.result.bytes, obj.size());
  EXPECT_EQ(whole.result.requests, 1);
  EXPECT_EQ(whole.result.first_reply.status, 200);
  EXPECT_EQ(whole.result.first_reply.header("X-Goog-Generation"), "17");
  EXPECT_EQ(whole.result.object_size, obj.size());
  Fetched part = fetch(http, server.url("/o/a.bin"), 1000, 251234);
  EXPECT_TRUE(part.data == obj.substr(1000, 250234));
  EXPECT_EQ(part.result.first_reply.status, 206);
  EXPECT_EQ(part.result.object_size, obj.size());
  Fetched tail = fetch(http, server.url("/o/a.bin"), 299990);
  EXPECT_EQ(tail.data, obj.substr(299990));
  Fetched past_end = fetch(http, server.url("/o/a.bin"), 299000, 400000);  // stops at the object's end
  EXPECT_EQ(past_end.data, obj.substr(299000));
  EXPECT_EQ(fetch(http, server.url("/o/a.bin"), 5, 5).result.requests, 0);
  const auto log = server.requests();
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0].range, "");  // a whole object asks for no range
  EXPECT_EQ(log[1].range, "bytes=1000-251233");
  EXPECT_EQ(log[2].range, "bytes=299990-");
  EXPECT_EQ(log[3].range, "bytes=299000-399999");
  EXPECT_EQ(log[0].headers.find("Authorization")->second, "Bearer secret-token");
  server.put_object("/o/empty", "");
  Fetched empty = fetch(http, server.url("/o/empty"));
  EXPECT_EQ(empty.data, "");
  EXPECT_EQ(empty.result.object_size, 0u);
}

TEST(HttpClient, ResumesAfterDroppedConnectionsDeliveringEachByteOnce) {
  HttpStandin server;
  const size_t size = 20 << 20, drop = 3 << 20;
  const std::string obj = random_bytes(size, 2);
  server.put_object("/o/big.bin", obj, "5");
  server.set_faults([&](HttpStandin::Faults& f) { f.drop_after = drop; });
  std::vector<double> sleeps;
  HttpClient http(fast_options(&sleeps, 3));  // progress resets the failure count, so 3 attempts are plenty
  Fetched got = fetch(http, server.url("/o/big.bin"), 0, std::nullopt, {.pin_header = "x-goog-generation"});
  EXPECT_EQ(got.data.size(), size);
  EXPECT_TRUE(got.data == obj) << "bytes differ";
  const int expected_requests = int((size + drop - 1) / drop);  // 7
  EXPECT_EQ(got.result.requests, expected_requests);
  EXPECT_EQ(got.result.pinned_value, "5");
  EXPECT_EQ(sleeps.size(), size_t(expected_requests - 1));
  const auto log = server.requests();
  ASSERT_EQ(log.size(), size_t(expected_requests));
  EXPECT_EQ(log[0].range, "");
  for (int i = 1; i < expected_requests; ++i) EXPECT_EQ(log[i].range, "bytes=" + std::to_string(i * drop) + "-");
  // A range resumes within its bounds.
  Fetched part = fetch(http, server.url("/o/big.bin"), 1, 7000001);
  EXPECT_TRUE(part.data == obj.substr(1, 7000000));
  EXPECT_EQ(part.result.requests, 3);
}

TEST(HttpClient, RetriesBurstsOf503And429ThenSucceeds) {
  HttpStandin server;
  const std::string obj = random_bytes(5000, 3);
  server.put_object("/o/a", obj);
  server.set_faults([](HttpStandin::Faults& f) { f.fail_next = 3; });
  std::vector<double> sleeps;
  HttpClient http(fast_options(&sleeps));
  Fetched got = fetch(http, server.url("/o/a"), 10);
  EXPECT_EQ(got.data, obj.substr(10));
  EXPECT_EQ(got.result.requests, 4);
  ASSERT_EQ(sleeps.size(), 3u);
  // The waits are the seeded full-jitter schedule for failures 0, 1, 2.
  RetryPolicy p = http.options().retry;
  auto rng = p.make_rng();
  for (int i = 0; i < 3; ++i) EXPECT_DOUBLE_EQ(sleeps[i], p.backoff_seconds(i, rng));
  server.set_faults([](HttpStandin::Faults& f) {
    f.fail_next = 2;
    f.fail_status = 429;
  });
  EXPECT_EQ(fetch(http, server.url("/o/a")).data, obj);
  EXPECT_EQ(server.request_count(), 4u + 3u);
}

TEST(HttpClient, ExhaustedRetriesNameTheUrlStatusAndMessage) {
  HttpStandin server;
  server.put_object("/o/a", "abc");
  server.set_faults([](HttpStandin::Faults& f) { f.fail_next = 100; });
  HttpClient http(fast_options(nullptr, 3));
  const std::string err = gt::test::error_of([&] { fetch(http, server.url("/o/a?alt=media&X-Goog-Signature=abc123")); });
  EXPECT_NE(err.find(server.url("/o/a?alt=media&X-Goog-Signature=REDACTED")), std::string::npos) << err;
  EXPECT_EQ(err.find("abc123"), std::string::npos) << err;
  EXPECT_NE(err.find("HTTP 503"), std::string::npos) << err;
  EXPECT_NE(err.find("backend unavailable, try again"), std::string::npos) << err;
  EXPECT_NE(err.find("3 request(s)"), std::string::npos) << err;
  EXPECT_EQ(err.find("secret-token"), std::string::npos) << err;
  EXPECT_EQ(server.request_count(), 3u);
}

TEST(HttpClient, NotFoundAndForbiddenAreNotRetried) {
  HttpStandin server;
  HttpClient http(fast_options());
  const std::string err = gt::test::error_of([&] { fetch(http, server.url("/o/missing")); });
  EXPECT_NE(err.find(server.url("/o/missing")), std::string::npos) << err;
  EXPECT_NE(err.find("HTTP 404 (not retried)"), std::string::npos) << err;
  EXPECT_NE(err.find("No such object"), std::string::npos) << err;
  EXPECT_EQ(server.request_count(), 1u);
  server.put_object("/o/a", "abc");
  server.set_faults([](HttpStandin::Faults& f) {
    f.fail_next = 1;
    f.fail_status = 403;
    f.fail_body = "denied";
  });
  EXPECT_NE(gt::test::error_of([&] { fetch(http, server.url("/o/a")); }).find("HTTP 403"), std::string::npos);
  EXPECT_EQ(server.request_count(), 2u);
  // The error carries the status for callers that react to it (a vanished Cloud Storage generation is a 404).
  try {
    fetch(http, server.url("/o/missing"));
    ADD_FAILURE() << "no error";
  } catch (const gt::io::HttpError& e) {
    EXPECT_EQ(e.status, 404);
    EXPECT_FALSE(e.changed);
  }
}

TEST(HttpClient, AnObjectReplacedWhileBeingReadIsAnError) {
  HttpStandin server;
  const std::string obj = random_bytes(10000, 4);
  server.put_object("/o/a", obj, "100");
  server.set_faults([&](HttpStandin::Faults& f) {
    f.drop_after = 4000;
    f.change_after = 1;
    f.changed_content = random_bytes(10000, 5);
    f.changed_generation = "101";
  });
  HttpClient http(fast_options());
  std::string data;
  const std::string err = gt::test::error_of([&] {
    http.download(server.url("/o/a"), {}, 0, std::nullopt, [&](std::string_view c) { data.append(c); return true; },
                  {.pin_header = "x-goog-generation"});
  });
  EXPECT_NE(err.find(server.url("/o/a") + " changed while being read"), std::string::npos) << err;
  EXPECT_NE(err.find("was 100 and is now 101"), std::string::npos) << err;
  EXPECT_EQ(data, obj.substr(0, 4000));  // nothing of the new object was delivered
  EXPECT_EQ(server.request_count(), 2u);
  bool changed_flag = false;
  try {
    fetch(http, server.url("/o/a"), 0, std::nullopt, {.pin_header = "x-goog-generation", .pin_value = "100"});
  } catch (const gt::io::HttpError& e) {
    changed_flag = e.changed;
  }
  EXPECT_TRUE(changed_flag) << "the error says the pinned header changed";
  // A pin given up front is checked on the first reply too.
  const std::string err2 = gt::test::error_of(
      [&] { fetch(http, server.url("/o/a"), 0, std::nullopt, {.pin_header = "x-goog-generation", .pin_value = "7"}); });
  EXPECT_NE(err2.find("was 7 and is now 101"), std::string::npos) << err2;
}

TEST(HttpClient, Accepts200OnlyForAWholeObjectAndSkipsWhatWasDelivered) {
  HttpStandin server;
  const std::string obj = random_bytes(100000, 6);
  server.put_object("/o/a", obj);
  server.set_faults([](HttpStandin::Faults& f) {
    f.ignore_range = true;
    f.drop_after = 30000;
    f.drop_replies = 1;
  });
  HttpClient http(fast_options());
  Fetched got = fetch(http, server.url("/o/a"));
  EXPECT_TRUE(got.data == obj);
  EXPECT_EQ(got.result.requests, 2);  // the second reply starts again at byte 0; its first 30000 bytes are skipped
  const auto log = server.requests();
  EXPECT_EQ(log[1].range, "bytes=30000-");
  const std::string err = gt::test::error_of([&] { fetch(http, server.url("/o/a"), 10, 20); });
  EXPECT_NE(err.find("answered 200 (the whole object) to a request for bytes 10-19"), std::string::npos) << err;
}

TEST(HttpClient, AContentRangeOtherThanTheOneAskedIsAnError) {
  HttpStandin server;
  server.put_object("/o/a", random_bytes(1000, 9));
  server.set_faults([](HttpStandin::Faults& f) { f.shift_range = 3; });
  HttpClient http(fast_options());
  std::string data;
  const std::string err = gt::test::error_of([&] {
    http.download(server.url("/o/a"), {}, 100, 200, [&](std::string_view c) { data.append(c); return true; });
  });
  EXPECT_NE(err.find("answered Content-Range 'bytes 103-199/1000' to a request for bytes 100-199"), std::string::npos)
      << err;
  EXPECT_EQ(data, "");  // nothing of the wrong range was delivered
  EXPECT_EQ(server.request_count(), 1u);
}

TEST(HttpClient, AStalledReplyIsAbandonedAndResumed) {
  HttpStandin server;
  const std::string obj = random_bytes(50000, 7);
  server.put_object("/o/a", obj);
  server.set_faults([](HttpStandin::Faults& f) {
    f.stall_next = 1;
    f.stall_after = 100;
    f.stall_s = 5;
  });
  HttpOptions o = fast_options();
  o.low_speed_bytes_per_s = 1000;
  o.low_speed_time_s = 1;
  HttpClient http(o);
  const auto t0 = std::chrono::steady_clock::now();
  Fetched got = fetch(http, server.url("/o/a"));
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_TRUE(got.data == obj);
  EXPECT_EQ(got.result.requests, 2);
  EXPECT_EQ(server.requests()[1].range, "bytes=100-");
  EXPECT_LT(s, 4.0);
}

TEST(HttpClient, TheSinkCanStopEarly) {
  HttpStandin server;
  server.put_object("/o/a", random_bytes(1 << 20, 8));
  HttpClient http(fast_options());
  size_t got = 0;
  const DownloadResult r = http.download(server.url("/o/a"), {}, 0, std::nullopt, [&](std::string_view c) {
    got += c.size();
    return false;
  });
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.bytes, got);
  EXPECT_EQ(r.requests, 1);
}

TEST(HttpClient, ConnectionRefusedIsRetriedThenNamed) {
  int port = 0;
  {
    HttpStandin gone;
    port = gone.port();
  }
  std::vector<double> sleeps;
  HttpClient http(fast_options(&sleeps, 2));
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/o/a";
  const std::string err = gt::test::error_of([&] { fetch(http, url); });
  EXPECT_NE(err.find(url), std::string::npos) << err;
  EXPECT_NE(err.find("curl error 7"), std::string::npos) << err;  // CURLE_COULDNT_CONNECT
  EXPECT_EQ(sleeps.size(), 1u);
  const std::string err2 = gt::test::error_of([&] { http.request({.url = "ftp://127.0.0.1/x"}); });
  EXPECT_NE(err2.find("ftp://127.0.0.1/x"), std::string::npos) << err2;
}

TEST(HttpClient, JsonRequestCarriesMethodHeadersAndBody) {
  HttpStandin server;
  server.on("/api/echo", [](const httplib::Request& req, httplib::Response& res) {
    res.status = 201;
    res.set_header("X-Goog-Request-Id", "r-1");
    res.set_content("{\"method\":\"" + req.method + "\",\"user_project\":\"" + req.get_header_value("x-goog-user-project") +
                        "\",\"body\":" + req.body + "}",
                    "application/json");
  });
  int calls = 0;
  server.on("/api/flaky", [&calls](const httplib::Request&, httplib::Response& res) {
    res.status = ++calls < 3 ? 503 : 200;
    res.set_content(calls < 3 ? "busy" : "{}", "application/json");
  });
  HttpClient http(fast_options());
  const auto r = http.request({.method = "POST",
                               .url = server.url("/api/echo"),
                               .headers = {{"Content-Type", "application/json"}, {"x-goog-user-project", "proj"}},
                               .body = "{\"query\":\"SELECT 1\"}"});
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "{\"method\":\"POST\",\"user_project\":\"proj\",\"body\":{\"query\":\"SELECT 1\"}}");
  EXPECT_EQ(r.headers.at("x-goog-request-id"), "r-1");
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_EQ(server.requests().back().headers.find("Content-Type")->second, "application/json");
  const auto g = http.request({.url = server.url("/api/echo")});
  EXPECT_NE(g.body.find("\"method\":\"GET\""), std::string::npos) << g.body;
  EXPECT_EQ(http.request({.url = server.url("/api/flaky")}).status, 200);
  EXPECT_EQ(calls, 3);
  // A final 4xx is returned to the caller by request() and thrown by request_ok().
  EXPECT_EQ(http.request({.url = server.url("/api/none")}).status, 404);
  const std::string err = gt::test::error_of([&] { http.request_ok({.url = server.url("/api/none")}); });
  EXPECT_NE(err.find("GET " + server.url("/api/none") + " failed with HTTP 404"), std::string::npos) << err;
  EXPECT_NE(err.find("no such route"), std::string::npos) << err;
}

TEST(HttpClient, RedactsCredentialsInUrls) {
  EXPECT_EQ(gt::io::redact_url("https://h/p?a=1&X-Goog-Signature=s&key=k&b=2#f"),
            "https://h/p?a=1&X-Goog-Signature=REDACTED&key=REDACTED&b=2#f");
  EXPECT_EQ(gt::io::redact_url("https://h/p"), "https://h/p");
  EXPECT_TRUE(gt::io::http_available());
}
