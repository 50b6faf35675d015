// The life of a test server: a cpp-httplib server on 127.0.0.1 at a free port, serving from its own thread from
// construction until destruction. The stand-ins (http_standin.h, gcs_standin.h) declare one as their LAST member, so
// it is built after the state its handlers read and stopped before that state goes away.
#pragma once

// Debian's libcpp-httplib.so is built with OpenSSL, zlib and brotli support; tests/CMakeLists.txt passes the same
// flags (from cpp-httplib.pc) so the declarations match the library.
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>

namespace gt::test {

class LocalServer {
 public:
  // `routes` registers the handlers (before the server starts, as cpp-httplib requires); `who` names it in errors.
  LocalServer(const std::string& who, const std::function<void(httplib::Server&)>& routes) {
    server_.set_keep_alive_timeout(1);
    routes(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error(who + ": cannot bind 127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() does nothing until the accept loop runs, so wait for it (a destructor right after would hang).
    for (int i = 0; i < 5000 && !server_.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~LocalServer() {
    stopping_ = true;
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port>"
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // True once the server is being stopped: handlers that wait (stalled replies) give up.
  bool stopping() const { return stopping_; }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

// %XX escapes of a URL path segment or query value decoded ('+' stays '+': not form encoding).
inline std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += char(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace gt::test
