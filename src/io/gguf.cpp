#include "io/gguf.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "core/error.h"       // defines: gt::fail_input, gt::cat
#include "io/mapped_file.h"   // defines: gt::io::MappedFile

static_assert(std::endian::native == std::endian::little, "GGUF values are read and written as host bytes");

namespace gt::io {

namespace {

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr const char* kAlignmentKey = "general.alignment";
constexpr int kMaxDims = 4;  // GGML_MAX_DIMS

size_t value_type_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::UInt8: case GgufValueType::Int8: case GgufValueType::Bool: return 1;
    case GgufValueType::UInt16: case GgufValueType::Int16: return 2;
    case GgufValueType::UInt32: case GgufValueType::Int32: case GgufValueType::Float32: return 4;
    case GgufValueType::UInt64: case GgufValueType::Int64: case GgufValueType::Float64: return 8;
    case GgufValueType::String: case GgufValueType::Array: return 0;
  }
  return 0;
}

bool valid_element_type(uint32_t t) { return t <= 12 && t != static_cast<uint32_t>(GgufValueType::Array); }

uint64_t pad_to(uint64_t x, uint64_t alignment) { return (x + alignment - 1) / alignment * alignment; }

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Alignment named by a "general.alignment" value; `where` prefixes the message.
size_t alignment_from(const GgufValue& v, const std::string& where) {
  if (v.type() != GgufValueType::UInt32 || v.is_array())
    fail_input(where, ": ", kAlignmentKey, " is ", v.describe(), ", expected a u32");
  uint32_t a = v.get<uint32_t>();
  if (a == 0 || (a & (a - 1)) != 0) fail_input(where, ": ", kAlignmentKey, " is ", a, ", expected a power of two");
  return a;
}

// ---- serialisation helpers ----

void put_bytes(std::string& out, const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
template <typename T>
void put(std::string& out, T v) {
  put_bytes(out, &v, sizeof(T));
}
void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

void put_value(std::string& out, const GgufValue& v) {
  if (v.is_array()) {
    put<uint32_t>(out, static_cast<uint32_t>(GgufValueType::Array));
    put<uint32_t>(out, static_cast<uint32_t>(v.type()));
    put<uint64_t>(out, v.size());
  } else {
    put<uint32_t>(out, static_cast<uint32_t>(v.type()));
  }
  if (v.type() == GgufValueType::String) {
    for (const auto& s : v.strings()) put_string(out, s);
  } else {
    put_bytes(out, v.raw().data(), v.raw().size());
  }
}

// Reads the header of a mapped file, failing with "<file>: <what>".
class Cursor {
 public:
  Cursor(const std::string& path, const std::byte* data, size_t size) : path_(path), data_(data), size_(size) {}

  [[noreturn]] void fail(const std::string& what) const { fail_input(path_, ": ", what); }
  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  void need(uint64_t n, const char* what) const {
    if (n > remaining())
      fail(cat("file ends inside the ", what, " at byte ", pos_, " (", n, " bytes needed, ", remaining(),
               " left); the file is truncated or not a GGUF file"));
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const char* what) {
    uint64_t n = read<uint64_t>(what);
    need(n, what);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }
  void read_raw(std::vector<uint8_t>& out, uint64_t n, const char* what) {
    need(n, what);
    out.assign(reinterpret_cast<const uint8_t*>(data_ + pos_), reinterpret_cast<const uint8_t*>(data_ + pos_ + n));
    pos_ += n;
  }

 private:
  std::string path_;
  const std::byte* data_;
  size_t size_;
  size_t pos_ = 0;
};

GgufValue read_value(Cursor& c, const std::string& key) {
  uint32_t type = c.read<uint32_t>("KV value type");
  bool array = false;
  uint64_t count = 1;
  if (type == static_cast<uint32_t>(GgufValueType::Array)) {
    array = true;
    type = c.read<uint32_t>("KV array type");
    if (type == static_cast<uint32_t>(GgufValueType::Array))
      c.fail(cat("key '", key, "' is an array of arrays, which GGUF does not allow"));
    count = c.read<uint64_t>("KV array length");
  }
  if (!valid_element_type(type)) c.fail(cat("key '", key, "' has invalid GGUF value type ", type));
  auto t = static_cast<GgufValueType>(type);
  std::vector<uint8_t> bytes;
  std::vector<std::string> strings;
  if (t == GgufValueType::String) {
    // Each string takes at least its 8-byte length: a count beyond that is a corrupt header, not a huge array.
    if (count > c.remaining() / 8) c.fail(cat("key '", key, "' claims ", count, " strings, more than the file holds"));
    strings.reserve(count);
    for (uint64_t i = 0; i < count; ++i) strings.push_back(c.read_string("KV string"));
  } else {
    size_t es = value_type_size(t);
    if (count > c.remaining() / es) c.fail(cat("key '", key, "' claims ", count, " elements, more than the file holds"));
    c.read_raw(bytes, count * es, "KV value");
    if (t == GgufValueType::Bool)
      for (uint8_t b : bytes)
        if (b > 1) c.fail(cat("key '", key, "' holds a bool byte ", int(b), ", expected 0 or 1"));
  }
  return GgufValue::from_raw(t, array, std::move(bytes), std::move(strings), count);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// GgufValue

std::string_view gguf_value_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::UInt8: return "u8";
    case GgufValueType::Int8: return "i8";
    case GgufValueType::UInt16: return "u16";
    case GgufValueType::Int16: return "i16";
    case GgufValueType::UInt32: return "u32";
    case GgufValueType::Int32: return "i32";
    case GgufValueType::Float32: return "f32";
    case GgufValueType::Bool: return "bool";
    case GgufValueType::String: return "string";
    case GgufValueType::Array: return "array";
    case GgufValueType::UInt64: return "u64";
    case GgufValueType::Int64: return "i64";
    case GgufValueType::Float64: return "f64";
  }
  return "?";
}

GgufValue GgufValue::from_raw(GgufValueType type, bool array, std::vector<uint8_t> bytes,
                              std::vector<std::string> strings, size_t count) {
  GgufValue v(type, array);
  v.bytes_ = std::move(bytes);
  v.strings_ = std::move(strings);
  v.count_ = count;
  return v;
}

std::string GgufValue::describe() const {
  if (array_) return cat("array of ", count_, " ", gguf_value_type_name(type_));
  if (type_ == GgufValueType::String) {
    std::string s = strings_[0].size() > 40 ? strings_[0].substr(0, 40) + "..." : strings_[0];
    return cat("string \"", s, "\"");
  }
  if (type_ == GgufValueType::Float32 || type_ == GgufValueType::Float64)
    return cat(gguf_value_type_name(type_), " ", as_double());
  return cat(gguf_value_type_name(type_), " ", as_int());
}

void GgufValue::check(GgufValueType want, bool want_array) const {
  if (type_ != want || array_ != want_array)
    fail_input("GGUF value is ", describe(), ", expected ", want_array ? "an array of " : "a ",
               gguf_value_type_name(want));
}

int64_t GgufValue::as_int() const {
  if (array_) fail_input("GGUF value is ", describe(), ", expected an integer");
  switch (type_) {
    case GgufValueType::UInt8: return element<uint8_t>(0);
    case GgufValueType::Int8: return element<int8_t>(0);
    case GgufValueType::UInt16: return element<uint16_t>(0);
    case GgufValueType::Int16: return element<int16_t>(0);
    case GgufValueType::UInt32: return element<uint32_t>(0);
    case GgufValueType::Int32: return element<int32_t>(0);
    case GgufValueType::Bool: return element<bool>(0) ? 1 : 0;
    case GgufValueType::UInt64: return static_cast<int64_t>(element<uint64_t>(0));
    case GgufValueType::Int64: return element<int64_t>(0);
    default: fail_input("GGUF value is ", describe(), ", expected an integer");
  }
}

double GgufValue::as_double() const {
  if (!array_ && type_ == GgufValueType::Float32) return element<float>(0);
  if (!array_ && type_ == GgufValueType::Float64) return element<double>(0);
  if (!array_ && type_ != GgufValueType::String) return static_cast<double>(as_int());
  fail_input("GGUF value is ", describe(), ", expected a number");
}

// ---------------------------------------------------------------------------------------------------------------
// Tensor types and conversions

std::string_view ggml_type_name(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return "F32";
    case GgmlType::F16: return "F16";
    case GgmlType::Q8_0: return "Q8_0";
    case GgmlType::BF16: return "BF16";
  }
  return "?";
}

std::optional<GgmlType> ggml_type_from_id(uint32_t id) {
  switch (id) {
    case 0: return GgmlType::F32;
    case 1: return GgmlType::F16;
    case 8: return GgmlType::Q8_0;
    case 30: return GgmlType::BF16;
    default: return std::nullopt;
  }
}

int64_t ggml_block_size(GgmlType t) { return t == GgmlType::Q8_0 ? 32 : 1; }

size_t ggml_block_bytes(GgmlType t) {
  switch (t) {
    case GgmlType::F32: return 4;
    case GgmlType::F16: case GgmlType::BF16: return 2;
    case GgmlType::Q8_0: return 2 + 32;
  }
  return 0;
}

uint64_t ggml_nbytes(GgmlType t, int64_t numel) {
  return static_cast<uint64_t>(numel / ggml_block_size(t)) * ggml_block_bytes(t);
}

uint16_t float_to_f16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t a = x & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN -> quiet NaN
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 rounds to infinity
  if (a >= 0x38800000u) {                                               // normal half (>= 2^-14)
    uint32_t h = ((((a >> 23) - 127 + 15) << 10) | ((a & 0x7fffffu) >> 13));
    uint32_t rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry into the exponent is still correct
    return static_cast<uint16_t>(sign | h);
  }
  // Subnormal half: units of 2^-24.
  uint32_t e = a >> 23;
  if (e < 102) return static_cast<uint16_t>(sign);  // below 2^-25: rounds to zero
  uint64_t m = (a & 0x7fffffu) | 0x800000u;
  uint32_t shift = 126 - e;  // 14..24
  uint64_t h = m >> shift;
  uint64_t rem = m & ((uint64_t(1) << shift) - 1);
  uint64_t half = uint64_t(1) << (shift - 1);
  if (rem > half || (rem == half && (h & 1u))) ++h;
  return static_cast<uint16_t>(sign | h);
}

float f16_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu;
  uint32_t m = h & 0x3ffu;
  uint32_t bits;
  if (e == 0x1f) {
    bits = sign | 0x7f800000u | (m << 13);
  } else if (e != 0) {
    bits = sign | ((e - 15 + 127) << 23) | (m << 13);
  } else if (m == 0) {
    bits = sign;
  } else {
    // Subnormal: normalise.
    int shift = 0;
    while ((m & 0x400u) == 0) {
      m <<= 1;
      ++shift;
    }
    bits = sign | (uint32_t(127 - 15 + 1 - shift) << 23) | ((m & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

uint16_t float_to_bf16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 64u);  // NaN, kept quiet
  return static_cast<uint16_t>((u + (0x7fffu + ((u >> 16) & 1u))) >> 16);
}

float bf16_to_float(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

void encode_floats(GgmlType t, const float* x, int64_t n, std::byte* out) {
  switch (t) {
    case GgmlType::F32:
      std::memcpy(out, x, size_t(n) * 4);
      return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h = float_to_f16(x[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h = float_to_bf16(x[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case GgmlType::Q8_0: {
      GT_CHECK(n % 32 == 0, "Q8_0 needs a multiple of 32 values, got ", n);
      for (int64_t b = 0; b < n / 32; ++b) {
        const float* xb = x + b * 32;
        std::byte* ob = out + b * 34;
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xb[j]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint16_t dh = float_to_f16(d);
        std::memcpy(ob, &dh, 2);
        for (int j = 0; j < 32; ++j) {
          // NaN (a NaN in the block, or inf * 0 when it holds an infinity) and +-inf (1 / d overflows when d is
          // subnormal) have no int8 value, and converting them is undefined; 0 is what ggml's reference code gives
          // for them on x86 (cvttss2si yields 0x80000000, whose low byte is 0). Finite values round into [-127, 127].
          const float r = std::roundf(xb[j] * id);
          auto q = static_cast<int8_t>(std::isfinite(r) ? r : 0.0f);
          std::memcpy(ob + 2 + j, &q, 1);
        }
      }
      return;
    }
  }
}

void decode_floats(GgmlType t, const std::byte* in, int64_t n, float* out) {
  switch (t) {
    case GgmlType::F32:
      std::memcpy(out, in, size_t(n) * 4);
      return;
    case GgmlType::F16:
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, in + 2 * i, 2);
        out[i] = t == GgmlType::F16 ? f16_to_float(h) : bf16_to_float(h);
      }
      return;
    case GgmlType::Q8_0:
      GT_CHECK(n % 32 == 0, "Q8_0 needs a multiple of 32 values, got ", n);
      for (int64_t b = 0; b < n / 32; ++b) {
        uint16_t dh;
        std::memcpy(&dh, in + b * 34, 2);
        const float d = f16_to_float(dh);
        for (int j = 0; j < 32; ++j) {
          int8_t q;
          std::memcpy(&q, in + b * 34 + 2 + j, 1);
          out[b * 32 + j] = d * static_cast<float>(q);
        }
      }
      return;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Writer

void GgufWriter::set(const std::string& key, GgufValue value) {
  if (key.empty()) fail_input("GGUF metadata: empty key");
  // The writer pads with a buffer of one alignment's zeros: a sensible alignment, not any u32 power of two.
  if (key == kAlignmentKey && alignment_from(value, "GGUF metadata") > kGgufMaxWriteAlignment)
    fail_input("GGUF metadata: ", kAlignmentKey, " is ", value.get<uint32_t>(), "; gemma-tune writes alignments up to ",
               kGgufMaxWriteAlignment, " bytes");
  for (auto& [k, v] : kv_)
    if (k == key) {
      v = std::move(value);
      return;
    }
  kv_.emplace_back(key, std::move(value));
}

const GgufValue* GgufWriter::find(std::string_view key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

void GgufWriter::erase(std::string_view key) {
  std::erase_if(kv_, [&](const auto& kv) { return kv.first == key; });
}

size_t GgufWriter::alignment() const {
  const GgufValue* v = find(kAlignmentKey);
  return v ? alignment_from(*v, "GGUF metadata") : kGgufDefaultAlignment;
}

namespace {
// Values of a tensor the writer can hold; throws gt::InputError naming the tensor for a negative size or a count
// whose bytes (at most 4 per value) would not fit 64 bits.
int64_t writable_numel(const std::string& name, const std::vector<int64_t>& shape) {
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) fail_input("GGUF tensor '", name, "': shape ", shape_text(shape), " has a negative size");
    if (__builtin_mul_overflow(numel, d, &numel) || numel > (int64_t{1} << 60))
      fail_input("GGUF tensor '", name, "': shape ", shape_text(shape), " has more than 2^60 values");
  }
  return numel;
}
}  // namespace

void GgufWriter::add_tensor(const std::string& name, const std::vector<int64_t>& shape, GgmlType type,
                            RowSource source) {
  auto bad = [&](auto&&... parts) { fail_input("GGUF tensor '", name, "': ", parts...); };
  if (name.empty()) fail_input("GGUF tensor with an empty name");
  if (name.size() > kGgufMaxNameBytes)
    bad("name has ", name.size(), " bytes; ggml allows at most ", kGgufMaxNameBytes);
  for (const auto& t : tensors_)
    if (t.name == name) bad("added twice");
  if (shape.empty() || shape.size() > size_t(kMaxDims))
    bad("shape ", shape_text(shape), " has ", shape.size(), " dimensions; GGUF holds 1 to ", kMaxDims);
  writable_numel(name, shape);
  if (shape.back() % ggml_block_size(type) != 0)
    bad("rows of ", shape.back(), " values cannot be stored as ", ggml_type_name(type), " (blocks of ",
        ggml_block_size(type), ")");
  if (!source) bad("no data source");
  tensors_.push_back({name, shape, type, std::move(source)});
}

void GgufWriter::add_tensor(const std::string& name, const std::vector<int64_t>& shape, GgmlType type,
                            std::vector<float> values) {
  const int64_t numel = writable_numel(name, shape);
  if (static_cast<int64_t>(values.size()) != numel)
    fail_input("GGUF tensor '", name, "': ", values.size(), " values for shape ", shape_text(shape), " (", numel,
               " elements)");
  int64_t row = shape.empty() ? 1 : shape.back();
  auto data = std::make_shared<std::vector<float>>(std::move(values));
  add_tensor(name, shape, type, [data, row](int64_t first, int64_t n, float* out) {
    std::copy_n(data->data() + first * row, n * row, out);
  });
}

void GgufWriter::write(const std::string& path, size_t chunk_bytes) const {
  const size_t align = alignment();

  // Header, metadata and tensor infos.
  std::string head;
  head.append(kMagic, 4);
  put<uint32_t>(head, kGgufVersion);
  put<int64_t>(head, static_cast<int64_t>(tensors_.size()));
  put<int64_t>(head, static_cast<int64_t>(kv_.size()));
  for (const auto& [k, v] : kv_) {
    put_string(head, k);
    put_value(head, v);
  }
  uint64_t offset = 0;
  std::vector<uint64_t> nbytes;
  for (const auto& t : tensors_) {
    put_string(head, t.name);
    put<uint32_t>(head, static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) put<int64_t>(head, *it);
    put<uint32_t>(head, static_cast<uint32_t>(t.type));
    put<uint64_t>(head, offset);
    int64_t numel = 1;
    for (int64_t d : t.shape) numel *= d;
    nbytes.push_back(ggml_nbytes(t.type, numel));
    offset += pad_to(nbytes.back(), align);
  }
  head.resize(pad_to(head.size(), align), '\0');

  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) fail_input(path, ": cannot create ", tmp, ": ", std::strerror(errno));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, &std::fclose);
  auto write_bytes = [&](const void* p, size_t n) {
    if (n && std::fwrite(p, 1, n, f) != n) {
      int err = errno;
      closer.reset();
      std::remove(tmp.c_str());
      fail_input(path, ": write failed: ", std::strerror(err));
    }
  };
  write_bytes(head.data(), head.size());

  std::vector<float> rows;
  std::vector<std::byte> encoded;
  const std::vector<std::byte> zeros(align, std::byte{0});
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& t = tensors_[i];
    const int64_t row_len = t.shape.back();
    int64_t n_rows = 1;
    for (size_t d = 0; d + 1 < t.shape.size(); ++d) n_rows *= t.shape[d];
    const int64_t per_chunk =
        row_len == 0 ? n_rows : std::max<int64_t>(1, static_cast<int64_t>(chunk_bytes / 4) / row_len);
    for (int64_t r = 0; r < n_rows && row_len > 0; r += per_chunk) {
      const int64_t n = std::min(per_chunk, n_rows - r);
      rows.resize(size_t(n * row_len));
      t.source(r, n, rows.data());
      encoded.resize(ggml_nbytes(t.type, n * row_len));
      encode_floats(t.type, rows.data(), n * row_len, encoded.data());
      write_bytes(encoded.data(), encoded.size());
    }
    write_bytes(zeros.data(), pad_to(nbytes[i], align) - nbytes[i]);
  }
  if (std::fflush(f) != 0) {
    int err = errno;
    closer.reset();
    std::remove(tmp.c_str());
    fail_input(path, ": write failed: ", std::strerror(err));
  }
  closer.reset();
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail_input(path, ": cannot rename ", tmp, " to it: ", ec.message());
}

// ---------------------------------------------------------------------------------------------------------------
// Reader

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

GgufFile GgufFile::open(const std::string& path) {
  GgufFile g;
  g.path_ = path;
  g.map_ = MappedFile::open(path);
  Cursor c(path, g.map_->data(), g.map_->size());

  c.need(4, "magic");
  if (std::memcmp(g.map_->data(), kMagic, 4) != 0) c.fail("does not start with \"GGUF\"; not a GGUF file");
  c.read<uint32_t>("magic");
  g.version_ = c.read<uint32_t>("version");
  if (g.version_ != kGgufVersion)
    c.fail(cat("GGUF version ", g.version_, "; gemma-tune reads version ", kGgufVersion,
               g.version_ > 0xffff ? " (a huge number suggests a big-endian file)" : ""));
  const int64_t n_tensors = c.read<int64_t>("tensor count");
  const int64_t n_kv = c.read<int64_t>("KV count");
  // Every KV takes at least 8 + 1 + 4 bytes and every tensor info at least 8 + 1 + 4 + 8 + 4 + 8.
  if (n_kv < 0 || uint64_t(n_kv) > c.remaining() / 13)
    c.fail(cat("KV count ", n_kv, " cannot fit in the ", c.remaining(), " bytes left; the file is truncated or corrupt"));
  if (n_tensors < 0 || uint64_t(n_tensors) > c.remaining() / 33)
    c.fail(cat("tensor count ", n_tensors, " cannot fit in the ", c.remaining(),
               " bytes left; the file is truncated or corrupt"));

  std::map<std::string, size_t, std::less<>> seen;
  for (int64_t i = 0; i < n_kv; ++i) {
    std::string key = c.read_string("KV key");
    if (key.empty()) c.fail(cat("key ", i, " is empty"));
    if (seen.count(key)) c.fail(cat("key '", key, "' appears twice"));
    GgufValue v = read_value(c, key);
    seen.emplace(key, g.kv_.size());
    g.kv_.emplace_back(std::move(key), std::move(v));
  }
  if (const GgufValue* a = g.find(kAlignmentKey)) g.alignment_ = alignment_from(*a, path);

  std::map<std::string, bool, std::less<>> names;
  for (int64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = c.read_string("tensor name");
    auto bad = [&](auto&&... parts) { c.fail(cat("tensor '", t.name, "': ", parts...)); };
    if (t.name.empty()) c.fail(cat("tensor ", i, " has an empty name"));
    if (t.name.size() > kGgufMaxNameBytes) bad("name longer than ", kGgufMaxNameBytes, " bytes");
    if (names.count(t.name)) bad("appears twice");
    names.emplace(t.name, true);
    uint32_t n_dims = c.read<uint32_t>("tensor dimension count");
    if (n_dims == 0 || n_dims > uint32_t(kMaxDims)) bad(n_dims, " dimensions; GGUF holds 1 to ", kMaxDims);
    std::vector<int64_t> ne(n_dims);
    for (auto& d : ne) {
      d = c.read<int64_t>("tensor dimensions");
      if (d < 0) bad("negative dimension ", d);
    }
    t.shape.assign(ne.rbegin(), ne.rend());
    uint32_t type = c.read<uint32_t>("tensor type");
    std::optional<GgmlType> gt = ggml_type_from_id(type);
    if (!gt) bad("ggml type ", type, " is not one gemma-tune reads (F32 0, F16 1, Q8_0 8, BF16 30)");
    t.type = *gt;
    if (ne[0] % ggml_block_size(t.type) != 0)
      bad("rows of ", ne[0], " values are not a multiple of the ", ggml_type_name(t.type), " block size ",
          ggml_block_size(t.type));
    // Sizes are checked against the file below; guard the product first, of the non-zero sizes too (an empty tensor
    // whose other sizes multiply past 2^52 is as malformed, and would overflow whoever multiplies its shape).
    int64_t numel = 1, extent = 1;
    for (int64_t d : ne) {
      if (d != 0 && extent > (int64_t(1) << 52) / d) bad("shape ", shape_text(t.shape), " is too large");
      extent *= std::max<int64_t>(d, 1);
      numel *= d;
    }
    t.nbytes = ggml_nbytes(t.type, numel);
    t.offset = c.read<uint64_t>("tensor offset");
    g.tensors_.push_back(std::move(t));
  }

  g.data_offset_ = pad_to(c.pos(), g.alignment_);
  uint64_t expected = 0;
  for (const auto& t : g.tensors_) {
    if (t.offset != expected)
      c.fail(cat("tensor '", t.name, "' has offset ", t.offset, ", expected ", expected,
                 " (tensors must follow each other, each padded to ", g.alignment_, " bytes)"));
    expected += pad_to(t.nbytes, g.alignment_);
    if (g.data_offset_ + t.offset + t.nbytes > g.map_->size())
      c.fail(cat("tensor '", t.name, "' (", t.nbytes, " bytes at data offset ", t.offset,
                 ") runs past the end of the file (", g.map_->size(), " bytes); the file is truncated"));
  }
  return g;
}

uint64_t GgufFile::file_size() const { return map_->size(); }

const GgufValue* GgufFile::find(std::string_view key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

const GgufValue& GgufFile::at(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) fail_input(path_, ": no metadata key '", key, "'");
  return *v;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const GgufTensorInfo& GgufFile::tensor(std::string_view name) const {
  const GgufTensorInfo* t = find_tensor(name);
  if (!t) fail_input(path_, ": no tensor '", name, "'");
  return *t;
}

std::span<const std::byte> GgufFile::tensor_bytes(const GgufTensorInfo& t) const {
  return {map_->data() + data_offset_ + t.offset, size_t(t.nbytes)};
}

std::vector<float> GgufFile::tensor_floats(std::string_view name) const {
  const GgufTensorInfo& t = tensor(name);
  std::vector<float> out(size_t(t.numel()));
  if (!out.empty()) decode_floats(t.type, tensor_bytes(t).data(), t.numel(), out.data());  // no memcpy from/to null
  return out;
}

}  // namespace gt::io
