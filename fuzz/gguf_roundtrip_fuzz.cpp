// GGUF writing then reading (io/gguf.h): the input describes metadata (every value type, scalars and arrays, the
// alignment key included) and tensors (names, 1-4 dimensions, the four tensor types, float values); GgufWriter
// writes them and GgufFile reads them back. A file the writer accepts must open, with the same metadata in the same
// order, the same tensor names, shapes and types, and each tensor's bytes equal to encode_floats of its values.
// What the writer refuses must be a gt::InputError.
#include <fuzzer/FuzzedDataProvider.h>

#include <bit>
#include <cstring>

#include "fuzz_util.h"
#include "io/gguf.h"

namespace {

using gt::io::GgmlType;
using gt::io::GgufValue;
using gt::io::GgufValueType;

template <typename T>
GgufValue numbers(FuzzedDataProvider& in, bool array) {
  auto one = [&] {
    if constexpr (std::is_same_v<T, bool>) return in.ConsumeBool();
    else if constexpr (std::is_floating_point_v<T>) {
      T v;
      const auto bytes = in.ConsumeBytes<uint8_t>(sizeof(T));
      std::memset(&v, 0, sizeof(T));
      if (!bytes.empty()) std::memcpy(&v, bytes.data(), bytes.size());
      return v;
    } else return in.ConsumeIntegral<T>();
  };
  if (!array) return GgufValue::scalar<T>(one());
  std::vector<T> v(in.ConsumeIntegralInRange<size_t>(0, 8));
  for (size_t i = 0; i < v.size(); ++i) v[i] = one();
  return GgufValue::array<T>(v);
}

GgufValue value(FuzzedDataProvider& in) {
  const bool array = in.ConsumeBool();
  switch (in.ConsumeIntegralInRange<int>(0, 12)) {
    case 0: return numbers<uint8_t>(in, array);
    case 1: return numbers<int8_t>(in, array);
    case 2: return numbers<uint16_t>(in, array);
    case 3: return numbers<int16_t>(in, array);
    case 4: return numbers<uint32_t>(in, array);
    case 5: return numbers<int32_t>(in, array);
    case 6: return numbers<float>(in, array);
    case 7: return numbers<bool>(in, array);
    case 8: return numbers<uint64_t>(in, array);
    case 9: return numbers<int64_t>(in, array);
    case 10: return numbers<double>(in, array);
    default: {
      if (!array) return GgufValue::string(in.ConsumeRandomLengthString(64));
      std::vector<std::string> v(in.ConsumeIntegralInRange<size_t>(0, 4));
      for (auto& s : v) s = in.ConsumeRandomLengthString(32);
      return GgufValue::array(v);
    }
  }
}

const GgmlType kTypes[] = {GgmlType::F32, GgmlType::F16, GgmlType::Q8_0, GgmlType::BF16};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  struct Declared {
    std::string name;
    std::vector<int64_t> shape;
    GgmlType type;
    std::vector<float> values;
  };
  gt::io::GgufWriter w;
  std::vector<Declared> declared;
  bool written = false;
  const std::string path = gt::fuzz::input_file("roundtrip.gguf", "");
  gt::fuzz::expect_input_errors([&] {
    for (int n = in.ConsumeIntegralInRange<int>(0, 6); n > 0; --n) {
      std::string key = in.ConsumeBool() ? "general.alignment" : in.ConsumeRandomLengthString(24);
      GgufValue v = in.ConsumeBool() ? GgufValue::scalar<uint32_t>(1u << in.ConsumeIntegralInRange<int>(0, 12))
                                     : value(in);
      // The writer pads every tensor to the alignment with a buffer of that size: keep it small (up to 2^31 is valid).
      if (key == "general.alignment" && v.type() == GgufValueType::UInt32 && !v.is_array() && v.get<uint32_t>() > 4096)
        continue;
      w.set(key, v);
    }
    for (int n = in.ConsumeIntegralInRange<int>(0, 4); n > 0; --n) {
      Declared t;
      t.name = in.ConsumeRandomLengthString(70);
      t.type = kTypes[in.ConsumeIntegralInRange<int>(0, 3)];
      t.shape.resize(in.ConsumeIntegralInRange<size_t>(1, 4));
      int64_t numel = 1;
      for (auto& d : t.shape) {
        d = in.ConsumeIntegralInRange<int64_t>(0, 3);
        numel *= d;
      }
      if (t.type == GgmlType::Q8_0 || in.ConsumeBool()) {
        numel = numel / std::max<int64_t>(t.shape.back(), 1);
        t.shape.back() = 32 * in.ConsumeIntegralInRange<int64_t>(0, 2);
        numel *= t.shape.back();
      }
      // Any float32 bit pattern (NaN and infinities included: a model's weights can hold them) or a plain value.
      const bool raw_bits = in.ConsumeBool();
      for (int64_t i = 0; i < numel; ++i)
        t.values.push_back(raw_bits ? std::bit_cast<float>(in.ConsumeIntegral<uint32_t>()) : in.ConsumeFloatingPoint<float>());
      w.add_tensor(t.name, t.shape, t.type, t.values);
      declared.push_back(std::move(t));
    }
    w.write(path, in.ConsumeIntegralInRange<size_t>(1, 4096));
    written = true;
  });
  if (!written) return 0;

  try {
    const gt::io::GgufFile f = gt::io::GgufFile::open(path);
    if (f.metadata() != w.metadata()) gt::fuzz::finding("metadata read back differs from what was written");
    if (f.tensors().size() != declared.size()) gt::fuzz::finding("tensor count differs");
    for (size_t i = 0; i < declared.size(); ++i) {
      const auto& t = f.tensors()[i];
      const Declared& d = declared[i];
      if (t.name != d.name || t.shape != d.shape || t.type != d.type) gt::fuzz::finding("tensor info differs");
      std::vector<std::byte> expected(gt::io::ggml_nbytes(d.type, int64_t(d.values.size())));
      if (!d.values.empty())
        gt::io::encode_floats(d.type, d.values.data(), int64_t(d.values.size()), expected.data());
      const auto bytes = f.tensor_bytes(t);
      if (bytes.size() != expected.size() || !std::equal(bytes.begin(), bytes.end(), expected.begin()))
        gt::fuzz::finding("tensor bytes differ from encode_floats of the values");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "the reader refuses what the writer wrote: %s\n", e.what());
    gt::fuzz::finding("written GGUF does not read back");
  }
  return 0;
}
