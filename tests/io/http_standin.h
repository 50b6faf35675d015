// A stand-in HTTP server for the tests of remote sources (issue #10): cpp-httplib on 127.0.0.1 at a free port,
// serving objects with Range support and injected faults, run in a thread, stopped by the destructor.
//
//   gt::test::HttpStandin server;
//   server.put_object("/o/a.bin", bytes, "1");             // path, content, x-goog-generation
//   server.faults().fail_next = 2;                          // the next 2 object requests get 503
//   gt::io::HttpClient().download(server.url("/o/a.bin"), {}, 0, std::nullopt, sink);
//   server.requests();                                      // what was asked, in order
//
// Ranges are handled here rather than by cpp-httplib (which would slice any body by itself), so a fault can answer
// 200 to a Range request. Faults apply to object requests only; custom routes (on()) are served as written.
#pragma once

#include "io/local_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace gt::test {

class HttpStandin {
 public:
  struct Faults {
    int fail_next = 0;              // the next N object requests are answered fail_status
    int fail_status = 503;
    std::string fail_body = "{\"error\":{\"code\":503,\"message\":\"backend unavailable, try again\"}}";
    size_t drop_after = 0;          // > 0: object replies' connections are closed after this many body bytes
    int drop_replies = -1;          // how many replies drop_after cuts (-1: all)
    bool ignore_range = false;      // answer 200 with the whole object even to a Range request
    uint64_t shift_range = 0;       // serve (and name in Content-Range) a range starting this much past the one asked
    int stall_next = 0;             // the next N object replies send stall_after bytes, then stall
    size_t stall_after = 16;
    double stall_s = 5;             // how long a stalled reply waits before closing
    int change_after = 0;           // > 0: after this many object requests, the object becomes changed_*
    std::string changed_content;
    std::string changed_generation;
  };
  struct Recorded {
    std::string method, path, range;
    httplib::Headers headers;
    std::string body;
  };
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  HttpStandin()
      : server_("HttpStandin", [this](httplib::Server& s) {
          s.Get(R"(/o/.*)", [this](const httplib::Request& req, httplib::Response& res) { serve(req, res); });
          s.Get(R"(/api/.*)", [this](const httplib::Request& req, httplib::Response& res) { custom(req, res); });
          s.Post(R"(/api/.*)", [this](const httplib::Request& req, httplib::Response& res) { custom(req, res); });
        }) {}
  HttpStandin(const HttpStandin&) = delete;
  HttpStandin& operator=(const HttpStandin&) = delete;

  int port() const { return server_.port(); }
  std::string url(const std::string& path) const { return server_.base() + path; }

  // `etag`: sent as the ETag header (quoted) when non-empty, as web servers version what they serve.
  void put_object(const std::string& path, std::string content, std::string generation = "1", std::string etag = "") {
    std::lock_guard<std::mutex> lock(mu_);
    objects_[path] = std::make_shared<const Object>(Object{std::move(content), std::move(generation), std::move(etag)});
  }
  // A route under /api/ answered by `handler` (GET or POST).
  void on(const std::string& path, Handler handler) {
    std::lock_guard<std::mutex> lock(mu_);
    handlers_[path] = std::move(handler);
  }
  // Change faults under the lock: server.set_faults([](auto& f) { f.fail_next = 2; });
  void set_faults(const std::function<void(Faults&)>& edit) {
    std::lock_guard<std::mutex> lock(mu_);
    edit(faults_);
  }
  std::vector<Recorded> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  size_t request_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_.size();
  }

 private:
  struct Object {
    std::string content;
    std::string generation;
    std::string etag;
  };

  void record(const httplib::Request& req) {
    log_.push_back({req.method, req.path, req.get_header_value("Range"), req.headers, req.body});
  }

  void custom(const httplib::Request& req, httplib::Response& res) {
    Handler h;
    {
      std::lock_guard<std::mutex> lock(mu_);
      record(req);
      const auto it = handlers_.find(req.path);
      if (it != handlers_.end()) h = it->second;
    }
    if (!h) {
      res.status = 404;
      res.set_content("no such route", "text/plain");
      return;
    }
    h(req, res);
  }

  void serve(const httplib::Request& req, httplib::Response& res) {
    std::shared_ptr<const Object> obj;
    Faults f;
    bool fail = false, stall = false, drop = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      record(req);
      const size_t n = std::count_if(log_.begin(), log_.end(), [](const Recorded& r) { return r.path.rfind("/o/", 0) == 0; });
      if (faults_.change_after > 0 && int(n) == faults_.change_after + 1 && objects_.count(req.path))
        objects_[req.path] = std::make_shared<const Object>(Object{faults_.changed_content, faults_.changed_generation, ""});
      const auto it = objects_.find(req.path);
      if (it != objects_.end()) obj = it->second;
      if (faults_.fail_next > 0) {
        --faults_.fail_next;
        fail = true;
      } else if (faults_.stall_next > 0) {
        --faults_.stall_next;
        stall = true;
      }
      if (!fail && faults_.drop_after > 0 && faults_.drop_replies != 0) {
        if (faults_.drop_replies > 0) --faults_.drop_replies;
        drop = true;
      }
      f = faults_;
    }
    // We answer ranges ourselves; cpp-httplib would otherwise slice the reply a second time. The Request is the
    // server's own (non-const) object, handed to handlers as const.
    const_cast<httplib::Request&>(req).ranges.clear();
    if (fail) {
      res.status = f.fail_status;
      res.set_content(f.fail_body, "application/json");
      return;
    }
    if (!obj) {
      res.status = 404;
      res.set_content("{\"error\":{\"code\":404,\"message\":\"No such object: " + req.path + "\"}}", "application/json");
      return;
    }
    const uint64_t size = obj->content.size();
    uint64_t first = 0, last = size ? size - 1 : 0;
    const std::string range = req.get_header_value("Range");
    if (!range.empty() && !f.ignore_range) {
      // bytes=a-b or bytes=a-
      const size_t eq = range.find('='), dash = range.find('-');
      first = std::stoull(range.substr(eq + 1, dash - eq - 1)) + f.shift_range;
      if (dash + 1 < range.size()) last = std::min<uint64_t>(std::stoull(range.substr(dash + 1)), size - 1);
      if (first >= size) {
        res.status = 416;
        res.set_header("Content-Range", "bytes */" + std::to_string(size));
        return;
      }
      res.status = 206;
      res.set_header("Content-Range",
                     "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(size));
    } else {
      res.status = 200;
    }
    res.set_header("x-goog-generation", obj->generation);
    if (!obj->etag.empty()) res.set_header("ETag", "\"" + obj->etag + "\"");
    const uint64_t len = size == 0 ? 0 : last - first + 1;
    if (len == 0) {
      res.set_content("", "application/octet-stream");
      return;
    }
    auto sent = std::make_shared<size_t>(0);
    res.set_content_provider(
        size_t(len), "application/octet-stream",
        [this, obj, first, f, stall, drop, sent](size_t offset, size_t length, httplib::DataSink& sink) {
          size_t piece = std::min<size_t>(length, 64 << 10);
          if (stall) {
            if (*sent >= f.stall_after) {
              const auto t0 = std::chrono::steady_clock::now();
              while (!server_.stopping() && std::chrono::steady_clock::now() - t0 < std::chrono::duration<double>(f.stall_s))
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
              return false;
            }
            piece = std::min(piece, f.stall_after - *sent);
          }
          if (drop) {
            if (*sent >= f.drop_after) return false;  // closes the connection mid-body
            piece = std::min(piece, f.drop_after - *sent);
          }
          if (!sink.write(obj->content.data() + first + offset, piece)) return false;
          *sent += piece;
          return true;
        });
  }

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Object>> objects_;
  std::map<std::string, Handler> handlers_;
  Faults faults_;
  std::vector<Recorded> log_;
  LocalServer server_;  // last: started after the state above exists, stopped before it goes
};

}  // namespace gt::test
