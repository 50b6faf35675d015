// Audio decoding through the FFmpeg libraries: any file FFmpeg reads (wav of any sample format, flac, mp3,
// ogg/vorbis, ogg/opus, m4a/aac, ...) or an http(s) URL becomes mono float samples at the feature extractor's rate.
// Torch-free on purpose: data code that knows nothing of libtorch may include it.
//
// What decode_audio does, in order:
//   1. opens the source: a local path through FFmpeg's file protocol only; a gs:// or http(s) URL is fetched whole
//      by io/remote_media into a temporary file first,
//   2. decodes the best audio stream,
//   3. mixes every channel down to mono as their mean (librosa's to_mono; FFmpeg's default downmix would scale
//      stereo by 1/sqrt(2) instead) and resamples with libswresample, in one pass,
//   4. stops once max_seconds of output exist, and clamps every sample to [-1, 1].
// FFmpeg's own log is silenced (it would garble progress bars); its last error line is kept and quoted in the
// gt::InputError that every failure becomes.
#pragma once

#include <string>
#include <vector>

namespace gt::media {

struct AudioClip {
  std::vector<float> samples;  // mono, in [-1, 1]
  int sample_rate = 0;         // of `samples`
  double source_seconds = 0;   // length of the source; when truncated and the container does not say, a lower bound
  bool truncated = false;      // true when max_seconds cut the clip
  int source_rate = 0;         // sample rate of the decoded stream
  int source_channels = 0;     // channel count of the decoded stream
  std::string codec;           // FFmpeg's codec name, e.g. "pcm_s16le", "mp3", "opus", "aac"

  double seconds() const { return sample_rate > 0 ? double(samples.size()) / sample_rate : 0.0; }
};

// True for http:// and https:// sources (any letter case).
bool is_url(const std::string& source);

// Where a dataset row's audio lives: URLs (gs://, http(s)) and absolute paths unchanged, relative paths joined to
// `dataset_dir`.
std::string resolve_audio_source(const std::string& source, const std::string& dataset_dir);

// Decodes `source` (a file path, or an http(s) URL or gs:// object fetched through io/remote_media) to mono float
// samples at `rate` Hz. With max_seconds > 0, keeps the first max_seconds of audio and sets truncated when there was
// more. Throws gt::InputError naming the source and what is wrong: a missing or empty file, a file that is not audio
// or has no audio stream, no samples at all, an unreachable URL, a decode failure.
AudioClip decode_audio(const std::string& source, int rate = 16000, double max_seconds = 0);

// decode_audio of a local file, never fetching: what decode_audio runs once a remote clip is in a temporary file.
// decode_audio lives with the fetching in media/remote_decode.cpp, so that this one links without the network code
// (fuzz/audio_decode_fuzz.cpp calls it).
AudioClip decode_audio_file(const std::string& path, int rate = 16000, double max_seconds = 0);

// "libavformat 59.27.100, libavcodec 59.37.100, libswresample 4.7.100, libavutil 57.28.100 (FFmpeg 5.1.x)":
// the library versions this binary runs with, for `gemma-tune doctor`.
std::string ffmpeg_version();

// Writes `samples` (clamped to [-1, 1]) as a 16-bit PCM mono wav at `rate` Hz. The file appears whole or not at all
// (written to <path>.tmp, then renamed). Throws gt::InputError naming the path when it cannot be written.
void write_wav(const std::string& path, const std::vector<float>& samples, int rate);

}  // namespace gt::media
