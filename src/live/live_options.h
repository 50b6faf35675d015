// Where the live page is served: the options `--live [PORT]` and `--live-host HOST` (train, runs show). Torch-free and
// free of the HTTP server, so the parser is fuzzed with the run config (fuzz/train_config_fuzz.cpp).
#pragma once

#include <string>

namespace gt::live {

struct LiveOptions {
  std::string host = "127.0.0.1";
  int port = 8080;             // 0 = any free port
  bool next_free_port = true;  // port taken: try the next ones (up to 32); false = a taken port is an error
};

// The options of `--live [PORT]` and `--live-host HOST`: "auto" (the flag alone) = 8080 or the next free port; a
// number = exactly that port (0: any free one).
LiveOptions live_options(const std::string& live, const std::string& host);

// True for 127.0.0.1 (127/8), ::1 and localhost: only this machine can connect.
bool is_loopback_host(const std::string& host);

}  // namespace gt::live
