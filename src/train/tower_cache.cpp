#include "train/tower_cache.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <system_error>
#include <vector>

#include "core/error.h"
#include "core/strings.h"
#include "io/integrity.h"
#include "io/model_config.h"
#include "io/remote_media.h"
#include "io/safetensors.h"
#include "io/safetensors_torch.h"

namespace fs = std::filesystem;

namespace gt::train {

namespace {

// Changes when the entry format or the meaning of a key changes (old entries then simply miss).
constexpr const char* kFormat = "gemma-tune tower cache 1";
constexpr const char* kTensor = "soft_tokens";
// The largest remote medium hashed (the decoders' own bounds are lower: a 2 GiB clip or image is not a dataset's).
constexpr uint64_t kMaxRemoteBytes = uint64_t(2) << 30;

std::string tensor_sha256(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return io::sha256_hex(std::string_view(static_cast<const char*>(c.data_ptr()), c.nbytes()));
}

// Up to `limit` bytes of `path` (all when limit is 0).
// The size of `path`, 0 when it cannot be read (it may have been replaced or deleted meanwhile).
uint64_t size_of(const std::string& path) {
  std::error_code ec;
  const uintmax_t n = fs::file_size(path, ec);
  return ec ? 0 : static_cast<uint64_t>(n);
}

std::string read_bytes(const fs::path& path, size_t limit = 0) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(path.string(), ": cannot read (needed for the --tower-cache settings)");
  std::string out;
  if (limit == 0) {
    out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else {
    out.resize(limit);
    in.read(out.data(), static_cast<std::streamsize>(limit));
    out.resize(static_cast<size_t>(in.gcount()));
  }
  return out;
}

}  // namespace

TowerCache::TowerCache(std::string dir) : dir_(std::move(dir)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec || !fs::is_directory(dir_)) fail_input("--tower-cache ", dir_, ": cannot create the folder (", ec.message(), ")");
}

const std::string& TowerCache::key(const std::string& source, const std::string& settings) {
  const std::string id = source + '\n' + settings;
  if (auto it = keys_.find(id); it != keys_.end()) return it->second;
  auto h = media_hash_.find(source);
  if (h == media_hash_.end()) {
    const std::string hash = io::is_remote_medium(source) ? io::sha256_hex(io::fetch_remote_media(source, kMaxRemoteBytes))
                                                           : io::sha256_file(source);
    h = media_hash_.emplace(source, hash).first;
  }
  return keys_.emplace(id, io::sha256_hex(cat(kFormat, '\n', settings, '\n', h->second))).first->second;
}

std::string TowerCache::path_of(const std::string& key) const {
  return (fs::path(dir_) / key.substr(0, 2) / (key + ".safetensors")).string();
}

std::optional<at::Tensor> TowerCache::get(const std::string& key, int64_t rows, int64_t hidden, at::ScalarType dtype) {
  const std::string path = path_of(key);
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    ++stats_.misses;
    return std::nullopt;
  }
  try {
    const auto file = io::SafetensorsFile::open(path);
    const io::TensorView view = file->view(kTensor);
    at::Tensor t = io::to_tensor(view).clone();  // own the bytes: the file may be replaced or deleted
    const auto& meta = file->metadata();
    const auto k = meta.find("key"), sum = meta.find("sha256");
    if (t.dim() == 2 && t.size(0) == rows && t.size(1) == hidden && t.scalar_type() == dtype && k != meta.end() &&
        k->second == key && sum != meta.end() && sum->second == tensor_sha256(t)) {
      ++stats_.hits;
      stats_.bytes_read += size_of(path);
      return t;
    }
  } catch (const std::exception&) {
    // unreadable: a miss, written again by the caller
  }
  ++stats_.misses;
  ++stats_.corrupt;
  return std::nullopt;
}

void TowerCache::put(const std::string& key, const at::Tensor& soft) {
  static std::atomic<uint64_t> counter{0};
  const fs::path path = path_of(key);
  // Unique per process and call, so that concurrent writers of one key never write the same file; the rename is
  // atomic, so a reader sees a whole entry (one writer's or the other's, both the same values).
  const fs::path tmp = path.string() + cat(".", ::getpid(), ".", counter.fetch_add(1), ".part");
  try {
    fs::create_directories(path.parent_path());
    const at::Tensor t = soft.detach().to(at::kCPU).contiguous();
    io::save_tensors(tmp.string(), {{kTensor, t}}, {{"key", key}, {"sha256", tensor_sha256(t)}, {"format", kFormat}});
    fs::rename(tmp, path);
    ++stats_.stored;
    stats_.bytes_written += size_of(path.string());
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove(tmp, ec);
    if (!warned_) std::cerr << "note        --tower-cache: cannot write " << path.string() << " (" << e.what()
                            << "); the run goes on computing the towers\n";
    warned_ = true;
  }
}

std::string TowerCache::describe() const {
  return cat(stats_.hits, " hits, ", stats_.misses, " misses", stats_.corrupt ? cat(" (", stats_.corrupt, " unusable)") : "",
             "; ", stats_.stored, " stored (", format_bytes(static_cast<double>(stats_.bytes_written)), " written, ",
             format_bytes(static_cast<double>(stats_.bytes_read)), " read)");
}

std::string tower_settings(const std::string& model_dir, const io::ModelConfig& cfg, const std::string& tower,
                           at::ScalarType dtype, const std::string& device_type, const std::string& extra) {
  std::string s = cat(kFormat, "\ngemma-tune ", GT_VERSION, "\nfamily ", io::family_name(cfg.family), "\ntower ", tower,
                      "\ndtype ", c10::toString(dtype), "\ndevice ", device_type, "\n", extra, "\n");
  for (const char* name : {"config.json", "preprocessor_config.json", "processor_config.json"}) {
    const fs::path p = fs::path(model_dir) / name;
    if (fs::exists(p)) s += cat(name, " ", io::sha256_hex(read_bytes(p)), "\n");
  }
  // The weights' identity without reading them whole: name, size and the first MiB (the header, which holds
  // every tensor's name, shape and offsets, and the first tensors' bytes) of every safetensors file, sorted.
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(model_dir))
    if (e.is_regular_file() && e.path().extension() == ".safetensors") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files)
    s += cat(f.filename().string(), " ", fs::file_size(f), " ", io::sha256_hex(read_bytes(f, size_t(1) << 20)), "\n");
  return io::sha256_hex(s);
}

}  // namespace gt::train
