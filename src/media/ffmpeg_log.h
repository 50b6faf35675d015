// FFmpeg's process-wide set-up, shared by the audio and image decoders: its log is kept off the terminal (it would
// garble progress bars) while the last error line is remembered for our messages, and the network layer (http(s)
// sources) is initialised once. Only with FFmpeg (GT_HAVE_FFMPEG).
#pragma once

#include <string>

namespace gt::media {

void init_ffmpeg_once();
// FFmpeg's text for an error code (av_strerror).
std::string av_error_text(int code);
// The last error line FFmpeg logged on this thread ("" when none since it was cleared).
std::string& last_ffmpeg_message();

}  // namespace gt::media
