// Audio decoding (media/audio_decode.h): decode_audio_file on arbitrary bytes, as a dataset row's clip, at the audio
// towers' 16 kHz with a 2 s limit. The file has no extension, so FFmpeg recognises the format from the bytes alone;
// the seeds (WAV in several sample formats, FLAC, MP3, Ogg/Opus, AAC) lead it to those demuxers and decoders. A clip
// that decodes is mono at 16 kHz, in [-1, 1], and no longer than the limit when cut.
//
// Only our code is instrumented (opening, the decode loop, the mono resampler, truncation, clamping). FFmpeg is the
// system's build: libFuzzer sees no coverage inside it, and ASan catches its memory errors only where they pass
// through intercepted calls (malloc/free, memcpy, ...); its leaks are reported, as they are allocated by malloc.
//
// FFmpeg's single allocations are capped at 256 MiB here (its default is INT_MAX). FFmpeg 5.1's RIFF INFO reader
// allocates and zeroes whatever size a LIST sub-chunk claims before reading it, so a 1 KB WAV costs 1.8 GB and 6 s
// and stops the run on -rss_limit_mb (fuzz/corpus/audio_decode/finding-riff-info-1.8gb.wav); that is FFmpeg's to
// fix. No allocation for an input of a few KB needs more, and ours (std::vector) are not capped.
#include <cmath>

extern "C" {
#include <libavutil/mem.h>
}

#include "fuzz_util.h"
#include "media/audio_decode.h"

namespace {
constexpr int kRate = 16000;
constexpr double kMaxSeconds = 2.0;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  av_max_alloc(size_t(256) << 20);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = gt::fuzz::input_file("clip", gt::fuzz::as_text(data, size));
  gt::fuzz::expect_input_errors([&] {
    const gt::media::AudioClip clip = gt::media::decode_audio_file(path, kRate, kMaxSeconds);
    if (clip.samples.empty()) gt::fuzz::finding("a clip that decodes has no samples");
    if (clip.sample_rate != kRate) gt::fuzz::finding("the clip is not at the asked rate");
    if (clip.source_rate <= 0 || clip.source_channels <= 0) gt::fuzz::finding("source rate or channels not > 0");
    if (clip.truncated && clip.samples.size() > size_t(std::llround(kMaxSeconds * kRate)))
      gt::fuzz::finding("a cut clip is longer than max_seconds");
    for (const float x : clip.samples)
      if (!(x >= -1.0f && x <= 1.0f)) gt::fuzz::finding("a sample outside [-1, 1]");
  });
  return 0;
}
