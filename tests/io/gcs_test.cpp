// Cloud Storage over the JSON API against a local stand-in (tests/io/gcs_standin.h): gs:// URL parsing and its
// errors, endpoint resolution from the emulator variables, listing over several pages with a glob, metadata,
// byte-exact ranged reads through dropped connections, generation pinning (an object replaced mid-read is an
// error), 404s naming bucket or object, the Authorization header. Sleeps are no-ops, so each test runs in well
// under 2 s.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <random>

#include "io/gcs.h"
#include "io/gcs_standin.h"
#include "test_util.h"

using gt::io::GcsClient;
using gt::io::GcsEndpoint;
using gt::io::GcsObject;
using gt::io::HttpClient;
using gt::io::HttpOptions;
using gt::test::GcsStandin;

namespace {

std::string random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = char(rng());
  return s;
}

HttpOptions fast_options(int max_attempts = 8) {
  HttpOptions o;
  o.retry.seed = 42;
  o.retry.max_attempts = max_attempts;
  o.retry.sleep = [](double) {};
  return o;
}

GcsEndpoint endpoint_of(const GcsStandin& s) { return GcsEndpoint{s.base(), true, "test"}; }

std::string read_all(GcsClient& gcs, const GcsObject& o, uint64_t begin = 0, std::optional<uint64_t> end = {},
                     gt::io::DownloadResult* result = nullptr) {
  std::string data;
  const auto r = gcs.read(o, begin, end, [&](std::string_view c) {
    data.append(c);
    return true;
  });
  if (result) *result = r;
  return data;
}

using gt::test::ScopedEnv;

}  // namespace

TEST(GcsUrl, ParsesBucketPrefixAndGlob) {
  auto g = gt::io::parse_gs_url("gs://my-bucket/data/train-*.jsonl");
  EXPECT_EQ(g.bucket, "my-bucket");
  EXPECT_EQ(g.object, "data/train-*.jsonl");
  EXPECT_EQ(g.prefix, "data/train-");
  ASSERT_TRUE(g.glob);
  EXPECT_EQ(*g.glob, "data/train-*.jsonl");
  g = gt::io::parse_gs_url("gs://b.example.com/a/b/file?.txt");
  EXPECT_EQ(g.prefix, "a/b/file");
  g = gt::io::parse_gs_url("gs://bkt/a/b[1].txt");  // brackets are ordinary characters
  EXPECT_FALSE(g.glob);
  EXPECT_EQ(g.prefix, "a/b[1].txt");
  g = gt::io::parse_gs_url("gs://bkt");
  EXPECT_EQ(g.object, "");
  EXPECT_EQ(gt::io::parse_gs_url("gs://bkt/").object, "");
  EXPECT_EQ(gt::io::parse_gs_url("gs://bkt/*").prefix, "");

  const auto err = [](const char* u) { return gt::test::error_of([&] { gt::io::parse_gs_url(u); }); };
  EXPECT_NE(err("s3://bkt/x").find("'s3://bkt/x' is not a Cloud Storage URL"), std::string::npos) << err("s3://bkt/x");
  EXPECT_NE(err("gs:///x").find("gs:///x: no bucket name"), std::string::npos);
  EXPECT_NE(err("gs://Bad_Bucket/x").find("gs://Bad_Bucket/x: 'Bad_Bucket' is not a Cloud Storage bucket name"),
            std::string::npos);
  EXPECT_NE(err("gs://b*/x").find("is not a Cloud Storage bucket name"), std::string::npos);
  EXPECT_NE(err("gs://ab/x").find("is not a Cloud Storage bucket name"), std::string::npos);  // too short
  const std::string e = err("gs://bkt/data-*/part.jsonl");
  EXPECT_NE(e.find("gs://bkt/data-*/part.jsonl: wildcards ('*', '?') are allowed only in the last path segment"),
            std::string::npos)
      << e;
}

TEST(GcsUrl, GlobMatchesWithinTheLastSegment) {
  using gt::io::gcs_glob_match;
  EXPECT_TRUE(gcs_glob_match("d/train-*.jsonl", "d/train-00001.jsonl"));
  EXPECT_TRUE(gcs_glob_match("d/train-*.jsonl", "d/train-.jsonl"));
  EXPECT_FALSE(gcs_glob_match("d/train-*.jsonl", "d/train-1.jsonl.gz"));
  EXPECT_FALSE(gcs_glob_match("d/train-*.jsonl", "d/train-x/y.jsonl"));  // '*' does not cross '/'
  EXPECT_TRUE(gcs_glob_match("d/?.txt", "d/a.txt"));
  EXPECT_FALSE(gcs_glob_match("d/?.txt", "d/ab.txt"));
  EXPECT_TRUE(gcs_glob_match("d/*a*b*", "d/xxaybzz"));
  EXPECT_FALSE(gcs_glob_match("d/*a*b*", "d/xxbyazz"));
  EXPECT_TRUE(gcs_glob_match("*", "anything"));
  EXPECT_FALSE(gcs_glob_match("*", "a/b"));
  EXPECT_EQ(gt::io::gcs_percent_encode("data/a b+c~_.-é"), "data%2Fa%20b%2Bc~_.-%C3%A9");
}

TEST(GcsEndpoint, ResolvedFromTheEmulatorVariables) {
  {
    ScopedEnv a("STORAGE_EMULATOR_HOST", std::nullopt), b("CLOUD_STORAGE_EMULATOR_ENDPOINT", std::nullopt);
    const GcsEndpoint e = gt::io::resolve_gcs_endpoint();
    EXPECT_EQ(e.base, "https://storage.googleapis.com");
    EXPECT_FALSE(e.emulator);
  }
  {
    ScopedEnv a("STORAGE_EMULATOR_HOST", "localhost:4443"), b("CLOUD_STORAGE_EMULATOR_ENDPOINT", "http://other:9000");
    const GcsEndpoint e = gt::io::resolve_gcs_endpoint();
    EXPECT_EQ(e.base, "http://localhost:4443");  // no scheme: http, as Go's and Python's clients do
    EXPECT_TRUE(e.emulator);
    EXPECT_EQ(e.from, "STORAGE_EMULATOR_HOST");
  }
  {
    ScopedEnv a("STORAGE_EMULATOR_HOST", ""), b("CLOUD_STORAGE_EMULATOR_ENDPOINT", "https://emu.test:9000/");
    const GcsEndpoint e = gt::io::resolve_gcs_endpoint();
    EXPECT_EQ(e.base, "https://emu.test:9000");
    EXPECT_EQ(e.from, "CLOUD_STORAGE_EMULATOR_ENDPOINT");
  }
  {
    // Node's client appends paths verbatim, so emulators are often set with /storage/v1; it is the same endpoint.
    ScopedEnv a("STORAGE_EMULATOR_HOST", "http://127.0.0.1:8080/storage/v1/"),
        b("CLOUD_STORAGE_EMULATOR_ENDPOINT", std::nullopt);
    EXPECT_EQ(gt::io::resolve_gcs_endpoint().base, "http://127.0.0.1:8080");
  }
  {
    ScopedEnv a("STORAGE_EMULATOR_HOST", "ftp://h:1"), b("CLOUD_STORAGE_EMULATOR_ENDPOINT", std::nullopt);
    const std::string err = gt::test::error_of([] { gt::io::resolve_gcs_endpoint(); });
    EXPECT_NE(err.find("STORAGE_EMULATOR_HOST='ftp://h:1'"), std::string::npos) << err;
    EXPECT_NE(err.find("scheme 'ftp'"), std::string::npos) << err;
  }
  EXPECT_NE(gt::test::error_of([] { gt::io::gcs_endpoint_from("http://", "X"); }).find("X='http://'"),
            std::string::npos);
}

TEST(GcsClient, ListsOverSeveralPagesAndExpandsAGlob) {
  GcsStandin server;
  for (int i = 6; i >= 0; --i) server.put("bkt", "data/train-" + std::to_string(i) + ".jsonl", "row " + std::to_string(i));
  server.put("bkt", "data/train-9.jsonl.gz", "gz");
  server.put("bkt", "data/sub/train-1.jsonl", "nested");
  server.put("bkt", "data/", "");  // a folder placeholder
  server.put("bkt", "other/x", "x");
  HttpClient http(fast_options());
  GcsClient gcs(http, endpoint_of(server), {}, {.page_size = 3, .user_project = ""});
  const auto all = gcs.list("bkt", "data/");
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all[0].name, "data/");
  EXPECT_EQ(all[1].name, "data/sub/train-1.jsonl");
  EXPECT_EQ(all[1].size, 6u);
  EXPECT_EQ(all[1].bucket, "bkt");
  EXPECT_EQ(all[1].crc32c, GcsStandin::crc32c_b64("nested"));
  EXPECT_EQ(all[1].md5, GcsStandin::md5_b64("nested"));
  EXPECT_GT(all[1].generation, 1000000);
  auto log = server.requests();
  ASSERT_EQ(log.size(), 4u);  // 10 objects, 3 a page
  EXPECT_EQ(log[0].path, "/storage/v1/b/bkt/o");
  EXPECT_NE(log[0].target.find("prefix=data%2F"), std::string::npos) << log[0].target;
  EXPECT_NE(log[0].target.find("maxResults=3"), std::string::npos) << log[0].target;
  EXPECT_EQ(log[0].target.find("pageToken"), std::string::npos) << log[0].target;
  EXPECT_NE(log[1].target.find("pageToken="), std::string::npos) << log[1].target;

  const auto matched = gcs.expand("gs://bkt/data/train-*.jsonl");
  ASSERT_EQ(matched.size(), 7u);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(matched[i].name, "data/train-" + std::to_string(i) + ".jsonl");
  EXPECT_EQ(read_all(gcs, matched[4]), "row 4");
  // Without a wildcard: one object, or a folder.
  const auto one = gcs.expand("gs://bkt/data/train-3.jsonl");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].name, "data/train-3.jsonl");
  const auto folder = gcs.expand("gs://bkt/data/sub");
  ASSERT_EQ(folder.size(), 1u);
  EXPECT_EQ(folder[0].name, "data/sub/train-1.jsonl");
  EXPECT_EQ(gcs.expand("gs://bkt/data/").size(), 9u);  // the placeholder "data/" is skipped
  EXPECT_EQ(gcs.expand("gs://bkt").size(), 10u);
}

TEST(GcsClient, ListingRetries503Bursts) {
  GcsStandin server;
  server.put("bkt", "a", "1");
  server.set_faults([](GcsStandin::Faults& f) { f.fail_next = 2; });
  HttpClient http(fast_options());
  GcsClient gcs(http, endpoint_of(server));
  EXPECT_EQ(gcs.list("bkt", "").size(), 1u);
  EXPECT_EQ(server.request_count(), 3u);
}

TEST(GcsClient, StatEncodesTheNameAsOneSegment) {
  GcsStandin server;
  const std::string name = "data/a b+c?.jsonl";
  const int64_t gen = server.put("bkt", name, "hello world");
  HttpClient http(fast_options());
  GcsClient gcs(http, endpoint_of(server));
  const GcsObject o = gcs.stat("bkt", name);
  EXPECT_EQ(o.name, name);
  EXPECT_EQ(o.bucket, "bkt");
  EXPECT_EQ(o.size, 11u);
  EXPECT_EQ(o.generation, gen);
  EXPECT_EQ(o.crc32c, "yZRlqg==");  // CRC-32C("hello world") = 0xC99465AA
  EXPECT_EQ(o.md5, "XrY7u+Ae7tCTyyK7j1rNww==");
  EXPECT_EQ(o.url(), "gs://bkt/" + name);
  EXPECT_EQ(read_all(gcs, o), "hello world");
  const auto log = server.requests();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].target.rfind("/storage/v1/b/bkt/o/data%2Fa%20b%2Bc%3F.jsonl?", 0), 0u) << log[0].target;
  EXPECT_EQ(log[1].target, "/storage/v1/b/bkt/o/data%2Fa%20b%2Bc%3F.jsonl?alt=media&generation=" + std::to_string(gen));
}

TEST(GcsClient, RangedReadsAreByteExactThroughDroppedConnections) {
  GcsStandin server;
  const std::string obj = random_bytes(3 << 20, 1);
  server.put("bkt", "shard.bin", obj);
  server.set_faults([](GcsStandin::Faults& f) { f.drop_after = 700000; });
  HttpClient http(fast_options(3));
  GcsClient gcs(http, endpoint_of(server));
  const GcsObject o = gcs.stat("bkt", "shard.bin");
  gt::io::DownloadResult r;
  const std::string whole = read_all(gcs, o, 0, std::nullopt, &r);
  EXPECT_TRUE(whole == obj) << "bytes differ";
  EXPECT_EQ(r.requests, 5);  // 3 MiB in cuts of 700000 bytes
  EXPECT_EQ(r.pinned_value, std::to_string(o.generation));
  const std::string part = read_all(gcs, o, 123457, 2000001, &r);
  EXPECT_TRUE(part == obj.substr(123457, 2000001 - 123457)) << "bytes differ";
  EXPECT_EQ(r.requests, 3);
  const auto log = server.requests();
  EXPECT_EQ(log.back().range, "bytes=1523457-2000000");
  for (size_t i = 1; i < log.size(); ++i)
    EXPECT_NE(log[i].target.find("generation=" + std::to_string(o.generation)), std::string::npos) << log[i].target;
  // The Python client's download path is served too.
  server.set_faults([](GcsStandin::Faults& f) { f.drop_after = 0; });
  const auto resp = http.request_ok(
      {.method = "GET", .url = server.base() + "/download/storage/v1/b/bkt/o/shard.bin?alt=media", .headers = {{"Range", "bytes=0-9"}}, .body = ""});
  EXPECT_EQ(resp.status, 206);
  EXPECT_EQ(resp.body, obj.substr(0, 10));
  EXPECT_EQ(resp.header("x-goog-stored-content-encoding"), "identity");
  EXPECT_NE(resp.header("x-goog-hash").find("crc32c=" + GcsStandin::crc32c_b64(obj)), std::string::npos);
  EXPECT_NE(resp.header("x-goog-hash").find("md5=" + GcsStandin::md5_b64(obj)), std::string::npos);
}

TEST(GcsClient, AnObjectReplacedWhileBeingReadIsAnError) {
  for (const bool server_ignores_generation : {false, true}) {
    SCOPED_TRACE(server_ignores_generation ? "pin caught by x-goog-generation" : "pin caught by generation=");
    GcsStandin server;
    const std::string obj = random_bytes(100000, 2);
    server.put("bkt", "a.bin", obj);
    server.set_faults([&](GcsStandin::Faults& f) {
      f.drop_after = 30000;
      f.ignore_generation = server_ignores_generation;
    });
    HttpClient http(fast_options());
    GcsClient gcs(http, endpoint_of(server));
    const GcsObject o = gcs.stat("bkt", "a.bin");
    std::string data;
    bool replaced = false;
    int64_t new_gen = 0;
    const std::string err = gt::test::error_of([&] {
      gcs.read(o, 0, std::nullopt, [&](std::string_view c) {
        data.append(c);
        if (!replaced) new_gen = server.replace("bkt", "a.bin", random_bytes(100000, 3));
        replaced = true;
        return true;
      });
    });
    EXPECT_NE(err.find("gs://bkt/a.bin changed while being read"), std::string::npos) << err;
    EXPECT_NE(err.find(std::to_string(o.generation)), std::string::npos) << err;
    EXPECT_NE(err.find(std::to_string(new_gen)), std::string::npos) << err;
    EXPECT_TRUE(data == obj.substr(0, 30000));  // nothing of the new generation was delivered
  }
}

TEST(GcsClient, NotFoundNamesTheBucketOrTheObject) {
  GcsStandin server;
  server.put("bkt", "data/a.jsonl", "{}");
  HttpClient http(fast_options());
  GcsClient gcs(http, endpoint_of(server));
  std::string err = gt::test::error_of([&] { gcs.list("nobkt", "data/"); });
  EXPECT_NE(err.find("gs://nobkt/data/: bucket 'nobkt' does not exist (HTTP 404"), std::string::npos) << err;
  EXPECT_NE(err.find("The specified bucket does not exist."), std::string::npos) << err;
  err = gt::test::error_of([&] { gcs.expand("gs://nobkt/data/*.jsonl"); });
  EXPECT_NE(err.find("bucket 'nobkt' does not exist"), std::string::npos) << err;
  err = gt::test::error_of([&] { gcs.stat("bkt", "data/b.jsonl"); });
  EXPECT_NE(err.find("gs://bkt/data/b.jsonl: no such object in bucket 'bkt' (HTTP 404: No such object: bkt/data/b.jsonl)"),
            std::string::npos)
      << err;
  err = gt::test::error_of([&] { gcs.stat("nobkt", "data/b.jsonl"); });
  EXPECT_NE(err.find("gs://nobkt/data/b.jsonl: bucket 'nobkt' does not exist"), std::string::npos) << err;
  err = gt::test::error_of([&] { gcs.expand("gs://bkt/data/*.csv"); });
  EXPECT_NE(err.find("gs://bkt/data/*.csv: no object matches the pattern (bucket 'bkt' exists; 1 object(s) have the "
                     "prefix 'data/'"),
            std::string::npos)
      << err;
  err = gt::test::error_of([&] { gcs.expand("gs://bkt/data/b.jsonl"); });
  EXPECT_NE(err.find("gs://bkt/data/b.jsonl: no object matches (bucket 'bkt' exists"), std::string::npos) << err;
  // A listed object deleted before its read.
  GcsObject gone = gcs.stat("bkt", "data/a.jsonl");
  server.remove("bkt", "data/a.jsonl");
  err = gt::test::error_of([&] { read_all(gcs, gone); });
  EXPECT_NE(err.find("gs://bkt/data/a.jsonl: generation " + std::to_string(gone.generation) + " cannot be read"),
            std::string::npos)
      << err;
  EXPECT_NE(err.find("HTTP 404"), std::string::npos) << err;
  EXPECT_NE(err.find("no such object"), std::string::npos) << err;
  // Other statuses name status and message.
  server.set_faults([](GcsStandin::Faults& f) {
    f.fail_next = 1;
    f.fail_status = 403;
    f.fail_body = "{\"error\":{\"code\":403,\"message\":\"caller does not have storage.objects.list access\"}}";
  });
  err = gt::test::error_of([&] { gcs.list("bkt", ""); });
  EXPECT_NE(err.find("gs://bkt/: listing objects failed with HTTP 403"), std::string::npos) << err;
  EXPECT_NE(err.find("caller does not have storage.objects.list access"), std::string::npos) << err;
}

TEST(GcsClient, SendsABearerTokenOnlyWhenGivenAndNeverShowsIt) {
  GcsStandin server;
  server.put("bkt", "a", "abc");
  server.require_token("ya29.secret");
  HttpClient http(fast_options());
  int calls = 0;
  GcsClient authed(http, endpoint_of(server), [&] {
    ++calls;
    return std::string("ya29.secret");
  });
  const GcsObject o = authed.stat("bkt", "a");
  EXPECT_EQ(read_all(authed, o), "abc");
  EXPECT_EQ(calls, 2);
  for (const auto& r : server.requests()) EXPECT_EQ(r.headers.find("Authorization")->second, "Bearer ya29.secret");
  GcsClient anonymous(http, endpoint_of(server));
  std::string err = gt::test::error_of([&] { anonymous.list("bkt", ""); });
  EXPECT_NE(err.find("HTTP 401"), std::string::npos) << err;
  EXPECT_NE(err.find("Invalid Credentials"), std::string::npos) << err;
  EXPECT_NE(err.find("check the credentials"), std::string::npos) << "a refusal says what to check: " << err;
  EXPECT_EQ(server.requests().back().headers.count("Authorization"), 0u);
  GcsClient wrong(http, endpoint_of(server), [] { return std::string("ya29.stale"); });
  err = gt::test::error_of([&] { read_all(wrong, o); });
  EXPECT_NE(err.find("HTTP 401"), std::string::npos) << err;
  EXPECT_NE(err.find("check the credentials"), std::string::npos) << err;
  EXPECT_EQ(err.find("ya29"), std::string::npos) << err;
}

TEST(GcsClient, ATokenRefusedMidReadIsRenewedAndTheReadGoesOnExactly) {
  // Tokens "t1", "t2", ...: the server accepts only the newest; a read is cut every 1000 bytes, and the token in use
  // is revoked after 3 requests, so the read meets a 401 while resuming in the middle of the object.
  GcsStandin server;
  const std::string data = random_bytes(10000, 5);
  server.put("bkt", "big", data);
  int issued = 1, requests = 0;
  server.require_token_if([&](const std::string& t) {
    if (++requests == 3) ++issued;  // revoked: the server now wants the next one
    return t == "t" + std::to_string(issued);
  });
  server.set_faults([](GcsStandin::Faults& f) { f.drop_after = 1000; });
  HttpClient http(fast_options());
  int current = 1, refused = 0;
  GcsClient::Options o;
  o.token_refused = [&](const std::string& t) {
    EXPECT_EQ(t, "t" + std::to_string(current));
    ++refused;
    ++current;
  };
  GcsClient gcs(http, endpoint_of(server), [&] { return "t" + std::to_string(current); }, o);
  const GcsObject obj = gcs.stat("bkt", "big");
  EXPECT_EQ(read_all(gcs, obj), data);  // byte-exact, and the CRC-32C of the whole read checks out
  EXPECT_EQ(refused, 1);
  // Without a way to renew, a refused token is final.
  current = 1;
  issued = 1;
  requests = 0;
  GcsClient fixed(http, endpoint_of(server), [] { return std::string("t1"); });
  const std::string err = gt::test::error_of([&] { read_all(fixed, obj); });
  EXPECT_NE(err.find("HTTP 401"), std::string::npos) << err;
}

TEST(GcsClient, AWholeObjectReadIsCheckedAgainstItsCrc32c) {
  GcsStandin server;
  const std::string obj = random_bytes(200000, 4);
  server.put("bkt", "a.bin", obj);
  server.set_faults([](GcsStandin::Faults& f) { f.drop_after = 60000; });
  HttpClient http(fast_options());
  GcsClient gcs(http, endpoint_of(server));
  GcsObject o = gcs.stat("bkt", "a.bin");
  EXPECT_TRUE(read_all(gcs, o) == obj);  // resumed 4 times, the CRC-32C of the pieces together matches
  o.crc32c = GcsStandin::crc32c_b64(obj + "x");  // metadata that does not match the bytes
  const std::string err = gt::test::error_of([&] { read_all(gcs, o); });
  EXPECT_NE(err.find("gs://bkt/a.bin: CRC-32C mismatch after reading all 200000 bytes of generation " +
                     std::to_string(o.generation) + ": the object's metadata says " + o.crc32c +
                     ", the bytes read give " + GcsStandin::crc32c_b64(obj)),
            std::string::npos)
      << err;
  EXPECT_EQ(read_all(gcs, o, 1).size(), obj.size() - 1);  // a range is not checked
  GcsClient unchecked(http, endpoint_of(server), {}, {.verify_crc32c = false});
  EXPECT_EQ(read_all(unchecked, o).size(), obj.size());
}
