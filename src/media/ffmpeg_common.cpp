#include "media/ffmpeg_common.h"

#ifdef GT_HAVE_FFMPEG
extern "C" {
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
}

#include <cstdarg>
#include <mutex>

namespace gt::media {

namespace {

void keep_last_error(void* avcl, int level, const char* fmt, va_list vl) {
  if (level > AV_LOG_ERROR) return;  // warnings and chatter are dropped
  char line[1024];
  int print_prefix = 0;  // no "[mp3 @ 0x...]" prefix: the address means nothing to a user
  av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &print_prefix);
  std::string text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  if (!text.empty()) last_ffmpeg_message() = text;
}

}  // namespace

std::string& last_ffmpeg_message() {
  thread_local std::string message;
  return message;
}

void init_ffmpeg_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    av_log_set_callback(keep_last_error);
    avformat_network_init();
  });
}

std::string av_error_text(int code) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, buf, sizeof buf);
  return buf;
}

}  // namespace gt::media
#endif
