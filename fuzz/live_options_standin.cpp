// The fuzz build leaves out the live page's server (src/live/live_server.cpp: cpp-httplib and the compiled-in page),
// but core/train_config.cpp's validate() calls its --live port parser. This stand-in accepts every value, so the
// YAML target fuzzes the rest of validate(); live_options itself is covered by the LiveCli tests.
#include "live/live_server.h"

namespace gt::live {

LiveOptions live_options(const std::string& live, const std::string& host) {
  LiveOptions o;
  o.host = host;
  return o;
}

}  // namespace gt::live
