// A stand-in for the Cloud Storage JSON API (issue #10): cpp-httplib on 127.0.0.1 at a free port, holding buckets
// of objects with generations, run in a thread, stopped by the destructor. Built like http_standin.h.
//
//   gt::test::GcsStandin gcs;
//   const int64_t gen = gcs.put("bkt", "data/a.jsonl", bytes);      // creates the bucket; a new generation
//   gcs.replace("bkt", "data/a.jsonl", other);                       // bumps the generation
//   gcs.set_faults([](auto& f) { f.fail_next = 2; });                // 503 bursts, dropped bodies, ...
//   GcsClient(http, GcsEndpoint{gcs.base(), true}).list("bkt", "data/");
//
// Served under "", "/storage/v1" and "/download/storage/v1" (Node's client appends paths to
// STORAGE_EMULATOR_HOST verbatim; Python downloads from /download/storage/v1):
//   GET /b/{bucket}                              bucket metadata (404 "The specified bucket does not exist.")
//   GET /b/{bucket}/o?prefix=&pageToken=&maxResults=   listing, paged with nextPageToken (sorted by name)
//   GET /b/{bucket}/o/{object}                   object metadata: name, bucket, size and generation as strings,
//                                                crc32c and md5Hash (base64), etag, ...
//   GET /b/{bucket}/o/{object}?alt=media[&generation=G][&ifGenerationMatch=G]   the bytes, honouring Range, with
//       x-goog-generation, x-goog-hash (crc32c=, md5= as two headers, as Cloud Storage sends them),
//       x-goog-stored-content-encoding: identity and x-goog-stored-content-length, so Google's Node client
//       validates the CRC-32C. A generation that is not the live one is 404 (a bucket without versioning).
// The object segment is percent-decoded ("%2F" is '/'). Query parameters the stand-in does not use (fields,
// projection, userProject, prettyPrint) are accepted and ignored; replies carry every field.
#pragma once

#include "io/local_server.h"
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace gt::test {

class GcsStandin {
 public:
  struct Faults {
    int fail_next = 0;              // the next N requests (media only when fail_media_only) are answered fail_status
    int fail_status = 503;
    bool fail_media_only = false;
    std::string fail_body = "{\"error\":{\"code\":503,\"message\":\"Backend Error\"}}";
    size_t drop_after = 0;          // > 0: media replies' connections are closed after this many body bytes
    int drop_replies = -1;          // how many media replies drop_after cuts (-1: all)
    bool ignore_generation = false; // serve the live object whatever the generation parameter asks
    bool bad_hash = false;          // send a wrong crc32c in x-goog-hash
  };
  struct Recorded {
    std::string method, target, path, range;  // target: path and query as sent; path: its path (both percent-encoded)
    httplib::Headers headers;
  };

  GcsStandin()
      : server_("GcsStandin", [this](httplib::Server& s) {
          s.Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) { serve(req, res); });
        }) {}
  GcsStandin(const GcsStandin&) = delete;
  GcsStandin& operator=(const GcsStandin&) = delete;

  int port() const { return server_.port(); }
  // The emulator address, as STORAGE_EMULATOR_HOST would hold it.
  std::string base() const { return server_.base(); }

  void add_bucket(const std::string& bucket) {
    std::lock_guard<std::mutex> lock(mu_);
    buckets_[bucket];
  }
  // Creates or overwrites an object (creating its bucket); returns its new generation.
  int64_t put(const std::string& bucket, const std::string& name, std::string content) {
    std::lock_guard<std::mutex> lock(mu_);
    const int64_t gen = ++next_generation_;
    buckets_[bucket][name] = std::make_shared<const Object>(make_object(std::move(content), gen));
    return gen;
  }
  // Overwrites an existing object: a new generation (throws when there is none to replace).
  int64_t replace(const std::string& bucket, const std::string& name, std::string content) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!buckets_.count(bucket) || !buckets_[bucket].count(name))
        throw std::logic_error("GcsStandin::replace: no object gs://" + bucket + "/" + name);
    }
    return put(bucket, name, std::move(content));
  }
  void remove(const std::string& bucket, const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    buckets_[bucket].erase(name);
  }
  // Requests must carry "Authorization: Bearer <token>" (else 401); "" = no check.
  void require_token(std::string token) {
    std::lock_guard<std::mutex> lock(mu_);
    token_ = std::move(token);
    token_ok_ = nullptr;
  }
  // Requests must carry a bearer token `ok` accepts (else 401), e.g. one not yet revoked; called under the lock.
  void require_token_if(std::function<bool(const std::string& token)> ok) {
    std::lock_guard<std::mutex> lock(mu_);
    token_.clear();
    token_ok_ = std::move(ok);
  }
  // maxResults when a listing asks for none (Cloud Storage's is 1000); small values make clients page.
  void set_default_page_size(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    default_page_size_ = std::max<size_t>(1, n);
  }
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

  // CRC-32C (Castagnoli, reflected 0x82F63B78), bit by bit: the stand-in's own, independent of src/io.
  static uint32_t crc32c(const std::string& s) {
    uint32_t c = 0xFFFFFFFFu;
    for (const unsigned char b : s) {
      c ^= b;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
  }
  static std::string base64(const unsigned char* data, size_t n) {
    std::string out(4 * ((n + 2) / 3) + 1, '\0');
    const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, int(n));
    out.resize(size_t(len));
    return out;
  }
  // The base64 CRC-32C (big-endian bytes) and MD5 of `s`, as Cloud Storage reports them.
  static std::string crc32c_b64(const std::string& s) {
    const uint32_t c = crc32c(s);
    const unsigned char be[4] = {uint8_t(c >> 24), uint8_t(c >> 16), uint8_t(c >> 8), uint8_t(c)};
    return base64(be, 4);
  }
  static std::string md5_b64(const std::string& s) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s.data(), s.size(), md, &n, EVP_md5(), nullptr);
    return base64(md, n);
  }

 private:
  struct Object {
    std::string content;
    int64_t generation = 0;
    std::string crc32c, md5;
  };
  using Bucket = std::map<std::string, std::shared_ptr<const Object>>;

  static Object make_object(std::string content, int64_t gen) {
    Object o;
    o.crc32c = crc32c_b64(content);
    o.md5 = md5_b64(content);
    o.content = std::move(content);
    o.generation = gen;
    return o;
  }

  static void error(httplib::Response& res, int status, const std::string& message) {
    res.status = status;
    nlohmann::json j = {{"error", {{"code", status}, {"message", message}}}};
    res.set_content(j.dump(), "application/json; charset=UTF-8");
  }

  static nlohmann::json metadata(const std::string& bucket, const std::string& name, const Object& o) {
    const std::string gen = std::to_string(o.generation);
    return {{"kind", "storage#object"},
            {"id", bucket + "/" + name + "/" + gen},
            {"name", name},
            {"bucket", bucket},
            {"generation", gen},
            {"metageneration", "1"},
            {"contentType", "application/octet-stream"},
            {"storageClass", "STANDARD"},
            {"size", std::to_string(o.content.size())},
            {"md5Hash", o.md5},
            {"crc32c", o.crc32c},
            {"etag", "CL" + gen + "="},
            {"timeCreated", "2026-01-01T00:00:00.000Z"},
            {"updated", "2026-01-01T00:00:00.000Z"}};
  }

  void serve(const httplib::Request& req, httplib::Response& res) {
    // We answer ranges ourselves; cpp-httplib would otherwise slice the reply a second time.
    const_cast<httplib::Request&>(req).ranges.clear();
    const std::string raw_path = req.target.substr(0, req.target.find('?'));
    std::string path = raw_path;
    for (const char* p : {"/download", "/storage/v1"})
      if (path.rfind(p, 0) == 0) path = path.substr(std::string(p).size());
    // /b/{bucket}[/o[/{object}]]
    std::string bucket, object;
    bool objects = false, one = false;
    if (path.rfind("/b/", 0) == 0) {
      const std::string rest = path.substr(3);
      const size_t s = rest.find('/');
      bucket = percent_decode(rest.substr(0, s));
      if (s != std::string::npos) {
        const std::string tail = rest.substr(s);
        if (tail == "/o" || tail == "/o/") {
          objects = true;
        } else if (tail.rfind("/o/", 0) == 0) {
          objects = one = true;
          object = percent_decode(tail.substr(3));
        } else {
          bucket.clear();
        }
      }
    }
    const bool media = one && req.get_param_value("alt") == "media";
    std::shared_ptr<const Object> obj;
    Bucket listing;
    bool has_bucket = false, fail = false, drop = false, authorized = true;
    Faults f;
    {
      std::lock_guard<std::mutex> lock(mu_);
      log_.push_back({req.method, req.target, raw_path, req.get_header_value("Range"), req.headers});
      if (!token_.empty()) authorized = req.get_header_value("Authorization") == "Bearer " + token_;
      if (token_ok_) {
        const std::string auth = req.get_header_value("Authorization");
        authorized = auth.rfind("Bearer ", 0) == 0 && token_ok_(auth.substr(7));
      }
      if (faults_.fail_next > 0 && (media || !faults_.fail_media_only)) {
        --faults_.fail_next;
        fail = true;
      }
      if (!fail && media && faults_.drop_after > 0 && faults_.drop_replies != 0) {
        if (faults_.drop_replies > 0) --faults_.drop_replies;
        drop = true;
      }
      f = faults_;
      const auto b = buckets_.find(bucket);
      has_bucket = b != buckets_.end();
      if (has_bucket && one) {
        const auto o = b->second.find(object);
        if (o != b->second.end()) obj = o->second;
      } else if (has_bucket && objects) {
        listing = b->second;
      }
    }
    if (fail) {
      res.status = f.fail_status;
      res.set_content(f.fail_body, "application/json");
      return;
    }
    if (!authorized) return error(res, 401, "Invalid Credentials");
    if (bucket.empty()) return error(res, 404, "Not Found");
    if (!has_bucket) return error(res, 404, "The specified bucket does not exist.");
    if (!objects) {
      res.set_content(nlohmann::json{{"kind", "storage#bucket"}, {"name", bucket}, {"id", bucket}}.dump(),
                      "application/json");
      return;
    }
    if (!one) return list(req, res, bucket, listing);
    const std::string gen_asked = req.get_param_value("generation");
    if (!obj || (!f.ignore_generation && !gen_asked.empty() && gen_asked != std::to_string(obj->generation)))
      return error(res, 404, "No such object: " + bucket + "/" + object);
    const std::string match = req.get_param_value("ifGenerationMatch");
    if (!match.empty() && match != std::to_string(obj->generation))
      return error(res, 412, "At least one of the pre-conditions you specified did not hold.");
    if (!media) {
      res.set_content(metadata(bucket, object, *obj).dump(), "application/json; charset=UTF-8");
      return;
    }
    send_media(req, res, obj, f, drop);
  }

  void list(const httplib::Request& req, httplib::Response& res, const std::string& bucket, const Bucket& objects) {
    const std::string prefix = req.get_param_value("prefix");
    const std::string token = req.get_param_value("pageToken");
    size_t max_results = 1000;
    {
      std::lock_guard<std::mutex> lock(mu_);
      max_results = default_page_size_;
    }
    if (req.has_param("maxResults")) max_results = std::max<size_t>(1, std::stoul(req.get_param_value("maxResults")));
    nlohmann::json items = nlohmann::json::array();
    // The page token is the hex of the last name served (opaque to clients).
    std::string after;
    for (size_t i = 0; i + 1 < token.size(); i += 2) after += char(std::stoi(token.substr(i, 2), nullptr, 16));
    auto it = token.empty() ? objects.lower_bound(prefix) : objects.upper_bound(after);
    std::string last;
    for (; it != objects.end() && it->first.rfind(prefix, 0) == 0 && items.size() < max_results; ++it) {
      items.push_back(metadata(bucket, it->first, *it->second));
      last = it->first;
    }
    nlohmann::json j = {{"kind", "storage#objects"}};
    if (!items.empty()) j["items"] = items;
    if (it != objects.end() && it->first.rfind(prefix, 0) == 0) {
      static const char* const kHex = "0123456789abcdef";
      std::string next;
      for (const unsigned char c : last) {
        next += kHex[c >> 4];
        next += kHex[c & 15];
      }
      j["nextPageToken"] = next;
    }
    res.set_content(j.dump(), "application/json; charset=UTF-8");
  }

  void send_media(const httplib::Request& req, httplib::Response& res, std::shared_ptr<const Object> obj,
                  const Faults& f, bool drop) {
    const uint64_t size = obj->content.size();
    uint64_t first = 0, last = size ? size - 1 : 0;
    const std::string range = req.get_header_value("Range");
    if (!range.empty()) {
      const size_t eq = range.find('='), dash = range.find('-');
      first = std::stoull(range.substr(eq + 1, dash - eq - 1));
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
    res.set_header("x-goog-generation", std::to_string(obj->generation));
    res.set_header("x-goog-metageneration", "1");
    res.set_header("x-goog-stored-content-encoding", "identity");
    res.set_header("x-goog-stored-content-length", std::to_string(size));
    res.set_header("x-goog-hash", "crc32c=" + (f.bad_hash ? std::string("AAAAAA==") : obj->crc32c));
    res.set_header("x-goog-hash", "md5=" + obj->md5);
    res.set_header("ETag", "\"CL" + std::to_string(obj->generation) + "=\"");
    const uint64_t len = size == 0 ? 0 : last - first + 1;
    if (len == 0) {
      res.set_content("", "application/octet-stream");
      return;
    }
    auto sent = std::make_shared<size_t>(0);
    res.set_content_provider(size_t(len), "application/octet-stream",
                             [this, obj, first, f, drop, sent](size_t offset, size_t length, httplib::DataSink& sink) {
                               if (server_.stopping()) return false;
                               size_t piece = std::min<size_t>(length, 64 << 10);
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
  std::map<std::string, Bucket> buckets_;
  int64_t next_generation_ = 1700000000000000;  // generations look like Cloud Storage's (microsecond times)
  std::string token_;
  std::function<bool(const std::string&)> token_ok_;
  size_t default_page_size_ = 1000;
  Faults faults_;
  std::vector<Recorded> log_;
  LocalServer server_;  // last: started after the state above exists, stopped before it goes
};

}  // namespace gt::test
