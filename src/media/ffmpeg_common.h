// What the audio and image decoders share of FFmpeg: the process-wide set-up (its log kept off the terminal, where it
// would garble progress bars, while the last error line is remembered for our messages; the network layer for
// http(s) sources initialised once), error texts, and owners of its C objects. Only with FFmpeg (GT_HAVE_FFMPEG).
#pragma once

#include <string>

#ifdef GT_HAVE_FFMPEG
extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/frame.h>
}
#endif

namespace gt::media {

void init_ffmpeg_once();
// FFmpeg's text for an error code (av_strerror).
std::string av_error_text(int code);
// The last error line FFmpeg logged on this thread ("" when none since it was cleared).
std::string& last_ffmpeg_message();

#ifdef GT_HAVE_FFMPEG
// unique_ptr deleters of FFmpeg's C objects.
struct FormatCloser {
  void operator()(AVFormatContext* f) const { avformat_close_input(&f); }
};
struct CodecFreer {
  void operator()(AVCodecContext* c) const { avcodec_free_context(&c); }
};
struct PacketFreer {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct FrameFreer {
  void operator()(AVFrame* f) const { av_frame_free(&f); }
};
#endif

}  // namespace gt::media
