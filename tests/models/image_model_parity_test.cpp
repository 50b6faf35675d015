// The whole image path against transformers 5.17 + PEFT (tests/fixtures/vision/model/<case>, made by
// tools/make_image_model_fixtures.py): the reference's pixel values (and position ids) -> vision tower ->
// embed_vision -> soft tokens scattered at image_token_id among the text (Gemma 4 also reads the pad token at the
// placeholders for its per-layer inputs; Gemma 3n's <end_of_image> takes embed_vision's hard path) -> decoder ->
// loss, then LoRA logits, loss and gradients; and the same rows from the PNG files through our decoder and image
// processor (train/image_inputs) against transformers' load_image + processor. Cases:
//   gemma4-image        B = 2, right padding, three images (one in row 0, two at different places in row 1)
//   gemma4-audiovisual  B = 1, an image then an audio clip then text (the clip from the reference's features)
//   gemma3n-image       B = 2, one image per row, a reduced MobileNet-V5 tower (arch.json; load_model would build
//                       the 300M one, so the test assembles gemma3n::Model from the text decoder and that tower)
// Bounds:
//   logits from the reference pixels   max |diff| <= 1e-4 over real tokens; where the fixture holds transformers'
//                                      float64 logits too (logits_f64), our float64 run within 1e-5 of them, and the
//                                      float32 bound applies where transformers' own float32 logits are within 1e-5 of
//                                      its float64 ones (well-conditioned positions); elsewhere (the tiny Gemma 3n's
//                                      gaussian top-k at some image positions magnifies float32 rounding: the
//                                      reference itself is ~2e-4 off there) 1e-3, and the count is printed
//   loss                               relative <= 1e-5
//   each row alone vs in the batch     max |diff| <= 1e-4 (padding of images and tokens is masked)
//   LoRA logits / loss / gradients     2e-4 (float64 as above) / relative 1e-5 / max |diff| <= 1e-4 * max |ref|
//   loss from the PNG files            |diff| <= 1.5e-3 against transformers' eval loss of the same rows when the
//                                      images go through load_image + the processor (skipped in builds without
//                                      image decoding); the pixel difference is printed
// A case whose fixture folder is absent is skipped (the fixtures are made on the GPU machine). GT_TEST_DEVICE=cuda
// runs it on a GPU (TF32 off; results compared on the CPU). Every figure is printed with an "[image-parity]" prefix.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "media/image_decode.h"
#include "models/common/lora_targets.h"
#include "models/common/loss.h"
#include "models/common/weights.h"
#include "models/gemma3n/model.h"
#include "models/gemma3n/multimodal_embedder.h"
#include "models/gemma3n/vision.h"
#include "models/model.h"
#include "models/text_model.h"
#include "fixture_tensors.h"
#include "test_util.h"
#include "train/batches_torch.h"
#include "train/image_inputs.h"

namespace fs = std::filesystem;
using namespace gt;
namespace g3 = models::gemma3n;
using json = nlohmann::json;

namespace {

using test::max_abs;
using test::max_diff;
using test::read_all;

constexpr int64_t kTokenBudget = 70;  // --image-token-budget of the Gemma 4 fixtures (Gemma 3n ignores it)

// Over real tokens only (see audio_model_parity_test.cpp); the worst position is printed too.
double max_diff_real(const at::Tensor& a, const at::Tensor& b, const at::Tensor& attention_mask) {
  const at::Tensor real = attention_mask.to(at::kBool).cpu();
  const at::Tensor d = (a.to(at::kDouble).cpu() - b.to(at::kDouble).cpu()).abs().amax(-1).masked_fill(~real, 0);
  const int64_t at = d.argmax().item<int64_t>();
  std::printf("  (worst at row %ld, position %ld)\n", static_cast<long>(at / d.size(1)),
              static_cast<long>(at % d.size(1)));
  return d.max().item<double>();
}

// FORMULA of tools/make_image_model_fixtures.py (the Gemma 3n images): image i as [3, side, side] uint8.
at::Tensor formula_image(int64_t i, int64_t side) {
  at::Tensor out = at::empty({3, side, side}, at::kByte);
  auto a = out.accessor<uint8_t, 3>();
  const int64_t cell = 24 + 8 * i, cx = 300 + 150 * i, cy = 420 - 100 * i, rad = 150 + 40 * i;
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < side; ++y)
      for (int64_t x = 0; x < side; ++x) {
        const bool disc = (x - cx) * (x - cx) + (y - cy) * (y - cy) < rad * rad;
        const int64_t check = 40 * ((x / cell + y / cell) % 2);
        const int64_t v = disc ? 200 - 60 * c + 30 * i : ((x * (3 + c + i)) / 9 + (y * (2 + 2 * c)) / 7 + check) % 256;
        a[c][y][x] = static_cast<uint8_t>(v);
      }
  return out;
}

// lut[u8] elementwise: the processor's float value of each uint8 level.
at::Tensor lookup(const at::Tensor& lut, const at::Tensor& u8) {
  return lut.index_select(0, u8.to(at::kLong).flatten()).view(u8.sizes());
}

struct Case {
  std::string name;
  fs::path dir, model_dir;
  std::map<std::string, at::Tensor> in, expected;
  json meta;
  io::Family family = io::Family::Gemma4;
  bool audio = false;
  std::vector<std::vector<int64_t>> images_per_row;
  std::vector<data::ImageRef> images;            // every image of the fixture, in order
  at::Tensor pixel_values, pixel_position_ids;   // the reference's, every image (CPU)
};

// Gemma 4: the processor's pixel_values [N, P, 3·p²] from the stored real rows (uint8 through the lookup, or float),
// zero rows after each image's n_i real patches (n_i = its positions other than (-1, -1)).
at::Tensor gemma4_reference_pixels(const Case& c) {
  const at::Tensor pos = c.in.at("image_position_ids");
  const at::Tensor rows = c.in.count("pixel_patches_u8") ? lookup(c.in.at("pixel_lut"), c.in.at("pixel_patches_u8"))
                                                         : c.in.at("pixel_patches").to(at::kFloat);
  at::Tensor pv = at::zeros({pos.size(0), pos.size(1), rows.size(1)}, at::kFloat);
  int64_t off = 0;
  for (int64_t i = 0; i < pos.size(0); ++i) {
    const int64_t n = (pos[i] != -1).all(-1).sum().item<int64_t>();
    pv[i].slice(0, 0, n).copy_(rows.slice(0, off, off + n));
    off += n;
  }
  EXPECT_EQ(off, rows.size(0)) << "stored pixel rows vs the real patches of the position ids";
  return pv;
}

void load_case(const std::string& name, const fs::path& dir, Case& c) {
  c.name = name;
  c.dir = dir;
  c.in = read_all(dir / "inputs.safetensors");
  c.expected = read_all(dir / "expected.safetensors");
  c.meta = json::parse(test::read_file(dir / "meta.json"));
  c.model_dir = (dir / c.meta.at("model_dir").get<std::string>()).lexically_normal();
  c.family = io::load_model_config(c.model_dir.string()).family;
  c.audio = c.in.count("input_features") > 0;
  c.images_per_row = c.meta.at("images_per_row").get<std::vector<std::vector<int64_t>>>();
  for (const json& im : c.meta.at("images")) {
    data::ImageRef ref;
    ref.source = (dir / im.at("file").get<std::string>()).string();
    ref.width = im.at("width").get<int64_t>();
    ref.height = im.at("height").get<int64_t>();
    ref.soft_tokens = im.at("soft_tokens").get<int64_t>();
    c.images.push_back(ref);
  }
  if (c.family == io::Family::Gemma4) {
    c.pixel_values = gemma4_reference_pixels(c);
    c.pixel_position_ids = c.in.at("image_position_ids").to(at::kLong);
  } else {
    const at::Tensor sums = c.in.at("formula_sums");
    std::vector<at::Tensor> pv;
    for (size_t i = 0; i < c.images.size(); ++i) {
      const at::Tensor u8 = formula_image(static_cast<int64_t>(i), c.images[i].height);
      ASSERT_EQ(c.images[i].height, c.images[i].width);
      ASSERT_EQ(u8.to(at::kLong).sum().item<int64_t>(), sums[static_cast<int64_t>(i)].item<int64_t>())
          << "image " << i << ": the formula here differs from the script's";
      pv.push_back(lookup(c.in.at("pixel_lut"), u8));
    }
    c.pixel_values = at::stack(pv);
  }
  ASSERT_EQ(c.pixel_values.size(0), static_cast<int64_t>(c.images.size()));
}

std::vector<int64_t> images_of(const Case& c, const std::vector<int64_t>& rows) {
  std::vector<int64_t> out;
  for (int64_t r : rows) out.insert(out.end(), c.images_per_row[r].begin(), c.images_per_row[r].end());
  return out;
}

// Rows `rows` of the fixture cut to their real length; with_images: their ImageRefs (the PNG files) too.
data::Batch make_batch(const Case& c, const std::vector<int64_t>& rows, bool with_images) {
  data::Batch b = test::fixture_batch(c.in, rows);
  if (with_images)
    for (int64_t r : rows)
      for (int64_t im : c.images_per_row[r]) b.images.push_back(c.images[im]);
  return b;
}

// The reference's media for `images` (indices into the fixture's images), and its audio features.
models::MediaInputs reference_media(const Case& c, const std::vector<int64_t>& images) {
  models::MediaInputs m;
  const at::Tensor idx = torch::tensor(images, at::TensorOptions().dtype(at::kLong));
  m.pixel_values = c.pixel_values.index_select(0, idx);
  if (c.pixel_position_ids.defined()) m.pixel_position_ids = c.pixel_position_ids.index_select(0, idx);
  if (c.audio) {
    m.audio_features = c.in.at("input_features");
    m.audio_mask = c.in.at("input_features_mask").to(at::kBool);
  }
  return m;
}

// Gemma 4: load_model with the vision tower (and the audio tower for the audiovisual case). Gemma 3n: the checkpoint
// holds a reduced MobileNet-V5 (arch.json) that load_model cannot build, so the model is assembled from the text
// decoder and that tower + embed_vision (the names and the merge are gemma3n::Model's own).
std::unique_ptr<models::Model> load_case_model(const Case& c, at::Device device, at::ScalarType dtype = at::kFloat) {
  if (c.family == io::Family::Gemma4)
    return models::load_model(c.model_dir.string(), {.audio = c.audio, .vision = true}, dtype, device).model;
  models::LoadedTextModel lt = models::load_text_model(c.model_dir.string(), dtype, device);
  const g3::MobileNetV5Arch arch = g3::parse_mobilenetv5_arch(test::read_file(c.dir / "arch.json"), "arch.json");
  const json vj = json::parse(lt.config.vision_config_json);
  g3::VisionConfig vc;
  vc.hidden_size = arch.msfa_out_channels;
  vc.vocab_size = vj.at("vocab_size").get<int64_t>();
  vc.vocab_offset = vj.at("vocab_offset").get<int64_t>();
  vc.rms_norm_eps = vj.value("rms_norm_eps", 1e-6);
  const auto opts = at::TensorOptions().dtype(dtype).device(device);
  auto tree = std::make_shared<torch::nn::Module>("ReducedVisionTower");
  tree->register_module("vision_tower", g3::VisionTower(vc, arch, opts));
  g3::MultimodalEmbedderShape shape;
  shape.multimodal_hidden_size = vc.hidden_size;
  shape.text_hidden_size = lt.config.text.hidden_size;
  shape.vocab_size = vc.vocab_size;
  shape.vocab_offset = vc.vocab_offset;
  shape.eps = vc.rms_norm_eps;
  tree->register_module("embed_vision", g3::MultimodalEmbedder(shape, opts));
  models::load_frozen_weights(*tree, io::Checkpoint::open(c.model_dir.string()), "model.");
  return std::make_unique<g3::Model>(lt.config, lt.model, nullptr, tree);
}

// Our float32 logits against the reference's (bound `tol`), using its float64 logits `ref64` (undefined: none) to
// tell where float32 itself cannot reach `tol` (see the bounds above). Returns the plain max |diff|.
double check_logits(const char* n, const char* what, const at::Tensor& ours, const at::Tensor& ref32,
                    const at::Tensor& ref64, const at::Tensor& attention_mask, double tol) {
  const double err = max_diff_real(ours, ref32, attention_mask);
  std::printf("[image-parity] %s %s max|diff| = %.3g (max|ref| %.3g)\n", n, what, err, max_abs(ref32));
  if (!ref64.defined()) {
    EXPECT_LE(err, tol) << what;
    return err;
  }
  const at::Tensor real = attention_mask.to(at::kBool).cpu();
  auto per_position = [&](const at::Tensor& a, const at::Tensor& b) {
    return (a.to(at::kDouble).cpu() - b.to(at::kDouble).cpu()).abs().amax(-1).masked_fill(~real, 0);
  };
  const at::Tensor ref_noise = per_position(ref32, ref64);
  const at::Tensor ill = ref_noise > 1e-5;
  const at::Tensor d = per_position(ours, ref32);
  const double well = d.masked_fill(ill, 0).max().item<double>();
  const double rest = d.masked_fill(~ill, 0).max().item<double>();
  std::printf("[image-parity] %s %s: %ld of %ld positions ill-conditioned in float32 (transformers float32 vs "
              "float64 up to %.3g); well-conditioned max|diff| %.3g, the others %.3g\n",
              n, what, static_cast<long>(ill.sum().item<int64_t>()), static_cast<long>(real.sum().item<int64_t>()),
              ref_noise.max().item<double>(), well, rest);
  EXPECT_LE(well, tol) << what;
  EXPECT_LE(rest, 1e-3) << what;
  return err;
}

class ImageModelParity : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(ImageModelParity, FromPixelsToLoraGradients) {
  const std::string name = GetParam();
  const char* n = name.c_str();
  const fs::path dir = test::fixture("vision/model/" + name);
  if (!fs::exists(dir / "expected.safetensors"))
    GTEST_SKIP() << "no fixture at " << dir.string() << " yet: it is made on the GPU machine by "
                 << "python3 tools/make_image_model_fixtures.py --out tests/fixtures/vision/model "
                 << "(tests/fixtures/vision/model/README.md)";
  Case c;
  ASSERT_NO_FATAL_FAILURE(load_case(name, dir, c));
  const char* dev = std::getenv("GT_TEST_DEVICE");  // GT_TEST_DEVICE=cuda runs it on a GPU
  const at::Device device(dev && *dev ? dev : "cpu");
  // cuDNN convolutions (the towers) and cuBLAS may use TF32 on CUDA; the reference ran in float32.
  at::globalContext().setAllowTF32CuDNN(false);
  at::globalContext().setAllowTF32CuBLAS(false);

  std::unique_ptr<models::Model> loaded = load_case_model(c, device);
  models::Model& whole = *loaded;
  models::TextModel& model = whole.text();
  model.module().eval();
  ASSERT_TRUE(whole.has_vision());

  const int64_t B = c.in.at("input_ids").size(0);
  std::vector<int64_t> all_rows;
  for (int64_t r = 0; r < B; ++r) all_rows.push_back(r);
  auto forward_ref = [&](const std::vector<int64_t>& rows) {
    train::BatchTensors t = train::to_tensors(make_batch(c, rows, false), device);
    t.media = reference_media(c, images_of(c, rows));
    return std::pair{whole.forward(t.inputs, t.media), t.labels};
  };
  auto logits_of = [&](const at::Tensor& h) {
    return models::lm_logits(h, model.lm_head_weight(), model.final_logit_softcapping());
  };
  auto mean_loss = [&](const at::Tensor& h, const at::Tensor& labels) {
    models::LossSum ls = models::causal_lm_loss(h, labels, model.lm_head_weight(), model.final_logit_softcapping());
    return ls.sum / static_cast<double>(ls.tokens);
  };
  const double ref_loss = c.expected.at("loss").item<double>();
  auto ref64 = [&](const char* key) { return c.expected.count(key) ? c.expected.at(key) : at::Tensor(); };
  // Our float64 run against transformers' float64 logits (the reference's pixels and, with `lora`, its factors).
  auto check_float64 = [&](const char* key, bool lora) {
    if (!c.expected.count(key)) {
      std::printf("[image-parity] %s: no %s in the fixture (its meta.json says why)\n", n, key);
      return;
    }
    torch::NoGradGuard ng;
    std::unique_ptr<models::Model> m64 = load_case_model(c, device, at::kDouble);
    models::TextModel& text = m64->text();
    text.module().eval();
    if (lora) {
      const std::string prefix = m64->config().text_prefix;
      models::apply_lora(text.module(), prefix, models::LoraTargets::defaults().scoped_to(prefix), {4, 8.0, 0.0});
      const auto weights = read_all(dir / "lora_weights.safetensors");
      for (auto& [pn, p] : models::lora_parameters(text.module(), prefix)) p.copy_(weights.at(pn));
    }
    train::BatchTensors t = train::to_tensors(make_batch(c, all_rows, false), device);
    t.media = reference_media(c, images_of(c, all_rows));
    t.media.pixel_values = t.media.pixel_values.to(at::kDouble);
    if (t.media.audio_features.defined()) t.media.audio_features = t.media.audio_features.to(at::kDouble);
    const at::Tensor lg = models::lm_logits(m64->forward(t.inputs, t.media), text.lm_head_weight(),
                                            text.final_logit_softcapping());
    const double err = max_diff_real(lg, c.expected.at(key), c.in.at("attention_mask"));
    std::printf("[image-parity] %s float64 %s max|diff| = %.3g\n", n, key, err);
    // Not float64-exact: transformers' Gemma3nRMSNorm.forward normalises x.float(), so its "float64" run rounds every
    // norm's output to float32 (measured 1.5e-5 on logits up to 15 for gemma3n-image; the stored logits are float32).
    EXPECT_LE(err, 5e-5) << key;
  };
  check_float64("logits_f64", false);
  check_float64("lora_logits_f64", true);

  // From the reference's own pixels: towers, merge and decoder.
  {
    torch::NoGradGuard ng;
    auto [h, labels] = forward_ref(all_rows);
    const at::Tensor logits = logits_of(h);
    check_logits(n, "logits from the reference pixels", logits, c.expected.at("logits"), ref64("logits_f64"),
                 c.in.at("attention_mask"), 1e-4);
    const double loss = mean_loss(h, labels).item<double>();
    std::printf("[image-parity] %s loss %.8f vs %.8f (rel %.3g)\n", n, loss, ref_loss,
                std::abs(loss - ref_loss) / ref_loss);
    EXPECT_LE(std::abs(loss - ref_loss), 1e-5 * std::abs(ref_loss));
    // each row alone: the other row's images and padding change nothing
    if (B > 1)
      for (int64_t r = 0; r < B; ++r) {
        auto [h1, l1] = forward_ref({r});
        const at::Tensor lg = logits_of(h1)[0];
        const double d = max_diff(lg, logits[r].slice(0, 0, lg.size(0)));
        std::printf("[image-parity] %s row %ld alone vs in the batch: %.3g\n", n, static_cast<long>(r), d);
        EXPECT_LE(d, 1e-4);
      }
  }

  // From the PNG files: our decoder and image processor make the pixels (train::ImageInputs, as a run does).
  if (!media::image_decoding_available()) {
    std::printf("[image-parity] %s: this build cannot decode images; the path from the PNG files is not tested\n", n);
  } else {
    torch::NoGradGuard ng;
    train::ImageInputs images(c.model_dir.string(), whole.config(), kTokenBudget);
    train::BatchTensors t = train::to_tensors(make_batch(c, all_rows, true), device, {.images = &images});
    ASSERT_TRUE(t.media.pixel_values.defined());
    ASSERT_EQ(t.media.pixel_values.sizes(), c.pixel_values.sizes());
    const at::Tensor d = (t.media.pixel_values.cpu() - c.pixel_values).abs();
    std::printf("[image-parity] %s pixels from the PNG files vs the reference: max|diff| %.3g, %ld of %ld values "
                "differ\n",
                n, d.max().item<double>(), static_cast<long>((d > 0).sum().item<int64_t>()),
                static_cast<long>(d.numel()));
    if (c.pixel_position_ids.defined()) {
      ASSERT_TRUE(t.media.pixel_position_ids.defined());
      EXPECT_TRUE(t.media.pixel_position_ids.cpu().equal(c.pixel_position_ids));
    }
    if (c.audio) {
      t.media.audio_features = c.in.at("input_features");
      t.media.audio_mask = c.in.at("input_features_mask").to(at::kBool);
    }
    const at::Tensor h = whole.forward(t.inputs, t.media);
    const double loss = mean_loss(h, t.labels).item<double>();
    const bool png = c.expected.count("png_eval_loss") > 0;
    const double ref = png ? c.expected.at("png_eval_loss").item<double>() : ref_loss;
    std::printf("[image-parity] %s eval loss from the PNG files %.8f vs transformers' %.8f (%s): |diff| %.3g\n", n,
                loss, ref, png ? "load_image + processor" : "reference pixels", std::abs(loss - ref));
    EXPECT_LE(std::abs(loss - ref), 1.5e-3);
  }

  // LoRA with the reference's factors: logits, loss, gradients
  const std::string prefix = whole.config().text_prefix;
  models::apply_lora(model.module(), prefix, models::LoraTargets::defaults().scoped_to(prefix), {4, 8.0, 0.0});
  const auto weights = read_all(dir / "lora_weights.safetensors");
  auto params = models::lora_parameters(model.module(), prefix);
  ASSERT_EQ(params.size(), weights.size());
  {
    torch::NoGradGuard ng;
    for (auto& [pn, p] : params) {
      ASSERT_TRUE(weights.count(pn)) << pn;
      p.copy_(weights.at(pn));
    }
  }
  auto [h2, labels2] = forward_ref(all_rows);
  {
    torch::NoGradGuard ng;
    check_logits(n, "lora logits", logits_of(h2), c.expected.at("lora_logits"), ref64("lora_logits_f64"),
                 c.in.at("attention_mask"), 2e-4);
  }
  at::Tensor mean = mean_loss(h2, labels2);
  const double ref2 = c.expected.at("lora_loss").item<double>();
  std::printf("[image-parity] %s lora loss %.8f vs %.8f\n", n, mean.item<double>(), ref2);
  EXPECT_LE(std::abs(mean.item<double>() - ref2), 1e-5 * std::abs(ref2));
  mean.backward();
  double worst = 0;
  size_t compared = 0;
  for (auto& [pn, p] : params) {
    auto it = c.expected.find("grad." + pn);
    ASSERT_NE(it, c.expected.end()) << "no reference gradient for " << pn;
    ASSERT_TRUE(p.grad().defined()) << pn;
    const double rel = max_diff(p.grad(), it->second) / std::max(max_abs(it->second), 1e-30);
    worst = std::max(worst, rel);
    EXPECT_LE(rel, 1e-4) << pn;
    ++compared;
  }
  std::printf("[image-parity] %s %zu LoRA gradients, worst relative error %.3g\n", n, compared, worst);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ImageModelParity,
                         ::testing::Values("gemma4-image", "gemma4-audiovisual", "gemma3n-image"));
