// A tiny HTTP/1.1 server on 127.0.0.1 for tests that read URLs: answers GET <path> with the body registered for it
// (or 404), one connection at a time, "Connection: close", and counts the requests it answered. Also closed_port():
// a port on 127.0.0.1 with nothing listening; OneAttemptMediaFetches. (Shared by the audio and image decoding tests.)
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "io/remote_media.h"

namespace gt::test {

// While it lives, remote media (io/remote_media) are fetched with one attempt: the tests of unreachable URLs would
// otherwise wait through the retries with backoff that a real run makes (io/http_client.h).
class OneAttemptMediaFetches {
 public:
  OneAttemptMediaFetches() {
    io::set_remote_media_options([] {
      io::ObjectReaderOptions o;
      o.http.retry.max_attempts = 1;
      return o;
    });
  }
  ~OneAttemptMediaFetches() { io::set_remote_media_options({}); }
  OneAttemptMediaFetches(const OneAttemptMediaFetches&) = delete;
  OneAttemptMediaFetches& operator=(const OneAttemptMediaFetches&) = delete;
};

class TinyHttpServer {
 public:
  explicit TinyHttpServer(std::map<std::string, std::string> files) : files_(std::move(files)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_GE(fd_, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;  // any free port
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~TinyHttpServer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  TinyHttpServer(const TinyHttpServer&) = delete;
  TinyHttpServer& operator=(const TinyHttpServer&) = delete;

  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  int requests() const { return requests_; }

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int client = ::accept(fd_, nullptr, nullptr);
      if (client < 0) continue;
#ifdef SO_NOSIGPIPE  // macOS has no MSG_NOSIGNAL: a client that hangs up early must not kill the test with SIGPIPE
      const int one = 1;
      ::setsockopt(client, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
      answer(client);
      ::close(client);
    }
  }

  void answer(int client) {
    std::string request;
    char buf[4096];
    while (request.find("\r\n\r\n") == std::string::npos) {
      pollfd p{client, POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) return;
      const ssize_t n = ::recv(client, buf, sizeof buf, 0);
      if (n <= 0) return;
      request.append(buf, size_t(n));
    }
    const size_t sp1 = request.find(' '), sp2 = request.find(' ', sp1 + 1);
    const std::string path = request.substr(sp1 + 1, sp2 - sp1 - 1);
    const auto it = files_.find(path);
    const std::string body = it == files_.end() ? "not here\n" : it->second;
    const std::string status = it == files_.end() ? "404 Not Found" : "200 OK";
    const std::string response = "HTTP/1.1 " + status + "\r\nContent-Type: application/octet-stream\r\n" +
                                 "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
                                 body;
    ++requests_;
    size_t sent = 0;
    while (sent < response.size()) {
#ifdef MSG_NOSIGNAL
      const ssize_t n = ::send(client, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
#else
      const ssize_t n = ::send(client, response.data() + sent, response.size() - sent, 0);
#endif
      if (n <= 0) return;  // the client hung up early (it read enough); not an error
      sent += size_t(n);
    }
  }

  std::map<std::string, std::string> files_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// A port on 127.0.0.1 with nothing listening: bound, then released.
inline int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace gt::test
