#include "io/decompress_stream.h"

#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <vector>

#include "core/error.h"

namespace gt::io {

namespace {

// Decoders write into a scratch buffer of this size and append what they got to `out`: `out` then never needs a
// zero-filled tail, which would cost a 64 KiB memset per call when the caller feeds tiny pieces.
constexpr size_t kScratch = size_t(64) << 10;
// zstd gets its input in slices of at most this many bytes per call, so that an error (for which libzstd reports no
// position) can be placed within one slice.
constexpr size_t kZstdSlice = size_t(8) << 10;

char lower(char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; }

bool ends_with_nocase(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i)
    if (lower(s[s.size() - suffix.size() + i]) != suffix[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------------------
class IdentityDecompressor final : public Decompressor {
 public:
  explicit IdentityDecompressor(std::string source) : Decompressor(Codec::identity, std::move(source)) {}

 protected:
  size_t decode(std::string_view in, std::string& out, size_t max_out, bool& more_output) override {
    const size_t n = std::min(in.size(), max_out);
    out.append(in.data(), n);
    more_output = false;  // whatever is left of `in` is held by the caller
    return n;
  }
  void check_end() override {}
};

// ---------------------------------------------------------------------------------------------------------------
// gzip: zlib inflate with windowBits 15+32 (a gzip or zlib header, detected automatically). inflate returns
// Z_STREAM_END at the end of each member, after checking its CRC-32 and ISIZE trailer; when bytes follow,
// inflateReset starts the next member with the same settings.
class GzipDecompressor final : public Decompressor {
 public:
  explicit GzipDecompressor(std::string source) : Decompressor(Codec::gzip, std::move(source)), scratch_(kScratch) {
    if (inflateInit2(&strm_, 15 + 32) != Z_OK) throw std::bad_alloc();
  }
  ~GzipDecompressor() override { inflateEnd(&strm_); }

 protected:
  size_t decode(std::string_view in, std::string& out, size_t max_out, bool& more_output) override {
    strm_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    strm_.avail_in = static_cast<uInt>(std::min<size_t>(in.size(), 1u << 30));
    size_t produced = 0;
    more_output = false;
    while (true) {
      if (!in_member_) {
        if (strm_.avail_in == 0) break;  // between members (or before the first): nothing to do
        if (member_ > 0 && inflateReset(&strm_) != Z_OK) throw std::bad_alloc();
        ++member_;
        member_start_ = consumed_ + (strm_.next_in - reinterpret_cast<const Bytef*>(in.data()));
        in_member_ = true;
      }
      const size_t room = std::min(max_out - produced, scratch_.size());
      if (room == 0) {
        more_output = true;
        break;
      }
      strm_.next_out = reinterpret_cast<Bytef*>(scratch_.data());
      strm_.avail_out = static_cast<uInt>(room);
      const int rc = inflate(&strm_, Z_NO_FLUSH);
      const size_t got = room - strm_.avail_out;
      out.append(scratch_.data(), got);
      produced += got;
      if (rc == Z_STREAM_END) {
        // A member takes at least 18 bytes; guards the loop against a decoder that was not reset.
        GT_CHECK(consumed_ + (strm_.next_in - reinterpret_cast<const Bytef*>(in.data())) > member_start_, source_,
                 ": empty gzip member");
        in_member_ = false;
        continue;
      }
      if (rc == Z_OK || rc == Z_BUF_ERROR) {
        // Z_BUF_ERROR: no progress was possible; with room to write, that means the input is used up.
        if (strm_.avail_out > 0 && (strm_.avail_in == 0 || rc == Z_BUF_ERROR)) break;
        continue;
      }
      if (rc == Z_MEM_ERROR) throw std::bad_alloc();
      const size_t at = consumed_ + (strm_.next_in - reinterpret_cast<const Bytef*>(in.data()));
      fail_input(source_, ": corrupt gzip data in member ", member_, " (which starts at compressed byte ",
                 member_start_, ") at compressed byte ", at, ": ",
                 rc == Z_NEED_DICT ? "needs a preset dictionary" : strm_.msg ? strm_.msg : zError(rc),
                 at - member_start_ >= 10 ? ""  // past the 10-byte header
                 : member_ > 1            ? " (the bytes after the previous member are not a gzip member)"
                                          : " (the data does not start like a gzip file)");
    }
    return static_cast<size_t>(strm_.next_in - reinterpret_cast<const Bytef*>(in.data()));
  }

  void check_end() override {
    if (in_member_)
      fail_input(source_, ": the gzip stream ends inside member ", member_, " (which starts at compressed byte ",
                 member_start_, ") after ", consumed_, " compressed bytes: the file or download is truncated",
                 member_ > 1 ? " or has trailing bytes that are not a gzip member" : "");
  }

 private:
  z_stream strm_{};
  std::vector<char> scratch_;
  bool in_member_ = false;
  uint64_t member_ = 0;  // 1-based number of the current (or last) member
  uint64_t member_start_ = 0;
};

// ---------------------------------------------------------------------------------------------------------------
// zstd: ZSTD_decompressStream returns 0 exactly when a frame is fully decoded and flushed; the context then reads the
// next frame from the following bytes. Skippable frames (magic 0x184D2A5?) are consumed and yield nothing.
class ZstdDecompressor final : public Decompressor {
 public:
  explicit ZstdDecompressor(std::string source)
      : Decompressor(Codec::zstd, std::move(source)), dctx_(ZSTD_createDCtx()), scratch_(ZSTD_DStreamOutSize()) {
    if (!dctx_) throw std::bad_alloc();
    const size_t rc = ZSTD_DCtx_setParameter(dctx_, ZSTD_d_windowLogMax, 31);
    GT_CHECK(!ZSTD_isError(rc), "ZSTD_d_windowLogMax=31: ", ZSTD_getErrorName(rc));
  }
  ~ZstdDecompressor() override { ZSTD_freeDCtx(dctx_); }

 protected:
  size_t decode(std::string_view in, std::string& out, size_t max_out, bool& more_output) override {
    ZSTD_inBuffer src{in.data(), 0, 0};
    size_t produced = 0;
    more_output = false;
    while (true) {
      if (!in_frame_) {
        if (src.pos == in.size()) break;
        ++frame_;
        frame_start_ = consumed_ + src.pos;
        in_frame_ = true;
      }
      const size_t room = std::min(max_out - produced, scratch_.size());
      if (room == 0) {
        more_output = true;
        break;
      }
      ZSTD_outBuffer dst{scratch_.data(), room, 0};
      src.size = std::min(in.size(), src.pos + kZstdSlice);
      const size_t pos_before = src.pos;
      const size_t rc = ZSTD_decompressStream(dctx_, &dst, &src);
      if (ZSTD_isError(rc)) {
        // libzstd leaves src.pos where the call began, so the end of this call's slice is where the damage was
        // noticed (a block is decoded once its last byte is in, the checksum once the frame's last byte is).
        // A bad magic number is placed at the frame's start.
        const bool not_zstd = ZSTD_getErrorCode(rc) == ZSTD_error_prefix_unknown;
        fail_input(source_, ": corrupt zstd data in frame ", frame_, " (which starts at compressed byte ", frame_start_,
                   ") at compressed byte ", not_zstd ? frame_start_ : consumed_ + src.size, ": ", ZSTD_getErrorName(rc),
                   !not_zstd        ? ""
                   : frame_ > 1     ? " (the bytes after the previous frame are not a zstd frame)"
                                    : " (the data does not start like a zstd file)");
      }
      out.append(scratch_.data(), dst.pos);
      produced += dst.pos;
      if (rc == 0) {
        in_frame_ = false;
        continue;
      }
      // Input used up and the output not full: the decoder has flushed all it can until more bytes come.
      if (src.pos == in.size() && dst.pos < dst.size) break;
      // zstd returns only once its input slice is used up, the output is full or a frame ends; guard against a loop.
      GT_CHECK(src.pos > pos_before || dst.pos > 0, source_, ": zstd made no progress");
    }
    return src.pos;
  }

  void check_end() override {
    if (in_frame_)
      fail_input(source_, ": the zstd stream ends inside frame ", frame_, " (which starts at compressed byte ",
                 frame_start_, ") after ", consumed_, " compressed bytes: the file or download is truncated",
                 frame_ > 1 ? " or has trailing bytes that are not a zstd frame" : "");
  }

 private:
  ZSTD_DCtx* dctx_;
  std::vector<char> scratch_;
  bool in_frame_ = false;
  uint64_t frame_ = 0;  // 1-based number of the current (or last) frame, skippable ones included
  uint64_t frame_start_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
Decompressor::Decompressor(Codec codec, std::string source) : codec_(codec), source_(std::move(source)) {}
Decompressor::~Decompressor() = default;

std::unique_ptr<Decompressor> Decompressor::make(Codec codec, std::string source) {
  switch (codec) {
    case Codec::gzip:
      return std::make_unique<GzipDecompressor>(std::move(source));
    case Codec::zstd:
      return std::make_unique<ZstdDecompressor>(std::move(source));
    case Codec::identity:
      break;
  }
  return std::make_unique<IdentityDecompressor>(std::move(source));
}

std::unique_ptr<Decompressor> Decompressor::for_name(std::string_view name_or_url) {
  std::string_view path = name_or_url;
  if (path.find("://") != std::string_view::npos) path = path.substr(0, path.find_first_of("?#"));
  Codec codec = Codec::identity;
  if (ends_with_nocase(path, ".gz"))
    codec = Codec::gzip;
  else if (ends_with_nocase(path, ".zst") || ends_with_nocase(path, ".zstd"))
    codec = Codec::zstd;
  return make(codec, std::string(name_or_url));
}

std::unique_ptr<Decompressor> Decompressor::sniff(std::string_view first_bytes, std::string source) {
  Codec codec = Codec::identity;
  if (first_bytes.size() >= 2 && first_bytes.substr(0, 2) == std::string_view("\x1f\x8b", 2))
    codec = Codec::gzip;
  else if (first_bytes.size() >= 4 && (first_bytes.substr(0, 4) == std::string_view("\x28\xb5\x2f\xfd", 4) ||
                                       ((first_bytes[0] & 0xF0) == 0x50 && first_bytes.substr(1, 3) == "\x2a\x4d\x18")))
    codec = Codec::zstd;  // a zstd frame, or a skippable frame (magic 0x184D2A50..5F little-endian; pzstd starts so)
  return make(codec, std::move(source));
}

std::string_view Decompressor::codec_name() const {
  switch (codec_) {
    case Codec::gzip:
      return "gzip";
    case Codec::zstd:
      return "zstd";
    case Codec::identity:
      break;
  }
  return "identity";
}

void Decompressor::set_output_limit(size_t bytes) {
  GT_CHECK(bytes > 0, "the output limit must be positive");
  output_limit_ = bytes;
}

void Decompressor::feed(std::string_view in, std::string& out) {
  // Decode from the held bytes when there are any (new input queues behind them), else straight from `in`.
  const bool from_held = !held_.empty();
  if (from_held) held_.append(in.data(), in.size());
  const std::string_view src = from_held ? std::string_view(held_) : in;
  bool more_output = false;
  const size_t before = out.size();
  const size_t used = decode(src, out, output_limit_, more_output);
  consumed_ += used;
  produced_ += out.size() - before;
  if (from_held)
    held_.erase(0, used);
  else if (used < in.size())
    held_.assign(in.data() + used, in.size() - used);
  pending_ = more_output || !held_.empty();
}

void Decompressor::finish() {
  GT_CHECK(!pending_, source_, ": finish() while output is pending; call feed({}, out) until pending() is false");
  check_end();
}

}  // namespace gt::io
