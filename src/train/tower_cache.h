// --tower-cache DIR: the frozen towers' output kept on disk across epochs and runs. In an audio or image LoRA run
// the audio and vision towers (and their multimodal embedders) are frozen, so a clip's or image's soft tokens are
// the same every epoch; a batch whose every item is here skips decoding, features and the tower.
//
// Entry: DIR/<first 2 hex>/<key>.safetensors with one tensor "soft_tokens" [n, D] (the item's soft tokens in the
// run's dtype, exactly what the model scatters into its placeholders) and metadata {key, sha256 of the tensor's
// bytes}. key = sha256 over the medium's bytes (a file's, or a URL's as fetched) and a settings fingerprint (family,
// tower, the checkpoint's identity, dtype, device type, feature / processor settings: tower_settings below), so runs
// of the same model and settings share entries and any other setting misses. Entries are written to a unique
// temporary name and renamed (concurrent runs may share DIR); an entry that cannot be read, or whose bytes do not
// match its recorded sha256, shape or dtype, is a miss and is written again. Nothing is ever required to be there:
// the folder may be deleted at any time.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

namespace gt::io {
struct ModelConfig;
}

namespace gt::train {

struct TowerCacheStats {
  int64_t hits = 0;
  int64_t misses = 0;        // lookups that found no usable entry (corrupt ones included)
  int64_t corrupt = 0;       // entries present but unreadable or not of the shape, dtype or hash expected (in misses)
  int64_t stored = 0;        // entries written
  uint64_t bytes_read = 0;   // file bytes of the hits
  uint64_t bytes_written = 0;
};

class TowerCache {
 public:
  // Creates `dir` when absent. Throws gt::InputError naming it when it cannot be created.
  explicit TowerCache(std::string dir);

  // The key of the medium `source` (a local path, or a gs:// / http(s) URL fetched through io/remote_media) under
  // `settings` (tower_settings). The medium's bytes are hashed once per source in this process (memoised).
  // Throws gt::InputError naming the source when it cannot be read.
  const std::string& key(const std::string& source, const std::string& settings);

  // The entry of `key` as a CPU tensor [rows, hidden] of `dtype`; nullopt (a miss) when it is absent, unreadable,
  // or has another shape, dtype or content hash. Counts a hit or a miss.
  std::optional<at::Tensor> get(const std::string& key, int64_t rows, int64_t hidden, at::ScalarType dtype);

  // Writes `soft` [n, D] (any device) as the entry of `key`, replacing any. A failure to write (disk full, a
  // read-only folder) is reported once on stderr and leaves the run going: the cache is an optimisation.
  void put(const std::string& key, const at::Tensor& soft);

  // Where the entry of `key` lives (whether or not it exists).
  std::string path_of(const std::string& key) const;
  const std::string& dir() const { return dir_; }
  const TowerCacheStats& stats() const { return stats_; }
  // "tower cache  12 hits, 3 misses (3 stored, 1.2 MB written, 4.5 MB read)".
  std::string describe() const;

 private:
  std::string dir_;
  std::unordered_map<std::string, std::string> media_hash_;  // source -> sha256 of its bytes
  std::unordered_map<std::string, std::string> keys_;        // source + '\n' + settings -> key
  TowerCacheStats stats_;
  bool warned_ = false;
};

// The settings fingerprint of one tower: the family, `tower` ("audio" or "vision"), the checkpoint's identity
// (config.json, preprocessor_config.json and processor_config.json bytes when present, and every *.safetensors
// file's name, size and first MiB), the run's dtype and device type, and `extra` (the medium's own settings:
// AudioInputs::cache_settings, ImageInputs::cache_settings). Hex sha256. Throws gt::InputError naming a file of
// `model_dir` that cannot be read.
std::string tower_settings(const std::string& model_dir, const io::ModelConfig& cfg, const std::string& tower,
                           at::ScalarType dtype, const std::string& device_type, const std::string& extra);

}  // namespace gt::train
