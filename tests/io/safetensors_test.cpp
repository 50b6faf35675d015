// safetensors reading, writing and every refusal path, on files built byte by byte.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "io/safetensors.h"
#include "test_util.h"

namespace fs = std::filesystem;
using gt::InputError;
using gt::io::Checkpoint;
using gt::io::DType;
using gt::io::SafetensorsFile;

namespace {

// Writes a safetensors file from a header text and raw data bytes.
void write_raw(const fs::path& p, const std::string& header, const std::string& data, int64_t len_override = -1) {
  uint64_t n = len_override >= 0 ? static_cast<uint64_t>(len_override) : header.size();
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  gt::test::write_file(p, bytes + header + data);
}

// Expects opening `p` to fail with a message containing every fragment.
void expect_open_error(const fs::path& p, std::initializer_list<std::string> fragments) {
  try {
    SafetensorsFile::open(p.string());
    FAIL() << "expected an error opening " << p;
  } catch (const InputError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(p.string()), std::string::npos) << "message does not name the file: " << msg;
    for (const auto& f : fragments) EXPECT_NE(msg.find(f), std::string::npos) << "missing '" << f << "' in: " << msg;
  }
}

std::vector<float> iota_floats(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) * 0.5f;
  return v;
}

}  // namespace

TEST(Safetensors, WriteThenReadEveryDType) {
  gt::test::TempDir tmp("st");
  std::vector<float> f32 = iota_floats(6);
  std::vector<uint16_t> bf16 = {0x3f80, 0x4000, 0xbf80};
  std::vector<uint16_t> f16 = {0x3c00, 0x4000};
  std::vector<int64_t> i64 = {-1, 2, 1LL << 40};
  std::vector<int32_t> i32 = {7, -7};
  std::vector<uint8_t> u8 = {1, 2, 3, 255};
  std::vector<uint8_t> b = {1, 0, 1};
  std::vector<double> f64 = {3.25};
  std::vector<gt::io::TensorBytes> ts = {
      {"a.f32", DType::F32, {2, 3}, f32.data(), f32.size() * 4},
      {"b.bf16", DType::BF16, {3}, bf16.data(), bf16.size() * 2},
      {"c.f16", DType::F16, {2}, f16.data(), f16.size() * 2},
      {"d.i64", DType::I64, {3}, i64.data(), i64.size() * 8},
      {"e.i32", DType::I32, {2, 1}, i32.data(), i32.size() * 4},
      {"f.u8", DType::U8, {4}, u8.data(), u8.size()},
      {"g.bool", DType::BOOL, {3}, b.data(), b.size()},
      {"h.f64", DType::F64, {}, f64.data(), 8},
      {"i.empty", DType::F32, {0, 4}, nullptr, 0},
  };
  fs::path p = tmp / "x.safetensors";
  gt::io::write_safetensors(p.string(), ts, {{"format", "pt"}, {"note", "test"}});
  EXPECT_FALSE(fs::exists(p.string() + ".tmp"));
  {
    std::string bytes = gt::test::read_file(p);
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | static_cast<uint8_t>(bytes[i]);
    EXPECT_EQ(header_len % 8, 0u) << "the header is padded so that the data section starts 8-byte aligned";
  }

  auto f = SafetensorsFile::open(p.string());
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->metadata().at("note"), "test");
  ASSERT_EQ(f->tensors().size(), ts.size());
  for (const auto& t : ts) {
    const gt::io::TensorInfo* info = f->find(t.name);
    ASSERT_NE(info, nullptr) << t.name;
    EXPECT_EQ(info->dtype, t.dtype) << t.name;
    EXPECT_EQ(info->shape, t.shape) << t.name;
    EXPECT_EQ(info->begin % gt::io::dtype_size(t.dtype), 0u) << t.name << " is not aligned";
    gt::io::TensorView v = f->view(t.name);
    ASSERT_EQ(v.info.nbytes(), t.nbytes);
    if (t.nbytes) EXPECT_EQ(std::memcmp(v.data, t.data, t.nbytes), 0) << t.name;
  }
}

TEST(Safetensors, WriterRefusesBadInput) {
  gt::test::TempDir tmp("st");
  float x[4] = {};
  EXPECT_THROW(gt::io::write_safetensors((tmp / "a.safetensors").string(),
                                         {{"w", DType::F32, {2, 3}, x, 16}}),
               InputError);  // 6 elements need 24 bytes
  EXPECT_THROW(gt::io::write_safetensors((tmp / "b.safetensors").string(),
                                         {{"w", DType::F32, {1}, x, 4}, {"w", DType::F32, {1}, x, 4}}),
               InputError);
  EXPECT_THROW(gt::io::write_safetensors((tmp / "c.safetensors").string(),
                                         {{"w", DType::F32, {1}, x, 4}, {"w", DType::BF16, {2}, x, 4}}),
               InputError);
}

TEST(Safetensors, TruncatedFile) {
  gt::test::TempDir tmp("st");
  gt::test::write_file(tmp / "short.safetensors", "abc");
  expect_open_error(tmp / "short.safetensors", {"truncated", "3 bytes"});
  // Data section shorter than the header promises.
  write_raw(tmp / "cut.safetensors", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(8, '\0'));
  expect_open_error(tmp / "cut.safetensors", {"'w'", "past the end of the data section", "truncated"});
}

TEST(Safetensors, HeaderPastTheEnd) {
  gt::test::TempDir tmp("st");
  write_raw(tmp / "h.safetensors", R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "", 4096);
  expect_open_error(tmp / "h.safetensors", {"header of 4096 bytes runs past the end"});
  write_raw(tmp / "huge.safetensors", "{}", "", 1LL << 40);
  expect_open_error(tmp / "huge.safetensors", {"not plausible"});
}

TEST(Safetensors, HeaderNotJson) {
  gt::test::TempDir tmp("st");
  write_raw(tmp / "j.safetensors", "{not json", "");
  expect_open_error(tmp / "j.safetensors", {"not valid JSON"});
  write_raw(tmp / "arr.safetensors", "[1,2]", "");
  expect_open_error(tmp / "arr.safetensors", {"expected a JSON object"});
  write_raw(tmp / "meta.safetensors", R"({"__metadata__":{"a":1}})", "");
  expect_open_error(tmp / "meta.safetensors", {"__metadata__", "not a string"});
}

// Found by fuzzing (fuzz/safetensors_fuzz.cpp): a number past double's range makes nlohmann's parser throw
// out_of_range, which escaped as a non-InputError, from a shard's header and from the index alike.
TEST(Safetensors, NumberPastDoubleRangeIsNotValidJson) {
  gt::test::TempDir tmp("st");
  write_raw(tmp / "n.safetensors", R"({"__metadata__": {"a": "b"}, "x": 1e999})", "");
  expect_open_error(tmp / "n.safetensors", {"header is not valid JSON", "number overflow"});
  gt::test::write_file(tmp / "model.safetensors.index.json", R"({"metadata": {"total_size": 1e999}, "weight_map": {}})");
  const std::string m = gt::test::error_of([&] { Checkpoint::open(tmp.path().string()); });
  EXPECT_NE(m.find("model.safetensors.index.json: not valid JSON"), std::string::npos) << m;
}

TEST(Safetensors, OverlappingData) {
  gt::test::TempDir tmp("st");
  write_raw(tmp / "o.safetensors",
            R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
            std::string(12, '\0'));
  expect_open_error(tmp / "o.safetensors", {"'b'", "overlaps tensor 'a'"});
}

TEST(Safetensors, MisalignedData) {
  gt::test::TempDir tmp("st");
  write_raw(tmp / "m.safetensors",
            R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
            std::string(6, '\0'));
  expect_open_error(tmp / "m.safetensors", {"'b'", "misaligned", "begin 2"});
}

TEST(Safetensors, UnknownDType) {
  gt::test::TempDir tmp("st");
  write_raw(tmp / "d.safetensors", R"({"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", std::string(2, '\0'));
  expect_open_error(tmp / "d.safetensors", {"'a'", "unknown dtype \"F8_E4M3\""});
}

TEST(Safetensors, ShapeDoesNotMatchByteCount) {
  gt::test::TempDir tmp("st");
  write_raw(tmp / "s.safetensors", R"({"a":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}})", std::string(8, '\0'));
  expect_open_error(tmp / "s.safetensors", {"'a'", "[2, 3]", "needs 12 bytes", "span 8"});
  write_raw(tmp / "n.safetensors", R"({"a":{"dtype":"BF16","shape":[-2],"data_offsets":[0,4]}})", std::string(4, '\0'));
  expect_open_error(tmp / "n.safetensors", {"'a'", "not a non-negative integer"});
  write_raw(tmp / "k.safetensors", R"({"a":{"dtype":"BF16","shape":[2]}})", std::string(4, '\0'));
  expect_open_error(tmp / "k.safetensors", {"'a'", "no \"data_offsets\""});
}

// Sizes whose product overflows 64 bits, alone or beside a zero (an empty tensor), are refused naming the tensor
// rather than multiplied; an empty tensor of ordinary sizes opens.
TEST(Safetensors, ShapeTooLargeIsRefused) {
  gt::test::TempDir tmp("st");
  write_raw(tmp / "h.safetensors", R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", "");
  expect_open_error(tmp / "h.safetensors", {"'a'", "is too large"});
  write_raw(tmp / "z.safetensors",
            R"({"a":{"dtype":"F32","shape":[0,9223372036854775807,9223372036854775807],"data_offsets":[0,0]}})", "");
  expect_open_error(tmp / "z.safetensors", {"'a'", "is too large"});
  write_raw(tmp / "u.safetensors", R"({"a":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,0]}})", "");
  expect_open_error(tmp / "u.safetensors", {"'a'", "is too large"});
  write_raw(tmp / "e.safetensors", R"({"a":{"dtype":"F32","shape":[3,0,5],"data_offsets":[0,0]}})", "");
  const auto ckpt = gt::io::Checkpoint::open((tmp / "e.safetensors").string());
  EXPECT_EQ(ckpt.info("a").numel(), 0);
}

TEST(Safetensors, MissingTensorNamesFile) {
  gt::test::TempDir tmp("st");
  float x = 1;
  gt::io::write_safetensors((tmp / "model.safetensors").string(), {{"present", DType::F32, {1}, &x, 4}});
  auto f = SafetensorsFile::open((tmp / "model.safetensors").string());
  EXPECT_EQ(f->find("absent"), nullptr);
  try {
    f->view("absent");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no tensor named 'absent'"), std::string::npos) << e.what();
  }
  Checkpoint c = Checkpoint::open(tmp.path().string());
  try {
    c.view("model.absent");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no tensor named 'model.absent'"), std::string::npos) << e.what();
  }
  try {
    c.expect_shape("present", {2}, "hidden_size");
    FAIL();
  } catch (const InputError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("'present' has shape [1], expected [2] (hidden_size)"), std::string::npos) << m;
  }
  EXPECT_NO_THROW(c.expect_shape("present", {1}, "x"));
}

TEST(Safetensors, MissingFileAndFolder) {
  gt::test::TempDir tmp("st");
  EXPECT_THROW(SafetensorsFile::open((tmp / "nope.safetensors").string()), InputError);
  try {
    Checkpoint::open(tmp.path().string());
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no model.safetensors.index.json and no model.safetensors"),
              std::string::npos)
        << e.what();
  }
}

TEST(Safetensors, ShardedCheckpointOpensShardsLazily) {
  gt::test::TempDir tmp("st");
  float a[2] = {1, 2}, b[3] = {3, 4, 5};
  gt::io::write_safetensors((tmp / "model-00001-of-00002.safetensors").string(),
                            {{"model.language_model.x", DType::F32, {2}, a, 8}});
  gt::io::write_safetensors((tmp / "model-00002-of-00002.safetensors").string(),
                            {{"model.audio_tower.y", DType::F32, {3}, b, 12}});
  gt::io::write_safetensors_index(tmp.path().string(),
                                  {{"model.language_model.x", "model-00001-of-00002.safetensors"},
                                   {"model.audio_tower.y", "model-00002-of-00002.safetensors"}},
                                  20);
  Checkpoint c = Checkpoint::open(tmp.path().string());
  EXPECT_EQ(c.shard_count(), 2u);
  EXPECT_EQ(c.opened_shard_count(), 0u);
  EXPECT_EQ(c.names(), (std::vector<std::string>{"model.audio_tower.y", "model.language_model.x"}));
  EXPECT_EQ(c.metadata().at("total_size"), "20");
  gt::io::TensorView v = c.view("model.language_model.x");
  EXPECT_EQ(reinterpret_cast<const float*>(v.data)[1], 2.0f);
  EXPECT_EQ(c.opened_shard_count(), 1u) << "reading the text tensor must not open the audio shard";
  EXPECT_EQ(c.info("model.audio_tower.y").shape, std::vector<int64_t>{3});
  EXPECT_EQ(c.opened_shard_count(), 2u);
}

TEST(Safetensors, ShardedIndexErrors) {
  gt::test::TempDir tmp("st");
  float a = 1;
  gt::io::write_safetensors((tmp / "s1.safetensors").string(), {{"x", DType::F32, {1}, &a, 4}});
  gt::test::write_file(tmp / "model.safetensors.index.json", R"({"weight_map": {"x": "s1.safetensors", "y": "s2.safetensors"}})");
  try {
    Checkpoint::open(tmp.path().string());
    FAIL();
  } catch (const InputError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("model.safetensors.index.json"), std::string::npos) << m;
    EXPECT_NE(m.find("'y' is in shard s2.safetensors, which does not exist"), std::string::npos) << m;
  }
  gt::test::write_file(tmp / "model.safetensors.index.json", R"({"weight_map": {"x": "s1.safetensors", "z": "s1.safetensors"}})");
  Checkpoint c = Checkpoint::open(tmp.path().string());
  try {
    c.info("z");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("lists tensor 'z' in"), std::string::npos) << e.what();
  }
  gt::test::write_file(tmp / "model.safetensors.index.json", R"({"weights": {}})");
  EXPECT_THROW(Checkpoint::open(tmp.path().string()), InputError);
  gt::test::write_file(tmp / "model.safetensors.index.json", "{oops");
  EXPECT_THROW(Checkpoint::open(tmp.path().string()), InputError);
}
