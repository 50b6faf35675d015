// GGUF writer and reader: every metadata type, every tensor type, alignment, the Q8_0 / F16 / BF16 encodings
// against hand-computed values, streaming, and the refusals of malformed files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "io/gguf.h"
#include "test_util.h"

namespace fs = std::filesystem;
using gt::io::GgmlType;
using gt::io::GgufFile;
using gt::io::GgufValue;
using gt::io::GgufValueType;
using gt::io::GgufWriter;
using gt::test::error_of;

namespace {

uint32_t u32_at(const std::string& bytes, size_t pos) {
  uint32_t v;
  std::memcpy(&v, bytes.data() + pos, 4);
  return v;
}
uint64_t u64_at(const std::string& bytes, size_t pos) {
  uint64_t v;
  std::memcpy(&v, bytes.data() + pos, 8);
  return v;
}

// A small valid file: one KV ("a": u32 7) and one F32 tensor "t" of shape [2] = {1, 2}.
std::string small_file(const fs::path& p) {
  GgufWriter w;
  w.set("a", GgufValue::scalar<uint32_t>(7));
  w.add_tensor("t", {2}, GgmlType::F32, std::vector<float>{1.0f, 2.0f});
  w.write(p.string());
  return gt::test::read_file(p);
}

void expect_open_error(const fs::path& p, std::initializer_list<std::string> fragments) {
  std::string msg = error_of([&] { GgufFile::open(p.string()); });
  EXPECT_NE(msg.find(p.string()), std::string::npos) << "message does not name the file: " << msg;
  for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "missing '" << f << "' in: " << msg;
}

}  // namespace

TEST(Gguf, EveryValueTypeRoundTrips) {
  gt::test::TempDir tmp("gguf");
  GgufWriter w;
  w.set("u8", GgufValue::scalar<uint8_t>(250));
  w.set("i8", GgufValue::scalar<int8_t>(-5));
  w.set("u16", GgufValue::scalar<uint16_t>(65000));
  w.set("i16", GgufValue::scalar<int16_t>(-30000));
  w.set("u32", GgufValue::scalar<uint32_t>(4000000000u));
  w.set("i32", GgufValue::scalar<int32_t>(-2000000000));
  w.set("f32", GgufValue::scalar<float>(0.1f));
  w.set("bool", GgufValue::scalar<bool>(true));
  w.set("str", GgufValue::string("h\xc3\xa9llo"));
  w.set("u64", GgufValue::scalar<uint64_t>(1ull << 60));
  w.set("i64", GgufValue::scalar<int64_t>(-(1ll << 60)));
  w.set("f64", GgufValue::scalar<double>(1e-300));
  w.set("a.u8", GgufValue::array<uint8_t>({1, 2, 255}));
  w.set("a.i8", GgufValue::array<int8_t>({-1, 2}));
  w.set("a.u16", GgufValue::array<uint16_t>({1, 65535}));
  w.set("a.i16", GgufValue::array<int16_t>({-1, 7}));
  w.set("a.u32", GgufValue::array<uint32_t>({8192, 16384}));
  w.set("a.i32", GgufValue::array<int32_t>({-1, 0, 1}));
  w.set("a.f32", GgufValue::array<float>({1.5f, -std::numeric_limits<float>::infinity()}));
  w.set("a.bool", GgufValue::array<bool>({true, false, true}));
  w.set("a.str", GgufValue::array<std::string>({"<pad>", "", "\xe2\x96\x81the"}));
  w.set("a.u64", GgufValue::array<uint64_t>({0, ~0ull}));
  w.set("a.i64", GgufValue::array<int64_t>({-7}));
  w.set("a.f64", GgufValue::array<double>({0.25, -2.0}));
  w.set("u32", GgufValue::scalar<uint32_t>(3));  // replaced in place, position kept
  w.add_tensor("t", {1}, GgmlType::F32, std::vector<float>{5.0f});
  const fs::path p = tmp / "kv.gguf";
  w.write(p.string());

  GgufFile g = GgufFile::open(p.string());
  EXPECT_EQ(g.version(), 3u);
  ASSERT_EQ(g.metadata().size(), w.metadata().size());
  for (size_t i = 0; i < w.metadata().size(); ++i) {
    EXPECT_EQ(g.metadata()[i].first, w.metadata()[i].first);
    EXPECT_TRUE(g.metadata()[i].second == w.metadata()[i].second) << w.metadata()[i].first;
  }
  EXPECT_EQ(g.metadata()[4].first, "u32");
  EXPECT_EQ(g.at("u32").get<uint32_t>(), 3u);
  EXPECT_EQ(g.at("i8").get<int8_t>(), -5);
  EXPECT_EQ(g.at("i64").as_int(), -(1ll << 60));
  EXPECT_FLOAT_EQ(static_cast<float>(g.at("f32").as_double()), 0.1f);
  EXPECT_EQ(g.at("str").get<std::string>(), "h\xc3\xa9llo");
  EXPECT_EQ(g.at("a.str").get_array<std::string>(), (std::vector<std::string>{"<pad>", "", "\xe2\x96\x81the"}));
  EXPECT_EQ(g.at("a.bool").get_array<bool>(), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(g.at("a.u64").get_array<uint64_t>()[1], ~0ull);
  EXPECT_TRUE(std::isinf(g.at("a.f32").get_array<float>()[1]));
  EXPECT_EQ(g.at("a.i32").type(), GgufValueType::Int32);
  EXPECT_TRUE(g.at("a.i32").is_array());

  // Exact-type reads refuse other types, naming both.
  std::string msg = error_of([&] { g.at("str").get<uint32_t>(); });
  EXPECT_NE(msg.find("string \"h"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected a u32"), std::string::npos) << msg;
  msg = error_of([&] { g.at("a.f32").get<float>(); });
  EXPECT_NE(msg.find("array of 2 f32"), std::string::npos) << msg;
  msg = error_of([&] { g.at("missing.key"); });
  EXPECT_NE(msg.find("missing.key"), std::string::npos) << msg;
  EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
}

TEST(Gguf, TensorTypesRoundTripWithShapesReversedInTheFile) {
  gt::test::TempDir tmp("gguf");
  std::vector<float> x(2 * 3 * 64);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * static_cast<float>(i)) * (1.0f + i % 7);
  GgufWriter w;
  w.add_tensor("f32", {2, 3, 64}, GgmlType::F32, x);
  w.add_tensor("f16", {6, 64}, GgmlType::F16, x);
  w.add_tensor("bf16", {384}, GgmlType::BF16, x);
  w.add_tensor("q8", {3, 2, 64}, GgmlType::Q8_0, x);
  const fs::path p = tmp / "t.gguf";
  w.write(p.string());

  GgufFile g = GgufFile::open(p.string());
  ASSERT_EQ(g.tensors().size(), 4u);
  EXPECT_EQ(g.tensor("f32").shape, (std::vector<int64_t>{2, 3, 64}));
  EXPECT_EQ(g.tensor("q8").shape, (std::vector<int64_t>{3, 2, 64}));
  EXPECT_EQ(g.tensor("q8").type, GgmlType::Q8_0);
  EXPECT_EQ(g.tensor("q8").nbytes, 12u * 34u);
  EXPECT_EQ(g.tensor("f16").nbytes, 384u * 2u);

  // ne is stored innermost first: the first tensor info follows the header (no KVs).
  std::string bytes = gt::test::read_file(p);
  size_t info = 4 + 4 + 8 + 8;
  ASSERT_EQ(u64_at(bytes, info), 3u);  // name length
  EXPECT_EQ(bytes.substr(info + 8, 3), "f32");
  EXPECT_EQ(u32_at(bytes, info + 11), 3u);  // n_dims
  EXPECT_EQ(u64_at(bytes, info + 15), 64u);
  EXPECT_EQ(u64_at(bytes, info + 23), 3u);
  EXPECT_EQ(u64_at(bytes, info + 31), 2u);

  EXPECT_EQ(g.tensor_floats("f32"), x);
  std::vector<float> f16 = g.tensor_floats("f16"), bf16 = g.tensor_floats("bf16"), q8 = g.tensor_floats("q8");
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(f16[i], gt::io::f16_to_float(gt::io::float_to_f16(x[i])));
    EXPECT_NEAR(f16[i], x[i], std::fabs(x[i]) * 1e-3 + 1e-7);
    EXPECT_EQ(bf16[i], gt::io::bf16_to_float(gt::io::float_to_bf16(x[i])));
    EXPECT_NEAR(bf16[i], x[i], std::fabs(x[i]) * 8e-3 + 1e-30);
  }
  // Q8_0: error at most half a step (amax / 127 / 2) of the value's block, plus the f16 rounding of d.
  for (size_t b = 0; b < x.size() / 32; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    for (int j = 0; j < 32; ++j) EXPECT_NEAR(q8[b * 32 + j], x[b * 32 + j], amax / 127 * 0.5f + amax * 1e-3f);
  }
}

// Tensors with a dimension of 0 hold no bytes and read back as no values. Found by fuzzing (fuzz/gguf_read_fuzz.cpp):
// tensor_floats passed decode_floats a null buffer (memcpy from and to null, undefined even for 0 bytes).
TEST(Gguf, EmptyTensorsRoundTrip) {
  gt::test::TempDir tmp("gguf");
  GgufWriter w;
  w.add_tensor("rows0", {0, 4}, GgmlType::F32, std::vector<float>{});
  w.add_tensor("cols0", {2, 0}, GgmlType::F16, std::vector<float>{});
  w.add_tensor("after", {2}, GgmlType::F32, std::vector<float>{1.5f, -2.0f});
  const fs::path p = tmp / "e.gguf";
  w.write(p.string());
  GgufFile g = GgufFile::open(p.string());
  EXPECT_EQ(g.tensor("rows0").shape, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(g.tensor("cols0").shape, (std::vector<int64_t>{2, 0}));
  EXPECT_EQ(g.tensor("rows0").nbytes, 0u);
  EXPECT_TRUE(g.tensor_floats("rows0").empty());
  EXPECT_TRUE(g.tensor_floats("cols0").empty());
  EXPECT_EQ(g.tensor_floats("after"), (std::vector<float>{1.5f, -2.0f}));
}

TEST(Gguf, Q8_0MatchesHandComputedBlocks) {
  // Block 1: x = j - 16, amax 16: d = float(16/127) = 0.12598425, stored as f16 0x3008 (0.1259765625);
  // q = roundf(x * float(1/d)) with 1/d = 7.9375: ties -63.5 and 63.5 go away from zero.
  // Block 2: amax 127 -> d = 1, q = roundf(x): 2.5 -> 3, -2.5 -> -3, 0.5 -> 1, -0.5 -> -1.
  // Block 3: all zeros -> d = 0, q = 0.
  std::vector<float> x(96, 0.0f);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);
  const float b2[] = {127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 1.49f, -126.6f, 0.0f, 3.5f, -0.49f};
  std::copy(std::begin(b2), std::end(b2), x.begin() + 32);
  std::vector<std::byte> out(3 * 34);
  gt::io::encode_floats(GgmlType::Q8_0, x.data(), 96, out.data());
  auto d_of = [&](int b) {
    uint16_t d;
    std::memcpy(&d, out.data() + b * 34, 2);
    return d;
  };
  auto q_of = [&](int b, int j) { return static_cast<int>(static_cast<int8_t>(out[b * 34 + 2 + j])); };
  EXPECT_EQ(d_of(0), 0x3008);
  const int q1[] = {-127, -119, -111, -103, -95, -87, -79, -71, -64, -56, -48, -40, -32, -24, -16, -8,
                    0,    8,    16,   24,   32,  40,  48,  56,  64,  71,  79,  87,  95,  103, 111, 119};
  for (int j = 0; j < 32; ++j) EXPECT_EQ(q_of(0, j), q1[j]) << j;
  EXPECT_EQ(d_of(1), 0x3c00);
  const int q2[] = {127, 3, -3, 1, -1, 1, -127, 0, 4, 0};
  for (int j = 0; j < 10; ++j) EXPECT_EQ(q_of(1, j), q2[j]) << j;
  for (int j = 10; j < 32; ++j) EXPECT_EQ(q_of(1, j), 0);
  EXPECT_EQ(d_of(2), 0);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(q_of(2, j), 0);

  std::vector<float> back(96);
  gt::io::decode_floats(GgmlType::Q8_0, out.data(), 96, back.data());
  EXPECT_FLOAT_EQ(back[8], -64 * 0.1259765625f);
  EXPECT_FLOAT_EQ(back[33], 3.0f);
}

// Found by fuzzing (fuzz/gguf_roundtrip_fuzz.cpp): a NaN or infinity in a Q8_0 block, or a subnormal scale (1 / d
// overflows), made the int8 conversion undefined (UBSan: "-nan is outside the range of signed char"). Such values are
// stored as 0 (what ggml's reference gives on x86); the finite values of a block holding a NaN keep their quantisation.
TEST(Gguf, Q8_0NonFiniteValuesAreStoredAsZero) {
  std::vector<float> x(96, 0.0f);
  for (int j = 0; j < 32; ++j) x[j] = static_cast<float>(j - 16);
  x[5] = std::numeric_limits<float>::quiet_NaN();
  x[32] = std::numeric_limits<float>::infinity();
  x[33] = 1.0f;
  x[64] = 1e-38f;  // amax 1e-38: d = amax / 127 is subnormal and 1 / d is +inf
  x[65] = -1e-38f;
  std::vector<std::byte> out(3 * 34);
  gt::io::encode_floats(GgmlType::Q8_0, x.data(), 96, out.data());
  auto q_of = [&](int b, int j) { return static_cast<int>(static_cast<int8_t>(out[b * 34 + 2 + j])); };
  EXPECT_EQ(q_of(0, 5), 0);
  EXPECT_EQ(q_of(0, 0), -127);  // -16 with amax 16 (the NaN is not the block's maximum)
  EXPECT_EQ(q_of(0, 31), 119);  // 15 * 7.9375 = 119.06
  EXPECT_EQ(q_of(1, 0), 0);     // inf * (1 / inf) is NaN
  EXPECT_EQ(q_of(1, 1), 0);     // 1 * 0
  EXPECT_EQ(q_of(2, 0), 0);
  EXPECT_EQ(q_of(2, 1), 0);
}

TEST(Gguf, HalfAndBfloatConversionsRoundToNearestEven) {
  using gt::io::float_to_bf16;
  using gt::io::float_to_f16;
  auto bits = [](uint32_t u) { return std::bit_cast<float>(u); };
  EXPECT_EQ(float_to_f16(1.0f), 0x3c00);
  EXPECT_EQ(float_to_f16(-0.0f), 0x8000);
  EXPECT_EQ(float_to_f16(0.1f), 0x2e66);
  EXPECT_EQ(float_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(float_to_f16(65519.99f), 0x7bff);
  EXPECT_EQ(float_to_f16(65520.0f), 0x7c00);  // tie rounds to even = infinity
  EXPECT_EQ(float_to_f16(-1e9f), 0xfc00);
  EXPECT_EQ(float_to_f16(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie to even: zero
  EXPECT_EQ(float_to_f16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(float_to_f16(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 units: tie to even 2
  EXPECT_EQ(float_to_f16(std::ldexp(1023.0f, -24)), 0x03ff);
  EXPECT_EQ(float_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie, even mantissa stays
  EXPECT_EQ(float_to_f16(1.0f + std::ldexp(3.0f, -11)), 0x3c02);  // tie, odd mantissa rounds up
  EXPECT_EQ(float_to_f16(std::numeric_limits<float>::quiet_NaN()) & 0x7e00, 0x7e00);
  for (uint32_t h : {0x0001u, 0x03ffu, 0x0400u, 0x3555u, 0x7bffu, 0x8001u, 0xc000u})
    EXPECT_EQ(float_to_f16(gt::io::f16_to_float(static_cast<uint16_t>(h))), h) << h;
  EXPECT_FLOAT_EQ(gt::io::f16_to_float(0x0001), std::ldexp(1.0f, -24));

  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(float_to_bf16(bits(0x3f808000u)), 0x3f80);  // tie, even stays
  EXPECT_EQ(float_to_bf16(bits(0x3f818000u)), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(float_to_bf16(bits(0x3f808001u)), 0x3f81);
  EXPECT_EQ(float_to_bf16(bits(0x7fa00000u)), 0x7fe0);  // NaN made quiet
  EXPECT_EQ(float_to_bf16(bits(0x00000001u)), 0x0000);  // subnormal input rounds, not flushed
  EXPECT_EQ(float_to_bf16(bits(0x00008000u)), 0x0000);
  EXPECT_EQ(float_to_bf16(bits(0x00018000u)), 0x0002);
}

TEST(Gguf, DataIsAlignedAndPaddedWithZeros) {
  gt::test::TempDir tmp("gguf");
  for (uint32_t align : {0u, 64u}) {
    GgufWriter w;
    w.set("general.architecture", GgufValue::string("x"));
    if (align) w.set("general.alignment", GgufValue::scalar<uint32_t>(align));
    w.add_tensor("a", {3}, GgmlType::F32, std::vector<float>{1, 2, 3});
    w.add_tensor("b", {2, 32}, GgmlType::Q8_0, std::vector<float>(64, 0.5f));
    w.add_tensor("c", {5}, GgmlType::F16, std::vector<float>(5, -1.0f));
    const fs::path p = tmp / ("a" + std::to_string(align) + ".gguf");
    w.write(p.string());
    const size_t want = align ? align : 32;
    EXPECT_EQ(w.alignment(), want);

    GgufFile g = GgufFile::open(p.string());
    EXPECT_EQ(g.alignment(), want);
    EXPECT_EQ(g.data_offset() % want, 0u);
    EXPECT_EQ(g.tensor("a").offset, 0u);
    EXPECT_EQ(g.tensor("b").offset, want);  // 12 bytes padded
    EXPECT_EQ(g.tensor("c").offset, want + (68 + want - 1) / want * want);
    EXPECT_EQ(g.file_size(), g.data_offset() + g.tensor("c").offset + (10 + want - 1) / want * want);
    std::string bytes = gt::test::read_file(p);
    for (size_t i = g.data_offset() + 12; i < g.data_offset() + want; ++i) EXPECT_EQ(bytes[i], '\0') << i;
    EXPECT_EQ(g.tensor_floats("c"), std::vector<float>(5, -1.0f));
  }
  GgufWriter w;
  EXPECT_NE(error_of([&] { w.set("general.alignment", GgufValue::scalar<uint32_t>(48)); }).find("power of two"),
            std::string::npos);
  EXPECT_NE(error_of([&] { w.set("general.alignment", GgufValue::scalar<int32_t>(64)); }).find("expected a u32"),
            std::string::npos);
  // A power of two the reader accepts, but padding with it would take gigabytes.
  EXPECT_NE(error_of([&] { w.set("general.alignment", GgufValue::scalar<uint32_t>(1u << 31)); }).find("up to 65536"),
            std::string::npos);
  w.set("general.alignment", GgufValue::scalar<uint32_t>(1u << 16));
  EXPECT_EQ(w.alignment(), 65536u);
}

TEST(Gguf, RowsAreStreamedInOrderInChunks) {
  gt::test::TempDir tmp("gguf");
  GgufWriter w;
  std::vector<std::pair<int64_t, int64_t>> calls;
  w.add_tensor("big", {10, 32}, GgmlType::F32, [&](int64_t first, int64_t n, float* out) {
    calls.emplace_back(first, n);
    for (int64_t r = 0; r < n; ++r)
      for (int c = 0; c < 32; ++c) out[r * 32 + c] = static_cast<float>(first + r);
  });
  const fs::path p = tmp / "s.gguf";
  w.write(p.string(), /*chunk_bytes=*/3 * 32 * 4);  // three rows at a time
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[0], (std::pair<int64_t, int64_t>{0, 3}));
  EXPECT_EQ(calls[3], (std::pair<int64_t, int64_t>{9, 1}));
  std::vector<float> v = GgufFile::open(p.string()).tensor_floats("big");
  for (int r = 0; r < 10; ++r) EXPECT_EQ(v[r * 32 + 5], static_cast<float>(r));
  EXPECT_FALSE(fs::exists(tmp / "s.gguf.tmp"));
}

TEST(Gguf, WriterRefusesBadTensors) {
  GgufWriter w;
  w.add_tensor("ok", {32}, GgmlType::Q8_0, std::vector<float>(32, 1.0f));
  std::string msg = error_of([&] { w.add_tensor("ok", {1}, GgmlType::F32, std::vector<float>{1}); });
  EXPECT_NE(msg.find("'ok'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("twice"), std::string::npos) << msg;
  msg = error_of([&] { w.add_tensor("q", {2, 33}, GgmlType::Q8_0, std::vector<float>(66)); });
  EXPECT_NE(msg.find("'q'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("blocks of 32"), std::string::npos) << msg;
  msg = error_of([&] { w.add_tensor(std::string(64, 'n'), {1}, GgmlType::F32, std::vector<float>{1}); });
  EXPECT_NE(msg.find("at most 63"), std::string::npos) << msg;
  msg = error_of([&] { w.add_tensor("five", {1, 1, 1, 1, 1}, GgmlType::F32, std::vector<float>{1}); });
  EXPECT_NE(msg.find("1 to 4"), std::string::npos) << msg;
  const auto rows = [](int64_t, int64_t, float*) {};
  msg = error_of([&] { w.add_tensor("huge", {int64_t{1} << 40, int64_t{1} << 40}, GgmlType::F32, rows); });
  EXPECT_NE(msg.find("more than 2^60 values"), std::string::npos) << msg;
  msg = error_of([&] { w.add_tensor("wraps", {int64_t{1} << 62, 8, 4}, GgmlType::F32, rows); });
  EXPECT_NE(msg.find("'wraps'"), std::string::npos) << msg;
  msg = error_of([&] { w.add_tensor("n", {2, 2}, GgmlType::F32, std::vector<float>{1, 2, 3}); });
  EXPECT_NE(msg.find("3 values for shape [2, 2]"), std::string::npos) << msg;
  gt::test::TempDir tmp("gguf");
  msg = error_of([&] { w.write((tmp / "no-such-dir" / "x.gguf").string()); });
  EXPECT_NE(msg.find("cannot create"), std::string::npos) << msg;
}

TEST(Gguf, ReaderRefusesMalformedFiles) {
  gt::test::TempDir tmp("gguf");
  const fs::path good = tmp / "good.gguf";
  const std::string bytes = small_file(good);
  ASSERT_NO_THROW(GgufFile::open(good.string()));
  const size_t kv_start = 24;
  const size_t info_start = kv_start + 8 + 1 + 4 + 4;  // key "a", type u32, value
  const size_t offset_pos = info_start + 8 + 1 + 4 + 8 + 4;

  auto variant = [&](const std::string& name, std::string b) {
    fs::path p = tmp / name;
    gt::test::write_file(p, b);
    return p;
  };
  std::string b = bytes;
  b[0] = 'X';
  expect_open_error(variant("magic.gguf", b), {"not a GGUF file"});
  b = bytes;
  b[4] = 2;
  expect_open_error(variant("version.gguf", b), {"version 2", "reads version 3"});
  expect_open_error(variant("trunc-head.gguf", bytes.substr(0, 30)), {"truncated"});
  expect_open_error(variant("trunc-data.gguf", bytes.substr(0, bytes.size() - 30)), {"tensor 't'", "truncated"});
  b = bytes;
  b[offset_pos] = 32;
  expect_open_error(variant("offset.gguf", b), {"tensor 't' has offset 32, expected 0"});
  b = bytes;
  b[kv_start + 8 + 1] = 13;  // value type
  expect_open_error(variant("vtype.gguf", b), {"key 'a'", "invalid GGUF value type 13"});
  b = bytes;
  b[info_start + 8 + 1 + 4 + 8] = 2;  // ggml type Q4_1
  expect_open_error(variant("ttype.gguf", b), {"tensor 't'", "ggml type 2"});
  b = bytes;
  b[info_start + 8 + 1] = 5;  // n_dims
  expect_open_error(variant("ndims.gguf", b), {"tensor 't'", "5 dimensions"});

  // Two KVs with the same key.
  GgufWriter w;
  w.set("k1", GgufValue::scalar<uint32_t>(1));
  w.set("k2", GgufValue::scalar<uint32_t>(2));
  w.write((tmp / "dup.gguf").string());
  std::string d = gt::test::read_file(tmp / "dup.gguf");
  d[kv_start + 18 + 8 + 1] = '1';  // second key "k2" -> "k1"
  expect_open_error(variant("dupkey.gguf", d), {"key 'k1' appears twice"});
}

// An empty tensor whose other sizes multiply past 2^52 is refused like any too-large shape (a fuzzer found [0, 2^61,
// 2^61] overflowing the element count), and an empty tensor with ordinary sizes still opens.
TEST(Gguf, ReaderRefusesEmptyTensorsOfHugeShape) {
  gt::test::TempDir tmp("gguf");
  auto file_with_dims = [&](const std::string& name, const std::vector<int64_t>& ne) {
    GgufWriter w;
    w.add_tensor("t", {0}, GgmlType::F32, std::vector<float>{});
    const fs::path p = tmp / name;
    w.write(p.string());
    std::string b = gt::test::read_file(p);
    // The tensor info follows the 24-byte header (no KVs): name length and "t", n_dims, the sizes, type, offset.
    const size_t dims_pos = 24 + 8 + 1;
    EXPECT_EQ(u32_at(b, dims_pos), 1u);
    std::string info;
    const uint32_t n = static_cast<uint32_t>(ne.size());
    info.append(reinterpret_cast<const char*>(&n), 4);
    for (int64_t d : ne) info.append(reinterpret_cast<const char*>(&d), 8);
    b.replace(dims_pos, 4 + 8, info);
    b.append(32, '\0');  // the longer info moves the (empty) data section's aligned start: keep it inside the file
    gt::test::write_file(p, b);
    return p;
  };
  expect_open_error(file_with_dims("huge.gguf", {0, int64_t{1} << 61, int64_t{1} << 61}), {"tensor 't'", "too large"});
  expect_open_error(file_with_dims("huge2.gguf", {int64_t{1} << 40, 0, int64_t{1} << 20}), {"tensor 't'", "too large"});
  const fs::path ok = file_with_dims("ok.gguf", {3, 0, 5});
  GgufFile g = GgufFile::open(ok.string());
  EXPECT_EQ(g.tensor("t").shape, (std::vector<int64_t>{5, 0, 3}));
  EXPECT_EQ(g.tensor("t").numel(), 0);
  EXPECT_TRUE(g.tensor_floats("t").empty());
}
