// FFmpeg decoding for gemma-tune: open a local file, decode the best audio stream, mean-downmix + resample with
// libswresample, truncate, clamp. See audio_decode.h for the contract. No libtorch here, although the folder puts
// this file in gt_torch; no network code either (remote sources are fetched in media/remote_decode.cpp), so the fuzz
// project builds it alone.
#include "media/audio_decode.h"

extern "C" {
#ifdef GT_HAVE_FFMPEG
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/avutil.h>
#include <libavutil/channel_layout.h>
#include <libavutil/log.h>
#include <libswresample/swresample.h>
#endif
}

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>

#include "core/error.h"
#include "core/strings.h"
#include "media/ffmpeg_common.h"

namespace gt::media {

#ifdef GT_HAVE_FFMPEG
namespace {

// ---------------------------------------------------------------------------------------------------------------
// FFmpeg's log: silenced, but the last error line of this thread is kept for our messages.

// "<source>: <what> (<FFmpeg's error text>; FFmpeg said: <last log line>)"
[[noreturn]] void fail_ffmpeg(const std::string& source, const std::string& what, int code) {
  std::string detail = av_error_text(code);
  if (!last_ffmpeg_message().empty() && last_ffmpeg_message() != detail) detail += "; FFmpeg said: " + last_ffmpeg_message();
  fail_input(source, ": ", what, " (", detail, ")");
}

// ---------------------------------------------------------------------------------------------------------------
// Owners of FFmpeg's C objects (the common ones are in media/ffmpeg_common.h).

struct SwrFreer {
  void operator()(SwrContext* s) const { swr_free(&s); }
};
using FormatPtr = std::unique_ptr<AVFormatContext, FormatCloser>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecFreer>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFreer>;
using FramePtr = std::unique_ptr<AVFrame, FrameFreer>;
using SwrPtr = std::unique_ptr<SwrContext, SwrFreer>;

struct Dictionary {
  AVDictionary* d = nullptr;
  ~Dictionary() { av_dict_free(&d); }
  void set(const char* key, const char* value) { av_dict_set(&d, key, value, 0); }
};

// ---------------------------------------------------------------------------------------------------------------
// Opening: local files through the file protocol only (a path with a colon is never taken for a protocol, and a
// playlist cannot reach elsewhere). Remote clips (gs://, http(s)) reach here as a temporary file
// (media/remote_decode.cpp).

void check_local_file(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) fail_input(path, ": audio file not found");
  if (S_ISDIR(st.st_mode)) fail_input(path, ": is a folder, expected an audio file");
  if (S_ISREG(st.st_mode) && st.st_size == 0) fail_input(path, ": the audio file is empty (0 bytes)");
}

FormatPtr open_source(const std::string& source) {
  Dictionary options;
  check_local_file(source);
  options.set("protocol_whitelist", "file");
  const std::string target = "file:" + source;
  AVFormatContext* raw = nullptr;
  const int r = avformat_open_input(&raw, target.c_str(), nullptr, &options.d);
  if (r < 0) {
    if (r == AVERROR_INVALIDDATA) fail_ffmpeg(source, "not an audio file FFmpeg can read, or a damaged one", r);
    fail_ffmpeg(source, "cannot open the audio file", r);
  }
  FormatPtr fmt(raw);
  const int info = avformat_find_stream_info(fmt.get(), nullptr);
  if (info < 0) fail_ffmpeg(source, "cannot find the streams of this file", info);
  return fmt;
}

CodecPtr open_decoder(const std::string& source, const AVStream* stream) {
  const AVCodec* codec = avcodec_find_decoder(stream->codecpar->codec_id);
  if (!codec)
    fail_input(source, ": this FFmpeg build has no decoder for the audio codec '",
               avcodec_get_name(stream->codecpar->codec_id), "'");
  CodecPtr dec(avcodec_alloc_context3(codec));
  GT_CHECK(dec, "avcodec_alloc_context3 returned null");
  int r = avcodec_parameters_to_context(dec.get(), stream->codecpar);
  if (r < 0) fail_ffmpeg(source, "cannot set up the audio decoder", r);
  dec->pkt_timebase = stream->time_base;
  r = avcodec_open2(dec.get(), codec, nullptr);
  if (r < 0) fail_ffmpeg(source, cat("cannot open the '", codec->name, "' decoder"), r);
  return dec;
}

// ---------------------------------------------------------------------------------------------------------------
// Mono mixdown + resampling in one libswresample pass. The mixing matrix gives every input channel the weight
// 1/channels, so the output is the channels' mean. The context is rebuilt (after draining it) if the decoded format
// changes mid-stream, which some streams (chained ogg, broadcast AAC) do.

// A header may claim any rate up to 2^31 - 1 Hz, and libswresample's filter bank for a rate far above the output's,
// at a ratio that does not reduce, takes seconds and gigabytes to build (1,358,970,496 Hz to 16 kHz: 14 s and 1.7 GB,
// found by fuzz/audio_decode_fuzz). Real audio stays far below the limit: FFmpeg decodes DSD512 to PCM at 2.8224 MHz,
// and PCM recorders stop at 768 kHz; up to the limit the set-up takes under a second.
constexpr int kMaxSourceRate = 6144000;

class MonoResampler {
 public:
  MonoResampler(std::string source, int out_rate) : source_(std::move(source)), out_rate_(out_rate) {}
  ~MonoResampler() { av_channel_layout_uninit(&in_layout_); }
  MonoResampler(const MonoResampler&) = delete;
  MonoResampler& operator=(const MonoResampler&) = delete;

  void push(const AVFrame* frame, std::vector<float>& out) {
    if (!swr_ || !same_input(frame)) {
      if (swr_) drain(out);
      rebuild(frame);
    }
    const int cap = swr_get_out_samples(swr_.get(), frame->nb_samples);
    if (cap < 0) fail_ffmpeg(source_, "resampling failed", cap);
    convert(const_cast<const uint8_t**>(frame->extended_data), frame->nb_samples, cap, out);
  }

  // Emits what the resampler still holds (its filter delay) at the end of the stream.
  void drain(std::vector<float>& out) {
    if (!swr_) return;
    while (convert(nullptr, 0, 4096, out) > 0) {
    }
  }

 private:
  static int channel_count(const AVFrame* frame) { return frame->ch_layout.nb_channels; }

  bool same_input(const AVFrame* frame) const {
    return frame->format == in_format_ && frame->sample_rate == in_rate_ && channel_count(frame) == in_channels_;
  }

  void rebuild(const AVFrame* frame) {
    in_format_ = frame->format;
    in_rate_ = frame->sample_rate;
    in_channels_ = channel_count(frame);
    if (in_channels_ <= 0) fail_input(source_, ": the decoder reports no audio channels");
    if (in_rate_ <= 0) fail_input(source_, ": the decoder reports sample rate ", in_rate_, "; expected > 0");
    if (in_rate_ > kMaxSourceRate)
      fail_input(source_, ": the decoder reports sample rate ", in_rate_, " Hz; rates above ", kMaxSourceRate,
                 " Hz are refused (no recording has one: the file's header is damaged)");
    av_channel_layout_uninit(&in_layout_);
    if (frame->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC)
      av_channel_layout_default(&in_layout_, in_channels_);  // our matrix ignores positions; any order will do
    else if (av_channel_layout_copy(&in_layout_, &frame->ch_layout) < 0)
      fail_input(source_, ": cannot copy the channel layout");

    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    SwrContext* raw = nullptr;
    int r = swr_alloc_set_opts2(&raw, &mono, AV_SAMPLE_FMT_FLT, out_rate_, &in_layout_,
                                static_cast<AVSampleFormat>(in_format_), in_rate_, 0, nullptr);
    swr_.reset(raw);
    if (r < 0) fail_ffmpeg(source_, cat("cannot convert ", in_channels_, " channels at ", in_rate_, " Hz"), r);
    const std::vector<double> mean(in_channels_, 1.0 / in_channels_);
    r = swr_set_matrix(swr_.get(), mean.data(), in_channels_);
    if (r < 0) fail_ffmpeg(source_, cat("cannot mix ", in_channels_, " channels down to mono"), r);
    r = swr_init(swr_.get());
    if (r < 0) fail_ffmpeg(source_, cat("cannot resample ", in_channels_, " channels at ", in_rate_, " Hz"), r);
  }

  int convert(const uint8_t** in, int in_count, int cap, std::vector<float>& out) {
    const size_t old = out.size();
    out.resize(old + static_cast<size_t>(cap));
    auto* dst = reinterpret_cast<uint8_t*>(out.data() + old);
    const int n = swr_convert(swr_.get(), &dst, cap, in, in_count);
    out.resize(old + static_cast<size_t>(std::max(n, 0)));
    if (n < 0) fail_ffmpeg(source_, "resampling failed", n);
    return n;
  }

  std::string source_;
  int out_rate_;
  SwrPtr swr_;
  AVChannelLayout in_layout_{};
  int in_format_ = -1;
  int in_rate_ = 0;
  int in_channels_ = 0;
};

// ---------------------------------------------------------------------------------------------------------------
// The decode loop.

struct DecodeState {
  std::vector<float> out;
  double input_seconds = 0;  // decoded source audio, summed frame by frame
  int source_rate = 0;
  int source_channels = 0;
  int bad_packets = 0;  // packets the decoder rejected as invalid data; skipped, as the ffmpeg CLI does
  std::string first_bad_packet;
};

// Duration the container announces, or a negative number when it does not say.
double container_seconds(const AVFormatContext* fmt, const AVStream* stream) {
  if (stream->duration != AV_NOPTS_VALUE && stream->duration > 0) return stream->duration * av_q2d(stream->time_base);
  if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0) return double(fmt->duration) / AV_TIME_BASE;
  return -1;
}

// Receives every frame the decoder has ready (until it answers EAGAIN or EOF) and feeds it to the resampler.
void receive_frames(const std::string& source, AVCodecContext* dec, AVFrame* frame, MonoResampler& resampler,
                    DecodeState& st) {
  for (;;) {
    const int r = avcodec_receive_frame(dec, frame);
    if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
    if (r == AVERROR_INVALIDDATA) {
      if (st.bad_packets++ == 0) st.first_bad_packet = last_ffmpeg_message();
      continue;
    }
    if (r < 0) fail_ffmpeg(source, "decoding failed", r);
    if (frame->nb_samples > 0 && frame->sample_rate > 0) {
      if (st.source_rate == 0) {
        st.source_rate = frame->sample_rate;
        st.source_channels = frame->ch_layout.nb_channels;
      }
      resampler.push(frame, st.out);
      st.input_seconds += double(frame->nb_samples) / frame->sample_rate;
    }
    av_frame_unref(frame);
  }
}

}  // namespace

#endif  // GT_HAVE_FFMPEG

// ---------------------------------------------------------------------------------------------------------------

bool is_url(const std::string& source) {
  return starts_with_ci(source, "http://") || starts_with_ci(source, "https://");
}

#ifdef GT_HAVE_FFMPEG
AudioClip decode_audio_file(const std::string& source, int rate, double max_seconds) {
  GT_CHECK(rate > 0, "rate ", rate);
  GT_CHECK(max_seconds >= 0, "max_seconds ", max_seconds);
  if (source.empty()) fail_input("audio source: the path is empty");
  init_ffmpeg_once();
  last_ffmpeg_message().clear();

  FormatPtr fmt = open_source(source);
  const int index = av_find_best_stream(fmt.get(), AVMEDIA_TYPE_AUDIO, -1, -1, nullptr, 0);
  if (index < 0) {
    if (index == AVERROR_STREAM_NOT_FOUND)
      fail_input(source, ": has no audio stream (FFmpeg read it as '", fmt->iformat->name, "')");
    fail_ffmpeg(source, "cannot choose an audio stream", index);
  }
  AVStream* stream = fmt->streams[index];
  for (unsigned i = 0; i < fmt->nb_streams; ++i)
    if (int(i) != index) fmt->streams[i]->discard = AVDISCARD_ALL;  // cover art, video: never read
  CodecPtr dec = open_decoder(source, stream);

  AudioClip clip;
  clip.sample_rate = rate;
  clip.codec = avcodec_get_name(stream->codecpar->codec_id);

  PacketPtr packet(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  GT_CHECK(packet && frame, "av_packet_alloc/av_frame_alloc returned null");
  MonoResampler resampler(source, rate);
  DecodeState st;
  // More than max_seconds of source audio means the clip is cut; half a sample of slack absorbs rounding.
  auto past_limit = [&] {
    return max_seconds > 0 && st.source_rate > 0 && st.input_seconds > max_seconds + 0.5 / st.source_rate;
  };

  bool stream_ended = false;
  while (!past_limit()) {
    int r = av_read_frame(fmt.get(), packet.get());
    if (r == AVERROR_EOF) {
      stream_ended = true;
      break;
    }
    if (r < 0) fail_ffmpeg(source, cat("reading failed after ", st.input_seconds, " s of audio"), r);
    if (packet->stream_index != index) {
      av_packet_unref(packet.get());
      continue;
    }
    r = avcodec_send_packet(dec.get(), packet.get());
    av_packet_unref(packet.get());
    if (r == AVERROR_INVALIDDATA) {
      if (st.bad_packets++ == 0) st.first_bad_packet = last_ffmpeg_message();
      continue;
    }
    if (r < 0 && r != AVERROR(EAGAIN)) fail_ffmpeg(source, "decoding failed", r);
    receive_frames(source, dec.get(), frame.get(), resampler, st);
  }
  if (stream_ended) {
    avcodec_send_packet(dec.get(), nullptr);  // flush the decoder's delayed frames
    receive_frames(source, dec.get(), frame.get(), resampler, st);
  }
  resampler.drain(st.out);

  if (st.out.empty()) {
    if (st.bad_packets > 0)
      fail_input(source, ": no audio could be decoded; all ", st.bad_packets, " packets were rejected (FFmpeg said: ",
                 st.first_bad_packet.empty() ? "invalid data" : st.first_bad_packet, ")");
    fail_input(source, ": contains no audio samples (a zero-length '", clip.codec, "' stream)");
  }

  clip.truncated = past_limit();
  clip.source_rate = st.source_rate;
  clip.source_channels = st.source_channels;
  if (clip.truncated) {
    const double announced = container_seconds(fmt.get(), stream);
    clip.source_seconds = std::max(announced, st.input_seconds);
    st.out.resize(std::min(st.out.size(), static_cast<size_t>(std::llround(max_seconds * rate))));
  } else {
    clip.source_seconds = st.input_seconds;
  }
  for (float& x : st.out) {
    if (!std::isfinite(x)) fail_input(source, ": decoded samples are not finite (NaN or infinity); the file is corrupt");
    x = std::clamp(x, -1.0f, 1.0f);
  }
  clip.samples = std::move(st.out);
  return clip;
}

std::string ffmpeg_version() {
  auto v = [](unsigned n) { return cat(n >> 16, ".", (n >> 8) & 0xff, ".", n & 0xff); };
  return cat(av_version_info(), " (libavformat ", v(avformat_version()), ", libavcodec ", v(avcodec_version()),
             ", libswresample ", v(swresample_version()), ", libavutil ", v(avutil_version()), ")");
}

#else  // built with -DGT_WITH_FFMPEG=OFF: every decode is a clear error, the rest of the tool works

AudioClip decode_audio_file(const std::string& source, int, double) {
  fail_input(source, ": this gemma-tune was built without FFmpeg (-DGT_WITH_FFMPEG=OFF), so it cannot decode audio; "
             "install the FFmpeg libraries (Debian: libavformat-dev libavcodec-dev libswresample-dev libavutil-dev; "
             "macOS: brew install ffmpeg) and rebuild");
}

std::string ffmpeg_version() { return "not built in (-DGT_WITH_FFMPEG=OFF)"; }

#endif  // GT_HAVE_FFMPEG

// ---------------------------------------------------------------------------------------------------------------
// WAV writing: the canonical 44-byte header (RIFF, fmt chunk for PCM, data chunk), little-endian.

namespace {

void put_u32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u16(std::string& s, uint16_t v) {
  for (int i = 0; i < 2; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

}  // namespace

void write_wav(const std::string& path, const std::vector<float>& samples, int rate) {
  GT_CHECK(rate > 0, "rate ", rate);
  constexpr uint64_t kHeaderAfterRiff = 36;
  const uint64_t data_bytes = uint64_t(samples.size()) * 2;
  if (data_bytes + kHeaderAfterRiff > UINT32_MAX)
    fail_input(path, ": ", samples.size(), " samples do not fit in a wav file (4 GiB at most)");

  std::string bytes;
  bytes.reserve(44 + data_bytes);
  bytes += "RIFF";
  put_u32(bytes, static_cast<uint32_t>(kHeaderAfterRiff + data_bytes));
  bytes += "WAVEfmt ";
  put_u32(bytes, 16);                                 // fmt chunk size
  put_u16(bytes, 1);                                  // PCM
  put_u16(bytes, 1);                                  // mono
  put_u32(bytes, static_cast<uint32_t>(rate));        // sample rate
  put_u32(bytes, static_cast<uint32_t>(rate) * 2u);   // bytes per second
  put_u16(bytes, 2);                                  // bytes per frame
  put_u16(bytes, 16);                                 // bits per sample
  bytes += "data";
  put_u32(bytes, static_cast<uint32_t>(data_bytes));
  for (float x : samples) {
    const float c = std::isnan(x) ? 0.0f : std::clamp(x, -1.0f, 1.0f);
    put_u16(bytes, static_cast<uint16_t>(static_cast<int16_t>(std::lround(c * 32767.0f))));
  }

  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) fail_input(path, ": cannot create ", tmp, " for writing");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.close();
    if (!f) {
      std::remove(tmp.c_str());
      fail_input(path, ": writing ", bytes.size(), " bytes to ", tmp, " failed (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    fail_input(path, ": cannot rename ", tmp, " to it");
  }
}

}  // namespace gt::media
