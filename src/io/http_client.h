// A small HTTP(S) client over libcurl for remote datasets (issue #10): JSON calls to Google APIs and streamed,
// resumable byte-range downloads of objects (Cloud Storage, plain HTTPS). Torch-free; libcurl stays inside
// http_client.cpp.
//
//   gt::io::HttpClient http;                                   // one per thread (not shared between threads)
//   auto r = http.request({.method = "POST", .url = u, .headers = {{"Content-Type", "application/json"}}, .body = b});
//   http.download(url, {{"Authorization", "Bearer ..."}}, 0, std::nullopt,
//                 [&](std::string_view chunk) { feed(chunk); return true; },
//                 {.pin_header = "x-goog-generation", .pin_value = listed_generation});
//
// Retries follow RetryPolicy (truncated exponential backoff with full jitter): connection errors (refused, reset,
// DNS, TLS handshake), stalls (the low-speed timeout: less than low_speed_bytes_per_s for low_speed_time_s seconds)
// and HTTP 408/429/5xx. 401, 403, 404 and other 4xx are final at once.
//
// download() never delivers a byte twice or skips one: when a body is cut off, the next attempt asks for
// `Range: bytes=<next byte>-...` and checks the reply's Content-Range starts exactly there. A reply of 200 (the
// whole object, e.g. a server that ignores Range) is accepted only for a download of a whole object (begin == 0, no
// end); the bytes already delivered are then skipped. An attempt that delivered bytes resets the count of failed
// attempts, so a long download over a flaky link keeps going as long as it makes progress.
//
// Pinning: when DownloadOptions::pin_header is set (e.g. "x-goog-generation", "etag"), every reply must carry the
// same value (the given pin_value, or else the first reply's): a different value means the object was replaced
// between two attempts, and the download stops with gt::InputError "... changed while being read".
//
// Errors are gt::InputError naming the URL (query values that look like credentials redacted), the HTTP status and
// the first 300 bytes of the server's reply, or libcurl's description of the connection error. Request headers are
// never put in messages (they carry Authorization).
//
// Built without libcurl (-DGT_WITH_CURL=OFF; GT_HAVE_CURL undefined) every call throws gt::InputError saying so.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"
#include "io/retry_policy.h"

namespace gt::io {

// The failure of a request or download, for callers that react to its kind (a vanished Cloud Storage generation is a
// 404; a pinned header that changed is `changed`). The message says everything for the user.
struct HttpError : InputError {
  HttpError(const std::string& message, int http_status, bool object_changed = false)
      : InputError(message), status(http_status), changed(object_changed) {}
  int status = 0;        // the last HTTP status; 0 when the failure was not an HTTP reply (connection, timeout)
  bool changed = false;  // the pinned header (DownloadOptions) had another value on a later reply
};

// Request headers as sent, in order ("Name", "value").
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HttpHeaders headers;
  std::string body;  // sent when non-empty or when the method is POST/PUT/PATCH
};

struct HttpResponse {
  int status = 0;
  // Lower-cased names; a header repeated in the reply is joined with ", " (as HTTP allows), e.g. GCS's two
  // x-goog-hash lines become "crc32c=...,  md5=...".
  std::map<std::string, std::string> headers;
  std::string body;

  // The value of header `name` (any case), or "" when absent.
  std::string header(std::string_view name) const;
};

struct HttpOptions {
  RetryPolicy retry;
  long connect_timeout_s = 30;
  // A transfer slower than low_speed_bytes_per_s for low_speed_time_s seconds is abandoned (and retried).
  long low_speed_bytes_per_s = 1024;
  long low_speed_time_s = 30;
  // request() only: a ceiling on one whole attempt (small JSON calls), 0 = none.
  long request_timeout_s = 120;
  std::string user_agent = "gemma-tune";
};

struct DownloadOptions {
  // A reply header whose value must not change between attempts ("x-goog-generation", "etag"); "" = none.
  std::string pin_header;
  // The value it must have; "" = whatever the first reply says.
  std::string pin_value;
};

struct DownloadResult {
  uint64_t bytes = 0;        // bytes delivered to the sink
  int requests = 0;          // HTTP requests made (attempts)
  bool stopped = false;      // the sink returned false
  std::optional<uint64_t> object_size;  // the total from Content-Range, or the length of a 200 reply, when known
  std::string pinned_value;  // the pin header's value (when pin_header is set)
  HttpResponse first_reply;  // status and headers of the first successful reply (body empty)
};

// Receives the body in order; return false to stop early (download() then returns with stopped = true).
using ChunkSink = std::function<bool(std::string_view chunk)>;

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // One call with retries on connection errors and retryable statuses. Returns the final reply whatever its status
  // (the caller decides what a 404 or 412 means); throws gt::InputError when every attempt failed to connect or
  // the last of them still had a retryable status.
  HttpResponse request(const HttpRequest& req);
  // request(), then throws gt::InputError (URL, method, status, server message) unless the status is 2xx.
  HttpResponse request_ok(const HttpRequest& req);

  // Streams bytes [begin, end) of `url` to `sink` (end = one past the last byte; nullopt = to the end of the
  // object), resuming after interruptions as described above. `end` smaller than the object's size gives that
  // range; larger stops at the object's end. begin == end delivers nothing and makes no request.
  DownloadResult download(const std::string& url, const HttpHeaders& headers, uint64_t begin,
                          std::optional<uint64_t> end, const ChunkSink& sink, const DownloadOptions& options = {});

  const HttpOptions& options() const { return options_; }

 private:
  struct Impl;
  HttpOptions options_;
  std::unique_ptr<Impl> impl_;
};

// Percent-encoding (RFC 3986) of a path segment or a query value: every byte but A-Z a-z 0-9 - . _ ~ and the
// characters of `also_keep` becomes %XX (upper-case hex), so '/' is %2F.
std::string percent_encode(std::string_view s, std::string_view also_keep = {});

// Whether this build can fetch over HTTP(S) (linked against libcurl).
bool http_available();

// `url` for messages: the values of query parameters that carry credentials (X-Goog-Signature, X-Goog-Credential,
// Signature, sig, access_token, token, key; any case) replaced by "REDACTED".
std::string redact_url(std::string_view url);

}  // namespace gt::io
