// GGUF files (the model format of llama.cpp / ggml): a streaming writer and a checking reader. Torch-free.
//
// File layout, version 3, little-endian (as ggml/include/gguf.h describes it):
//   "GGUF"                    4-byte magic
//   u32 version               3
//   i64 n_tensors, i64 n_kv
//   n_kv x KV                 string key, u32 value type, value; an array value is u32 element type, u64 count,
//                             then the elements (arrays of arrays are not allowed)
//   n_tensors x tensor info   string name, u32 n_dims (1..4), n_dims x i64 ne (innermost dimension first),
//                             u32 ggml type, u64 offset of the data inside the data section
//   zero padding to the alignment, then the data section: tensors back to back in info order, each padded with
//   zeros to a multiple of the alignment, so tensor i starts at sum over j < i of pad(nbytes_j).
// Strings are u64 byte length + UTF-8 bytes without a terminator; bools are one byte (0 or 1). The alignment is 32
// unless the KV "general.alignment" (u32, a power of two) sets another. Tensor names are at most 63 bytes (ggml's
// GGML_MAX_NAME is 64 with the terminator).
//
// Shapes in this API are row-major, outermost dimension first (as PyTorch and safetensors write them); the file
// stores them reversed. A "row" is one run of the innermost dimension; quantised blocks never cross rows.
//
// Tensor types written and read here (ggml type ids): F32 (0), F16 (1), Q8_0 (8), BF16 (30). Q8_0 stores blocks of
// 32 values as an f16 scale d followed by 32 int8 q, value = d * q (34 bytes a block); rows must be a multiple of
// 32. Conversions from float32 follow ggml's reference code bit for bit:
//   F16   round to nearest even (GGML_FP32_TO_FP16; overflow gives +-inf)
//   BF16  round to nearest even on the upper 16 bits, NaN kept quiet (ggml_compute_fp32_to_bf16)
//   Q8_0  per block amax = max |x|, d = amax / 127 (float32), id = d ? 1/d : 0, q = roundf(x * id) (half away
//         from zero), d stored as F16 (quantize_row_q8_0_ref); where x * id is NaN or infinite (NaN or inf in
//         the block, or a subnormal d) q = 0, as the reference gives on x86
//
// The writer keeps only metadata and tensor descriptions in memory: each tensor's values come from a callback
// that produces a few rows at a time, so a model is converted and written without a second copy in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace gt::io {

class MappedFile;

// ---------------------------------------------------------------------------------------------------------------
// Metadata values

enum class GgufValueType : uint32_t {
  UInt8 = 0,
  Int8 = 1,
  UInt16 = 2,
  Int16 = 3,
  UInt32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  UInt64 = 10,
  Int64 = 11,
  Float64 = 12,
};

// "u8", "i32", "f32", "bool", "string", ...
std::string_view gguf_value_type_name(GgufValueType t);

template <typename T> struct GgufTypeOf;
template <> struct GgufTypeOf<uint8_t> { static constexpr GgufValueType value = GgufValueType::UInt8; };
template <> struct GgufTypeOf<int8_t> { static constexpr GgufValueType value = GgufValueType::Int8; };
template <> struct GgufTypeOf<uint16_t> { static constexpr GgufValueType value = GgufValueType::UInt16; };
template <> struct GgufTypeOf<int16_t> { static constexpr GgufValueType value = GgufValueType::Int16; };
template <> struct GgufTypeOf<uint32_t> { static constexpr GgufValueType value = GgufValueType::UInt32; };
template <> struct GgufTypeOf<int32_t> { static constexpr GgufValueType value = GgufValueType::Int32; };
template <> struct GgufTypeOf<float> { static constexpr GgufValueType value = GgufValueType::Float32; };
template <> struct GgufTypeOf<bool> { static constexpr GgufValueType value = GgufValueType::Bool; };
template <> struct GgufTypeOf<std::string> { static constexpr GgufValueType value = GgufValueType::String; };
template <> struct GgufTypeOf<uint64_t> { static constexpr GgufValueType value = GgufValueType::UInt64; };
template <> struct GgufTypeOf<int64_t> { static constexpr GgufValueType value = GgufValueType::Int64; };
template <> struct GgufTypeOf<double> { static constexpr GgufValueType value = GgufValueType::Float64; };

// One metadata value: a scalar or an array of one element type.
class GgufValue {
 public:
  GgufValue() = default;  // u32 0

  template <typename T>
  static GgufValue scalar(const T& v) {
    GgufValue out(GgufTypeOf<T>::value, false);
    out.append(v);
    return out;
  }
  static GgufValue string(std::string s) { return scalar(s); }
  template <typename T>
  static GgufValue array(const std::vector<T>& values) {
    GgufValue out(GgufTypeOf<T>::value, true);
    for (const auto& v : values) out.append(static_cast<T>(v));
    return out;
  }

  GgufValueType type() const { return type_; }  // the element type (never Array)
  bool is_array() const { return array_; }
  size_t size() const { return count_; }  // elements; 1 for a scalar
  // "u32 30", "string \"gemma3n\"", "array of 35 bool", ... for messages.
  std::string describe() const;

  // Exact-type reads. Throw gt::InputError naming what was expected and what the value is.
  template <typename T>
  T get() const {
    check(GgufTypeOf<T>::value, false);
    return element<T>(0);
  }
  template <typename T>
  std::vector<T> get_array() const {
    check(GgufTypeOf<T>::value, true);
    std::vector<T> out;
    out.reserve(count_);
    for (size_t i = 0; i < count_; ++i) out.push_back(element<T>(i));
    return out;
  }
  // Any integer or bool scalar, widened.
  int64_t as_int() const;
  // Any numeric scalar, widened.
  double as_double() const;

  bool operator==(const GgufValue& o) const = default;

  // The element bytes (numeric types, packed little-endian) and strings, for the writer and reader.
  const std::vector<uint8_t>& raw() const { return bytes_; }
  const std::vector<std::string>& strings() const { return strings_; }
  static GgufValue from_raw(GgufValueType type, bool array, std::vector<uint8_t> bytes,
                            std::vector<std::string> strings, size_t count);

 private:
  GgufValue(GgufValueType t, bool array) : type_(t), array_(array), bytes_(), count_(0) {}
  void check(GgufValueType want, bool want_array) const;
  template <typename T>
  void append(const T& v) {
    if constexpr (std::is_same_v<T, std::string>) {
      strings_.push_back(v);
    } else if constexpr (std::is_same_v<T, bool>) {
      bytes_.push_back(v ? 1 : 0);
    } else {
      const auto* p = reinterpret_cast<const uint8_t*>(&v);
      bytes_.insert(bytes_.end(), p, p + sizeof(T));
    }
    ++count_;
  }
  template <typename T>
  T element(size_t i) const {
    if constexpr (std::is_same_v<T, std::string>) {
      return strings_[i];
    } else if constexpr (std::is_same_v<T, bool>) {
      return bytes_[i] != 0;
    } else {
      T v;
      std::memcpy(&v, bytes_.data() + i * sizeof(T), sizeof(T));
      return v;
    }
  }

  GgufValueType type_ = GgufValueType::UInt32;
  bool array_ = false;
  std::vector<uint8_t> bytes_ = std::vector<uint8_t>(4, 0);
  std::vector<std::string> strings_;
  size_t count_ = 1;
};

// ---------------------------------------------------------------------------------------------------------------
// Tensor types and conversions

enum class GgmlType : uint32_t { F32 = 0, F16 = 1, Q8_0 = 8, BF16 = 30 };

// "F32", "F16", "Q8_0", "BF16".
std::string_view ggml_type_name(GgmlType t);
// The type with ggml id `id`, if it is one of the four above.
std::optional<GgmlType> ggml_type_from_id(uint32_t id);
// Values per block (32 for Q8_0, else 1) and bytes per block.
int64_t ggml_block_size(GgmlType t);
size_t ggml_block_bytes(GgmlType t);
// Bytes of `numel` values (numel must be a multiple of the block size).
uint64_t ggml_nbytes(GgmlType t, int64_t numel);

uint16_t float_to_f16(float x);
float f16_to_float(uint16_t h);
uint16_t float_to_bf16(float x);
float bf16_to_float(uint16_t h);
// Encodes `n` floats (a multiple of the block size for Q8_0) as type `t` into `out` (ggml_nbytes(t, n) bytes).
void encode_floats(GgmlType t, const float* x, int64_t n, std::byte* out);
// Decodes `n` values of type `t` into floats.
void decode_floats(GgmlType t, const std::byte* in, int64_t n, float* out);

// ---------------------------------------------------------------------------------------------------------------
// Writer

constexpr uint32_t kGgufVersion = 3;
constexpr size_t kGgufDefaultAlignment = 32;
constexpr size_t kGgufMaxWriteAlignment = size_t{1} << 16;  // the largest general.alignment the writer takes
constexpr size_t kGgufMaxNameBytes = 63;

class GgufWriter {
 public:
  // Writes rows [first_row, first_row + n_rows) of a tensor as float32 into `out` (n_rows * row length floats).
  // The writer asks for every row exactly once, in increasing order.
  using RowSource = std::function<void(int64_t first_row, int64_t n_rows, float* out)>;

  // Adds a KV, or replaces the value of an existing key in place (its position is kept). Setting
  // "general.alignment" (u32, a power of two) changes the alignment of the data section.
  void set(const std::string& key, GgufValue value);
  const GgufValue* find(std::string_view key) const;
  void erase(std::string_view key);
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }

  // Declares a tensor of row-major `shape` stored as `type`. Throws gt::InputError naming the tensor on a
  // duplicate or over-long name, a shape of 0 or more than 4 dimensions or with negative sizes, or a row length
  // that is not a multiple of the type's block size.
  void add_tensor(const std::string& name, const std::vector<int64_t>& shape, GgmlType type, RowSource source);
  // Same, from values held in memory (row-major float32, numel values).
  void add_tensor(const std::string& name, const std::vector<int64_t>& shape, GgmlType type,
                  std::vector<float> values);

  struct Tensor {
    std::string name;
    std::vector<int64_t> shape;
    GgmlType type;
    RowSource source;
  };
  const std::vector<Tensor>& tensors() const { return tensors_; }

  size_t alignment() const;

  // Writes the file: to `path`.tmp first, renamed to `path` when complete. Rows are converted and written
  // `chunk_bytes` (of float32 input) at a time. Throws gt::InputError naming the file on I/O failure.
  void write(const std::string& path, size_t chunk_bytes = size_t(64) << 20) const;

 private:
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<Tensor> tensors_;
};

// ---------------------------------------------------------------------------------------------------------------
// Reader

struct GgufTensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // row-major, outermost first
  GgmlType type = GgmlType::F32;
  uint64_t offset = 0;  // inside the data section
  uint64_t nbytes = 0;

  int64_t numel() const;
};

class GgufFile {
 public:
  // Maps `path` and parses and checks the header as ggml's gguf_init_from_file does (magic, version 3, counts,
  // unique non-empty keys, value types, alignment, tensor names, dimensions, block multiples, contiguous aligned
  // offsets, data inside the file). Throws gt::InputError naming the file and what is wrong.
  static GgufFile open(const std::string& path);

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  size_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // file offset of the data section
  uint64_t file_size() const;

  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return kv_; }
  const GgufValue* find(std::string_view key) const;
  // Throws gt::InputError naming the file and the key when it is absent.
  const GgufValue& at(std::string_view key) const;

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find_tensor(std::string_view name) const;
  // Throws gt::InputError naming the file and the tensor when it is absent.
  const GgufTensorInfo& tensor(std::string_view name) const;
  std::span<const std::byte> tensor_bytes(const GgufTensorInfo& t) const;
  // The tensor's values decoded to float32, row-major.
  std::vector<float> tensor_floats(std::string_view name) const;

 private:
  std::string path_;
  std::shared_ptr<MappedFile> map_;
  uint32_t version_ = 0;
  size_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> kv_;
  std::vector<GgufTensorInfo> tensors_;
};

}  // namespace gt::io
