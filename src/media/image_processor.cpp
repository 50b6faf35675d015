#include "media/image_processor.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"

using nlohmann::json;
namespace fs = std::filesystem;

namespace gt::media {

namespace {

constexpr int64_t kSupportedSoftTokens[] = {70, 140, 280, 560, 1120};  // Gemma4ImageProcessor's _SUPPORTED_SOFT_TOKENS
constexpr int64_t kGemma3nSoftTokens = 256;                          // 768 x 768 -> the tower's 16 x 16 output

bool supported_budget(int64_t n) {
  return std::find(std::begin(kSupportedSoftTokens), std::end(kSupportedSoftTokens), n) != std::end(kSupportedSoftTokens);
}

ImageProcessorConfig family_defaults(io::Family family) {
  ImageProcessorConfig c;
  c.family = family;
  if (family == io::Family::Gemma3n) {
    c.resample = ImageResample::Bilinear;
    c.image_mean = {0.5, 0.5, 0.5};
    c.image_std = {0.5, 0.5, 0.5};
  }
  return c;
}

// ---------------------------------------------------------------------------------------------------------------
// Settings from the model folder
// ---------------------------------------------------------------------------------------------------------------

json read_json_object(const fs::path& p) {
  std::ifstream f(p);
  if (!f) fail_input(p.string(), ": cannot open the file");
  json j;
  try {
    j = json::parse(f);
  } catch (const json::exception& e) {
    fail_input(p.string(), ": not valid JSON (", e.what(), ")");
  }
  if (!j.is_object()) fail_input(p.string(), ": expected a JSON object, found ", j.type_name());
  return j;
}

// Typed keys of the settings object; messages name "<file>: <prefix><key>". Absent or null keeps the default, as the
// processor falls back to its class attribute for None.
class Settings {
 public:
  Settings(const json& j, std::string file, std::string prefix) : j_(j), file_(std::move(file)), prefix_(std::move(prefix)) {}

  std::string where(const char* key) const { return cat(file_, ": ", prefix_, key); }
  bool has(const char* key) const { return j_.contains(key) && !j_[key].is_null(); }
  const json& at(const char* key) const { return j_[key]; }

  void integer(const char* key, int64_t& out) const {
    if (!has(key)) return;
    const json& v = j_[key];
    if (v.is_number_integer()) {
      out = v.get<int64_t>();
    } else if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) {
      out = static_cast<int64_t>(v.get<double>());
    } else {
      fail_input(where(key), " is ", v.dump(), ", expected an integer");
    }
  }
  void number(const char* key, double& out) const {
    if (!has(key)) return;
    if (!j_[key].is_number()) fail_input(where(key), " is ", j_[key].dump(), ", expected a number");
    out = j_[key].get<double>();
  }
  void boolean(const char* key, bool& out) const {
    if (!has(key)) return;
    if (!j_[key].is_boolean()) fail_input(where(key), " is ", j_[key].dump(), ", expected true or false");
    out = j_[key].get<bool>();
  }
  void string(const char* key, std::string& out) const {
    if (!has(key)) return;
    if (!j_[key].is_string()) fail_input(where(key), " is ", j_[key].dump(), ", expected a string");
    out = j_[key].get<std::string>();
  }
  // A number or a list of numbers (one per channel; a single number applies to all three).
  void channels(const char* key, std::vector<double>& out) const {
    if (!has(key)) return;
    const json& v = j_[key];
    if (v.is_number()) {
      out.assign(3, v.get<double>());
      return;
    }
    if (!v.is_array() || (v.size() != 1 && v.size() != 3))
      fail_input(where(key), " is ", v.dump(), ", expected a number or a list of 1 or 3 numbers");
    out.clear();
    for (const json& x : v) {
      if (!x.is_number()) fail_input(where(key), " holds ", x.dump(), ", expected numbers only");
      out.push_back(x.get<double>());
    }
    if (out.size() == 1) out.assign(3, out[0]);
  }

 private:
  const json& j_;
  std::string file_;
  std::string prefix_;
};

bool known_class(io::Family family, const std::string& type) {
  // The slow (PIL) variants resize with PIL instead of torchvision; the rest of their algorithm is the same.
  if (family == io::Family::Gemma4)
    return type == "Gemma4ImageProcessor" || type == "Gemma4ImageProcessorFast" || type == "Gemma4ImageProcessorPil";
  return type == "SiglipImageProcessor" || type == "SiglipImageProcessorFast" || type == "SiglipImageProcessorPil";
}

void read_settings(const Settings& s, ImageProcessorConfig& c) {
  std::string type;
  s.string("image_processor_type", type);
  if (!type.empty() && !known_class(c.family, type))
    fail_input(s.where("image_processor_type"), " is \"", type, "\", expected ",
               c.family == io::Family::Gemma4 ? "\"Gemma4ImageProcessor\"" : "\"SiglipImageProcessor(Fast)\"",
               " for a ", io::family_name(c.family), " model");
  if (c.family == io::Family::Gemma4) {
    s.integer("max_soft_tokens", c.max_soft_tokens);
    s.integer("patch_size", c.patch_size);
    s.integer("pooling_kernel_size", c.pooling_kernel_size);
    if (!supported_budget(c.max_soft_tokens))
      fail_input(s.where("max_soft_tokens"), " is ", c.max_soft_tokens,
                 "; Gemma4ImageProcessor supports 70, 140, 280, 560 and 1120");
    if (c.patch_size <= 0) fail_input(s.where("patch_size"), " is ", c.patch_size, ", expected at least 1");
    if (c.pooling_kernel_size <= 0)
      fail_input(s.where("pooling_kernel_size"), " is ", c.pooling_kernel_size, ", expected at least 1");
  } else if (s.has("size")) {
    const json& size = s.at("size");
    if (!size.is_object() || !size.contains("height") || !size.contains("width") ||
        !size["height"].is_number_integer() || !size["width"].is_number_integer())
      fail_input(s.where("size"), " is ", size.dump(), ", expected {\"height\": H, \"width\": W} (other resize rules "
                 "are not supported)");
    c.height = size["height"].get<int64_t>();
    c.width = size["width"].get<int64_t>();
    if (c.height <= 0 || c.width <= 0) fail_input(s.where("size"), " is ", size.dump(), ", expected positive sides");
  }
  if (s.has("resample")) {
    // PIL's resampling codes, as transformers stores them; the torchvision backend turns LANCZOS into BICUBIC.
    int64_t r = -1;
    s.integer("resample", r);
    if (r == 2) {
      c.resample = ImageResample::Bilinear;
    } else if (r == 3 || r == 1) {
      c.resample = ImageResample::Bicubic;
    } else {
      fail_input(s.where("resample"), " is ", r, "; supported: 2 (bilinear), 3 (bicubic), 1 (lanczos, which the "
                 "torchvision backend replaces with bicubic)");
    }
  }
  s.boolean("do_resize", c.do_resize);
  s.boolean("do_rescale", c.do_rescale);
  s.number("rescale_factor", c.rescale_factor);
  s.boolean("do_normalize", c.do_normalize);
  s.channels("image_mean", c.image_mean);
  s.channels("image_std", c.image_std);
  if (!(c.rescale_factor > 0)) fail_input(s.where("rescale_factor"), " is ", c.rescale_factor, ", expected > 0");
  if (c.do_normalize)
    for (double v : c.image_std)
      if (v == 0) fail_input(s.where("image_std"), " holds 0; the normalisation would divide by it");
}

// ---------------------------------------------------------------------------------------------------------------
// Antialiased separable resize on uint8 (torch's uint8 kernel; see the header)
// ---------------------------------------------------------------------------------------------------------------

// HelperInterpLinear::aa_filter and HelperInterpCubic::aa_filter (Keys, a = -0.5, as PIL), in float64.
double aa_filter(ImageResample r, double x) {
  x = std::abs(x);
  if (r == ImageResample::Bilinear) return x < 1.0 ? 1.0 - x : 0.0;
  constexpr double a = -0.5;
  if (x < 1.0) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2.0) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0.0;
}

// One axis: for each output index the first input index, the number of taps and their int16 weights, and the
// precision (bits) shared by the axis. _compute_indices_min_size_weights_aa + _compute_index_ranges_int16_weights.
struct AxisWeights {
  std::vector<int64_t> first, count;
  std::vector<int32_t> weights;  // [out, taps], int16 values
  int64_t taps = 0;
  int precision = 0;
};

AxisWeights axis_weights(int64_t in, int64_t out, ImageResample r) {
  const int interp_size = r == ImageResample::Bicubic ? 4 : 2;
  const double scale = static_cast<double>(in) / static_cast<double>(out);  // area_pixel_compute_scale, no align
  const double support = scale >= 1.0 ? (interp_size * 0.5) * scale : interp_size * 0.5;
  const double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
  AxisWeights a;
  a.taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  a.first.resize(out);
  a.count.resize(out);
  std::vector<double> w(static_cast<size_t>(out * a.taps), 0.0);
  double w_max = 0.0;
  for (int64_t i = 0; i < out; ++i) {
    const double center = scale * (static_cast<double>(i) + 0.5);
    const int64_t xmin = std::max(static_cast<int64_t>(center - support + 0.5), int64_t(0));
    const int64_t xsize = std::clamp(std::min(static_cast<int64_t>(center + support + 0.5), in) - xmin, int64_t(0), a.taps);
    double* wi = &w[static_cast<size_t>(i * a.taps)];
    double total = 0.0;
    for (int64_t j = 0; j < xsize; ++j) {
      wi[j] = aa_filter(r, (static_cast<double>(j + xmin) - center + 0.5) * invscale);
      total += wi[j];
    }
    if (total != 0.0) {
      for (int64_t j = 0; j < xsize; ++j) {
        wi[j] /= total;
        w_max = std::max(w_max, wi[j]);
      }
    }
    a.first[i] = xmin;
    a.count[i] = xsize;
  }
  // The largest precision (< 22 bits) under which the largest weight, doubled, still fits int16.
  int p = 0;
  for (; p < 22; ++p) {
    const int next = static_cast<int>(0.5 + w_max * (1 << (p + 1)));
    if (next >= (1 << 15)) break;
  }
  a.precision = p;
  a.weights.resize(w.size());
  for (size_t k = 0; k < w.size(); ++k) {
    const double v = w[k] * (1 << p);
    a.weights[k] = static_cast<int16_t>(v < 0 ? static_cast<int>(-0.5 + v) : static_cast<int>(0.5 + v));
  }
  return a;
}

inline uint8_t fixed_point_to_uint8(int32_t acc, int precision) {
  return static_cast<uint8_t>(std::clamp(acc >> precision, 0, 255));
}

// in [C, H, W_in] -> out [C, H, W_out] along the last axis.
at::Tensor resize_width(const at::Tensor& in, int64_t w_out, ImageResample r) {
  const int64_t C = in.size(0), H = in.size(1), W = in.size(2);
  const AxisWeights a = axis_weights(W, w_out, r);
  at::Tensor out = at::empty({C, H, w_out}, at::kByte);
  const uint8_t* src = in.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  at::parallel_for(0, C * H, 16, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const uint8_t* s = src + row * W;
      uint8_t* d = dst + row * w_out;
      for (int64_t x = 0; x < w_out; ++x) {
        const int32_t* k = &a.weights[static_cast<size_t>(x * a.taps)];
        const uint8_t* p = s + a.first[x];
        int32_t acc = 1 << (a.precision - 1);
        for (int64_t j = 0; j < a.count[x]; ++j) acc += int32_t(p[j]) * k[j];
        d[x] = fixed_point_to_uint8(acc, a.precision);
      }
    }
  });
  return out;
}

// in [C, H_in, W] -> out [C, H_out, W] along the rows.
at::Tensor resize_height(const at::Tensor& in, int64_t h_out, ImageResample r) {
  const int64_t C = in.size(0), H = in.size(1), W = in.size(2);
  const AxisWeights a = axis_weights(H, h_out, r);
  at::Tensor out = at::empty({C, h_out, W}, at::kByte);
  const uint8_t* src = in.data_ptr<uint8_t>();
  uint8_t* dst = out.data_ptr<uint8_t>();
  at::parallel_for(0, C * h_out, 16, [&](int64_t begin, int64_t end) {
    std::vector<int32_t> acc(static_cast<size_t>(W));
    for (int64_t row = begin; row < end; ++row) {
      const int64_t c = row / h_out, y = row % h_out;
      const int32_t* k = &a.weights[static_cast<size_t>(y * a.taps)];
      std::fill(acc.begin(), acc.end(), 1 << (a.precision - 1));
      for (int64_t j = 0; j < a.count[y]; ++j) {
        const uint8_t* s = src + (c * H + a.first[y] + j) * W;
        for (int64_t x = 0; x < W; ++x) acc[x] += int32_t(s[x]) * k[j];
      }
      uint8_t* d = dst + row * W;
      for (int64_t x = 0; x < W; ++x) d[x] = fixed_point_to_uint8(acc[x], a.precision);
    }
  });
  return out;
}

// torchvision's other path: float32, interpolate(antialias=True, align_corners=False), clamp to [0, 255] (which it
// does for bicubic only; bilinear stays inside the input range), round half to even, uint8.
at::Tensor resize_float_path(const at::Tensor& image, ImageSize size, ImageResample r) {
  at::Tensor x = image.to(at::kFloat).unsqueeze(0);
  at::Tensor y = r == ImageResample::Bicubic
                     ? at::_upsample_bicubic2d_aa(x, {size.height, size.width}, false, c10::nullopt, c10::nullopt)
                     : at::_upsample_bilinear2d_aa(x, {size.height, size.width}, false, c10::nullopt, c10::nullopt);
  if (r == ImageResample::Bicubic) y = y.clamp(0, 255);
  return y.round().to(at::kByte).squeeze(0).contiguous();
}

void check_image_tensor(const at::Tensor& image, const char* what) {
  if (image.dim() != 3 || image.scalar_type() != at::kByte || !image.device().is_cpu())
    fail_input(what, ": expected a [C, H, W] uint8 image on the CPU, found a ", image.dim(), "-d ",
               c10::toString(image.scalar_type()), " tensor on ", image.device().str());
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------

int64_t ImageProcessorConfig::soft_tokens_per_image() const {
  return family == io::Family::Gemma4 ? max_soft_tokens : kGemma3nSoftTokens;
}

ImageProcessorConfig image_processor_config(const std::string& family, const std::string& model_dir,
                                            int64_t token_budget) {
  const io::Family f = io::family_from_name(family, "image processor");
  ImageProcessorConfig c = family_defaults(f);
  if (!model_dir.empty()) {
    if (!fs::is_directory(model_dir)) fail_input(model_dir, ": not a folder; expected a model folder");
    // ImageProcessingMixin.get_image_processor_dict: the image_processor object of processor_config.json, else
    // the flat preprocessor_config.json.
    const fs::path processor = fs::path(model_dir) / "processor_config.json";
    const fs::path preprocessor = fs::path(model_dir) / "preprocessor_config.json";
    json settings;
    std::string file, prefix;
    if (fs::exists(processor)) {
      json j = read_json_object(processor);
      if (j.contains("image_processor") && !j["image_processor"].is_null()) {
        if (!j["image_processor"].is_object())
          fail_input(processor.string(), ": image_processor is ", j["image_processor"].dump(),
                     ", expected a JSON object of image processor settings");
        settings = j["image_processor"];
        file = processor.string();
        prefix = "image_processor.";
      }
    }
    if (file.empty() && fs::exists(preprocessor)) {
      settings = read_json_object(preprocessor);
      file = preprocessor.string();
    }
    if (!file.empty()) {
      read_settings(Settings(settings, file, prefix), c);
      c.source = file;
    }
  }
  if (token_budget > 0) {
    if (f == io::Family::Gemma4) {
      if (!supported_budget(token_budget))
        fail_input("--image-token-budget ", token_budget, ": Gemma 4 images take 70, 140, 280, 560 or 1120 soft "
                   "tokens (Gemma4ImageProcessor's max_soft_tokens)");
      c.max_soft_tokens = token_budget;
    } else if (token_budget != kGemma3nSoftTokens) {
      fail_input("--image-token-budget ", token_budget, ": Gemma 3n images always take ", kGemma3nSoftTokens,
                 " soft tokens (the processor resizes every image to 768 x 768)");
    }
  } else if (token_budget < 0) {
    fail_input("--image-token-budget ", token_budget, ": expected a positive number of soft tokens");
  }
  return c;
}

ImageSize gemma4_target_size(const ImageProcessorConfig& c, int64_t height, int64_t width) {
  return gemma4_target_size(height, width, c.patch_size, c.max_patches(), c.pooling_kernel_size);
}

int64_t gemma4_soft_tokens(const ImageProcessorConfig& c, ImageSize resized) {
  return (resized.height / c.patch_size) * (resized.width / c.patch_size) / (c.pooling_kernel_size * c.pooling_kernel_size);
}

at::Tensor image_to_tensor(const Image& image) {
  GT_CHECK(image.rgb.size() == static_cast<size_t>(image.width * image.height * 3), image.rgb.size(), " bytes for ",
           image.width, "x", image.height);
  at::Tensor hwc = at::empty({image.height, image.width, 3}, at::kByte);
  std::memcpy(hwc.data_ptr<uint8_t>(), image.rgb.data(), image.rgb.size());
  return hwc.permute({2, 0, 1}).contiguous();
}

at::Tensor resize_uint8(const at::Tensor& image, ImageSize size, ImageResample resample, ImageResizeKernel kernel) {
  check_image_tensor(image, "resize");
  GT_CHECK(size.height > 0 && size.width > 0, size.height, "x", size.width);
  if (image.size(1) == size.height && image.size(2) == size.width) return image;  // torchvision returns it as is
  if (kernel == ImageResizeKernel::Float) return resize_float_path(image, size, resample);
  at::Tensor x = image.contiguous();
  if (x.size(2) != size.width) x = resize_width(x, size.width, resample);     // width first, as torch's kernels
  if (x.size(1) != size.height) x = resize_height(x, size.height, resample);
  return x;
}

at::Tensor rescale_and_normalize(const ImageProcessorConfig& c, const at::Tensor& image) {
  check_image_tensor(image, "rescale");
  const int64_t C = image.size(0), HW = image.size(1) * image.size(2);
  at::Tensor in = image.contiguous();
  at::Tensor out = at::empty({C, image.size(1), image.size(2)}, at::kFloat);
  const uint8_t* s = in.data_ptr<uint8_t>();
  float* d = out.data_ptr<float>();
  for (int64_t ch = 0; ch < C; ++ch) {
    const uint8_t* sc = s + ch * HW;
    float* dc = d + ch * HW;
    if (c.do_normalize) {
      GT_CHECK(static_cast<int64_t>(c.image_mean.size()) == C && static_cast<int64_t>(c.image_std.size()) == C, C);
      // _fuse_mean_std_and_rescale_factor: torch.tensor(mean) * (1 / rescale_factor), all in float32; then
      // tvF.normalize subtracts and divides.
      const float unscale = c.do_rescale ? static_cast<float>(1.0 / c.rescale_factor) : 1.0f;
      const float mean = static_cast<float>(c.image_mean[ch]) * unscale;
      const float std = static_cast<float>(c.image_std[ch]) * unscale;
      for (int64_t i = 0; i < HW; ++i) dc[i] = (static_cast<float>(sc[i]) - mean) / std;
    } else if (c.do_rescale) {
      const float f = static_cast<float>(c.rescale_factor);  // uint8 tensor * python float: float32 arithmetic
      for (int64_t i = 0; i < HW; ++i) dc[i] = static_cast<float>(sc[i]) * f;
    } else {
      for (int64_t i = 0; i < HW; ++i) dc[i] = static_cast<float>(sc[i]);
    }
  }
  return out;
}

Gemma4ImageInput gemma4_preprocess(const ImageProcessorConfig& c, const at::Tensor& image) {
  check_image_tensor(image, "Gemma 4 image processor");
  const int64_t h = image.size(1), w = image.size(2), p = c.patch_size;
  Gemma4ImageInput r;
  at::Tensor resized = image;
  if (c.do_resize) {
    r.resized = gemma4_target_size(c, h, w);
    resized = resize_uint8(image, r.resized, c.resample, c.kernel);
  } else {
    r.resized = {h, w};
    if (h % p != 0 || w % p != 0)
      fail_input("Gemma 4 image processor: do_resize is false and the image is ", h, "x", w, ", not a multiple of the ",
                 "patch size ", p);
  }
  const int64_t ph = r.resized.height / p, pw = r.resized.width / p, n = ph * pw, max_patches = c.max_patches();
  if (n > max_patches)
    fail_input("Gemma 4 image processor: a ", r.resized.height, "x", r.resized.width, " image has ", n,
               " patches, more than max_patches = ", max_patches);
  const int64_t C = resized.size(0);
  // convert_image_to_patches: [C, ph, p, pw, p] -> [ph, pw, p, p, C] -> [ph * pw, p * p * C]
  at::Tensor patches = rescale_and_normalize(c, resized).reshape({C, ph, p, pw, p}).permute({1, 3, 2, 4, 0}).reshape({n, p * p * C});
  r.pixel_values = at::zeros({max_patches, p * p * C}, at::kFloat);
  r.pixel_values.narrow(0, 0, n).copy_(patches);
  // Positions (x = column, y = row) in raster order; padding (-1, -1).
  r.position_ids = at::full({max_patches, 2}, -1, at::kLong);
  at::Tensor idx = at::arange(n, at::kLong);
  r.position_ids.narrow(0, 0, n).select(1, 0).copy_(idx.remainder(pw));
  r.position_ids.narrow(0, 0, n).select(1, 1).copy_(idx.div(pw, "floor"));
  r.soft_tokens = n / (c.pooling_kernel_size * c.pooling_kernel_size);
  return r;
}

Gemma4ImageInput gemma4_preprocess(const ImageProcessorConfig& c, const Image& image) {
  return gemma4_preprocess(c, image_to_tensor(image));
}

at::Tensor gemma3n_preprocess(const ImageProcessorConfig& c, const at::Tensor& image) {
  check_image_tensor(image, "Gemma 3n image processor");
  at::Tensor resized = c.do_resize ? resize_uint8(image, {c.height, c.width}, c.resample, c.kernel) : image;
  return rescale_and_normalize(c, resized);
}

at::Tensor gemma3n_preprocess(const ImageProcessorConfig& c, const Image& image) {
  return gemma3n_preprocess(c, image_to_tensor(image));
}

}  // namespace gt::media
