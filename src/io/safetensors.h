// safetensors: reading (memory-mapped, lazy, sharded) and writing. Torch-free: tensors are bytes + dtype +
// shape here; io/safetensors_torch.h turns them into libtorch tensors.
//
// File layout (little-endian):
//   [0, 8)         u64 N: length of the JSON header
//   [8, 8+N)       JSON object, UTF-8, may be padded with trailing spaces:
//                    "__metadata__": {string: string}            (optional)
//                    "<tensor name>": {"dtype": "BF16", "shape": [d0, d1, ...], "data_offsets": [begin, end]}
//   [8+N, EOF)     data section; a tensor's bytes are [8+N+begin, 8+N+end), row-major, little-endian
// Rules checked when a file is opened (each failure names the file and the tensor):
//   the file holds the 8-byte length and the whole header; every dtype is known; end - begin equals
//   numel * element size; every range lies inside the data section; ranges do not overlap; begin is a multiple
//   of the element size (the writer below, like the reference writer, orders tensors so that this holds).
//
// A model folder holds either `model.safetensors` or shards listed by `model.safetensors.index.json`
// ({"metadata": {...}, "weight_map": {tensor name: shard file}}). Checkpoint reads the index at once and opens
// (maps and parses the header of) a shard only when one of its tensors is asked for, so a tower the run does
// not need is never read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/dtype.h"  // defines: gt::io::DType

namespace gt::io {

class MappedFile;

struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // offsets inside the data section
  uint64_t end = 0;

  int64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

// "[2048, 256]"
std::string shape_string(const std::vector<int64_t>& shape);

// The bytes of one tensor inside a mapped file; `owner` keeps the mapping alive as long as the view is used.
struct TensorView {
  TensorInfo info;
  std::string file;
  const std::byte* data = nullptr;
  std::shared_ptr<const void> owner;
};

class SafetensorsFile {
 public:
  // Maps `path` and validates its header; throws gt::InputError naming the file and the fault.
  static std::shared_ptr<const SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Tensors in the order of their data offsets.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(std::string_view name) const;
  // Throws gt::InputError naming the file when the tensor is absent.
  TensorView view(std::string_view name) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  std::shared_ptr<MappedFile> map_;
  size_t data_start_ = 0;
  std::map<std::string, std::string> metadata_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> by_name_;
};

class Checkpoint {
 public:
  // `path` is a model folder (model.safetensors.index.json, else model.safetensors, else the only *.safetensors
  // file) or a single .safetensors file. Throws gt::InputError naming what is missing or wrong.
  static Checkpoint open(const std::string& path);

  // Every tensor name, sorted. Does not open shards.
  const std::vector<std::string>& names() const { return names_; }
  bool contains(std::string_view name) const;
  // The file that holds `name` (throws gt::InputError when absent).
  const std::string& file_of(std::string_view name) const;
  // dtype, shape and offsets; opens the shard on first use.
  const TensorInfo& info(std::string_view name) const;
  TensorView view(std::string_view name) const;
  // Throws gt::InputError "tensor 'X' has shape [..], expected [..] (<why>)" when the stored shape differs.
  void expect_shape(std::string_view name, const std::vector<int64_t>& expected, std::string_view why) const;
  // Metadata of the index (sharded) or of the single file.
  std::map<std::string, std::string> metadata() const;
  // Folder the checkpoint was read from; `describe()` is what error messages print.
  const std::string& folder() const { return folder_; }
  std::string describe() const;
  // Number of shard files, and how many of them have been opened so far (for tests of laziness).
  size_t shard_count() const;
  size_t opened_shard_count() const;

 private:
  struct Shards;
  std::string folder_;
  std::string index_path_;  // empty when not sharded
  std::map<std::string, std::string> index_metadata_;
  std::vector<std::string> names_;
  std::map<std::string, std::string, std::less<>> file_by_name_;
  std::shared_ptr<Shards> shards_;
};

// One tensor to write: its bytes must hold numel * dtype_size bytes, row-major, little-endian.
struct TensorBytes {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// Writes a safetensors file (to `path`.tmp, then renamed, so readers never see half a file). Tensors are laid
// out by decreasing element size, then by name, which keeps every tensor aligned; the header is padded with
// spaces to a multiple of 8 bytes. Throws gt::InputError on duplicate names or byte counts that do not match
// the shape.
void write_safetensors(const std::string& path, const std::vector<TensorBytes>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Writes model.safetensors.index.json for shards already written in `folder`.
void write_safetensors_index(const std::string& folder, const std::map<std::string, std::string>& weight_map,
                             uint64_t total_size);

}  // namespace gt::io
