// The seeded shuffle buffer (data/shuffle_buffer.h): every row leaves exactly once; the order depends on seed and
// epoch only; it mixes (not the identity, rows move both ways); a buffer saved at any point and restored continues
// identically; capacity <= 1 keeps the order; malformed saved states are errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "data/shuffle_buffer.h"

using gt::data::BufferedRow;
using gt::data::ShuffleBuffer;

namespace {

BufferedRow row(int64_t i) { return BufferedRow{i % 3, i, i + 1, "row " + std::to_string(i), i % 17 == 4 ? "bad" : ""}; }

// Pushes rows 0..n-1 then drains; returns the rows' numbers in leaving order. `save_at` >= 0: round-trips the state
// through JSON after that many pushes.
std::vector<int64_t> run(size_t capacity, uint64_t seed, int64_t epoch, int64_t n, int64_t save_at = -1) {
  ShuffleBuffer b(capacity, seed, epoch);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i) {
    if (i == save_at) b = ShuffleBuffer::from_json(nlohmann::json::parse(b.to_json().dump()), "test");
    if (auto r = b.push(row(i))) {
      EXPECT_EQ(*r, row(r->row));  // rows come out whole
      out.push_back(r->row);
    }
    EXPECT_LE(b.size(), capacity);
  }
  if (save_at == n) b = ShuffleBuffer::from_json(b.to_json(), "test");
  while (auto r = b.drain()) out.push_back(r->row);
  EXPECT_EQ(b.bytes(), 0u);
  return out;
}

TEST(ShuffleBuffer, EveryRowLeavesExactlyOnce) {
  for (size_t cap : {size_t(2), size_t(7), size_t(100), size_t(1000)}) {
    std::vector<int64_t> got = run(cap, 42, 0, 500);
    ASSERT_EQ(got.size(), 500u) << cap;
    std::sort(got.begin(), got.end());
    for (int64_t i = 0; i < 500; ++i) ASSERT_EQ(got[static_cast<size_t>(i)], i) << cap;
  }
}

TEST(ShuffleBuffer, OrderDependsOnSeedAndEpochOnly) {
  EXPECT_EQ(run(50, 42, 3, 400), run(50, 42, 3, 400));
  EXPECT_NE(run(50, 42, 3, 400), run(50, 43, 3, 400));
  EXPECT_NE(run(50, 42, 3, 400), run(50, 42, 4, 400));
}

TEST(ShuffleBuffer, ItMixesAndNeverLetsARowOutMoreThanCapacityEarly) {
  const size_t cap = 64;
  const std::vector<int64_t> got = run(cap, 1, 0, 2000);
  int64_t moved_back = 0, moved_forward = 0;
  for (size_t k = 0; k < got.size(); ++k) {
    const int64_t pos = static_cast<int64_t>(k), src = got[k];
    EXPECT_GE(pos, src - static_cast<int64_t>(cap)) << "row " << src << " left at " << pos;
    moved_back += pos > src;
    moved_forward += pos < src;
  }
  EXPECT_GT(moved_back, 500);
  EXPECT_GT(moved_forward, 500);
}

TEST(ShuffleBuffer, ARestoredBufferContinuesIdentically) {
  const std::vector<int64_t> whole = run(30, 9, 2, 300);
  for (int64_t at : {0, 1, 29, 30, 31, 150, 299, 300}) EXPECT_EQ(run(30, 9, 2, 300, at), whole) << "saved at " << at;
}

TEST(ShuffleBuffer, CapacityOneKeepsTheOrder) {
  for (size_t cap : {size_t(0), size_t(1)}) {
    const std::vector<int64_t> got = run(cap, 5, 0, 50);
    for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(got[static_cast<size_t>(i)], i);
  }
}

TEST(ShuffleBuffer, MalformedStatesAreErrors) {
  ShuffleBuffer b(4, 1, 0);
  for (int i = 0; i < 3; ++i) b.push(row(i));
  nlohmann::json j = b.to_json();
  nlohmann::json no_rng = j;
  no_rng.erase("rng");
  EXPECT_THROW(ShuffleBuffer::from_json(no_rng, "ckpt"), gt::InputError);
  nlohmann::json bad_rng = j;
  bad_rng["rng"] = "not numbers";
  EXPECT_THROW(ShuffleBuffer::from_json(bad_rng, "ckpt"), gt::InputError);
  nlohmann::json too_many = j;
  too_many["capacity"] = 2;
  EXPECT_THROW(ShuffleBuffer::from_json(too_many, "ckpt"), gt::InputError);
}

}  // namespace
