#include "live/live_server.h"

#include <httplib.h>

#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include "core/error.h"
#include "core/strings.h"
#include "live/live_assets.h"

namespace gt::live {

namespace {

std::string random_token() {
  std::random_device rd;  // the OS's entropy source
  static const char* hex = "0123456789abcdef";
  std::string t;
  for (int i = 0; i < 32; ++i) t += hex[rd() & 15];
  return t;
}

// The host part of a Host header ("127.0.0.1:8080", "[::1]:8080", "localhost").
std::string host_of(const std::string& header) {
  if (!header.empty() && header[0] == '[') return header.substr(1, header.find(']') - 1);
  return header.substr(0, header.find(':'));
}

// Waits for new events at most this long before sending a comment line, which also tells a stream that its page has
// gone (the write fails).
constexpr std::chrono::milliseconds kKeepAlive{10000};
// How long a stopping server waits for its open streams to send their last events and end.
constexpr std::chrono::milliseconds kStopGrace{2000};

}  // namespace

struct LiveServer::Impl {
  EventHub& hub;
  httplib::Server server;
  std::thread thread;
  std::string url, token;
  int port = 0;
  std::atomic<int> streams{0};
  explicit Impl(EventHub& h) : hub(h) {}
};

LiveServer::LiveServer(EventHub& hub, const LiveOptions& options) : impl_(std::make_unique<Impl>(hub)) {
  Impl& s = *impl_;
  const bool loopback = is_loopback_host(options.host);
  if (!loopback) s.token = random_token();

  // SO_REUSEADDR only: cpp-httplib's default also sets SO_REUSEPORT, with which a second server would share a port
  // that is in use instead of moving to the next.
  s.server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const char*>(&yes), sizeof yes);
  });
  // Every stream holds a worker while its page is open; leave room for several tabs and the page's other requests.
  s.server.new_task_queue = [] { return new httplib::ThreadPool(24); };
  s.server.set_pre_routing_handler([&s, loopback](const httplib::Request& req, httplib::Response& res) {
    // Beyond loopback only holders of the printed URL may read; on loopback, pages of other sites that resolve their
    // own name to 127.0.0.1 (DNS rebinding) are refused by the Host header.
    const bool allowed = !s.token.empty() ? req.get_param_value("token") == s.token
                                          : (!loopback || is_loopback_host(host_of(req.get_header_value("Host"))));
    if (allowed) return httplib::Server::HandlerResponse::Unhandled;
    res.status = 403;
    res.set_content("forbidden: open the address gemma-tune printed (it carries the page's token)\n", "text/plain");
    return httplib::Server::HandlerResponse::Handled;
  });
  s.server.Get("/history.json", [&s](const httplib::Request&, httplib::Response& res) {
    res.set_header("Cache-Control", "no-store");
    res.set_content(s.hub.history_json(), "application/json");
  });
  s.server.Get("/events", [&s](const httplib::Request& req, httplib::Response& res) {
    // EventSource sends Last-Event-ID when it reconnects; the page's first request says where its history ended.
    uint64_t after = 0;
    const std::string from =
        req.has_header("Last-Event-ID") ? req.get_header_value("Last-Event-ID") : req.get_param_value("after");
    try {
      after = from.empty() ? 0 : std::stoull(from);
    } catch (const std::exception&) {
      res.status = 400;
      res.set_content(cat("bad event id '", from, "': expected a number\n"), "text/plain");
      return;
    }
    res.set_header("Cache-Control", "no-store");
    ++s.streams;
    auto last = std::make_shared<uint64_t>(after);
    res.set_chunked_content_provider(
        "text/event-stream",
        [&s, last](size_t, httplib::DataSink& sink) {
          const EventHub::Slice slice = s.hub.wait_since(*last, kKeepAlive);
          std::string out;
          for (size_t i = 0; i < slice.events.size(); ++i) {
            // Each event is one line of JSON (nlohmann's compact dump escapes newlines inside strings).
            out += "data: ";
            out += slice.events[i];
            out += "\n\n";
          }
          if (!slice.events.empty()) out += cat("id: ", slice.last_seq, "\n\n");
          if (out.empty()) out = ": keep-alive\n\n";
          *last = slice.last_seq;
          if (!sink.write(out.data(), out.size())) return false;
          // done() writes the response's last chunk; the stream then ends by itself (the loop sees no more data).
          if (slice.closed) sink.done();
          return true;
        },
        [&s](bool) { --s.streams; });
  });
  s.server.Get(R"(/.*)", [](const httplib::Request& req, httplib::Response& res) {
    const Asset* a = find_asset(req.path);
    if (!a) {
      res.status = 404;
      res.set_content(cat("no such page: ", req.path, "\n"), "text/plain");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_content(std::string(a->body), std::string(a->content_type));
  });

  // Bind now, so a taken port is reported here rather than from the serving thread.
  const int tries = options.port == 0 || !options.next_free_port ? 1 : 32;
  for (int i = 0; i < tries && s.port == 0; ++i) {
    if (options.port == 0) {
      s.port = std::max(0, s.server.bind_to_any_port(options.host));
    } else if (s.server.bind_to_port(options.host, options.port + i)) {
      s.port = options.port + i;
    }
  }
  if (s.port == 0)
    fail_input("--live: cannot serve the live page on ", options.host, " port ",
               tries > 1 ? cat(options.port, "-", options.port + tries - 1) : cat(options.port),
               " (taken, or not an address of this machine); give another port with --live PORT or --live 0 for any "
               "free one");
  // Bound to every address: show this machine's name, which the other machines reach it by.
  std::string shown = options.host;
  if (shown == "0.0.0.0" || shown == "::") {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) == 0 && name[0]) shown = name;
  }
  if (shown.find(':') != std::string::npos) shown = cat("[", shown, "]");
  s.url = cat("http://", shown, ":", s.port, "/",
              s.token.empty() ? std::string() : cat("?token=", s.token));
  s.thread = std::thread([&s] { s.server.listen_after_bind(); });
  // stop() only acts on a server that is already listening: wait for that, so a server destroyed at once stops too.
  for (int i = 0; i < 5000 && !s.server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

LiveServer::~LiveServer() {
  impl_->hub.close();  // ends the streams' waits, so the workers can finish
  // cpp-httplib's stop() makes a stream's writer leave its loop without the chunked response's last chunk, which a
  // browser reports as a broken stream (net::ERR_INCOMPLETE_CHUNKED_ENCODING). Let the open streams send what is
  // left and end first; a page that stopped reading is not waited for past kStopGrace.
  const auto deadline = std::chrono::steady_clock::now() + kStopGrace;
  while (impl_->streams.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

const std::string& LiveServer::url() const { return impl_->url; }
int LiveServer::port() const { return impl_->port; }
int LiveServer::streams() const { return impl_->streams.load(); }

}  // namespace gt::live
