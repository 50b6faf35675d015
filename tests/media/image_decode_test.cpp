// gt::media::decode_image against PIL: the committed images of tests/fixtures/images/decode (every format and pixel
// layout, tools/make_test_images.sh) decoded by transformers 5.17's load_image (tests/fixtures/images/pil, made by
// tools/make_image_fixtures.py); EXIF orientations 1-8 in JPEG, PNG, WebP and TIFF; damaged copies (where PIL fails we
// must fail, where it decodes we must give its pixels); every error; http URLs served by an in-test server.
// Measured differences are printed with an "[image-parity]" prefix.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <string>

#include "core/error.h"
#include "fixture_tensors.h"        // defines: read_all
#include "media/image_decode.h"     // defines: Image, ImageDecodeOptions, decode_image, image_decoding_available
#include "media/tiny_http_server.h" // defines: TinyHttpServer, closed_port
#include "test_util.h"

namespace fs = std::filesystem;
using gt::media::decode_image;
using gt::media::Image;
using gt::test::TempDir;

namespace {

#define REQUIRE_DECODER()                                                                                    \
  do {                                                                                                       \
    if (!gt::media::image_decoding_available())                                                              \
      GTEST_SKIP() << "built without OpenCV (-DGT_WITH_OPENCV=OFF): images cannot be decoded";              \
  } while (0)

fs::path decode_dir() { return gt::test::fixture("images/decode"); }
fs::path image_path(const std::string& name) { return decode_dir() / name; }

// Largest tolerated |ours - PIL| per image (0 = bit exact). Everything else must match PIL exactly: the same
// libjpeg-turbo / libpng / libwebp / libtiff code decodes it, or the format is lossless.
//   cmyk*.jpg  OpenCV converts CMYK to RGB itself (k - (255 - c) * k >> 8) where PIL computes k - round((255 - c) * k /
//              255), and OpenCV 4.6 offers no raw CMYK output to do it PIL's way.
const std::map<std::string, int> kTolerance = {{"cmyk.jpg", 2}, {"cmyk64.jpg", 2}};

std::string decode_error(const std::string& source, const gt::media::ImageDecodeOptions& options = {}) {
  try {
    decode_image(source, options);
  } catch (const gt::InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "decode_image(" << source << ") did not throw";
  return "";
}

// PIL.ImageOps.exif_transpose, written out independently of the code under test: output pixel (y, x) of
// orientation o comes from stored pixel (sy, sx).
Image reference_transpose(const Image& in, int o) {
  const int64_t H = in.height, W = in.width;
  Image out;
  out.width = o >= 5 ? H : W;
  out.height = o >= 5 ? W : H;
  out.rgb.resize(in.rgb.size());
  for (int64_t y = 0; y < out.height; ++y)
    for (int64_t x = 0; x < out.width; ++x) {
      int64_t sy = y, sx = x;
      if (o == 2) sx = W - 1 - x;                       // FLIP_LEFT_RIGHT
      if (o == 3) sy = H - 1 - y, sx = W - 1 - x;       // ROTATE_180
      if (o == 4) sy = H - 1 - y;                       // FLIP_TOP_BOTTOM
      if (o == 5) sy = x, sx = y;                       // TRANSPOSE
      if (o == 6) sy = H - 1 - x, sx = y;               // ROTATE_270 (clockwise)
      if (o == 7) sy = H - 1 - x, sx = W - 1 - y;       // TRANSVERSE
      if (o == 8) sy = x, sx = W - 1 - y;               // ROTATE_90 (counter-clockwise)
      for (int c = 0; c < 3; ++c) out.rgb[(y * out.width + x) * 3 + c] = in.rgb[(sy * W + sx) * 3 + c];
    }
  return out;
}

struct Diff {
  int max_abs = 0;
  int64_t differing = 0, total = 0;
};

// ours vs an [H, W, 3] uint8 reference tensor; shapes must agree.
Diff compare(const Image& ours, const at::Tensor& ref, const std::string& what) {
  Diff d;
  EXPECT_EQ(ref.dim(), 3) << what;
  if (ref.dim() != 3 || ref.size(0) != ours.height || ref.size(1) != ours.width || ref.size(2) != 3) {
    ADD_FAILURE() << what << ": size " << ours.height << "x" << ours.width << ", PIL gives " << ref.sizes();
    d.max_abs = 256;
    return d;
  }
  const at::Tensor r = ref.contiguous();
  const uint8_t* p = r.data_ptr<uint8_t>();
  d.total = int64_t(ours.rgb.size());
  for (size_t i = 0; i < ours.rgb.size(); ++i) {
    const int diff = std::abs(int(ours.rgb[i]) - int(p[i]));
    d.max_abs = std::max(d.max_abs, diff);
    d.differing += diff > 0;
  }
  return d;
}

bool same_pixels(const Image& a, const Image& b) {
  return a.width == b.width && a.height == b.height && a.rgb == b.rgb;
}

const std::map<std::string, at::Tensor>& pil() {
  static const std::map<std::string, at::Tensor> t = gt::test::read_all(gt::test::fixture("images/pil/expected.safetensors"));
  return t;
}

nlohmann::json pil_meta() {
  return nlohmann::json::parse(gt::test::read_file(gt::test::fixture("images/pil/meta.json")));
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Against PIL

TEST(ImageDecode, EveryImageMatchesPilLoadImage) {
  REQUIRE_DECODER();
  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(decode_dir())) files.insert(e.path().filename().string());
  ASSERT_GE(files.size(), 50u);
  int exact = 0;
  for (const std::string& name : files) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(pil().count(name)) << "no PIL reference for " << name << " (regenerate the fixtures)";
    const Image ours = decode_image(image_path(name).string());
    const Diff d = compare(ours, pil().at(name), name);
    const auto tol = kTolerance.find(name);
    const int allowed = tol == kTolerance.end() ? 0 : tol->second;
    if (d.max_abs == 0) {
      ++exact;
    } else {
      std::cout << "[image-parity] decode " << name << ": max |ours - PIL| " << d.max_abs << ", " << d.differing
                << " of " << d.total << " values differ\n";
    }
    EXPECT_LE(d.max_abs, allowed) << name << ": " << d.differing << " of " << d.total << " values differ";
  }
  std::cout << "[image-parity] decode: " << exact << " of " << files.size() << " images equal PIL's pixels exactly\n";
}

TEST(ImageDecode, CmykJpegConversionIsWithinTwoOfPils) {
  // PIL's own CMYK values (before conversion) are stored too: its conversion, k - round((255 - c) * k / 255) on the
  // inverted Adobe values, reproduces its RGB exactly, which shows the difference is the conversion alone.
  REQUIRE_DECODER();
  for (const char* name : {"cmyk.jpg", "cmyk64.jpg"}) {
    SCOPED_TRACE(name);
    const at::Tensor raw = pil().at(std::string("raw.") + name).contiguous();  // [H, W, 4] as PIL holds CMYK
    const at::Tensor rgb = pil().at(name).contiguous();
    const uint8_t* c = raw.data_ptr<uint8_t>();
    const uint8_t* r = rgb.data_ptr<uint8_t>();
    int64_t mismatches = 0;
    for (int64_t i = 0; i < raw.size(0) * raw.size(1); ++i) {
      const int nk = 255 - c[4 * i + 3];
      for (int ch = 0; ch < 3; ++ch) {
        const int t = c[4 * i + ch] * nk + 128;
        const int v = std::clamp(nk - (((t >> 8) + t) >> 8), 0, 255);
        mismatches += v != r[3 * i + ch];
      }
    }
    EXPECT_EQ(mismatches, 0) << "PIL's CMYK conversion is not the formula assumed above";
  }
}

TEST(ImageDecode, ExifOrientationsAreAppliedAsExifTranspose) {
  REQUIRE_DECODER();
  // The orientN files hold the same stored pixels; only the tag differs (TIFF: its own Orientation tag).
  struct Set {
    std::string ext;
    std::vector<int> orientations;
    std::string upright;  // a file with the same stored pixels and no tag
  };
  const std::vector<Set> sets = {{"jpg", {1, 2, 3, 4, 5, 6, 7, 8}, "orient1.jpg"},
                                 {"tif", {1, 2, 3, 4, 5, 6, 7, 8}, "orient1.tif"},
                                 {"png", {3, 6, 8}, "rgb.png"},
                                 {"webp", {5, 6}, "lossless.webp"}};
  for (const Set& s : sets) {
    const Image upright = decode_image(image_path(s.upright).string());
    EXPECT_EQ(upright.width, 37);
    EXPECT_EQ(upright.height, 23);
    for (int o : s.orientations) {
      const std::string name = "orient" + std::to_string(o) + "." + s.ext;
      SCOPED_TRACE(name);
      const Image ours = decode_image(image_path(name).string());
      EXPECT_EQ(ours.width, o >= 5 ? 23 : 37);
      EXPECT_TRUE(same_pixels(ours, reference_transpose(upright, o))) << name << " is not exif_transpose(" << s.upright << ")";
    }
  }
}

TEST(ImageDecode, PilReadsTheOrientationEachTestImageCarries) {
  // A check of the fixture images themselves (their pixels against PIL's are in EveryImageMatchesPilLoadImage).
  const nlohmann::json images = pil_meta()["images"];
  for (int o = 1; o <= 8; ++o) {
    EXPECT_EQ(images["orient" + std::to_string(o) + ".jpg"]["exif_orientation"], o);
    EXPECT_EQ(images["orient" + std::to_string(o) + ".tif"]["exif_orientation"], o);
  }
  for (int o : {3, 6, 8}) EXPECT_EQ(images["orient" + std::to_string(o) + ".png"]["exif_orientation"], o);
  for (int o : {5, 6}) EXPECT_EQ(images["orient" + std::to_string(o) + ".webp"]["exif_orientation"], o);
}

TEST(ImageDecode, DamagedCopiesFailWherePilFailsAndMatchWhereItDecodes) {
  REQUIRE_DECODER();
  const nlohmann::json errors = pil_meta()["errors"];
  ASSERT_FALSE(errors.empty());
  TempDir tmp("images");
  for (const auto& [key, e] : errors.items()) {
    SCOPED_TRACE(key);
    const std::string name = key.substr(0, key.find(':')), how = key.substr(key.find(':') + 1);
    std::string bytes;
    if (how == "empty") {
      bytes = "";
    } else if (how == "text") {
      for (int i = 0; i < 4; ++i) bytes += "hello, this is not an image\n";
    } else {
      bytes = gt::test::read_file(image_path(name));
      bytes.resize(how == "half" ? bytes.size() / 2 : bytes.size() - std::stoul(how.substr(5)));
    }
    ASSERT_EQ(int64_t(bytes.size()), e["bytes"].get<int64_t>());
    const fs::path p = tmp / (how + "_" + (name[0] == '<' ? name.substr(1, name.size() - 2) : name));
    gt::test::write_file(p, bytes);
    if (!e["ok"].get<bool>()) {
      const std::string msg = decode_error(p.string());
      EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
      std::cout << "[image-parity] damaged " << key << ": PIL raised (" << e["error"].get<std::string>()
                << "); ours: " << msg << "\n";
    } else {
      const Image ours = decode_image(p.string());
      const Diff d = compare(ours, pil().at("damaged." + key), key);
      EXPECT_EQ(d.max_abs, 0) << d.differing << " values differ";
      std::cout << "[image-parity] damaged " << key << ": PIL decodes it; ours max |diff| " << d.max_abs << "\n";
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Properties that need no reference

static int max_abs_diff(const Image& a, const Image& b) {
  EXPECT_EQ(a.width, b.width);
  EXPECT_EQ(a.height, b.height);
  if (a.rgb.size() != b.rgb.size()) return 256;
  int m = 0;
  for (size_t i = 0; i < a.rgb.size(); ++i) m = std::max(m, std::abs(int(a.rgb[i]) - int(b.rgb[i])));
  return m;
}

TEST(ImageDecode, AlphaIsDroppedNotCompositedAndSixteenBitsKeepTheirHighByte) {
  REQUIRE_DECODER();
  // These files hold the drawing of rgb.png with an alpha channel (0 on the left edge, a transparent square) and/or
  // 16 bits per sample; ImageMagick quantised each to 8 bits on its own (round(v / 257)), PIL keeps the high byte
  // (v >> 8): at most 1 apart. Compositing the transparent pixels onto any background would be far off.
  const Image rgb = decode_image(image_path("rgb.png").string());
  for (const char* name : {"rgba.png", "rgba.tif", "rgba32.bmp", "rgb16.png", "rgba16.png"}) {
    SCOPED_TRACE(name);
    EXPECT_LE(max_abs_diff(decode_image(image_path(name).string()), rgb), 1);
  }
}

TEST(ImageDecode, SixteenBitPlainGreyClipsAsPilsModeI16) {
  REQUIRE_DECODER();
  // PIL opens plain 16-bit grey as mode "I;16", whose RGB conversion clips: min(v, 255). This mid-grey drawing is
  // therefore almost all white, while its 8-bit version is not.
  const Image g16 = decode_image(image_path("gray16.png").string());
  const Image g8 = decode_image(image_path("gray.png").string());
  auto white = [](const Image& g) {
    int64_t n = 0;
    for (uint8_t v : g.rgb) n += v == 255;
    return n;
  };
  EXPECT_GT(white(g16), int64_t(g16.rgb.size()) * 3 / 4);
  EXPECT_LT(white(g8), int64_t(g8.rgb.size()) / 4);
  // Grey + alpha at 16 bits is PIL's "LA" (high byte): close to the 8-bit grey again.
  EXPECT_LE(max_abs_diff(decode_image(image_path("gray_alpha16.png").string()),
                         decode_image(image_path("gray_alpha.png").string())), 1);
}

TEST(ImageDecode, GreyIsReplicatedToThreeChannels) {
  REQUIRE_DECODER();
  for (const char* name : {"gray.png", "gray.jpg", "gray1.png", "gray_alpha.png", "gray.tif"}) {
    SCOPED_TRACE(name);
    const Image g = decode_image(image_path(name).string());
    ASSERT_EQ(g.rgb.size(), size_t(g.width * g.height * 3));
    for (size_t i = 0; i < g.rgb.size(); i += 3) {
      ASSERT_EQ(g.rgb[i], g.rgb[i + 1]);
      ASSERT_EQ(g.rgb[i], g.rgb[i + 2]);
    }
  }
}

TEST(ImageDecode, GifGivesTheFirstFrameAndPaletteColoursForTransparentPixels) {
  REQUIRE_DECODER();
  const Image anim = decode_image(image_path("anim.gif").string());
  const Image opaque = decode_image(image_path("opaque.gif").string());
  EXPECT_TRUE(same_pixels(anim, opaque)) << "the first frame of anim.gif is opaque.gif's image";
  const Image trans = decode_image(image_path("trans.gif").string());
  EXPECT_EQ(trans.width, 37);
  EXPECT_EQ(trans.height, 23);
}

// ---------------------------------------------------------------------------------------------------------------
// Errors

TEST(ImageDecode, MissingFileFolderAndEmptyFileAreReported) {
  REQUIRE_DECODER();
  TempDir tmp("images");
  const std::string missing = (tmp / "missing.png").string();
  std::string msg = decode_error(missing);
  EXPECT_NE(msg.find(missing), std::string::npos) << msg;
  EXPECT_NE(msg.find("not found"), std::string::npos) << msg;

  msg = decode_error(tmp.path().string());
  EXPECT_NE(msg.find("is a folder"), std::string::npos) << msg;

  const fs::path empty = tmp / "empty.jpg";
  gt::test::write_file(empty, "");
  msg = decode_error(empty.string());
  EXPECT_NE(msg.find(empty.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;
  EXPECT_NE(decode_error("").find("empty"), std::string::npos);
}

TEST(ImageDecode, TextAndOtherFormatsAreRefusedByContent) {
  REQUIRE_DECODER();
  TempDir tmp("images");
  const fs::path text = tmp / "notes.png";  // the name says PNG; the content decides
  gt::test::write_file(text, "just some words\nand more\n");
  std::string msg = decode_error(text.string());
  EXPECT_NE(msg.find("not an image"), std::string::npos) << msg;
  EXPECT_NE(msg.find("just some words"), std::string::npos) << msg;

  const fs::path heic = tmp / "photo.heic";
  gt::test::write_file(heic, std::string("\0\0\0\x18" "ftypheic\0\0\0\0mif1heic", 24));
  msg = decode_error(heic.string());
  EXPECT_NE(msg.find("HEIC"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not supported"), std::string::npos) << msg;
}

TEST(ImageDecode, TruncatedJpegAndPngAreReported) {
  REQUIRE_DECODER();
  TempDir tmp("images");
  for (const char* name : {"photo.jpg", "rgb.png", "progressive.jpg", "interlaced.png", "trans.gif", "rgb24.bmp"}) {
    SCOPED_TRACE(name);
    std::string bytes = gt::test::read_file(image_path(name));
    bytes.resize(bytes.size() * 2 / 3);
    const fs::path p = tmp / (std::string("cut_") + name);
    gt::test::write_file(p, bytes);
    const std::string msg = decode_error(p.string());
    EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
    EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("damaged") != std::string::npos) << msg;
  }
}

TEST(ImageDecode, TooManyPixelsIsRefusedBeforeDecoding) {
  REQUIRE_DECODER();
  gt::media::ImageDecodeOptions small;
  small.max_pixels = 64 * 48 - 1;
  for (const char* name : {"photo.jpg", "photo.png", "photo.webp", "palette8.bmp", "interlaced.gif"}) {
    SCOPED_TRACE(name);
    const std::string msg = decode_error(image_path(name).string(), small);
    EXPECT_NE(msg.find("64x48 = 3072 pixels"), std::string::npos) << msg;
    EXPECT_NE(msg.find("3071"), std::string::npos) << msg;
  }
  small.max_pixels = 64 * 48;
  EXPECT_EQ(decode_image(image_path("photo.jpg").string(), small).width, 64);
  // PIL's limit by default: 2 * Image.MAX_IMAGE_PIXELS.
  EXPECT_EQ(gt::media::ImageDecodeOptions{}.max_pixels, 2u * 89478485u);
}

TEST(ImageDecode, HttpUrlDecodesLikeTheLocalFileAnd404IsReported) {
  REQUIRE_DECODER();
  const std::string jpeg = gt::test::read_file(image_path("photo.jpg"));
  const std::string gif = gt::test::read_file(image_path("trans.gif"));
  gt::test::TinyHttpServer server({{"/images/photo.jpg", jpeg}, {"/images/trans.gif", gif}});
  EXPECT_TRUE(same_pixels(decode_image(server.url("/images/photo.jpg")), decode_image(image_path("photo.jpg").string())));
  EXPECT_TRUE(same_pixels(decode_image(server.url("/images/trans.gif")), decode_image(image_path("trans.gif").string())));
  EXPECT_GE(server.requests(), 2);

  const std::string missing = server.url("/images/missing.jpg");
  const std::string msg = decode_error(missing);
  EXPECT_NE(msg.find(missing), std::string::npos) << msg;
  EXPECT_NE(msg.find("404"), std::string::npos) << msg;
}

TEST(ImageDecode, UnreachableUrlIsReported) {
  const gt::test::OneAttemptMediaFetches one_attempt;
  REQUIRE_DECODER();
  const std::string url = "http://127.0.0.1:" + std::to_string(gt::test::closed_port()) + "/photo.jpg";
  const std::string msg = decode_error(url);
  EXPECT_NE(msg.find(url), std::string::npos) << msg;
  EXPECT_NE(msg.find("connect"), std::string::npos) << msg;  // libcurl: "Couldn't connect to server"
}

TEST(ImageDecode, WithoutOpenCvEveryDecodeIsAClearError) {
  if (gt::media::image_decoding_available()) {
    EXPECT_NE(gt::media::image_decoder_version().find("OpenCV"), std::string::npos);
    GTEST_SKIP() << "this build decodes images (" << gt::media::image_decoder_version() << ")";
  }
  const std::string msg = decode_error(image_path("photo.jpg").string());
  EXPECT_NE(msg.find("without OpenCV"), std::string::npos) << msg;
}
