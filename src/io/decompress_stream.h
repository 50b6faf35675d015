// Push-style streaming decompression of dataset shards (.gz, .zst) as their bytes arrive from HTTP(S)/GCS, without
// holding a whole file. Torch-free; zlib and libzstd stay inside decompress_stream.cpp.
//
//   auto d = Decompressor::for_name(url);          // or Decompressor::sniff(first_bytes, url)
//   for each chunk received:
//     d->feed(chunk, out);                         // appends decompressed bytes to out
//     consume(out);                                // e.g. cut complete lines off the front
//     while (d->pending()) { d->feed({}, out); consume(out); }
//   d->finish();                                   // throws gt::InputError when the stream stopped mid-member/frame
//
// Formats:
//   gzip  (RFC 1952) through zlib inflate in gzip mode. A .gz file may hold several members back to back (what
//         `cat a.gz b.gz` makes, and what parallel compressors such as pigz/bgzip write): each member is decoded in
//         turn and the outputs concatenated, as `gzip -d` does. Each member's CRC-32 and length trailer is checked.
//   zstd  (RFC 8878) through ZSTD_decompressStream: any number of frames back to back, skippable frames skipped,
//         each frame's content checksum checked when it has one (the zstd CLI writes one by default). Window sizes up
//         to 2 GiB are accepted (ZSTD_d_windowLogMax = 31), so shards made with `zstd --long=31` decode; such a
//         frame may reserve up to its window size (2 GiB of address space, touched only as it fills).
//   identity: bytes pass through unchanged.
//
// Bounded output per feed: one feed() appends at most output_limit() bytes to `out` (default kDefaultOutputLimit,
// 4 MiB), however compressible the input (a 16 KiB chunk of zstd can expand to ~512 MiB, of gzip to ~16 MiB). When
// the limit stops it, the input not yet decoded is kept inside the decompressor (a copy of at most the unread part
// of the chunks fed since) and pending() turns true; feed({}, out) continues from there. So memory stays
// O(chunk + output_limit()) as long as the caller drains pending() before feeding more. Feeding more while pending()
// is allowed: the new bytes queue behind the held ones.
//
// Errors are gt::InputError naming the source, the format and the compressed byte offset (counted from the first byte
// fed): corrupt data ("...corrupt gzip data in member 2 at compressed byte 1234: invalid distance too far back") and
// a stream that ends inside a member/frame (finish()). Offsets of corrupt data are where the decoder noticed: a
// damaged byte is often caught only at the block's end or at the member's/frame's checksum, so the offset is at or
// after the damage. libzstd reports no position, so zstd input goes in slices of at most 8 KiB and the offset is the
// end of the slice whose decoding failed (up to 8 KiB past where it noticed); a bad frame magic is placed at the
// frame's start. A zero-byte stream is accepted by every format and decodes to nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace gt::io {

class Decompressor {
 public:
  enum class Codec { identity, gzip, zstd };
  static constexpr size_t kDefaultOutputLimit = size_t(4) << 20;
  // Bytes sniff() needs to tell the codecs apart (the zstd magic is 4 bytes long).
  static constexpr size_t kSniffBytes = 4;

  // By the name's extension: ".gz" -> gzip, ".zst"/".zstd" -> zstd (case-insensitive), anything else -> identity.
  // For a URL ("scheme://..."), the query ("?alt=media&generation=1") and fragment are ignored. The name is also the
  // source named in error messages.
  static std::unique_ptr<Decompressor> for_name(std::string_view name_or_url);
  // By the magic bytes at the start of the stream: 1F 8B -> gzip, 28 B5 2F FD (a frame) or 5? 2A 4D 18 (a skippable
  // frame) -> zstd, else identity. Give the first kSniffBytes bytes (or the whole stream when it is shorter).
  // `source` names the stream in error messages.
  static std::unique_ptr<Decompressor> sniff(std::string_view first_bytes, std::string source = "stream");
  static std::unique_ptr<Decompressor> make(Codec codec, std::string source);

  virtual ~Decompressor();
  Decompressor(const Decompressor&) = delete;
  Decompressor& operator=(const Decompressor&) = delete;

  // Decodes `in` (the next bytes of the compressed stream) and appends what it yields to `out`: at most
  // output_limit() bytes per call (see the header comment). Throws gt::InputError on corrupt data; after that the
  // decompressor is unusable.
  void feed(std::string_view in, std::string& out);
  // True when the last feed() stopped at output_limit() with input held or output possibly left to flush:
  // call feed({}, out) until it is false.
  bool pending() const { return pending_; }
  // The end of the input: throws gt::InputError when the stream ends inside a gzip member or zstd frame (truncated
  // download or file). Throws std::logic_error while pending() (drain it first).
  void finish();

  Codec codec() const { return codec_; }
  // "identity", "gzip" or "zstd".
  std::string_view codec_name() const;
  const std::string& source() const { return source_; }
  // Compressed bytes decoded so far (excluding any held while pending()), and decompressed bytes produced so far.
  uint64_t compressed_bytes() const { return consumed_; }
  uint64_t decompressed_bytes() const { return produced_; }

  size_t output_limit() const { return output_limit_; }
  // Must be > 0.
  void set_output_limit(size_t bytes);

 protected:
  Decompressor(Codec codec, std::string source);

  // Decodes from `in` until it is used up or `out` grew by max_out bytes; returns how many bytes of `in` it used.
  // Sets `more_output` when it stopped because of max_out (the decoder may still hold output).
  // consumed_ is the stream offset of in[0] (for error messages).
  virtual size_t decode(std::string_view in, std::string& out, size_t max_out, bool& more_output) = 0;
  // Called by finish() once nothing is pending: throws when the stream stopped mid-member/frame.
  virtual void check_end() = 0;

  const Codec codec_;
  const std::string source_;
  uint64_t consumed_ = 0;
  uint64_t produced_ = 0;

 private:
  size_t output_limit_ = kDefaultOutputLimit;
  std::string held_;  // input not yet decoded because the output limit was reached
  bool pending_ = false;
};

}  // namespace gt::io
