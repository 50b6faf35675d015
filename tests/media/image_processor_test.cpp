// gt::media image processors against transformers 5.17 (tests/fixtures/images/{gemma4,gemma3n}, made by
// tools/make_image_fixtures.py): Gemma 4's target sizes (worked examples from Gemma4ImageProcessor and a grid of sizes x budgets),
// Gemma4ImageProcessor's resized pixels, pixel_values, position ids, padding and soft tokens; Gemma 3n's
// SiglipImageProcessor output; the settings files. Inputs are the PIL-decoded fixture images and "formula" images
// built here exactly as the script builds them. The reference stores sampled rows of each resized image plus the sums
// of every row and column; measured differences are printed with an "[image-parity]" prefix.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <string>

#include "core/error.h"
#include "fixture_tensors.h"         // defines: read_all
#include "media/image_processor.h"   // defines: ImageProcessorConfig, image_processor_config, gemma4_*, gemma3n_*
#include "test_util.h"

namespace fs = std::filesystem;
using gt::media::ImageProcessorConfig;
using gt::media::ImageSize;
using gt::test::TempDir;

namespace {

nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(gt::test::read_file(p)); }

const std::map<std::string, at::Tensor>& tensors(const std::string& folder) {
  static std::map<std::string, std::map<std::string, at::Tensor>> cache;
  auto it = cache.find(folder);
  if (it == cache.end())
    it = cache.emplace(folder, gt::test::read_all(gt::test::fixture("images/" + folder + "/expected.safetensors"))).first;
  return it->second;
}

// The script's formula image: v[c, y, x] = ((x * 251) // W + ((y * 241) // H) * (c + 1) + ((x // 8 + y // 8) % 2) * 64
// + ((x * y + 13 * c) % 17)) % 256, [3, H, W] uint8.
at::Tensor formula_image(int64_t h, int64_t w) {
  at::Tensor t = at::empty({3, h, w}, at::kByte);
  uint8_t* p = t.data_ptr<uint8_t>();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        *p++ = uint8_t(((x * 251) / w + ((y * 241) / h) * (c + 1) + ((x / 8 + y / 8) % 2) * 64 + ((x * y + 13 * c) % 17)) % 256);
  return t;
}

// A case input: "file:<name>" (PIL's decode from the pil fixture) or "formula:<H>x<W>".
at::Tensor case_input(const std::string& spec) {
  const std::string kind = spec.substr(0, spec.find(':')), arg = spec.substr(spec.find(':') + 1);
  if (kind == "file") return tensors("pil").at(arg).permute({2, 0, 1}).contiguous();
  const size_t x = arg.find('x');
  return formula_image(std::stoll(arg.substr(0, x)), std::stoll(arg.substr(x + 1)));
}

struct Diff {
  int64_t max_abs = 0, differing = 0, total = 0;
  int64_t row_sums_differing = 0, col_sums_differing = 0;
};

// Our resized image [3, H, W] uint8 against the reference's stored rows and row / column sums under `prefix`.
Diff compare_resized(const at::Tensor& ours, const std::map<std::string, at::Tensor>& t, const std::string& prefix) {
  Diff d;
  const at::Tensor rows = t.at(prefix + ".rows"), index = t.at(prefix + ".row_index").to(at::kLong);
  const at::Tensor mine = ours.index_select(1, index).to(at::kInt);
  EXPECT_EQ(mine.sizes(), rows.sizes()) << prefix;
  if (mine.sizes() != rows.sizes()) return {999, 0, 0};
  const at::Tensor diff = (mine - rows.to(at::kInt)).abs();
  d.max_abs = diff.max().item<int64_t>();
  d.differing = diff.gt(0).sum().item<int64_t>();
  d.total = diff.numel();
  d.row_sums_differing = ours.to(at::kInt).sum(2).ne(t.at(prefix + ".row_sums").to(at::kLong)).sum().item<int64_t>();
  d.col_sums_differing = ours.to(at::kInt).sum(1).ne(t.at(prefix + ".col_sums").to(at::kLong)).sum().item<int64_t>();
  return d;
}

std::string describe(const Diff& d) {
  return gt::cat("max |diff| ", d.max_abs, "/255, ", d.differing, " of ", d.total, " sampled values differ (",
                 d.total ? 100.0 * double(d.differing) / double(d.total) : 0.0, "%); row sums differing ",
                 d.row_sums_differing, ", column sums differing ", d.col_sums_differing);
}

// The resized uint8 image back from pixel_values rows [n, p*p*3] (the inverse of convert_image_to_patches).
at::Tensor unpatchify(const at::Tensor& pixel_values, ImageSize size, int64_t p) {
  const int64_t ph = size.height / p, pw = size.width / p;
  at::Tensor u8 = pixel_values.narrow(0, 0, ph * pw).mul(255).round().to(at::kByte);
  return u8.reshape({ph, pw, p, p, 3}).permute({4, 0, 2, 1, 3}).reshape({3, size.height, size.width});
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const gt::InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no gt::InputError";
  return "";
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Gemma 4 target size

TEST(Gemma4ImageSize, SpecExamples) {
  const ImageProcessorConfig c = gt::media::image_processor_config("gemma4");
  struct Case {
    int64_t h, w, budget, th, tw, tokens;
  };
  for (const Case& e : {Case{224, 224, 280, 768, 768, 256}, Case{480, 640, 280, 672, 912, 266},
                        Case{1000, 300, 280, 1440, 432, 270}, Case{50, 2000, 280, 96, 5040, 210},
                        Case{50, 2000, 70, 48, 2496, 52}, Case{20, 20, 1120, 1584, 1584, 1089}}) {
    SCOPED_TRACE(gt::cat(e.h, "x", e.w, "@", e.budget));
    ImageProcessorConfig b = c;
    b.max_soft_tokens = e.budget;
    const ImageSize s = gt::media::gemma4_target_size(b, e.h, e.w);
    EXPECT_EQ(s, (ImageSize{e.th, e.tw}));
    EXPECT_EQ(gt::media::gemma4_soft_tokens(b, s), e.tokens);
  }
}

TEST(Gemma4ImageSize, MatchesTheReferenceOnAGridOfSizesAndBudgets) {
  const nlohmann::json grid = read_json(gt::test::fixture("images/gemma4/sizes.json"));
  ASSERT_GT(grid.size(), 300u);
  int errors = 0;
  for (const auto& e : grid) {
    const int64_t h = e["h"], w = e["w"], budget = e["budget"];
    SCOPED_TRACE(gt::cat(h, "x", w, "@", budget));
    if (e.contains("error")) {
      ++errors;
      EXPECT_THROW(gt::media::gemma4_target_size(h, w, 16, 9 * budget, 3), gt::InputError) << e["error"];
      continue;
    }
    const ImageSize s = gt::media::gemma4_target_size(h, w, 16, 9 * budget, 3);
    EXPECT_EQ(s.height, e["height"].get<int64_t>());
    EXPECT_EQ(s.width, e["width"].get<int64_t>());
    ImageProcessorConfig c = gt::media::image_processor_config("gemma4");
    c.max_soft_tokens = budget;
    EXPECT_EQ(gt::media::gemma4_soft_tokens(c, s), e["tokens"].get<int64_t>());
  }
  // With patch 16 and pooling 3 the reference never refuses a size (its error branches need budgets under 9 patches).
  EXPECT_EQ(errors, 0);
}

TEST(Gemma4ImageSize, ImpossibleSizesAreRefused) {
  // A budget of one 16x16 patch cannot hold a 48x48 unit: both sides round to 0, as get_aspect_ratio_preserving_size
  // raises. Tiny images are scaled up instead: 1x1 at 70 tokens becomes 384x384.
  EXPECT_NE(error_of([] { gt::media::gemma4_target_size(10, 10, 16, 1, 3); }).find("round to 0"), std::string::npos);
  EXPECT_EQ(gt::media::gemma4_target_size(1, 1, 16, 630, 3), (ImageSize{384, 384}));
}

// ---------------------------------------------------------------------------------------------------------------
// Processors against the reference

TEST(Gemma4ImageProcessor, MatchesTransformers) {
  const nlohmann::json meta = read_json(gt::test::fixture("images/gemma4/meta.json"));
  const auto& t = tensors("gemma4");
  ASSERT_GE(meta["cases"].size(), 8u);
  for (const auto& [name, e] : meta["cases"].items()) {
    SCOPED_TRACE(name);
    ASSERT_FALSE(e.contains("error")) << e["error"];
    ImageProcessorConfig c = gt::media::image_processor_config("gemma4", "", e["budget"].get<int64_t>());
    const at::Tensor input = case_input(e["input"]);
    const gt::media::Gemma4ImageInput out = gt::media::gemma4_preprocess(c, input);
    const ImageSize target{e["target"][0].get<int64_t>(), e["target"][1].get<int64_t>()};
    EXPECT_EQ(out.resized, target);
    EXPECT_EQ(out.soft_tokens, e["soft_tokens"].get<int64_t>());
    const int64_t max_patches = e["max_patches"], real = e["real_patches"];
    ASSERT_EQ(out.pixel_values.sizes().vec(), (std::vector<int64_t>{max_patches, 768}));
    ASSERT_EQ(out.position_ids.sizes().vec(), (std::vector<int64_t>{max_patches, 2}));
    EXPECT_TRUE(out.position_ids.equal(t.at(name + ".position_ids").to(at::kLong))) << "position ids";
    // pixel_values rows at the start, around the last real patch and in the padding: bit for bit.
    const at::Tensor pv_index = t.at(name + ".pv_row_index").to(at::kLong);
    const at::Tensor pv_ref = t.at(name + ".pv_rows");
    const at::Tensor pv_ours = out.pixel_values.index_select(0, pv_index);
    const double pv_diff = gt::test::max_diff(pv_ours, pv_ref);
    EXPECT_EQ(pv_diff, 0.0) << "pixel_values rows " << pv_index;
    EXPECT_EQ(out.pixel_values.narrow(0, real, max_patches - real).abs().sum().item<double>(), 0.0);
    // The resized image, recovered from pixel_values, against the reference's.
    const at::Tensor resized = unpatchify(out.pixel_values, target, 16);
    const Diff d = compare_resized(resized, t, name);
    std::cout << "[image-parity] gemma4 " << name << " (" << e["input"].get<std::string>() << " -> " << target.height
              << "x" << target.width << " @" << e["budget"] << "): " << describe(d)
              << (e["resized"].get<bool>() ? "" : "; not resized") << "\n";
    EXPECT_EQ(d.max_abs, 0);
    EXPECT_EQ(d.row_sums_differing, 0);
    EXPECT_EQ(d.col_sums_differing, 0);
  }
}

TEST(Gemma3nImageProcessor, MatchesTransformers) {
  const nlohmann::json meta = read_json(gt::test::fixture("images/gemma3n/meta.json"));
  const auto& t = tensors("gemma3n");
  const ImageProcessorConfig c = gt::media::image_processor_config("gemma3n");
  ImageProcessorConfig float_path = c;
  float_path.kernel = gt::media::ImageResizeKernel::Float;
  std::cout << "[image-parity] gemma3n reference machine: uint8 bilinear kernel used by torchvision there: "
            << meta["settings"]["native_uint8_bilinear_on_this_cpu"] << " (cpu capability "
            << meta["versions"]["cpu_capability"] << ")\n";
  int cases = 0;
  for (const auto& [name, e] : meta["cases"].items()) {
    if (e.contains("do_normalize")) continue;  // see NormalisationMatchesTheFusedBackend
    SCOPED_TRACE(name);
    ASSERT_FALSE(e.contains("error")) << e["error"];
    ++cases;
    const at::Tensor input = case_input(e["input"]);
    const at::Tensor pv = gt::media::gemma3n_preprocess(c, input);
    ASSERT_EQ(pv.sizes().vec(), (std::vector<int64_t>{3, 768, 768}));
    const at::Tensor resized = pv.mul(255).round().to(at::kByte);
    EXPECT_TRUE(resized.to(at::kFloat).mul(float(1.0 / 255.0)).equal(pv)) << "pixel_values = uint8 * float32(1/255)";
    const Diff d = compare_resized(resized, t, name);
    std::cout << "[image-parity] gemma3n " << name << " (" << e["input"].get<std::string>() << "): uint8 kernel vs "
              << "processor: " << describe(d) << "\n";
    // The processor's own output on that machine is one of torchvision's two paths; ours must equal the uint8 one.
    const std::string native_prefix = t.count(name + ".native.rows") ? name + ".native" : name;
    const Diff native = compare_resized(resized, t, native_prefix);
    EXPECT_EQ(native.max_abs, 0) << "vs torch's uint8 kernel: " << describe(native);
    EXPECT_EQ(native.row_sums_differing, 0);
    if (e["resized"].get<bool>()) {
      const at::Tensor fl = gt::media::resize_uint8(input, {768, 768}, gt::media::ImageResample::Bilinear,
                                                    gt::media::ImageResizeKernel::Float);
      const std::string float_prefix = t.count(name + ".float.rows") ? name + ".float" : name;
      std::cout << "[image-parity] gemma3n " << name << ": float path (libtorch " << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR
                << ") vs reference float path: " << describe(compare_resized(fl, t, float_prefix)) << "\n";
    }
  }
  EXPECT_GE(cases, 4);
}

TEST(Gemma3nImageProcessor, NormalisationMatchesTheFusedBackend) {
  const auto& t = tensors("gemma3n");
  ImageProcessorConfig c = gt::media::image_processor_config("gemma3n");
  c.do_normalize = true;
  const at::Tensor pv = gt::media::gemma3n_preprocess(c, case_input("file:photo.jpg"));
  const at::Tensor rows = pv.index_select(1, t.at("photo_normalize.row_index").to(at::kLong));
  EXPECT_EQ(gt::test::max_diff(rows, t.at("photo_normalize.pv_rows")), 0.0);
}

TEST(ImageResize, SameSizeIsTheInputItself) {
  const at::Tensor img = formula_image(48, 96);
  for (auto r : {gt::media::ImageResample::Bilinear, gt::media::ImageResample::Bicubic})
    EXPECT_TRUE(gt::media::resize_uint8(img, {48, 96}, r).equal(img));
  // Gemma 4 on an image already at its target size: pixel_values are the input * (1/255), bit for bit.
  const ImageProcessorConfig c = gt::media::image_processor_config("gemma4", "", 70);
  const at::Tensor f = formula_image(336, 480);
  const auto out = gt::media::gemma4_preprocess(c, f);
  EXPECT_EQ(out.resized, (ImageSize{336, 480}));
  EXPECT_TRUE(unpatchify(out.pixel_values, out.resized, 16).equal(f));
}

TEST(ImageResize, ConstantImagesStayConstantAndRangesHold) {
  // Normalised weights: a flat image stays flat through up- and down-scaling with either filter.
  const at::Tensor flat = at::full({3, 37, 23}, 201, at::kByte);
  for (auto r : {gt::media::ImageResample::Bilinear, gt::media::ImageResample::Bicubic})
    for (ImageSize s : {ImageSize{100, 7}, ImageSize{5, 300}, ImageSize{37, 64}})
      EXPECT_TRUE(gt::media::resize_uint8(flat, s, r).eq(201).all().item<bool>());
}

// ---------------------------------------------------------------------------------------------------------------
// Settings

TEST(ImageProcessorConfig, FamilyDefaults) {
  const ImageProcessorConfig g4 = gt::media::image_processor_config("gemma4");
  EXPECT_EQ(g4.max_soft_tokens, 280);
  EXPECT_EQ(g4.max_patches(), 2520);
  EXPECT_EQ(g4.patch_size, 16);
  EXPECT_EQ(g4.resample, gt::media::ImageResample::Bicubic);
  EXPECT_FALSE(g4.do_normalize);
  const ImageProcessorConfig g3 = gt::media::image_processor_config("gemma3n");
  EXPECT_EQ(g3.height, 768);
  EXPECT_EQ(g3.resample, gt::media::ImageResample::Bilinear);
  EXPECT_EQ(g3.soft_tokens_per_image(), 256);
  EXPECT_FALSE(g3.do_normalize);
  EXPECT_THROW(gt::media::image_processor_config("gemma2"), gt::InputError);
}

TEST(ImageProcessorConfig, ReadsTheFilesTransformersReads) {
  // The settings files the reference processors were loaded from.
  const ImageProcessorConfig g4 = gt::media::image_processor_config("gemma4", gt::test::fixture("images/gemma4/config").string());
  EXPECT_NE(g4.source.find("processor_config.json"), std::string::npos);
  EXPECT_EQ(g4.max_soft_tokens, 280);
  const ImageProcessorConfig g3 = gt::media::image_processor_config("gemma3n", gt::test::fixture("images/gemma3n/config").string());
  EXPECT_NE(g3.source.find("preprocessor_config.json"), std::string::npos);
  EXPECT_EQ(g3.resample, gt::media::ImageResample::Bilinear);
  EXPECT_FALSE(g3.do_normalize);
  EXPECT_DOUBLE_EQ(g3.image_mean[0], 0.5);

  TempDir tmp("imgcfg");
  gt::test::write_file(tmp / "processor_config.json",
                       R"({"image_processor": {"image_processor_type": "Gemma4ImageProcessor", "max_soft_tokens": 140,
                           "resample": 2, "do_normalize": true, "image_mean": 0.25, "image_std": [0.5]}})");
  gt::test::write_file(tmp / "preprocessor_config.json", R"({"max_soft_tokens": 1120})");  // the nested object wins
  ImageProcessorConfig c = gt::media::image_processor_config("gemma4", tmp.path().string());
  EXPECT_EQ(c.max_soft_tokens, 140);
  EXPECT_EQ(c.resample, gt::media::ImageResample::Bilinear);
  EXPECT_TRUE(c.do_normalize);
  EXPECT_EQ(c.image_mean, (std::vector<double>{0.25, 0.25, 0.25}));
  EXPECT_EQ(c.image_std, (std::vector<double>{0.5, 0.5, 0.5}));
  // The budget option wins over the file.
  EXPECT_EQ(gt::media::image_processor_config("gemma4", tmp.path().string(), 560).max_soft_tokens, 560);
}

TEST(ImageProcessorConfig, BadSettingsAndBudgetsAreReported) {
  TempDir tmp("imgcfg");
  auto error_with = [&](const std::string& family, const std::string& json, int64_t budget = 0) {
    gt::test::write_file(tmp / "preprocessor_config.json", json);
    return error_of([&] { gt::media::image_processor_config(family, tmp.path().string(), budget); });
  };
  std::string msg = error_with("gemma4", R"({"max_soft_tokens": 100})");
  EXPECT_NE(msg.find("preprocessor_config.json: max_soft_tokens is 100"), std::string::npos) << msg;
  msg = error_with("gemma4", R"({"resample": 0})");
  EXPECT_NE(msg.find("resample is 0"), std::string::npos) << msg;
  msg = error_with("gemma4", R"({"image_processor_type": "SiglipImageProcessorFast"})");
  EXPECT_NE(msg.find("Gemma4ImageProcessor"), std::string::npos) << msg;
  msg = error_with("gemma3n", R"({"size": {"shortest_edge": 224}})");
  EXPECT_NE(msg.find("size is"), std::string::npos) << msg;
  msg = error_with("gemma3n", R"({"do_rescale": "yes"})");
  EXPECT_NE(msg.find("do_rescale"), std::string::npos) << msg;
  msg = error_with("gemma4", "{}", 100);
  EXPECT_NE(msg.find("--image-token-budget 100"), std::string::npos) << msg;
  msg = error_with("gemma3n", "{}", 280);
  EXPECT_NE(msg.find("256"), std::string::npos) << msg;
  EXPECT_EQ(gt::media::image_processor_config("gemma3n", "", 256).soft_tokens_per_image(), 256);
}

TEST(Gemma4ImageProcessor, ImagesItCannotTakeAreReported) {
  ImageProcessorConfig c = gt::media::image_processor_config("gemma4", "", 70);
  c.do_resize = false;
  EXPECT_NE(error_of([&] { gt::media::gemma4_preprocess(c, formula_image(50, 64)); }).find("multiple of the patch size"),
            std::string::npos);
  EXPECT_NE(error_of([&] { gt::media::gemma4_preprocess(c, formula_image(640, 640)); }).find("more than max_patches"),
            std::string::npos);
  c.do_resize = true;
  EXPECT_EQ(gt::media::gemma4_preprocess(c, formula_image(1, 1)).resized, (ImageSize{384, 384}));
}
