// Parity of gt::media::extract_audio_features with transformers 5.17's Gemma3nAudioFeatureExtractor and
// Gemma4AudioFeatureExtractor (tests/fixtures/audio/features/<family>/, made by tools/make_audio_feature_fixtures.py
// from the espeak-ng clips in tests/fixtures/audio/speech/): each clip alone and every group as one batch (features,
// masks, padded frames), clips at frame and padding boundaries, a settings file with every value changed, truncation
// at 30 s; then the settings reader and its errors.
//
// Bounds. The reference runs its FFT in float32 (numpy >= 2); this code builds the same float32 frames and runs an
// exact (float64) FFT, so what differs is numpy's float32 FFT rounding. For Gemma 4 (additive log floor 1e-3) that
// is a few float32 ulps; Gemma 3n's max(mel, 1e-5) floor exposes weak low-frequency mel bins (pre-emphasis removes
// their energy) where it reaches ~2e-4 on a few values: the reference's own features move by up to 4.6e-4 when its
// code runs in float64 (meta.json float32_vs_float64_reference). So: max |diff| <= max_tol(family) (5e-4 for 3n, 1e-5 for 4), and the mean
// |diff| <= kMeanTol (1e-5), which any real mistake (a filter, a window, a frame off by one) exceeds by orders of magnitude.
// Every comparison prints its error.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/safetensors_torch.h"
#include "media/audio_decode.h"
#include "media/audio_features.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace gt;
using nlohmann::json;

using gt::test::error_of;

namespace {

const std::vector<std::string> kSpeech = {"short", "medium", "long", "padded"};
constexpr double kMeanTol = 1e-5;

double max_tol(const std::string& family) { return family == "gemma3n" ? 5e-4 : 1e-5; }

struct Fixture {
  std::string family;
  fs::path dir;
  json meta;
  std::map<std::string, at::Tensor> inputs, expected;

  // A clip as the reference saw it: int16 PCM / 32768, or the stored float32 samples; empty when not stored.
  std::vector<float> clip(const std::string& name) const {
    auto it = inputs.find(name);
    if (it == inputs.end()) return {};
    at::Tensor t = it->second.scalar_type() == at::kShort ? it->second.to(at::kFloat).div(32768.0) : it->second;
    t = t.contiguous();
    return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
  }
  const at::Tensor& tensor(const std::string& name) const {
    auto it = expected.find(name);
    if (it == expected.end()) throw std::runtime_error("fixture " + dir.string() + " has no tensor " + name);
    return it->second;
  }
  double float32_spread(const std::string& speech) const {
    return meta["float32_vs_float64_reference"][speech]["max_abs_all_frames"].get<double>();
  }
};

std::map<std::string, at::Tensor> read_all(const fs::path& p) {
  auto f = io::SafetensorsFile::open(p.string());
  std::map<std::string, at::Tensor> out;
  for (const auto& info : f->tensors()) out[info.name] = io::to_tensor(f->view(info.name)).clone();
  return out;
}

const Fixture& fixture(const std::string& family) {
  static std::map<std::string, Fixture> cache;
  auto it = cache.find(family);
  if (it != cache.end()) return it->second;
  Fixture f;
  f.family = family;
  f.dir = test::fixture("audio/features/" + family);
  std::ifstream in(f.dir / "meta.json");
  if (!in) throw std::runtime_error("missing " + (f.dir / "meta.json").string() +
                                    "; run tools/make_audio_feature_fixtures.py on the GPU machine");
  f.meta = json::parse(in);
  f.inputs = read_all(f.dir / "inputs.safetensors");
  f.expected = read_all(f.dir / "expected.safetensors");
  return cache.emplace(family, std::move(f)).first->second;
}

struct Diff {
  double max = 0, mean = 0;
  void merge(const Diff& d) {
    max = std::max(max, d.max);
    mean = std::max(mean, d.mean);
  }
};

Diff diff(const at::Tensor& a, const at::Tensor& b) {
  if (a.numel() == 0) return {};
  const at::Tensor d = (a.to(at::kDouble) - b.to(at::kDouble)).abs();
  return {d.max().item<double>(), d.mean().item<double>()};
}

std::ostream& operator<<(std::ostream& os, const Diff& d) {
  return os << "max |diff| " << d.max << ", mean " << d.mean;
}

void expect_within(const Diff& d, const std::string& family) {
  EXPECT_LE(d.max, max_tol(family));
  EXPECT_LE(d.mean, kMeanTol);
}

// What the reference returned for clip i of a group called alone: [T_i, n_mel] features and [T_i] mask.
std::pair<at::Tensor, at::Tensor> expected_alone(const Fixture& f, const std::string& group, size_t i) {
  const json& e = f.meta["groups"][group]["clips"][i];
  const int64_t t = e["frames"].get<int64_t>();
  const int64_t n_mel = f.meta["groups"][group]["n_mel"].get<int64_t>();
  if (t == 0) return {at::zeros({0, n_mel}), at::zeros({0}, at::kBool)};
  const std::string prefix = group + ".clip" + std::to_string(i);
  at::Tensor features = e["features_stored"].get<bool>() ? f.tensor(prefix + ".features")
                                                         : f.tensor(group + ".batch.features")[i].narrow(0, 0, t);
  return {features, f.tensor(prefix + ".mask").to(at::kBool)};
}

media::AudioFeatureConfig group_config(const Fixture& f, const std::string& group) {
  return group == "custom" ? media::audio_feature_config(f.family, (f.dir / "custom").string())
                           : media::audio_feature_config(f.family);
}

std::vector<std::vector<float>> group_clips(const Fixture& f, const std::string& group) {
  std::vector<std::vector<float>> clips;
  for (const json& e : f.meta["groups"][group]["clips"]) clips.push_back(f.clip(e["input"].get<std::string>()));
  return clips;
}

// Clip i of a group alone against the reference; merges its error into `worst`.
void check_one_alone(const Fixture& f, const std::string& group, const media::AudioFeatureConfig& cfg,
                     const std::vector<float>& clip, size_t i, Diff& worst) {
  const json& e = f.meta["groups"][group]["clips"][i];
  SCOPED_TRACE(f.family + " " + group + " clip " + std::to_string(i) + " (" + e["input"].get<std::string>() + ", " +
               std::to_string(clip.size()) + " samples)");
  ASSERT_FALSE(e.contains("error")) << e["error"];
  auto [want_f, want_m] = expected_alone(f, group, i);
  media::AudioFeatures got = media::extract_audio_features(cfg, {clip});
  ASSERT_EQ(got.features.dim(), 3);
  ASSERT_EQ(got.features.size(0), 1);
  ASSERT_EQ(got.features.size(1), want_f.size(0)) << "frames";
  ASSERT_EQ(got.features.size(2), want_f.size(1)) << "mel bins";
  EXPECT_EQ(got.features.scalar_type(), at::kFloat);
  ASSERT_EQ(got.mask.scalar_type(), at::kBool);
  EXPECT_TRUE(at::equal(got.mask[0], want_m)) << "mask";
  const Diff d = diff(got.features[0], want_f);
  expect_within(d, f.family);
  worst.merge(d);
}

// Each clip of a group alone; returns the largest errors.
Diff check_alone(const Fixture& f, const std::string& group) {
  const media::AudioFeatureConfig cfg = group_config(f, group);
  const auto clips = group_clips(f, group);
  Diff worst;
  for (size_t i = 0; i < clips.size(); ++i) check_one_alone(f, group, cfg, clips[i], i, worst);
  return worst;
}

// The whole group as one batch: shapes, masks, every frame (padded ones too).
Diff check_batch(const Fixture& f, const std::string& group) {
  SCOPED_TRACE(f.family + " " + group + " batch");
  const media::AudioFeatureConfig cfg = group_config(f, group);
  media::AudioFeatures got = media::extract_audio_features(cfg, group_clips(f, group));
  const at::Tensor& want_f = f.tensor(group + ".batch.features");
  const at::Tensor want_m = f.tensor(group + ".batch.mask").to(at::kBool);
  EXPECT_EQ(got.features.sizes(), want_f.sizes());
  EXPECT_EQ(got.mask.sizes(), want_m.sizes());
  if (got.features.sizes() != want_f.sizes() || got.mask.sizes() != want_m.sizes()) return {1e9, 1e9};
  EXPECT_TRUE(at::equal(got.mask, want_m)) << "mask";
  const Diff d = diff(got.features, want_f);
  expect_within(d, f.family);
  return d;
}

class AudioFeatures : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(AudioFeatures, SpeechClipsAloneMatchReference) {
  const Fixture& f = fixture(GetParam());
  const Diff d = check_alone(f, "speech");
  std::cout << "[parity] " << f.family << " speech clips alone: " << d << " (the reference moves by up to";
  for (const auto& s : kSpeech) std::cout << " " << f.float32_spread(s) << " (" << s << ")";
  std::cout << " when its code runs in float64)\n";
}

TEST_P(AudioFeatures, SpeechBatchMatchesReference) {
  const Fixture& f = fixture(GetParam());
  std::cout << "[parity] " << f.family << " speech batch of 4, padded to the longest: " << check_batch(f, "speech")
            << "\n";
}

// Synthetic clips of 0 .. 1601 samples: frame counts, masks and values at every framing and padding boundary.
TEST_P(AudioFeatures, BoundaryClipsMatchReference) {
  const Fixture& f = fixture(GetParam());
  const Diff alone = check_alone(f, "edge");
  const Diff batch = check_batch(f, "edge");
  std::cout << "[parity] " << f.family << " boundary clips: alone " << alone << "; batch " << batch << "\n";
}

// custom/preprocessor_config.json changes every setting (80 bins, 25/12.5 ms, other pre-emphasis, overdrive, floor,
// per-bin normalisation, scale, left padding with 0.25) and carries keys transformers ignores.
TEST_P(AudioFeatures, CustomSettingsFileMatchesReference) {
  const Fixture& f = fixture(GetParam());
  const auto cfg = media::audio_feature_config(f.family, (f.dir / "custom").string());
  const json& ref = f.meta["groups"]["custom"]["settings"];
  EXPECT_EQ(cfg.source, (f.dir / "custom" / "preprocessor_config.json").string());
  EXPECT_EQ(cfg.feature_size, 80);
  EXPECT_EQ(cfg.frame_length(), ref["frame_length"].get<int64_t>());
  EXPECT_EQ(cfg.hop_length(), ref["hop_length"].get<int64_t>());
  EXPECT_EQ(cfg.fft_length(), ref["fft_length"].get<int64_t>());
  EXPECT_EQ(cfg.padding_side, "left");
  EXPECT_EQ(cfg.per_bin_mean.size(), 80u);
  const Diff alone = check_alone(f, "custom");
  const Diff batch = check_batch(f, "custom");
  std::cout << "[parity] " << f.family << " custom settings: alone " << alone << "; batch " << batch << "\n";
}

// 481,000 samples: cut to 480,000 (30 s) before framing.
TEST_P(AudioFeatures, LongClipIsTruncatedAsReference) {
  const Fixture& f = fixture(GetParam());
  const json& t = f.meta["trunc"];
  std::vector<float> clip(t["samples"].get<int64_t>());
  for (int64_t n = 0; n < static_cast<int64_t>(clip.size()); ++n)
    clip[n] = static_cast<float>(static_cast<double>((7 * n * n + 13 * n) % 4001 - 2000) / 4000.0);
  media::AudioFeatures got = media::extract_audio_features(media::audio_feature_config(f.family), {clip});
  ASSERT_EQ(got.features.size(1), t["frames"].get<int64_t>());
  EXPECT_EQ(got.mask.sum().item<int64_t>(), t["valid_frames"].get<int64_t>());
  const int64_t n = got.features.size(1);
  Diff d = diff(got.features[0].narrow(0, 0, 3), f.tensor("trunc.head"));
  d.merge(diff(got.features[0].narrow(0, n - 3, 3), f.tensor("trunc.tail")));
  std::cout << "[parity] " << f.family << " 30 s truncation, first and last frames: " << d << "\n";
  expect_within(d, f.family);
}

// The committed wav files decoded by gemma-tune's own decoder give the samples the reference read with `wave`.
TEST_P(AudioFeatures, DecodedWavFilesAreTheReferenceInputs) {
  const Fixture& f = fixture(GetParam());
  for (const auto& name : kSpeech) {
    media::AudioClip c = media::decode_audio(test::fixture("audio/speech/" + name + ".wav").string(), 16000);
    EXPECT_EQ(c.samples, f.clip("speech." + name)) << name;
  }
}

TEST_P(AudioFeatures, Gemma4ZeroesInvalidFramesAnd3nKeepsThem) {
  const Fixture& f = fixture(GetParam());
  const auto cfg = media::audio_feature_config(f.family);
  media::AudioFeatures got = media::extract_audio_features(cfg, group_clips(f, "speech"));
  const at::Tensor invalid = got.features.masked_select(got.mask.logical_not().unsqueeze(-1).expand_as(got.features));
  ASSERT_GT(invalid.numel(), 0);
  if (f.family == "gemma4") {
    EXPECT_EQ(invalid.abs().max().item<float>(), 0.0f);
  } else {
    // Padding frames of Gemma 3n keep the value of silence: log(1e-5).
    EXPECT_NEAR(invalid.min().item<float>(), std::log(1e-5), 1e-6);
    EXPECT_NEAR(invalid.max().item<float>(), std::log(1e-5), 1e-6);
  }
}

INSTANTIATE_TEST_SUITE_P(Families, AudioFeatures, ::testing::Values("gemma3n", "gemma4"),
                         [](const auto& info) { return info.param; });

// ---------------------------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------------------------

namespace {

}  // namespace

TEST(AudioFeatureConfig, FamilyDefaultsAreTheExtractorsDefaults) {
  for (const std::string family : {"gemma3n", "gemma4"}) {
    const auto cfg = media::audio_feature_config(family);
    const json& d = fixture(family).meta["default_settings"];
    SCOPED_TRACE(family);
    EXPECT_EQ(cfg.source, "");
    EXPECT_EQ(cfg.feature_size, d["feature_size"].get<int64_t>());
    EXPECT_EQ(cfg.sampling_rate, d["sampling_rate"].get<int64_t>());
    EXPECT_EQ(cfg.padding_value, d["padding_value"].get<double>());
    EXPECT_EQ(cfg.padding_side, d["padding_side"].get<std::string>());
    EXPECT_EQ(cfg.frame_length(), d["frame_length"].get<int64_t>());
    EXPECT_EQ(cfg.hop_length(), d["hop_length"].get<int64_t>());
    EXPECT_EQ(cfg.fft_length(), d["fft_length"].get<int64_t>());
    EXPECT_EQ(cfg.min_frequency, d["min_frequency"].get<double>());
    EXPECT_EQ(cfg.max_frequency, d["max_frequency"].get<double>());
    EXPECT_EQ(cfg.preemphasis, d["preemphasis"].get<double>());
    EXPECT_EQ(cfg.preemphasis_htk_flavor, d["preemphasis_htk_flavor"].get<bool>());
    EXPECT_EQ(cfg.fft_overdrive, d["fft_overdrive"].get<bool>());
    EXPECT_EQ(cfg.dither, d["dither"].get<double>());
    EXPECT_EQ(cfg.input_scale_factor, d["input_scale_factor"].get<double>());
    EXPECT_EQ(cfg.mel_floor, d["mel_floor"].get<double>());
    EXPECT_TRUE(d["per_bin_mean"].is_null());
    EXPECT_TRUE(cfg.per_bin_mean.empty());
  }
}

// processor_config.json's "feature_extractor" object wins over preprocessor_config.json, as in transformers; a folder
// with neither keeps the defaults.
TEST(AudioFeatureConfig, ReadsTheFileTransformersReads) {
  test::TempDir dir("audio-cfg");
  EXPECT_EQ(media::audio_feature_config("gemma4", dir.path().string()).mel_floor, 1e-3);

  test::write_file(dir / "preprocessor_config.json", R"({"feature_extractor_type": "Gemma4AudioFeatureExtractor",
      "mel_floor": 0.5, "frame_length": 999})");
  auto cfg = media::audio_feature_config("gemma4", dir.path().string());
  EXPECT_EQ(cfg.mel_floor, 0.5);
  EXPECT_EQ(cfg.frame_length(), 320) << "frame_length is recomputed from frame_length_ms, as transformers does";
  EXPECT_EQ(cfg.source, (dir / "preprocessor_config.json").string());

  test::write_file(dir / "processor_config.json", R"({"audio_seq_length": 750, "feature_extractor": {"mel_floor": 0.25,
      "hop_length_ms": 20}})");
  cfg = media::audio_feature_config("gemma4", dir.path().string());
  EXPECT_EQ(cfg.mel_floor, 0.25);
  EXPECT_EQ(cfg.hop_length(), 320);
  EXPECT_EQ(cfg.source, (dir / "processor_config.json").string());

  // A processor_config.json without the nested object leaves preprocessor_config.json in charge.
  test::write_file(dir / "processor_config.json", R"({"audio_seq_length": 750})");
  EXPECT_EQ(media::audio_feature_config("gemma4", dir.path().string()).mel_floor, 0.5);
  test::write_file(dir / "processor_config.json", R"({"audio_processor": {"mel_floor": 0.125}})");
  EXPECT_EQ(media::audio_feature_config("gemma4", dir.path().string()).mel_floor, 0.125);
}

TEST(AudioFeatureConfig, ErrorsNameTheFileAndKey) {
  test::TempDir dir("audio-cfg-err");
  const std::string d = dir.path().string();
  const std::string pre = (dir / "preprocessor_config.json").string();
  auto with = [&](const std::string& text) {
    test::write_file(dir / "preprocessor_config.json", text);
    return error_of([&] { media::audio_feature_config("gemma3n", d); });
  };
  EXPECT_EQ(with(R"({"feature_size": "128"})"), pre + ": feature_size is \"128\", expected an integer");
  EXPECT_EQ(with(R"({"hop_length_ms": [10]})"), pre + ": hop_length_ms is [10], expected a number");
  // null is an absent key, as in every config reader (io::JsonSection): the default stays
  EXPECT_EQ(with(R"({"hop_length_ms": null})"), "(no error)");
  EXPECT_EQ(media::audio_feature_config("gemma3n", d).hop_length(), media::audio_feature_config("gemma3n", "").hop_length());
  EXPECT_EQ(with(R"({"fft_overdrive": 1})"), pre + ": fft_overdrive is 1, expected true or false");
  EXPECT_EQ(with(R"({"per_bin_mean": [1, 2]})"), pre + ": per_bin_mean has 2 values, expected feature_size = 128");
  EXPECT_EQ(with(R"({"per_bin_stddev": [1, "x"]})"), pre + ": per_bin_stddev holds \"x\", expected numbers only");
  EXPECT_EQ(with(R"({"padding_side": "middle"})"), pre + ": padding_side is \"middle\", expected \"right\" or \"left\"");
  EXPECT_EQ(with(R"({"mel_floor": 0})"), pre + ": mel_floor is 0, expected a positive number");
  EXPECT_EQ(with(R"({"frame_length_ms": 0.01})"),
            pre + ": frame_length_ms is 0.01: a frame of 0 samples at 16000 Hz; expected at least 1 sample");
  EXPECT_EQ(with(R"({"min_frequency": 9000})"),
            pre + ": min_frequency is 9000 with max_frequency 7600; expected 0 <= min_frequency <= max_frequency");
  EXPECT_EQ(with(R"({"feature_extractor_type": "Gemma4AudioFeatureExtractor"})"),
            pre + ": feature_extractor_type is \"Gemma4AudioFeatureExtractor\", expected "
                  "\"Gemma3nAudioFeatureExtractor\" for a gemma3n model");
  EXPECT_EQ(with("[1, 2]"), pre + ": expected a JSON object, found array");
  EXPECT_EQ(with("{"), pre + ": not valid JSON");

  fs::remove(dir / "preprocessor_config.json");
  test::write_file(dir / "processor_config.json", R"({"feature_extractor": {"sampling_rate": 8000.5}})");
  EXPECT_EQ(error_of([&] { media::audio_feature_config("gemma3n", d); }),
            (dir / "processor_config.json").string() +
                ": feature_extractor.sampling_rate is 8000.5, expected an integer");
  test::write_file(dir / "processor_config.json", R"({"feature_extractor": [1]})");
  EXPECT_EQ(error_of([&] { media::audio_feature_config("gemma3n", d); }),
            (dir / "processor_config.json").string() +
                ": feature_extractor is [1], expected a JSON object of extractor settings");

  EXPECT_EQ(error_of([&] { media::audio_feature_config("gemma5"); }),
            "audio features: unknown model family \"gemma5\", expected gemma3n or gemma4");
  EXPECT_EQ(error_of([&] { media::audio_feature_config("gemma4", d + "/missing"); }),
            d + "/missing: not a folder; expected a model folder");
}

TEST(AudioFeatureExtraction, EmptyBatchAndEmptyClips) {
  const auto cfg = media::audio_feature_config("gemma4");
  media::AudioFeatures none = media::extract_audio_features(cfg, {});
  EXPECT_EQ(none.features.sizes(), (std::vector<int64_t>{0, 0, 128}));
  EXPECT_EQ(none.mask.sizes(), (std::vector<int64_t>{0, 0}));
  media::AudioFeatures empty = media::extract_audio_features(cfg, {{}, {}});
  EXPECT_EQ(empty.features.sizes(), (std::vector<int64_t>{2, 0, 128}));
  EXPECT_EQ(empty.mask.scalar_type(), at::kBool);
}

// dither is off in every released config and random in the reference (np.random.randn), so only its effect is checked:
// digital silence stops sitting on the log floor.
TEST(AudioFeatureExtraction, DitherAddsNoise) {
  auto cfg = media::audio_feature_config("gemma3n");
  const std::vector<float> silence(3200, 0.0f);
  const at::Tensor plain = media::extract_audio_features(cfg, {silence}).features;
  EXPECT_NEAR(plain.max().item<float>(), std::log(1e-5), 1e-6);
  cfg.dither = 1e-3;
  const at::Tensor dithered = media::extract_audio_features(cfg, {silence}).features;
  EXPECT_EQ(dithered.sizes(), plain.sizes());
  EXPECT_GT(dithered.mean().item<float>(), std::log(1e-5) + 1.0);
}
