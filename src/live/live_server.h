// The live page's HTTP server (issue #12), inside `train --live` and `runs show RUN --live`: the page and its scripts
// at / (live/live_assets.h), every kept event at /history.json and new ones as Server-Sent Events at /events
// (live/event_hub.h). It runs on its own threads and only reads the hub, so a slow or absent browser never holds up
// training. Torch-free; cpp-httplib stays inside the .cpp.
#pragma once

#include <memory>
#include <string>

#include "live/event_hub.h"
#include "live/live_options.h"

namespace gt::live {

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
