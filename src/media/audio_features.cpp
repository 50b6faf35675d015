#include "media/audio_features.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>

#include "core/error.h"
#include "io/json_section.h"
#include "data/audio_tokens.h"  // read_processor_config_files: where transformers finds the settings

using nlohmann::json;

namespace gt::media {

namespace {

// The FFT runs in float64. The reference's numpy >= 2 computes the rfft of its float32 frames in float32
// (complex64), a rounding not reproducible here bit for bit: libtorch's CPU FFT is MKL or pocketfft depending on the
// build, and its float32 pocketfft path was measured 10x further from numpy than float64 (1.2e-3 vs 1.7e-4 on the
// Gemma 3n speech fixtures). With the float32 frames built exactly as the reference builds them and an exact FFT,
// what is left is numpy's own float32 FFT rounding: under 5e-7 for Gemma 4, up to ~2e-4 for Gemma 3n, whose
// max(mel, 1e-5) floor exposes weak low-frequency bins (pre-emphasis removes most of their energy).
constexpr at::ScalarType kFftType = at::kDouble;

const char* extractor_class(io::Family family) {
  return family == io::Family::Gemma3n ? "Gemma3nAudioFeatureExtractor" : "Gemma4AudioFeatureExtractor";
}

AudioFeatureConfig family_defaults(io::Family family) {
  AudioFeatureConfig c;
  c.family = family;
  if (family == io::Family::Gemma4) {
    c.frame_length_ms = 20.0;
    c.min_frequency = 0.0;
    c.max_frequency = 8000.0;
    c.preemphasis = 0.0;
    c.fft_overdrive = false;
    c.mel_floor = 1e-3;
  }
  return c;
}

// ---------------------------------------------------------------------------------------------------------------
// Settings from the model folder
// ---------------------------------------------------------------------------------------------------------------

void read_settings(const data::ProcessorConfigFiles& files, AudioFeatureConfig& c) {
  const json j = json::parse(files.extractor_json);
  const io::JsonSection s(j, files.extractor_file, files.extractor_key);
  std::string type = extractor_class(c.family);
  s.read("feature_extractor_type", type);
  if (type != extractor_class(c.family))
    fail_input(s.where("feature_extractor_type"), " is \"", type, "\", expected \"", extractor_class(c.family),
               "\" for a ", io::family_name(c.family), " model");
  s.read("feature_size", c.feature_size);
  s.read("sampling_rate", c.sampling_rate);
  s.read("padding_value", c.padding_value);
  s.read("padding_side", c.padding_side);
  s.read("frame_length_ms", c.frame_length_ms);
  s.read("hop_length_ms", c.hop_length_ms);
  s.read("min_frequency", c.min_frequency);
  s.read("max_frequency", c.max_frequency);
  s.read("preemphasis", c.preemphasis);
  s.read("preemphasis_htk_flavor", c.preemphasis_htk_flavor);
  s.read("fft_overdrive", c.fft_overdrive);
  s.read("dither", c.dither);
  s.read("input_scale_factor", c.input_scale_factor);
  s.read("mel_floor", c.mel_floor);
  s.read("per_bin_mean", c.per_bin_mean);
  s.read("per_bin_stddev", c.per_bin_stddev);

  if (c.feature_size <= 0) fail_input(s.where("feature_size"), " is ", c.feature_size, ", expected at least 1");
  if (c.sampling_rate <= 0) fail_input(s.where("sampling_rate"), " is ", c.sampling_rate, ", expected at least 1");
  if (c.padding_side != "right" && c.padding_side != "left")
    fail_input(s.where("padding_side"), " is \"", c.padding_side, "\", expected \"right\" or \"left\"");
  if (c.frame_length() <= 0)
    fail_input(s.where("frame_length_ms"), " is ", c.frame_length_ms, ": a frame of ", c.frame_length(),
               " samples at ", c.sampling_rate, " Hz; expected at least 1 sample");
  if (c.hop_length() <= 0)
    fail_input(s.where("hop_length_ms"), " is ", c.hop_length_ms, ": a hop of ", c.hop_length(), " samples at ",
               c.sampling_rate, " Hz; expected at least 1 sample");
  if (!(c.min_frequency >= 0 && c.min_frequency <= c.max_frequency))
    fail_input(s.where("min_frequency"), " is ", c.min_frequency, " with max_frequency ", c.max_frequency,
               "; expected 0 <= min_frequency <= max_frequency");
  if (!(c.mel_floor > 0)) fail_input(s.where("mel_floor"), " is ", c.mel_floor, ", expected a positive number");
  if (c.dither < 0) fail_input(s.where("dither"), " is ", c.dither, ", expected 0 or more");
  for (auto [key, list] : {std::pair{"per_bin_mean", &c.per_bin_mean}, std::pair{"per_bin_stddev", &c.per_bin_stddev}})
    if (!list->empty() && static_cast<int64_t>(list->size()) != c.feature_size)
      fail_input(s.where(key), " has ", list->size(), " values, expected feature_size = ", c.feature_size);
}

// ---------------------------------------------------------------------------------------------------------------
// Constants of an extractor: window and mel filterbank
// ---------------------------------------------------------------------------------------------------------------

// Periodic Hann window of frame_length samples, float32.
at::Tensor hann_window(const AudioFeatureConfig& c) {
  const int64_t n = c.frame_length();
  if (c.family == io::Family::Gemma3n) {
    // 0.5 * (1 - cos(2 * np.pi * arange(float32) / frame_length)): every step in float32.
    at::Tensor x = at::arange(n, at::kFloat).mul(2.0 * std::numbers::pi).div(static_cast<double>(n));
    return at::rsub(x.cos(), 1.0).mul(0.5);
  }
  // window_function(n) = np.hanning(n + 1)[:-1] in float64, then float32. np.hanning(M) evaluates
  // 0.5 + 0.5 * cos(pi * k / (M - 1)) for k = 1 - M, 3 - M, ..., M - 1.
  const int64_t m = n + 1;
  at::Tensor k = at::arange(1 - m, m, 2, at::kDouble);
  return k.mul(std::numbers::pi).div(static_cast<double>(m - 1)).cos().mul(0.5).add(0.5).narrow(0, 0, n).to(at::kFloat);
}

// numpy.linspace(start, stop, num) with endpoint: start + i * step, the last value exactly stop.
std::vector<double> linspace(double start, double stop, int64_t num) {
  std::vector<double> y(num);
  const double step = (stop - start) / static_cast<double>(num - 1);
  for (int64_t i = 0; i < num; ++i) y[i] = static_cast<double>(i) * step + start;
  y[num - 1] = stop;
  return y;
}

double hertz_to_mel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
double mel_to_hertz(double mel) { return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0); }

// [fft_length/2 + 1, feature_size] float64: triangles between consecutive mel points, no normalisation.
// Gemma 3n: create_fb_matrix (bins k * sr / fft in float32); Gemma 4: audio_utils.mel_filter_bank with mel_scale
// "htk" (bins linspace(0, sr // 2, n) in float64). Both compute max(0, min(-slope_j / d_j, slope_{j+2} / d_{j+1})).
at::Tensor mel_filters(const AudioFeatureConfig& c) {
  const int64_t n_freqs = c.fft_length() / 2 + 1;
  const int64_t n_mels = c.feature_size;
  std::vector<double> bins(n_freqs);
  if (c.family == io::Family::Gemma3n) {
    const float bin_hz = static_cast<float>(static_cast<double>(c.sampling_rate) / static_cast<double>(c.fft_length()));
    for (int64_t k = 0; k < n_freqs; ++k) bins[k] = static_cast<double>(static_cast<float>(k) * bin_hz);
  } else {
    bins = linspace(0.0, static_cast<double>(c.sampling_rate / 2), n_freqs);
  }
  std::vector<double> pts = linspace(hertz_to_mel(c.min_frequency), hertz_to_mel(c.max_frequency), n_mels + 2);
  for (double& p : pts) p = mel_to_hertz(p);
  std::vector<double> diff(n_mels + 1);
  for (int64_t i = 0; i <= n_mels; ++i) diff[i] = pts[i + 1] - pts[i];

  at::Tensor fb = at::empty({n_freqs, n_mels}, at::kDouble);
  double* out = fb.data_ptr<double>();
  for (int64_t k = 0; k < n_freqs; ++k) {
    for (int64_t j = 0; j < n_mels; ++j) {
      const double down = -(pts[j] - bins[k]) / diff[j];
      const double up = (pts[j + 2] - bins[k]) / diff[j + 1];
      out[k * n_mels + j] = std::max(0.0, std::min(down, up));
    }
  }
  return fb;
}

// ---------------------------------------------------------------------------------------------------------------
// Batch padding (SequenceFeatureExtractor.pad with padding="longest", truncation, pad_to_multiple_of)
// ---------------------------------------------------------------------------------------------------------------

int64_t round_up(int64_t n, int64_t multiple) {
  return multiple > 0 && n % multiple != 0 ? (n / multiple + 1) * multiple : n;
}

struct PaddedBatch {
  at::Tensor wave;         // [N, L] float32
  at::Tensor sample_mask;  // [N, L] bool: real samples
};

PaddedBatch pad_batch(const AudioFeatureConfig& c, const std::vector<std::vector<float>>& clips) {
  const int64_t keep = round_up(c.max_length, c.pad_to_multiple_of);  // _truncate rounds max_length up first
  int64_t longest = 0;
  for (const auto& clip : clips) longest = std::max(longest, std::min<int64_t>(clip.size(), keep));
  const int64_t length = round_up(longest, c.pad_to_multiple_of);
  const int64_t n = static_cast<int64_t>(clips.size());

  PaddedBatch b;
  b.wave = at::full({n, length}, static_cast<float>(c.padding_value), at::kFloat);
  b.sample_mask = at::zeros({n, length}, at::kBool);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t len = std::min<int64_t>(clips[i].size(), keep);
    const int64_t offset = c.padding_side == "left" ? length - len : 0;
    if (len == 0) continue;
    std::memcpy(b.wave[i].data_ptr<float>() + offset, clips[i].data(), sizeof(float) * len);
    b.sample_mask[i].narrow(0, offset, len).fill_(true);
  }
  return b;
}

// ---------------------------------------------------------------------------------------------------------------
// One padded clip -> log-mel frames (_extract_spectrogram)
// ---------------------------------------------------------------------------------------------------------------

struct Constants {
  at::Tensor window;   // [frame] float32
  at::Tensor filters;  // [n_freqs, n_mel] float64
  at::Tensor mean;     // [n_mel] float64 or undefined
  at::Tensor stddev;
};

// wave [L] float32 and sample_mask [L] bool of one padded clip -> features [T, n_mel] float32, mask [T] bool.
std::pair<at::Tensor, at::Tensor> extract_one(const AudioFeatureConfig& c, const Constants& k, at::Tensor wave,
                                              at::Tensor sample_mask) {
  const int64_t frame = c.frame_length();
  const int64_t hop = c.hop_length();
  if (c.dither > 0.0) wave = wave + at::randn_like(wave).mul(c.dither);
  if (c.input_scale_factor != 1.0) wave = wave.mul(c.input_scale_factor);
  if (c.family == io::Family::Gemma4) {
    // Semicausal padding: the first frame is centred on the first sample.
    const int64_t pad_left = frame / 2;
    wave = at::cat({at::zeros({pad_left}, at::kFloat), wave});
    sample_mask = at::cat({at::zeros({pad_left}, at::kBool), sample_mask});
  }
  const int64_t window = frame + 1;  // one extra sample for pre-emphasis
  const int64_t length = wave.size(0);
  const int64_t t = length >= window ? (length - window) / hop + 1 : 0;
  if (t == 0) return {at::zeros({0, c.feature_size}, at::kFloat), at::zeros({0}, at::kBool)};

  at::Tensor w = wave.unfold(0, window, hop);  // [T, frame + 1]
  at::Tensor frames;
  if (c.preemphasis > 0.0) {
    if (c.preemphasis_htk_flavor) {
      at::Tensor first = w.narrow(1, 0, 1).mul(1.0 - c.preemphasis);
      at::Tensor rest = w.narrow(1, 1, frame - 1) - w.narrow(1, 0, frame - 1).mul(c.preemphasis);
      frames = at::cat({first, rest}, 1);
    } else {
      frames = w.narrow(1, 1, frame) - w.narrow(1, 0, frame).mul(c.preemphasis);
    }
  } else {
    frames = w.narrow(1, 0, frame);
  }
  frames = frames * k.window;  // float32, as the reference

  at::Tensor magnitude = at::fft_rfft(frames.to(kFftType), c.fft_length(), -1).abs();  // [T, n_freqs]
  at::Tensor mel = at::matmul(magnitude.to(at::kDouble), k.filters);                  // [T, n_mel] float64
  at::Tensor log_mel = c.family == io::Family::Gemma3n ? at::clamp_min(mel, c.mel_floor).log()
                                                       : mel.add(c.mel_floor).log();
  if (k.mean.defined()) log_mel = log_mel - k.mean;
  if (k.stddev.defined()) log_mel = log_mel / k.stddev;
  at::Tensor features = log_mel.to(at::kFloat);

  // [3n] the sample at each frame's start (attention_mask[::hop]); [4] the last sample of each frame's window.
  at::Tensor index = at::arange(t, at::kLong).mul(hop);
  if (c.family == io::Family::Gemma4) index = index.add(frame);
  at::Tensor mask = sample_mask.index_select(0, index);
  if (c.family == io::Family::Gemma4) features = features * mask.unsqueeze(1).to(at::kFloat);
  return {features, mask};
}

}  // namespace

int64_t AudioFeatureConfig::frame_length() const {
  return static_cast<int64_t>(std::nearbyint(static_cast<double>(sampling_rate) * frame_length_ms / 1000.0));
}

int64_t AudioFeatureConfig::hop_length() const {
  return static_cast<int64_t>(std::nearbyint(static_cast<double>(sampling_rate) * hop_length_ms / 1000.0));
}

int64_t AudioFeatureConfig::fft_length() const {
  int64_t n = 1;
  while (n < frame_length()) n *= 2;  // 2 ** ceil(log2(frame_length))
  return fft_overdrive ? 2 * n : n;
}

AudioFeatureConfig audio_feature_config(const std::string& family, const std::string& model_dir) {
  const io::Family f = io::family_from_name(family, "audio features");
  AudioFeatureConfig c = family_defaults(f);
  if (model_dir.empty()) return c;
  const data::ProcessorConfigFiles files = data::read_processor_config_files(model_dir);
  if (files.extractor_json.empty()) return c;
  read_settings(files, c);
  c.source = files.extractor_file;
  return c;
}

AudioFeatures extract_audio_features(const AudioFeatureConfig& config, const std::vector<std::vector<float>>& clips) {
  const PaddedBatch batch = pad_batch(config, clips);
  Constants k;
  k.window = hann_window(config);
  k.filters = mel_filters(config);
  if (!config.per_bin_mean.empty()) k.mean = at::tensor(config.per_bin_mean, at::kDouble);
  if (!config.per_bin_stddev.empty()) k.stddev = at::tensor(config.per_bin_stddev, at::kDouble);

  // One clip at a time, as the reference loops: memory stays that of one clip's spectrum.
  std::vector<at::Tensor> features, masks;
  for (int64_t i = 0; i < static_cast<int64_t>(clips.size()); ++i) {
    auto [f, m] = extract_one(config, k, batch.wave[i], batch.sample_mask[i]);
    features.push_back(f);
    masks.push_back(m);
  }
  if (features.empty()) return {at::zeros({0, 0, config.feature_size}, at::kFloat), at::zeros({0, 0}, at::kBool)};
  return {at::stack(features), at::stack(masks)};
}

}  // namespace gt::media
