// Image decoding: a file or an http(s) URL becomes 8-bit RGB pixels, the pixels transformers 5.17's
// image_utils.load_image gives (PIL.Image.open, then PIL.ImageOps.exif_transpose, then .convert("RGB")).
// Torch-free on purpose: data code that knows nothing of libtorch may include it.
//
// What decode_image does, in order:
//   1. reads the whole source into memory: a local file, or a gs:// or http(s) URL through io/remote_media;
//   2. recognises the format from its first bytes (never from the file name): JPEG, PNG, WebP, BMP, TIFF, GIF;
//      other known formats (HEIC, AVIF, JPEG 2000, ICO, ...) and non-images are refused with a message saying so;
//   3. reads the size and the EXIF orientation from the headers (JPEG APP1 Exif, PNG eXIf, WebP EXIF chunk, TIFF
//      IFD0; PIL's XMP tiff:Orientation fallback too) and refuses images of more than max_pixels pixels before
//      decoding them, as PIL refuses decompression bombs; a JPEG or GIF whose data stops early is refused too
//      (PIL raises "image file is truncated");
//   4. decodes: JPEG, PNG, WebP, BMP and TIFF with OpenCV imgcodecs (libjpeg-turbo, libpng, libwebp, libtiff: the
//      libraries PIL uses), asking for the stored pixels unchanged; GIF (its first frame) with FFmpeg's gif decoder
//      (OpenCV 4.6 has none);
//   5. converts to RGB as PIL's convert("RGB") does: alpha dropped without compositing, grey replicated, 16-bit
//      samples reduced as PIL reads them (RGB, RGBA, grey+alpha: the high byte; plain 16-bit grey: min(v, 255),
//      PIL's "I;16" conversion), palettes looked up (transparent entries keep their colour);
//   6. applies the EXIF orientation as exif_transpose does (OpenCV's TIFF reader already applies TIFF's own).
//
// Against Pillow 12.3 (libjpeg-turbo 3.1.4, libwebp 1.6.0, libtiff 4.7.1) with Debian 12's OpenCV 4.6 (libjpeg-turbo
// 2.1.5, libwebp 1.2.4, libtiff 4.5.0), tests/media/image_decode_test.cpp measures 58 of its 60 test images bit for
// bit equal, lossy JPEG and WebP included. The two others are CMYK JPEGs: OpenCV converts CMYK to RGB itself
// (k - ((255 - c) * k >> 8)) where PIL computes k - round((255 - c) * k / 255), and OpenCV 4.6 offers no raw CMYK
// output to do it PIL's way: at most 2 apart, in about 2/3 of the values.
// Not read (PIL reads them): the "Raw profile type exif" text chunk of PNGs, animated WebP (refused), and the formats
// other than the six above.
//
// Built without OpenCV (-DGT_WITH_OPENCV=OFF, e.g. the GPU benchmark machine), every decode throws a clear
// gt::InputError and image_decoding_available() is false.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gt::media {

struct Image {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> rgb;  // height x width x 3, row-major (HWC), RGB order, 8 bits per value
};

// The most bytes an image source may have (a file, or what a URL returns): 1 GiB, far above any image a model can use.
constexpr uint64_t kMaxImageSourceBytes = uint64_t(1) << 30;

struct ImageDecodeOptions {
  // PIL's DecompressionBombError threshold: Image.open refuses more than 2 * MAX_IMAGE_PIXELS (89,478,485) pixels.
  uint64_t max_pixels = 178956970;
};

// Decodes `source` (a file path or an http(s) URL). Throws gt::InputError naming the source and what is wrong: a
// missing, empty or unreadable file, a file that is not an image or is in a format this build does not read, a
// truncated or damaged image, one with more than options.max_pixels pixels, an unreachable URL or an HTTP error.
Image decode_image(const std::string& source, const ImageDecodeOptions& options = {});

// decode_image of a local file, never fetching; and of bytes already in memory (`source` names them in messages).
// decode_image calls one or the other once it knows where the source is; it lives with the fetching in
// media/remote_decode.cpp, so that these two link without the network code (fuzz/image_decode_fuzz.cpp calls
// decode_image_file).
Image decode_image_file(const std::string& path, const ImageDecodeOptions& options = {});
Image decode_image_bytes(std::string bytes, const std::string& source, const ImageDecodeOptions& options = {});

// True when this build can decode images (it was built with OpenCV).
bool image_decoding_available();

// "OpenCV 4.6.0 (imgcodecs), GIF through FFmpeg": what this binary decodes images with, for `gemma-tune doctor`.
std::string image_decoder_version();

}  // namespace gt::media
