// CRC-32C: the RFC 3720 vectors, incremental == one shot over random splits, the hardware path == the table path, and
// the base64 big-endian form GCS puts in x-goog-hash. Expected values not from an RFC were computed with an
// independent bit-at-a-time Python loop (reflected polynomial 0x82F63B78) and Python's base64 module.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "io/crc32c.h"

using gt::io::base64_decode;
using gt::io::base64_encode;
using gt::io::crc32c;
using gt::io::crc32c_update;
using gt::io::crc32c_update_portable;

namespace {

std::string bytes_of(std::initializer_list<int> v) {
  std::string s;
  for (int b : v) s += char(b);
  return s;
}

std::string ascending(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += char(i & 0xFF);
  return s;
}

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = char(rng() & 0xFF);
  return s;
}

}  // namespace

TEST(Crc32c, Rfc3720Vectors) {
  std::string descending;
  for (int i = 31; i >= 0; --i) descending += char(i);
  const std::vector<std::pair<std::string, uint32_t>> cases = {
      {std::string(32, '\0'), 0x8A9136AAu},     // RFC 3720 B.4: 32 bytes of zeros
      {std::string(32, '\xff'), 0x62A8AB43u},   // 32 bytes of ones
      {ascending(32), 0x46DD794Eu},             // 32 incrementing bytes 00..1f
      {descending, 0x113FDB5Cu},                // 32 decrementing bytes 1f..00
      {"123456789", 0xE3069283u},               // the usual check value
      {"", 0x00000000u},
      {"a", 0xC1D04330u},                                // Python loop
      {ascending(256) + ascending(256) + ascending(256) + ascending(256) + "xyz", 0x1B222F45u},  // Python loop
  };
  for (const auto& [data, want] : cases) {
    EXPECT_EQ(crc32c(data), want) << "size " << data.size();
    EXPECT_EQ(crc32c_update_portable(0, data.data(), data.size()), want) << "size " << data.size();
  }
}

TEST(Crc32c, IncrementalEqualsOneShotOnRandomSplits) {
  const std::string data = random_bytes(100000, 7);
  const uint32_t whole = crc32c(data);
  std::mt19937 rng(11);
  for (int trial = 0; trial < 20; ++trial) {
    uint32_t c = 0, p = 0;
    size_t at = 0;
    while (at < data.size()) {
      const size_t n = std::min<size_t>(data.size() - at, rng() % (trial < 10 ? 17 : 5000));  // pieces of 0..16 too
      c = crc32c_update(c, data.data() + at, n);
      p = crc32c_update_portable(p, data.data() + at, n);
      at += n;
    }
    EXPECT_EQ(c, whole) << "trial " << trial;
    EXPECT_EQ(p, whole) << "trial " << trial;
  }
}

// Whatever path crc32c_update takes here (SSE4.2 or tables), it agrees with the table path at every length and
// alignment, including the byte tails after the 8-byte steps.
TEST(Crc32c, FastPathMatchesTablePath) {
  const std::string data = random_bytes(600, 3);
  for (size_t off = 0; off < 9; ++off)
    for (size_t n = 0; off + n <= data.size(); n += (n < 40 ? 1 : 37)) {
      ASSERT_EQ(crc32c_update(0x12345678u, data.data() + off, n), crc32c_update_portable(0x12345678u, data.data() + off, n))
          << "offset " << off << " length " << n << " (hardware path: " << gt::io::crc32c_hardware() << ")";
    }
}

TEST(Crc32c, Base64Rfc4648Vectors) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"}, {bytes_of({0xfb, 0xff, 0xbf}), "+/+/"}};
  for (const auto& [plain, coded] : cases) {
    EXPECT_EQ(base64_encode(plain.data(), plain.size()), coded);
    EXPECT_EQ(base64_decode(coded), std::optional<std::string>(plain)) << coded;
  }
  const std::string bin = random_bytes(1000, 5);
  EXPECT_EQ(base64_decode(base64_encode(bin.data(), bin.size())), std::optional<std::string>(bin));
  for (const char* bad : {"Zm9", "Zm=v", "Z===", "====", "Zm9v!A==", "Zm9v Yg==", "Zg==Zg=="})
    EXPECT_EQ(base64_decode(bad), std::nullopt) << bad;
}

TEST(Crc32c, GcsHashHeader) {
  // crc32c("hello world") = 0xC99465AA (Python loop); base64 of C9 94 65 AA (Python base64.b64encode) = "yZRlqg==".
  EXPECT_EQ(crc32c("hello world"), 0xC99465AAu);
  EXPECT_EQ(gt::io::gcs_crc32c_header_value(crc32c("hello world")), "yZRlqg==");
  // Big-endian order: a little-endian writer would give "qmWUyQ==".
  EXPECT_EQ(gt::io::gcs_crc32c_header_value(0x01020304u), "AQIDBA==");

  using gt::io::parse_gcs_crc32c;
  EXPECT_EQ(parse_gcs_crc32c("crc32c=yZRlqg==,md5=XrY7u+Ae7tCTyyK7j1rNww=="), 0xC99465AAu);
  EXPECT_EQ(parse_gcs_crc32c("md5=XrY7u+Ae7tCTyyK7j1rNww==, crc32c=yZRlqg=="), 0xC99465AAu);
  EXPECT_EQ(parse_gcs_crc32c("  CRC32C = yZRlqg== "), 0xC99465AAu);
  EXPECT_EQ(parse_gcs_crc32c("crc32c=AQIDBA=="), 0x01020304u);
  EXPECT_EQ(parse_gcs_crc32c("md5=XrY7u+Ae7tCTyyK7j1rNww=="), std::nullopt);  // no crc32c item
  EXPECT_EQ(parse_gcs_crc32c(""), std::nullopt);
  EXPECT_EQ(parse_gcs_crc32c("crc32c=yZRl"), std::nullopt);        // 3 bytes
  EXPECT_EQ(parse_gcs_crc32c("crc32c=yZRlqgA="), std::nullopt);    // 5 bytes
  EXPECT_EQ(parse_gcs_crc32c("crc32c=yZR*qg=="), std::nullopt);    // not base64
  EXPECT_EQ(parse_gcs_crc32c("xcrc32c=yZRlqg=="), std::nullopt);   // another key

  std::mt19937 rng(1);
  for (int i = 0; i < 100; ++i) {
    const uint32_t v = rng();
    EXPECT_EQ(parse_gcs_crc32c("crc32c=" + gt::io::gcs_crc32c_header_value(v) + ",md5=AAAA"), v);
  }
}
