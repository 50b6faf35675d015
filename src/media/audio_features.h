// Log-mel features of audio clips, computed as transformers 5.17's Gemma3nAudioFeatureExtractor and
// Gemma4AudioFeatureExtractor compute them, batch padding and masks included, so that the
// audio towers see the numbers they were trained on.
//
// Per clip, in order (both families unless marked):
//   pad       the batch is right-padded (padding_side) with padding_value to its longest clip, rounded up to a
//             multiple of 128 samples; clips are first truncated to 480,000 samples (30 s at 16 kHz). A sample mask
//             marks real samples.
//   scale     waveform * input_scale_factor (float32); dither adds dither * N(0, 1) noise (off in the releases).
//   [4]       semicausal padding: frame_length / 2 zeros before the waveform (and before the sample mask).
//   frames    windows of frame_length + 1 samples every hop_length samples: (L - frame - 1) // hop + 1 frames.
//   preemph.  HTK flavour: f[0] = w[0]·(1 − p), f[i] = w[i] − p·w[i−1]; else f[i] = w[i+1] − p·w[i]; p = 0: the
//             first frame_length samples. float32.
//   window    periodic Hann, float32 ([3n] 0.5·(1 − cos(2πn/N)) in float32; [4] numpy.hanning(N + 1)[:-1]).
//   spectrum  |rfft(frame · window, fft_length)|, fft_length = 2^⌈log2 frame⌉ (doubled with fft_overdrive).
//   mel       · filterbank (float64): [3n] HTK triangles on bins k·sr/fft (float32 bins), [4] HF mel_filter_bank
//             (htk, bins linspace(0, sr/2)); both without normalisation.
//   log       [3n] log(max(mel, mel_floor)); [4] log(mel + mel_floor). Minus per_bin_mean, over per_bin_stddev
//             (when given); cast to float32.
//   mask      [3n] frame i is valid when sample i·hop is real; [4] when the last sample of its window is real, and
//             invalid frames are set to 0.
// Numerics: the reference (numpy >= 2) runs the FFT of the float32 frames in float32; this code runs it in float64
// (see audio_features.cpp), everything else in the reference's dtypes. Features are computed on the CPU. Against the
// reference on real speech (tests/media/audio_features_test.cpp): max |diff| 4.8e-7 (Gemma 4) and 1.7e-4 (Gemma 3n,
// a few weak bins near its log floor, where numpy's float32 FFT rounding shows; mean 3e-7).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "io/model_config.h"  // defines: gt::io::Family

namespace gt::media {

// The settings of one family's extractor. Field names are the extractor's constructor arguments, i.e. the keys of
// preprocessor_config.json; defaults are the family's (3n / 4).
struct AudioFeatureConfig {
  io::Family family = io::Family::Gemma3n;
  std::string source;  // the file the settings were read from; "" for the family defaults

  int64_t feature_size = 128;  // mel bins
  int64_t sampling_rate = 16000;
  double padding_value = 0.0;
  std::string padding_side = "right";  // "right" or "left"
  double frame_length_ms = 32.0;       // 20 (4)
  double hop_length_ms = 10.0;
  double min_frequency = 125.0;        // 0 (4)
  double max_frequency = 7600.0;       // 8000 (4)
  double preemphasis = 0.97;           // 0 (4)
  bool preemphasis_htk_flavor = true;
  bool fft_overdrive = true;           // false (4)
  double dither = 0.0;
  double input_scale_factor = 1.0;
  double mel_floor = 1e-5;             // 1e-3 (4)
  std::vector<double> per_bin_mean;    // empty: none; else feature_size values
  std::vector<double> per_bin_stddev;

  // Arguments of the extractor's __call__, not of the file: the processors always use these defaults.
  int64_t max_length = 480000;  // samples kept of a clip (truncation)
  int64_t pad_to_multiple_of = 128;

  int64_t frame_length() const;  // int(round(sampling_rate * frame_length_ms / 1000)): 512 (3n), 320 (4)
  int64_t hop_length() const;    // 160
  int64_t fft_length() const;    // 1024 (3n), 512 (4)
};

// The family's defaults ("gemma3n" or "gemma4"), overridden by the extractor settings of `model_dir` when it has
// some: the "feature_extractor" object of processor_config.json, else preprocessor_config.json (what
// transformers reads; keys it only stores, like frame_length or fft_length, are recomputed from the *_ms values and
// ignored here too). Throws gt::InputError naming the file and the key for a mistyped or out-of-range value, a
// per-bin list of the wrong length, or a feature_extractor_type of another family; and for an unknown family.
AudioFeatureConfig audio_feature_config(const std::string& family, const std::string& model_dir = "");

struct AudioFeatures {
  at::Tensor features;  // [N, T, feature_size] float32, CPU
  at::Tensor mask;      // [N, T] bool, CPU: true = valid frame (the extractor's input_features_mask)
};

// Features of a batch of clips: mono float samples at config.sampling_rate. The batch is padded as the reference
// pads one processor call, so row i equals the reference's features of clip i in that same batch (with right padding
// its first frames also equal those of clip i alone). No clips: N = 0, T = 0. Clips too short for one frame: T = 0.
AudioFeatures extract_audio_features(const AudioFeatureConfig& config, const std::vector<std::vector<float>>& clips);

}  // namespace gt::media
