// Image decoding for gemma-tune: read the bytes of a file (a URL's bytes are fetched in media/remote_decode.cpp),
// recognise the format and read its headers (size, EXIF orientation, truncation), decode with OpenCV imgcodecs (GIF
// with FFmpeg), convert to RGB as PIL does, apply the orientation. See image_decode.h for the contract. No libtorch
// here (this file is built without the PCH), and no network code, so the fuzz project builds it alone.
#include "media/image_decode.h"

extern "C" {
#ifdef GT_HAVE_FFMPEG
#include <libavcodec/avcodec.h>
#include <libavformat/avio.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/log.h>
#endif
}

#ifdef GT_HAVE_OPENCV
// OpenCV 4.6's headers mix enum types in arithmetic, which C++20 deprecates; they are not ours to fix.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-enum-enum-conversion"
#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/imgcodecs.hpp>
#pragma GCC diagnostic pop
#endif

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>

#include "core/error.h"
#include "media/ffmpeg_common.h"  // defines: init_ffmpeg_once, av_error_text, CodecFreer, ...

namespace gt::media {

namespace {

// ---------------------------------------------------------------------------------------------------------------
// The bytes of a source

std::string read_local_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) fail_input(path, ": image file not found");
  if (S_ISDIR(st.st_mode)) fail_input(path, ": is a folder, expected an image file");
  if (S_ISREG(st.st_mode) && uint64_t(st.st_size) > kMaxImageSourceBytes)
    fail_input(path, ": the file has ", st.st_size, " bytes; images of more than ", kMaxImageSourceBytes,
               " bytes are refused");
  std::ifstream f(path, std::ios::binary);
  if (!f) fail_input(path, ": cannot open the image file (permission denied?)");
  std::ostringstream buf;
  buf << f.rdbuf();
  if (f.bad()) fail_input(path, ": reading the image file failed");
  std::string bytes = std::move(buf).str();
  if (bytes.empty()) fail_input(path, ": the image file is empty (0 bytes)");
  return bytes;
}


// ---------------------------------------------------------------------------------------------------------------
// Bounds-checked reading of header fields

struct Bytes {
  const uint8_t* p = nullptr;
  size_t n = 0;

  bool has(size_t pos, size_t len) const { return pos <= n && len <= n - pos; }
  uint8_t u8(size_t pos) const { return has(pos, 1) ? p[pos] : 0; }
  uint32_t u16(size_t pos, bool big) const {
    if (!has(pos, 2)) return 0;
    return big ? (uint32_t(p[pos]) << 8 | p[pos + 1]) : (uint32_t(p[pos + 1]) << 8 | p[pos]);
  }
  uint32_t u32(size_t pos, bool big) const {
    if (!has(pos, 4)) return 0;
    return big ? (uint32_t(p[pos]) << 24 | uint32_t(p[pos + 1]) << 16 | uint32_t(p[pos + 2]) << 8 | p[pos + 3])
               : (uint32_t(p[pos + 3]) << 24 | uint32_t(p[pos + 2]) << 16 | uint32_t(p[pos + 1]) << 8 | p[pos]);
  }
  uint32_t u24le(size_t pos) const { return has(pos, 3) ? uint32_t(p[pos]) | uint32_t(p[pos + 1]) << 8 | uint32_t(p[pos + 2]) << 16 : 0; }
  bool starts(size_t pos, const char* text, size_t len) const { return has(pos, len) && std::memcmp(p + pos, text, len) == 0; }
  Bytes sub(size_t pos, size_t len) const { return has(pos, len) ? Bytes{p + pos, len} : Bytes{}; }
};

// The Orientation tag (0x0112) of IFD0 of an EXIF TIFF structure ("Exif\0\0" prefix allowed, as PIL's Exif.load
// strips it). 0 when absent or unreadable (then PIL's XMP fallback may apply).
int exif_orientation(Bytes exif) {
  if (exif.starts(0, "Exif\0\0", 6)) exif = exif.sub(6, exif.n - 6);
  bool big;
  if (exif.starts(0, "MM\0\x2a", 4)) {
    big = true;
  } else if (exif.starts(0, "II\x2a\0", 4)) {
    big = false;
  } else {
    return 0;
  }
  const size_t ifd = exif.u32(4, big);
  if (!exif.has(ifd, 2)) return 0;
  const size_t count = exif.u16(ifd, big);
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if (!exif.has(e, 12)) return 0;
    if (exif.u16(e, big) != 0x0112) continue;
    const uint32_t type = exif.u16(e + 2, big), n = exif.u32(e + 4, big);
    if (n != 1) return 0;  // PIL then holds a tuple, which exif_transpose ignores
    if (type == 3) return int(exif.u16(e + 8, big));  // SHORT
    if (type == 4) return int(exif.u32(e + 8, big));  // LONG
    return 0;
  }
  return 0;
}

// PIL's Image.getexif fallback when the EXIF has no orientation: re.search(r'tiff:Orientation(="|>)([0-9])', xmp).
int xmp_orientation(const std::string& xmp) {
  for (size_t pos = xmp.find("tiff:Orientation"); pos != std::string::npos; pos = xmp.find("tiff:Orientation", pos + 1)) {
    size_t v = pos + 16;
    if (xmp.compare(v, 2, "=\"") == 0) {
      v += 2;
    } else if (xmp.compare(v, 1, ">") == 0) {
      v += 1;
    } else {
      continue;
    }
    if (v < xmp.size() && xmp[v] >= '0' && xmp[v] <= '9') return xmp[v] - '0';
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Format recognition and headers

enum class Format { Jpeg, Png, Webp, Bmp, Tiff, Gif };

const char* format_name(Format f) {
  switch (f) {
    case Format::Jpeg: return "JPEG";
    case Format::Png: return "PNG";
    case Format::Webp: return "WebP";
    case Format::Bmp: return "BMP";
    case Format::Tiff: return "TIFF";
    case Format::Gif: return "GIF";
  }
  return "?";
}

struct Header {
  Format format = Format::Jpeg;
  int64_t width = 0, height = 0;  // as stored (before orientation); 0 when the header does not say (BigTIFF)
  int orientation = 0;            // EXIF (or XMP) Orientation; 0 = none
  std::string truncated;          // why the data stops early ("" = complete as far as the header walk can tell)
  int jpeg_components = 0;        // 4 for CMYK/YCCK JPEGs
  int png_bit_depth = 0, png_color_type = -1;
  bool png_without_iend = false;  // every chunk complete, but no IEND: PIL decodes it, libpng (via OpenCV) fails
  std::optional<size_t> tiff_unassociated_alpha;  // byte offset of an ExtraSamples value 2 to rewrite (see below)
  // GIF: the colour PIL shows for transparent pixels of the first frame (palette[transparency index]), as 0xRRGGBB.
  std::optional<uint32_t> gif_transparent_rgb;
};

// Known image formats this decoder refuses, recognised so the message can name them.
std::string unsupported_format(Bytes b) {
  if (b.starts(4, "ftyp", 4)) {
    const std::string brand(reinterpret_cast<const char*>(b.p + 8), b.has(8, 4) ? 4 : 0);
    if (brand == "avif" || brand == "avis") return "AVIF";
    if (brand == "heic" || brand == "heix" || brand == "mif1" || brand == "msf1" || brand == "hevc") return "HEIC/HEIF";
    return "an ISO media file (brand '" + brand + "')";
  }
  if (b.starts(0, "\0\0\0\x0cjP  ", 8) || b.starts(0, "\xff\x4f\xff\x51", 4)) return "JPEG 2000";
  if (b.starts(0, "\0\0\1\0", 4)) return "ICO";
  if (b.starts(0, "8BPS", 4)) return "Photoshop PSD";
  if (b.starts(0, "qoif", 4)) return "QOI";
  if (b.starts(0, "\x76\x2f\x31\x01", 4)) return "OpenEXR";
  if (b.starts(0, "#?RADIANCE", 10) || b.starts(0, "#?RGBE", 6)) return "Radiance HDR";
  if (b.starts(0, "DDS ", 4)) return "DirectDraw Surface";
  if (b.starts(0, "%PDF", 4)) return "PDF (not an image)";
  if (b.starts(0, "II\x2b\0", 4) || b.starts(0, "MM\0\x2b", 4)) return "";  // BigTIFF: handled by the caller
  if (b.n >= 2 && b.p[0] == 'P' && b.p[1] >= '1' && b.p[1] <= '7') return "Netpbm (PBM/PGM/PPM)";
  if (b.starts(0, "RIFF", 4) && !b.starts(8, "WEBP", 4)) return "a RIFF file that is not WebP";
  return "";
}

// What the first bytes look like, for "not an image" messages: text is quoted, binary shown in hex.
std::string describe_start(Bytes b) {
  const size_t n = std::min<size_t>(b.n, 16);
  bool text = n > 0;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t c = b.p[i];
    if (!(c == '\t' || c == '\n' || c == '\r' || (c >= 0x20 && c < 0x7f) || c >= 0x80)) text = false;
  }
  std::string out;
  if (text) {
    out = "it starts with text \"";
    for (size_t i = 0; i < n; ++i) out += (b.p[i] == '\n' || b.p[i] == '\r' || b.p[i] == '\t') ? ' ' : char(b.p[i]);
    return out + (b.n > n ? "...\"" : "\"");
  }
  static const char* hex = "0123456789abcdef";
  out = "its first bytes are";
  for (size_t i = 0; i < std::min<size_t>(n, 8); ++i) {
    out += ' ';
    out += hex[b.p[i] >> 4];
    out += hex[b.p[i] & 15];
  }
  return out;
}

// JPEG: markers up to the first SOS (size, components, APP1 Exif/XMP); then the entropy-coded data must reach an EOI
// marker (inside it every 0xFF byte is stuffed or a restart marker, so FF D9 is the end of the image).
void read_jpeg(Bytes b, Header& h) {
  size_t pos = 2;
  std::string xmp;
  bool have_exif = false;
  for (;;) {
    if (!b.has(pos, 2)) {
      h.truncated = "the file ends inside its headers";
      return;
    }
    if (b.p[pos] != 0xff) fail_input("JPEG marker expected at byte ", pos);
    const uint8_t marker = b.p[pos + 1];
    if (marker == 0xff) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xd8 || marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {  // no length field
      pos += 2;
      continue;
    }
    if (marker == 0xd9) fail_input("the image ends (EOI marker) before any image data");
    if (!b.has(pos + 2, 2)) {
      h.truncated = "the file ends inside its headers";
      return;
    }
    const size_t len = b.u16(pos + 2, true);
    if (len < 2) fail_input("a JPEG segment at byte ", pos, " has length ", len, "; expected at least 2");
    if (!b.has(pos + 2, len)) {
      h.truncated = "the file ends inside its headers";
      return;
    }
    const Bytes seg = b.sub(pos + 4, len - 2);
    const bool sof = (marker >= 0xc0 && marker <= 0xcf) && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
    if (sof && seg.n >= 6) {
      h.height = seg.u16(1, true);
      h.width = seg.u16(3, true);
      h.jpeg_components = seg.u8(5);
    } else if (marker == 0xe1 && seg.starts(0, "Exif\0\0", 6) && !have_exif) {
      have_exif = true;  // PIL keeps the first Exif segment
      h.orientation = exif_orientation(seg);
    } else if (marker == 0xe1 && seg.starts(0, "http://ns.adobe.com/xap/1.0/\0", 29)) {
      xmp.assign(reinterpret_cast<const char*>(seg.p) + 29, seg.n - 29);
    } else if (marker == 0xda) {
      pos += 2 + len;
      break;
    }
    pos += 2 + len;
  }
  if (h.orientation == 0) h.orientation = xmp_orientation(xmp);
  for (size_t i = pos; i + 1 < b.n; ++i)
    if (b.p[i] == 0xff && b.p[i + 1] == 0xd9) return;
  h.truncated = "its image data stops before the end-of-image marker";
}

// PNG: IHDR, eXIf, iTXt XMP; every chunk must fit in the file.
void read_png(Bytes b, Header& h) {
  size_t pos = 8;
  std::string xmp;
  bool seen_iend = false;
  while (b.has(pos, 8) && !seen_iend) {
    const size_t len = b.u32(pos, true);
    const std::string type(reinterpret_cast<const char*>(b.p + pos + 4), 4);
    if (!b.has(pos + 8, len)) {
      h.truncated = "its '" + type + "' chunk is cut short";
      return;
    }
    const Bytes data = b.sub(pos + 8, len);
    if (type == "IHDR" && len >= 13) {
      h.width = data.u32(0, true);
      h.height = data.u32(4, true);
      h.png_bit_depth = data.u8(8);
      h.png_color_type = data.u8(9);
    } else if (type == "eXIf") {
      h.orientation = exif_orientation(data);
    } else if (type == "iTXt" && data.starts(0, "XML:com.adobe.xmp\0", 18) && data.u8(18) == 0) {
      // keyword, 0, compression flag (0 = plain), method, language tag 0, translated keyword 0, text
      size_t t = 20;
      for (int zeros = 0; t < data.n && zeros < 2; ++t)
        if (data.p[t] == 0) ++zeros;
      if (t <= data.n) xmp.assign(reinterpret_cast<const char*>(data.p) + t, data.n - t);
    } else if (type == "IEND") {
      seen_iend = true;
    }
    pos += 12 + len;
  }
  h.png_without_iend = !seen_iend && pos == b.n;
  if (h.orientation == 0) h.orientation = xmp_orientation(xmp);
}

// WebP: RIFF chunks VP8 / VP8L / VP8X (size), EXIF, XMP; animated files are refused (OpenCV 4.6 cannot read them).
void read_webp(Bytes b, Header& h, const std::string& source) {
  size_t pos = 12;
  std::string xmp;
  while (b.has(pos, 8)) {
    const std::string type(reinterpret_cast<const char*>(b.p + pos), 4);
    const size_t len = b.u32(pos + 4, false);
    if (!b.has(pos + 8, len)) {
      h.truncated = "its '" + type + "' chunk is cut short";
      return;
    }
    const Bytes data = b.sub(pos + 8, len);
    if (type == "VP8X" && len >= 10) {
      if (data.u8(0) & 0x02)
        fail_input(source, ": an animated WebP; only still images are supported (PIL would use the first frame)");
      h.width = int64_t(data.u24le(4)) + 1;
      h.height = int64_t(data.u24le(7)) + 1;
    } else if (type == "VP8 " && len >= 10 && h.width == 0) {
      h.width = data.u16(6, false) & 0x3fff;
      h.height = data.u16(8, false) & 0x3fff;
    } else if (type == "VP8L" && len >= 5 && h.width == 0) {
      const uint32_t bits = data.u32(1, false);
      h.width = int64_t(bits & 0x3fff) + 1;
      h.height = int64_t((bits >> 14) & 0x3fff) + 1;
    } else if (type == "EXIF") {
      h.orientation = exif_orientation(data);
    } else if (type == "XMP ") {
      xmp.assign(reinterpret_cast<const char*>(data.p), data.n);
    } else if (type == "ANIM" || type == "ANMF") {
      fail_input(source, ": an animated WebP; only still images are supported (PIL would use the first frame)");
    }
    pos += 8 + len + (len & 1);
  }
  if (h.orientation == 0) h.orientation = xmp_orientation(xmp);
}

// BMP: size; uncompressed pixel data must fit in the file.
void read_bmp(Bytes b, Header& h) {
  const size_t offset = b.u32(10, false), dib = b.u32(14, false);
  int64_t bpp = 0, compression = 0;
  if (dib == 12) {
    h.width = b.u16(18, false);
    h.height = b.u16(20, false);
    bpp = b.u16(24, false);
  } else if (dib >= 40) {
    h.width = int32_t(b.u32(18, false));
    h.height = int32_t(b.u32(22, false));
    bpp = b.u16(28, false);
    compression = b.u32(30, false);
  } else {
    fail_input("its BMP header has size ", dib, "; expected 12 or at least 40");
  }
  h.height = std::abs(h.height);  // negative: rows stored top-down
  if ((compression == 0 || compression == 3 || compression == 6) && h.width > 0 && bpp > 0) {
    const uint64_t row = (uint64_t(h.width) * uint64_t(bpp) + 31) / 32 * 4;
    if (uint64_t(offset) + row * uint64_t(h.height) > b.n)
      h.truncated = cat("its pixel data needs ", row * uint64_t(h.height), " bytes from byte ", offset, ", the file has ",
                        b.n, " bytes");
  }
}

// TIFF (classic): IFD0 width, length and ExtraSamples. OpenCV reads 8-bit TIFFs through libtiff's RGBA interface,
// which premultiplies colours by an unassociated alpha (ExtraSamples = 2); PIL keeps them as stored ("RGBA") and
// convert("RGB") drops the alpha. Marking the alpha as associated (1) makes libtiff hand the stored colours over
// unchanged, so the offset of that value is kept for rewriting. OpenCV applies TIFF's own Orientation tag itself.
void read_tiff(Bytes b, Header& h) {
  const bool big = b.p[0] == 'M';
  const size_t ifd = b.u32(4, big);
  if (!b.has(ifd, 2)) {
    h.truncated = "its first directory lies past the end of the file";
    return;
  }
  const size_t count = b.u16(ifd, big);
  int bits = 8;
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if (!b.has(e, 12)) {
      h.truncated = "its first directory is cut short";
      return;
    }
    const uint32_t tag = b.u16(e, big), type = b.u16(e + 2, big), n = b.u32(e + 4, big);
    auto value = [&] { return type == 3 ? b.u16(e + 8, big) : b.u32(e + 8, big); };
    if (tag == 256) h.width = value();
    if (tag == 257) h.height = value();
    if (tag == 258 && n == 1) bits = int(value());
    if (tag == 258 && n > 1 && type == 3) bits = int(n * 2 <= 4 ? b.u16(e + 8, big) : b.u16(b.u32(e + 8, big), big));
    if (tag == 338 && type == 3 && n >= 1) {
      const size_t at = n * 2 <= 4 ? e + 8 : size_t(b.u32(e + 8, big));
      if (b.has(at, 2) && b.u16(at, big) == 2) h.tiff_unassociated_alpha = at;
    }
  }
  if (bits != 8) h.tiff_unassociated_alpha.reset();  // only the 8-bit path goes through libtiff's RGBA interface
}

// GIF: logical screen size; then blocks up to the first image, whose data sub-blocks must all be present; the
// transparent colour of that image (its palette's entry at the GCE's transparency index).
void read_gif(Bytes b, Header& h) {
  h.width = b.u16(6, false);
  h.height = b.u16(8, false);
  const uint8_t flags = b.u8(10);
  size_t pos = 13;
  size_t global_palette = 0, global_size = 0;
  if (flags & 0x80) {
    global_palette = pos;
    global_size = size_t(1) << ((flags & 7) + 1);
    pos += 3 * global_size;
  }
  int transparent = -1;
  auto skip_sub_blocks = [&](size_t& p) -> bool {
    for (;;) {
      if (!b.has(p, 1)) return false;
      const size_t n = b.p[p];
      if (n == 0) {
        ++p;
        return true;
      }
      if (!b.has(p + 1, n)) return false;
      p += 1 + n;
    }
  };
  for (;;) {
    if (!b.has(pos, 1)) {
      h.truncated = "the file ends before its first image";
      return;
    }
    const uint8_t block = b.p[pos];
    if (block == 0x21) {  // extension
      if (!b.has(pos, 3)) {
        h.truncated = "the file ends inside an extension block";
        return;
      }
      if (b.p[pos + 1] == 0xf9 && b.p[pos + 2] >= 4 && b.has(pos + 3, 4))  // graphic control extension
        transparent = (b.p[pos + 3] & 1) ? int(b.p[pos + 6]) : -1;
      pos += 2;
      if (!skip_sub_blocks(pos)) {
        h.truncated = "the file ends inside an extension block";
        return;
      }
    } else if (block == 0x2c) {  // image descriptor
      if (!b.has(pos, 10)) {
        h.truncated = "the file ends inside its first image descriptor";
        return;
      }
      const uint8_t image_flags = b.p[pos + 9];
      size_t palette = global_palette, palette_size = global_size;
      pos += 10;
      if (image_flags & 0x80) {
        palette = pos;
        palette_size = size_t(1) << ((image_flags & 7) + 1);
        pos += 3 * palette_size;
      }
      if (transparent >= 0 && size_t(transparent) < palette_size && b.has(palette + 3 * transparent, 3)) {
        const uint8_t* c = b.p + palette + 3 * transparent;
        h.gif_transparent_rgb = uint32_t(c[0]) << 16 | uint32_t(c[1]) << 8 | c[2];
      }
      pos += 1;  // LZW minimum code size
      if (!skip_sub_blocks(pos)) h.truncated = "its first image's data is cut short";
      return;
    } else if (block == 0x3b) {
      fail_input("a GIF without any image (trailer before the first image)");
    } else {
      fail_input("unexpected GIF block 0x", std::hex, int(block), std::dec, " at byte ", pos);
    }
  }
}

// Recognises the format from the first bytes and reads what decoding needs. Messages name `source`.
Header read_header(const std::string& source, Bytes b) {
  Header h;
  try {
    if (b.starts(0, "\xff\xd8\xff", 3)) {
      h.format = Format::Jpeg;
      read_jpeg(b, h);
    } else if (b.starts(0, "\x89PNG\r\n\x1a\n", 8)) {
      h.format = Format::Png;
      read_png(b, h);
    } else if (b.starts(0, "RIFF", 4) && b.starts(8, "WEBP", 4)) {
      h.format = Format::Webp;
      read_webp(b, h, source);
    } else if (b.starts(0, "BM", 2) && b.n >= 26) {
      h.format = Format::Bmp;
      read_bmp(b, h);
    } else if (b.starts(0, "II\x2a\0", 4) || b.starts(0, "MM\0\x2a", 4)) {
      h.format = Format::Tiff;
      read_tiff(b, h);
    } else if (b.starts(0, "II\x2b\0", 4) || b.starts(0, "MM\0\x2b", 4)) {
      h.format = Format::Tiff;  // BigTIFF: OpenCV reads it; the size is checked after decoding
    } else if (b.starts(0, "GIF87a", 6) || b.starts(0, "GIF89a", 6)) {
      h.format = Format::Gif;
      read_gif(b, h);
    } else {
      const std::string other = unsupported_format(b);
      if (!other.empty())
        fail_input(source, ": ", other, " images are not supported; convert it to PNG or JPEG (supported: JPEG, PNG, "
                   "WebP, BMP, TIFF, GIF)");
      fail_input(source, ": not an image file (", describe_start(b), "); supported formats: JPEG, PNG, WebP, BMP, "
                 "TIFF, GIF");
    }
  } catch (const InputError& e) {
    const std::string what = e.what();
    if (what.rfind(source, 0) == 0) throw;
    fail_input(source, ": damaged ", format_name(h.format), " image: ", what);
  }
  return h;
}

// ---------------------------------------------------------------------------------------------------------------
// EXIF orientation (PIL.ImageOps.exif_transpose): 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE,
// 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90; other values leave the image as it is.

[[maybe_unused]] Image apply_orientation(const Image& in, int orientation) {
  if (orientation < 2 || orientation > 8) return in;
  const int64_t H = in.height, W = in.width;
  const bool swap = orientation >= 5;
  Image out;
  out.width = swap ? H : W;
  out.height = swap ? W : H;
  out.rgb.resize(in.rgb.size());
  for (int64_t y = 0; y < out.height; ++y) {
    for (int64_t x = 0; x < out.width; ++x) {
      int64_t sy = y, sx = x;  // source pixel of output (y, x)
      switch (orientation) {
        case 2: sx = W - 1 - x; break;
        case 3: sy = H - 1 - y; sx = W - 1 - x; break;
        case 4: sy = H - 1 - y; break;
        case 5: sy = x; sx = y; break;
        case 6: sy = H - 1 - x; sx = y; break;
        case 7: sy = H - 1 - x; sx = W - 1 - y; break;
        case 8: sy = x; sx = W - 1 - y; break;
      }
      std::memcpy(&out.rgb[size_t((y * out.width + x) * 3)], &in.rgb[size_t((sy * W + sx) * 3)], 3);
    }
  }
  return out;
}

void check_pixels(const std::string& source, Format f, int64_t width, int64_t height, const ImageDecodeOptions& o) {
  if (width <= 0 || height <= 0)
    fail_input(source, ": damaged ", format_name(f), " image: its header gives the size ", width, "x", height);
  const uint64_t pixels = uint64_t(width) * uint64_t(height);
  if (pixels > o.max_pixels)
    fail_input(source, ": the image is ", width, "x", height, " = ", pixels, " pixels, more than the limit of ",
               o.max_pixels, " (PIL refuses such images as decompression bombs); downscale it first");
}

#ifdef GT_HAVE_OPENCV
// ---------------------------------------------------------------------------------------------------------------
// OpenCV decoding and conversion to RGB as PIL's convert("RGB")

void init_opencv_once() {
  static std::once_flag once;
  std::call_once(once, [] { cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT); });
}

cv::Mat decode_opencv(const std::string& source, const Header& h, std::string& bytes) {
  init_opencv_once();
  if (h.tiff_unassociated_alpha) {
    const size_t at = *h.tiff_unassociated_alpha;
    bytes[at + (bytes[0] == 'M' ? 1 : 0)] = 1;  // ExtraSamples 2 (unassociated) -> 1 (associated); see read_tiff
  }
  const cv::Mat buffer(1, int(bytes.size()), CV_8UC1, bytes.data());
  cv::Mat m;
  try {
    // IMREAD_UNCHANGED: stored channels and depth (16-bit kept), no EXIF rotation (applied below, as PIL does).
    m = cv::imdecode(buffer, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    fail_input(source, ": damaged ", format_name(h.format), " image: OpenCV failed to decode it (", e.err, ")");
  }
  if (m.empty()) fail_input(source, ": damaged or truncated ", format_name(h.format), " image: OpenCV could not decode it");
  return m;
}

// cv::Mat (BGR order, 1/3/4 channels, 8 or 16 bits) -> RGB bytes.
//   8-bit: grey replicated; alpha dropped (PIL converts RGBA, LA and P with transparency to RGB without blending).
//   16-bit with colour or alpha (PNG RGB/RGBA/grey+alpha, which OpenCV returns as 4 channels): PIL reads these
//     through its ";16B" unpackers, which keep the high byte.
//   16-bit grey alone: PIL opens it as mode "I;16", whose RGB conversion clips: min(v, 255).
Image to_rgb(const std::string& source, const Header& h, const cv::Mat& m) {
  const int channels = m.channels();
  if ((m.depth() != CV_8U && m.depth() != CV_16U) || (channels != 1 && channels != 3 && channels != 4))
    fail_input(source, ": unsupported ", format_name(h.format), " pixel format (OpenCV type ", m.type(), ", ", channels,
               " channels); supported: 8- or 16-bit grey, grey+alpha, RGB, RGBA and palette images");
  Image img;
  img.width = m.cols;
  img.height = m.rows;
  img.rgb.resize(size_t(m.cols) * size_t(m.rows) * 3);
  uint8_t* out = img.rgb.data();
  for (int y = 0; y < m.rows; ++y) {
    for (int x = 0; x < m.cols; ++x, out += 3) {
      uint32_t v[4] = {0, 0, 0, 0};
      for (int c = 0; c < channels; ++c)
        v[c] = m.depth() == CV_8U ? m.ptr<uint8_t>(y)[x * channels + c] : m.ptr<uint16_t>(y)[x * channels + c];
      if (m.depth() == CV_16U) {
        for (int c = 0; c < channels; ++c) v[c] = channels == 1 ? std::min<uint32_t>(v[c], 255) : v[c] >> 8;
      }
      if (channels == 1) {
        out[0] = out[1] = out[2] = uint8_t(v[0]);
      } else {  // BGR(A)
        out[0] = uint8_t(v[2]);
        out[1] = uint8_t(v[1]);
        out[2] = uint8_t(v[0]);
      }
    }
  }
  return img;
}
#endif  // GT_HAVE_OPENCV

#ifdef GT_HAVE_FFMPEG
// ---------------------------------------------------------------------------------------------------------------
// GIF: the whole file is one packet for FFmpeg's gif decoder, which returns the first frame on the logical screen.
// Transparent pixels keep the canvas colour, which its trans_color option sets; PIL converts the palette index of a
// transparent pixel to that palette entry's colour, so trans_color is set to that colour.


Image decode_gif(const std::string& source, const Header& h, const std::string& bytes) {
  init_ffmpeg_once();
  const AVCodec* codec = avcodec_find_decoder(AV_CODEC_ID_GIF);
  if (!codec) fail_input(source, ": this FFmpeg build has no GIF decoder");
  std::unique_ptr<AVCodecContext, CodecFreer> ctx(avcodec_alloc_context3(codec));
  GT_CHECK(ctx, "avcodec_alloc_context3 returned null");
  AVDictionary* options = nullptr;
  if (h.gif_transparent_rgb) av_dict_set_int(&options, "trans_color", int64_t(*h.gif_transparent_rgb), 0);
  int r = avcodec_open2(ctx.get(), codec, &options);
  av_dict_free(&options);
  if (r < 0) fail_input(source, ": cannot open FFmpeg's GIF decoder (", av_error_text(r), ")");

  std::unique_ptr<AVPacket, PacketFreer> packet(av_packet_alloc());
  std::unique_ptr<AVFrame, FrameFreer> frame(av_frame_alloc());
  GT_CHECK(packet && frame, "av_packet_alloc/av_frame_alloc returned null");
  r = av_new_packet(packet.get(), int(bytes.size()));
  if (r < 0) fail_input(source, ": out of memory for a ", bytes.size(), "-byte GIF");
  std::memcpy(packet->data, bytes.data(), bytes.size());
  r = avcodec_send_packet(ctx.get(), packet.get());
  if (r < 0) fail_input(source, ": damaged GIF image: FFmpeg could not decode it (", av_error_text(r), ")");
  r = avcodec_receive_frame(ctx.get(), frame.get());
  if (r == AVERROR(EAGAIN)) {
    avcodec_send_packet(ctx.get(), nullptr);
    r = avcodec_receive_frame(ctx.get(), frame.get());
  }
  if (r < 0) fail_input(source, ": damaged GIF image: FFmpeg could not decode it (", av_error_text(r), ")");

  Image img;
  img.width = frame->width;
  img.height = frame->height;
  img.rgb.resize(size_t(img.width) * size_t(img.height) * 3);
  const bool pal8 = frame->format == AV_PIX_FMT_PAL8;
  if (!pal8 && frame->format != AV_PIX_FMT_RGB32)
    fail_input(source, ": FFmpeg's GIF decoder returned pixel format ", frame->format, "; expected RGB32 or PAL8");
  for (int64_t y = 0; y < img.height; ++y) {
    const uint8_t* row = frame->data[0] + y * frame->linesize[0];
    for (int64_t x = 0; x < img.width; ++x) {
      uint32_t argb;
      if (pal8) {
        std::memcpy(&argb, frame->data[1] + 4 * row[x], 4);
      } else {
        std::memcpy(&argb, row + 4 * x, 4);
      }
      uint8_t* out = &img.rgb[size_t((y * img.width + x) * 3)];
      out[0] = uint8_t(argb >> 16);
      out[1] = uint8_t(argb >> 8);
      out[2] = uint8_t(argb);
    }
  }
  return img;
}
#endif  // GT_HAVE_FFMPEG

}  // namespace

// ---------------------------------------------------------------------------------------------------------------

bool image_decoding_available() {
#ifdef GT_HAVE_OPENCV
  return true;
#else
  return false;
#endif
}

std::string image_decoder_version() {
#ifdef GT_HAVE_OPENCV
  std::string v = cat("OpenCV ", CV_VERSION, " (imgcodecs)");
#ifdef GT_HAVE_FFMPEG
  v += ", GIF through FFmpeg";
#else
  v += ", without FFmpeg: no GIF";
#endif
  return v;
#else
  return "not built in (-DGT_WITH_OPENCV=OFF)";
#endif
}

Image decode_image_file(const std::string& path, const ImageDecodeOptions& options) {
  if (path.empty()) fail_input("image source: the path is empty");
  return decode_image_bytes(read_local_file(path), path, options);
}

Image decode_image_bytes(std::string bytes, const std::string& source, const ImageDecodeOptions& options) {
  const Bytes b{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
  const Header h = read_header(source, b);
  const bool size_known = h.width != 0 || h.height != 0;
  if (size_known) check_pixels(source, h.format, h.width, h.height, options);
  if (!h.truncated.empty())
    fail_input(source, ": truncated ", format_name(h.format), " image: ", h.truncated, " (", bytes.size(),
               " bytes; PIL refuses it as truncated too)");
#ifndef GT_HAVE_OPENCV
  fail_input(source, ": this gemma-tune was built without OpenCV (-DGT_WITH_OPENCV=OFF), so it cannot decode images; "
             "install OpenCV's imgcodecs (Debian: libopencv-imgcodecs-dev; macOS: brew install opencv) and rebuild");
#else
  if (h.png_without_iend) bytes.append("\0\0\0\0IEND\xae\x42\x60\x82", 12);  // the (constant) IEND chunk

  Image img;
  if (h.format == Format::Gif) {
#ifdef GT_HAVE_FFMPEG
    img = decode_gif(source, h, bytes);
#else
    fail_input(source, ": GIF images are decoded with FFmpeg, and this gemma-tune was built without it "
               "(-DGT_WITH_FFMPEG=OFF); convert the image to PNG");
#endif
  } else {
    img = to_rgb(source, h, decode_opencv(source, h, bytes));
  }
  if (!size_known) check_pixels(source, h.format, img.width, img.height, options);
  // OpenCV's TIFF reader applies TIFF's Orientation tag itself.
  if (h.format != Format::Tiff) img = apply_orientation(img, h.orientation);
  return img;
#endif
}

}  // namespace gt::media
