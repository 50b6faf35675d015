// The whole audio path against transformers 5.17 + PEFT (tests/fixtures/audio/model/<family>, made by
// tools/make_audio_model_fixtures.py): waveforms written as float wav files -> FFmpeg decode -> feature extractor ->
// audio tower + embedder -> soft tokens scattered into the text embeddings (train/audio_inputs) -> decoder -> loss,
// then LoRA logits, loss and gradients, on a batch of two rows with three clips of different lengths.
//   features                          max |diff| <= 1e-4 (before the tower; the extractor has its own tests)
//   logits from the reference features max |diff| <= 1e-4 over real tokens (towers, merge, decoder)
//   logits from the waveform files     max |diff| <= 2e-4 over real tokens (see the comment at the check)
//   loss                              relative <= 1e-5
//   LoRA gradients                    max |diff| <= 1e-4 * max |reference|, per tensor
// Also: each row alone gives the same logits as in the batch (padding of clips and tokens is masked).
#include <torch/torch.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/model_config.h"
#include "io/safetensors.h"
#include "io/safetensors_torch.h"
#include "media/audio_features.h"
#include "models/common/lora_targets.h"
#include "models/common/loss.h"
#include "models/model.h"
#include "fixture_tensors.h"
#include "test_util.h"
#include "train/audio_inputs.h"
#include "train/batches_torch.h"

namespace fs = std::filesystem;
using namespace gt;

namespace {

using test::read_all;

using test::max_abs;
using test::max_diff;
// Over real tokens only: a padded query whose sliding window holds only padding attends to nothing, and each
// implementation fills that row its own way (it never reaches the loss or a real token).
// The worst position is printed too (row, position), to tell soft-token positions from text ones.
double max_diff_real(const at::Tensor& a, const at::Tensor& b, const at::Tensor& attention_mask) {
  const at::Tensor real = attention_mask.to(at::kBool).cpu();
  const at::Tensor d = (a.to(at::kDouble).cpu() - b.to(at::kDouble).cpu()).abs().amax(-1).masked_fill(~real, 0);
  const int64_t at = d.argmax().item<int64_t>();
  std::printf("  (worst at row %ld, position %ld)\n", static_cast<long>(at / d.size(1)), static_cast<long>(at % d.size(1)));
  return d.max().item<double>();
}

// A mono IEEE-float wav at 16 kHz: FFmpeg decodes it to exactly these samples.
void write_float_wav(const fs::path& path, const at::Tensor& samples) {
  const at::Tensor s = samples.to(at::kFloat).contiguous();
  const uint32_t n = static_cast<uint32_t>(s.numel()), data_bytes = n * 4, rate = 16000;
  std::ofstream out(path, std::ios::binary);
  auto u32 = [&](uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
  auto u16 = [&](uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };
  out.write("RIFF", 4);
  u32(36 + data_bytes);
  out.write("WAVEfmt ", 8);
  u32(16);
  u16(3);  // WAVE_FORMAT_IEEE_FLOAT
  u16(1);
  u32(rate);
  u32(rate * 4);
  u16(4);
  u16(32);
  out.write("data", 4);
  u32(data_bytes);
  out.write(reinterpret_cast<const char*>(s.data_ptr<float>()), data_bytes);
}

// A batch of rows `rows` of the fixture, cut to their real length, with their clips.
data::Batch make_batch(const std::map<std::string, at::Tensor>& in, const std::vector<int64_t>& rows,
                       const std::vector<std::vector<data::AudioRef>>& clips_of_row) {
  data::Batch b = test::fixture_batch(in, rows);
  for (int64_t r : rows)
    for (const auto& c : clips_of_row[r]) b.audio.push_back(c);
  return b;
}

class AudioModelParity : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(AudioModelParity, FromWaveformToLoraGradients) {
  const std::string family = GetParam();
  const fs::path dir = test::fixture("audio/model/" + family);
  ASSERT_TRUE(fs::exists(dir / "expected.safetensors")) << dir;
  const auto in = read_all(dir / "inputs.safetensors");
  const auto expected = read_all(dir / "expected.safetensors");
  const nlohmann::json meta = nlohmann::json::parse(test::read_file(dir / "meta.json"));
  const std::string model_dir = (dir / "model").string();
  const char* dev = std::getenv("GT_TEST_DEVICE");  // GT_TEST_DEVICE=cuda runs it on a GPU
  const at::Device device(dev && *dev ? dev : "cpu");
  // cuDNN convolutions (the towers' subsamplers) use TF32 by default on CUDA; the reference ran in float32.
  at::globalContext().setAllowTF32CuDNN(false);

  // the clips as files, and what the dataset would have recorded for them
  test::TempDir tmp("audio-model-parity");
  const std::vector<std::vector<int64_t>> clips_per_row = meta.at("inputs").at("clips_per_row");
  const std::vector<int64_t> soft = meta.at("soft_tokens_per_clip");
  std::vector<std::vector<data::AudioRef>> clips_of_row(clips_per_row.size());
  for (size_t r = 0; r < clips_per_row.size(); ++r)
    for (int64_t c : clips_per_row[r]) {
      const at::Tensor w = in.at("waveform." + std::to_string(c));
      const fs::path p = tmp / ("clip" + std::to_string(c) + ".wav");
      write_float_wav(p, w);
      data::AudioRef ref;
      ref.source = p.string();
      ref.samples = w.numel();
      ref.soft_tokens = soft[c];
      clips_of_row[r].push_back(ref);
    }

  const io::ModelConfig cfg = io::load_model_config(model_dir);
  models::LoadedModel lm = models::load_model(model_dir, {.audio = true}, at::kFloat, device);
  models::Model& whole = *lm.model;
  models::TextModel& model = whole.text();
  model.module().eval();
  train::AudioInputs audio(model_dir, cfg, 30.0);

  const data::Batch batch = make_batch(in, {0, 1}, clips_of_row);
  const at::Tensor labels = in.at("labels");
  auto forward = [&](const data::Batch& b) {
    train::BatchTensors t = train::to_tensors(b, device, {.audio = &audio});
    return std::pair{whole.forward(t.inputs, t.media), t.labels};
  };
  // From the reference's own features: the towers, the merge and the decoder alone.
  {
    torch::NoGradGuard ng;
    train::BatchTensors t = train::to_tensors(batch, device);
    t.media.audio_features = in.at("input_features");
    t.media.audio_mask = in.at("input_features_mask").to(at::kBool);
    const at::Tensor lg =
        models::lm_logits(whole.forward(t.inputs, t.media), model.lm_head_weight(), model.final_logit_softcapping());
    const double err = max_diff_real(lg, expected.at("logits"), in.at("attention_mask"));
    std::printf("[audio-parity] %s logits from the reference features max|diff| = %.3g\n", family.c_str(), err);
    EXPECT_LE(err, 1e-4);
  }

#ifndef GT_HAVE_FFMPEG
  GTEST_SKIP() << "built without FFmpeg: the path from the waveform files is not tested here";
#endif
  // the features our extractor makes from the decoded files, against the reference's
  {
    std::vector<std::vector<float>> clips;
    for (const auto& row : clips_of_row)
      for (const auto& c : row) clips.push_back(audio.samples(c.source));
    const media::AudioFeatures f = media::extract_audio_features(media::audio_feature_config(family, model_dir), clips);
    ASSERT_EQ(f.features.sizes(), in.at("input_features").sizes());
    const double err = max_diff(f.features, in.at("input_features"));
    std::printf("[audio-parity] %s features max|diff| = %.3g\n", family.c_str(), err);
    EXPECT_LE(err, 1e-4);
    EXPECT_TRUE(f.mask.equal(in.at("input_features_mask").to(at::kBool)));
  }

  at::Tensor logits;
  {
    torch::NoGradGuard ng;
    auto [h, lab] = forward(batch);
    logits = models::lm_logits(h, model.lm_head_weight(), model.final_logit_softcapping());
    const double err = max_diff_real(logits, expected.at("logits"), in.at("attention_mask"));
    std::printf("[audio-parity] %s logits max|diff| = %.3g (max|ref| %.3g)\n", family.c_str(), err,
                max_abs(expected.at("logits")));
    // From the waveform the features carry the extractor's float32 rounding (they differ from numpy's by ~1e-5),
    // which the 3n conformer amplifies about 20x at the soft-token positions (never trained); supervised positions,
    // the loss and the gradients are held to the usual bounds.
    EXPECT_LE(err, 2e-4);
    models::LossSum ls = models::causal_lm_loss(h, lab, model.lm_head_weight(), model.final_logit_softcapping());
    const double loss = ls.sum.item<double>() / static_cast<double>(ls.tokens), ref = expected.at("loss").item<double>();
    std::printf("[audio-parity] %s loss %.8f vs %.8f (rel %.3g)\n", family.c_str(), loss, ref,
                std::abs(loss - ref) / ref);
    EXPECT_LE(std::abs(loss - ref), 1e-5 * std::abs(ref));
    // each row alone: the other row's clips and padding change nothing
    for (int64_t r = 0; r < 2; ++r) {
      auto [h1, l1] = forward(make_batch(in, {r}, clips_of_row));
      const at::Tensor lg = models::lm_logits(h1, model.lm_head_weight(), model.final_logit_softcapping())[0];
      const double d = max_diff(lg, logits[r].slice(0, 0, lg.size(0)));
      std::printf("[audio-parity] %s row %ld alone vs in the batch: %.3g\n", family.c_str(), static_cast<long>(r), d);
      EXPECT_LE(d, 1e-4);
    }
  }

  // LoRA with the reference's factors: logits, loss, gradients
  const std::string prefix = cfg.text_prefix;
  models::apply_lora(model.module(), prefix, models::LoraTargets::defaults().scoped_to(prefix), {4, 8.0, 0.0});
  const auto weights = read_all(dir / "lora_weights.safetensors");
  auto params = models::lora_parameters(model.module(), prefix);
  ASSERT_EQ(params.size(), weights.size());
  {
    torch::NoGradGuard ng;
    for (auto& [n, p] : params) {
      ASSERT_TRUE(weights.count(n)) << n;
      p.copy_(weights.at(n));
    }
  }
  auto [h2, lab2] = forward(batch);
  {
    torch::NoGradGuard ng;
    const double err = max_diff_real(models::lm_logits(h2, model.lm_head_weight(), model.final_logit_softcapping()),
                                     expected.at("lora_logits"), in.at("attention_mask"));
    std::printf("[audio-parity] %s lora logits max|diff| = %.3g\n", family.c_str(), err);
    EXPECT_LE(err, 2e-4);
  }
  models::LossSum ls2 = models::causal_lm_loss(h2, lab2, model.lm_head_weight(), model.final_logit_softcapping());
  at::Tensor mean = ls2.sum / static_cast<double>(ls2.tokens);
  const double ref2 = expected.at("lora_loss").item<double>();
  EXPECT_LE(std::abs(mean.item<double>() - ref2), 1e-5 * std::abs(ref2));
  mean.backward();
  double worst = 0;
  size_t compared = 0;
  for (auto& [n, p] : params) {
    auto it = expected.find("grad." + n);
    ASSERT_NE(it, expected.end()) << "no reference gradient for " << n;
    ASSERT_TRUE(p.grad().defined()) << n;
    const double rel = max_diff(p.grad(), it->second) / std::max(max_abs(it->second), 1e-30);
    worst = std::max(worst, rel);
    EXPECT_LE(rel, 1e-4) << n;
    ++compared;
  }
  std::printf("[audio-parity] %s %zu LoRA gradients, worst relative error %.3g\n", family.c_str(), compared, worst);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, AudioModelParity, ::testing::Values("gemma3n", "gemma4"));
