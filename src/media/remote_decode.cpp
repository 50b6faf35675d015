// Where the decoders' sources are: a gs:// or http(s) source is fetched whole by io/remote_media (credentials,
// retries, caches, fetching ahead), anything else is a local path. Kept apart from audio_decode.cpp and
// image_decode.cpp so that those build without the network code (libcurl, OpenSSL through io/object_reader), as the
// fuzz project (fuzz/CMakeLists.txt) builds them.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/error.h"
#include "io/remote_media.h"
#include "media/audio_decode.h"
#include "media/image_decode.h"

namespace gt::media {

namespace {
constexpr uint64_t kMaxRemoteClipBytes = uint64_t(2) << 30;  // 2 GiB: a remote clip is held in memory once
}  // namespace

std::string resolve_audio_source(const std::string& source, const std::string& dataset_dir) {
  if (source.empty() || dataset_dir.empty() || io::is_remote_medium(source) || source.front() == '/') return source;
  return (std::filesystem::path(dataset_dir) / source).string();
}

// A remote clip is written to a temporary file for FFmpeg to read; messages name the URL, not the file.
AudioClip decode_audio(const std::string& source, int rate, double max_seconds) {
#ifdef GT_HAVE_FFMPEG
  const bool remote = io::is_remote_medium(source);
#else
  const bool remote = false;  // decode_audio_file refuses every source at once: fetching would be wasted
#endif
  if (!remote) return decode_audio_file(source, rate, max_seconds);
  const std::string bytes = io::fetch_remote_media(source, kMaxRemoteClipBytes);
  std::string path = (std::filesystem::temp_directory_path() / "gemma-tune-clip-XXXXXX").string();
  const int fd = ::mkstemp(path.data());
  if (fd < 0)
    fail_input(source, ": cannot make a temporary file for the clip in ", std::filesystem::temp_directory_path());
  const bool written = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
  ::close(fd);
  struct Remove {
    std::string p;
    ~Remove() { std::remove(p.c_str()); }
  } remove{path};
  if (!written) fail_input(source, ": cannot write the clip to the temporary file ", path);
  try {
    return decode_audio_file(path, rate, max_seconds);
  } catch (const InputError& e) {
    std::string msg = e.what();
    for (size_t at = msg.find(path); at != std::string::npos; at = msg.find(path, at + source.size()))
      msg.replace(at, path.size(), source);
    throw InputError(msg);
  }
}

Image decode_image(const std::string& source, const ImageDecodeOptions& options) {
  if (!io::is_remote_medium(source)) return decode_image_file(source, options);
  return decode_image_bytes(io::fetch_remote_media(source, kMaxImageSourceBytes), source, options);
}

}  // namespace gt::media
