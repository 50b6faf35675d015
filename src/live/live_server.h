// The live page's HTTP server (issue #12), inside `train --live` and `runs show RUN --live`: the page and its scripts
// at / (live/live_assets.h), every kept event at /history.json and new ones as Server-Sent Events at /events
// (live/event_hub.h). It runs on its own threads and only reads the hub, so a slow or absent browser never holds up
// training. Torch-free; cpp-httplib stays inside the .cpp.
#pragma once

#include <memory>
#include <string>

#include "live/event_hub.h"

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

class LiveServer {
 public:
  // Binds and starts serving. Beyond loopback every request must carry ?token=<random> (the printed URL has it).
  // Throws gt::InputError naming the host and port when no port can be bound.
  LiveServer(EventHub& hub, const LiveOptions& options);
  // Ends the event streams and stops the server.
  ~LiveServer();
  LiveServer(const LiveServer&) = delete;
  LiveServer& operator=(const LiveServer&) = delete;

  // The page's address, token included: "http://127.0.0.1:8080/".
  const std::string& url() const;
  int port() const;
  // Event streams open now (pages watching).
  int streams() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gt::live
