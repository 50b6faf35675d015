// Image decoding (media/image_decode.h): decode_image_file on arbitrary bytes, with a pixel limit of 2^20 so that a
// header announcing a huge image is refused before anything is allocated for it. Our header walk (format
// recognition, sizes, EXIF/XMP orientation, truncation checks, the TIFF alpha rewrite) sees every input; what passes
// it goes to OpenCV imgcodecs (JPEG, PNG, WebP, BMP, TIFF) or FFmpeg's GIF decoder, then through our RGB conversion
// and orientation. An image that decodes has its RGB bytes, a positive size and no more pixels than the limit.
//
// Only our code is instrumented. OpenCV (with libjpeg-turbo, libpng, libwebp, libtiff) and FFmpeg are the system's
// builds: libFuzzer sees no coverage inside them, and ASan catches their memory errors only where they pass through
// intercepted calls (malloc/free, memcpy, ...).
#include "fuzz_util.h"
#include "media/image_decode.h"

namespace {
constexpr uint64_t kMaxPixels = uint64_t(1) << 20;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = gt::fuzz::input_file("image", gt::fuzz::as_text(data, size));
  gt::fuzz::expect_input_errors([&] {
    gt::media::ImageDecodeOptions options;
    options.max_pixels = kMaxPixels;
    const gt::media::Image img = gt::media::decode_image_file(path, options);
    if (img.width <= 0 || img.height <= 0) gt::fuzz::finding("a decoded image has no pixels");
    if (uint64_t(img.width) * uint64_t(img.height) > kMaxPixels) gt::fuzz::finding("more pixels than max_pixels");
    if (img.rgb.size() != size_t(img.width) * size_t(img.height) * 3)
      gt::fuzz::finding("rgb is not height x width x 3");
  });
  return 0;
}
