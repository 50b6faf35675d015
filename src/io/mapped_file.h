// A whole file mapped into memory, copy-on-write: pages load on first touch, writes stay private.
// Torch-free; POSIX mmap (Linux and macOS).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

namespace gt::io {

class MappedFile {
 public:
  // Maps `path`; throws gt::InputError naming the file when it cannot be opened or mapped.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  std::string path_;
  std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace gt::io
