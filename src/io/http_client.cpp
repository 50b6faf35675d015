#include "io/http_client.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <mutex>

#include "core/error.h"

#ifdef GT_HAVE_CURL
#include <curl/curl.h>
#endif

namespace gt::io {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

[[maybe_unused]] std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::string HttpResponse::header(std::string_view name) const {
  const auto it = headers.find(lower(name));
  return it == headers.end() ? std::string() : it->second;
}

std::string redact_url(std::string_view url) {
  const size_t q = url.find('?');
  if (q == std::string_view::npos) return std::string(url);
  const size_t hash = url.find('#', q);
  const std::string_view query = url.substr(q + 1, hash == std::string_view::npos ? std::string_view::npos : hash - q - 1);
  static const char* const kSecret[] = {"x-goog-signature", "x-goog-credential", "signature", "sig",
                                        "access_token",     "token",             "key"};
  std::string out(url.substr(0, q + 1));
  size_t pos = 0;
  bool first = true;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view item = query.substr(pos, amp - pos);
    const size_t eq = item.find('=');
    const std::string name = lower(item.substr(0, eq));
    bool secret = false;
    for (const char* s : kSecret) secret = secret || name == s;
    if (!first) out += '&';
    first = false;
    if (secret && eq != std::string_view::npos) {
      out += item.substr(0, eq + 1);
      out += "REDACTED";
    } else {
      out += item;
    }
    pos = amp + 1;
  }
  if (hash != std::string_view::npos) out += url.substr(hash);
  return out;
}

#ifndef GT_HAVE_CURL

struct HttpClient::Impl {};

namespace {
[[noreturn]] void fail_no_curl(const std::string& url) {
  fail_input("cannot fetch ", redact_url(url),
             ": gemma-tune was built without libcurl (-DGT_WITH_CURL=OFF); rebuild with -DGT_WITH_CURL=ON (Debian/Ubuntu: "
             "apt-get install libcurl4-openssl-dev; macOS: brew install curl) to read datasets over HTTP(S) or from "
             "Cloud Storage");
}
}  // namespace

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)) {}
HttpClient::~HttpClient() = default;
HttpResponse HttpClient::request(const HttpRequest& req) { fail_no_curl(req.url); }
HttpResponse HttpClient::request_ok(const HttpRequest& req) { fail_no_curl(req.url); }
DownloadResult HttpClient::download(const std::string& url, const HttpHeaders&, uint64_t, std::optional<uint64_t>,
                                    const ChunkSink&, const DownloadOptions&) {
  fail_no_curl(url);
}
bool http_available() { return false; }

#else  // GT_HAVE_CURL

bool http_available() { return true; }

namespace {

constexpr size_t kMessageBytes = 300;  // how much of a server's error reply goes into a message

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
      throw std::runtime_error("libcurl failed to initialise (curl_global_init)");
  });
}

// Connection-level failures worth another attempt (Google: "connection errors" are retryable like 5xx).
bool retryable_curl(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:  // includes the low-speed (stall) timeout
    case CURLE_PARTIAL_FILE:        // the body ended before Content-Length
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_AGAIN:
      return true;
    default:
      return false;
  }
}

// The server's message for an error: the first kMessageBytes bytes of its reply, on one line.
std::string server_message(const std::string& body) {
  std::string m = body.substr(0, kMessageBytes);
  for (char& c : m)
    if (c == '\n' || c == '\r') c = ' ';
  while (!m.empty() && m.back() == ' ') m.pop_back();
  if (body.size() > kMessageBytes) m += "...";
  return m.empty() ? "(empty reply)" : "\"" + m + "\"";
}

// What one perform() saw.
struct Attempt {
  int status = 0;
  std::map<std::string, std::string> headers;
  std::string body;  // request(): the whole body; download(): the first bytes of an error reply
  char error[CURL_ERROR_SIZE] = {0};
};

// The state of one download() across its attempts.
struct Download {
  const std::string* url = nullptr;
  const ChunkSink* sink = nullptr;
  uint64_t begin = 0;
  std::optional<uint64_t> end;  // target end (exclusive); clamped to the object's size once known
  std::optional<uint64_t> asked_end;  // the caller's end, the one named in Range headers
  uint64_t next = 0;            // absolute offset of the next byte to deliver
  std::string pin_header;       // lower-cased
  std::string pin_value;
  bool pin_known = false;       // pin_value holds the value to insist on
  bool ranged = false;          // the caller asked for a part (begin > 0 or an end): a 200 is not acceptable
  // Per attempt:
  Attempt* attempt = nullptr;
  bool checked = false;   // the reply's headers have been checked
  bool ok = false;        // the reply is 200/206 and its bytes go to the sink
  bool whole = false;     // a 200: the whole object, `skip` bytes already delivered
  uint64_t skip = 0;
  std::string fatal;      // a final error found inside a callback
  bool changed = false;   // ... because the pinned header changed
  bool stopped = false;   // the sink asked to stop
  DownloadResult* result = nullptr;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* a = static_cast<Attempt*>(user);
  const std::string_view line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {  // a new reply (after a redirect or 100 Continue): start over
    a->headers.clear();
    a->status = 0;
    const size_t sp = line.find(' ');
    if (sp != std::string_view::npos) a->status = std::atoi(std::string(line.substr(sp + 1, 3)).c_str());
    return size * n;
  }
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    const std::string name = lower(trim(line.substr(0, colon)));
    const std::string value(trim(line.substr(colon + 1)));
    auto [it, fresh] = a->headers.emplace(name, value);
    if (!fresh) it->second += ", " + value;
  }
  return size * n;
}

size_t on_body_collect(char* data, size_t size, size_t n, void* user) {
  static_cast<Attempt*>(user)->body.append(data, size * n);
  return size * n;
}

// Parses "bytes a-b/total" or "bytes a-b/*".
bool parse_content_range(std::string_view v, uint64_t& a, uint64_t& b, std::optional<uint64_t>& total) {
  v = trim(v);
  if (v.rfind("bytes ", 0) != 0) return false;
  v.remove_prefix(6);
  const auto num = [](std::string_view s, uint64_t& out) {
    if (s.empty() || s.size() > 19) return false;
    out = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
      out = out * 10 + uint64_t(c - '0');
    }
    return true;
  };
  const size_t dash = v.find('-'), slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) return false;
  if (!num(trim(v.substr(0, dash)), a) || !num(trim(v.substr(dash + 1, slash - dash - 1)), b) || b < a) return false;
  const std::string_view t = trim(v.substr(slash + 1));
  total.reset();
  if (t != "*") {
    uint64_t tv = 0;
    if (!num(t, tv) || b >= tv) return false;
    total = tv;
  }
  return true;
}

// Checks a download reply's status and headers before its first body byte (or at its end when it has none).
void check_reply(Download& d) {
  d.checked = true;
  Attempt& a = *d.attempt;
  if (a.status != 200 && a.status != 206) return;  // an error reply: its body is collected for the message
  const std::string where = redact_url(*d.url);
  if (!d.pin_header.empty()) {
    const auto it = a.headers.find(d.pin_header);
    const std::string found = it == a.headers.end() ? "" : it->second;
    if (!d.pin_known) {
      d.pin_value = found;
      d.pin_known = true;
    } else if (found != d.pin_value) {
      d.changed = true;
      d.fatal = cat(where, " changed while being read: its ", d.pin_header, " was ",
                    d.pin_value.empty() ? "(none)" : d.pin_value, " and is now ", found.empty() ? "(none)" : found,
                    " (after ", d.next - d.begin, " bytes); the object was replaced, so its bytes cannot be resumed");
      return;
    }
    d.result->pinned_value = d.pin_value;
  }
  if (a.status == 206) {
    uint64_t first = 0, last = 0;
    std::optional<uint64_t> total;
    const auto it = a.headers.find("content-range");
    if (it == a.headers.end() || !parse_content_range(it->second, first, last, total)) {
      d.fatal = cat(where, ": the server answered 206 with Content-Range '",
                    it == a.headers.end() ? "(none)" : it->second, "'; expected 'bytes ", d.next, "-...'");
      return;
    }
    if (first != d.next || (d.end && last >= *d.end)) {
      d.fatal = cat(where, ": the server answered Content-Range '", it->second, "' to a request for bytes ", d.next,
                    "-", d.end ? std::to_string(*d.end - 1) : std::string(), "; expected a range starting at ",
                    d.next, d.end ? cat(" and ending by ", *d.end - 1) : std::string());
      return;
    }
    if (total) {
      d.result->object_size = total;
      if (!d.end || *d.end > *total) d.end = total;
    }
    d.whole = false;
    d.skip = 0;
  } else {  // 200: the whole object
    if (d.ranged) {
      d.fatal = cat(where, ": the server answered 200 (the whole object) to a request for bytes ", d.next, "-",
                    d.end ? std::to_string(*d.end - 1) : std::string(),
                    "; expected 206 Partial Content (the server does not honour Range requests)");
      return;
    }
    d.whole = true;
    d.skip = d.next;  // bytes already delivered by earlier attempts
    const auto cl = a.headers.find("content-length");
    if (cl != a.headers.end()) {
      char* stop = nullptr;
      const unsigned long long n = std::strtoull(cl->second.c_str(), &stop, 10);
      if (stop && *stop == '\0') {
        d.result->object_size = n;
        d.end = n;
      }
    }
  }
  if (d.result->first_reply.status == 0) {
    d.result->first_reply.status = a.status;
    d.result->first_reply.headers = a.headers;
  }
  d.ok = true;
}

size_t on_body_download(char* data, size_t size, size_t n, void* user) {
  auto& d = *static_cast<Download*>(user);
  const size_t len = size * n;
  if (!d.checked) check_reply(d);
  if (!d.fatal.empty()) return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  if (!d.ok) {  // an error reply: keep its start for the message
    Attempt& a = *d.attempt;
    if (a.body.size() < kMessageBytes + 1) a.body.append(data, std::min(len, kMessageBytes + 1 - a.body.size()));
    return len;
  }
  std::string_view chunk(data, len);
  if (d.skip > 0) {
    const uint64_t k = std::min<uint64_t>(d.skip, chunk.size());
    chunk.remove_prefix(size_t(k));
    d.skip -= k;
  }
  if (d.end && d.next + chunk.size() > *d.end) chunk = chunk.substr(0, size_t(*d.end - std::min(*d.end, d.next)));
  if (chunk.empty()) return len;
  const bool more = (*d.sink)(chunk);
  d.next += chunk.size();
  d.result->bytes += chunk.size();
  if (!more) {
    d.stopped = true;
    return 0;
  }
  return len;
}

// libcurl's request headers list, freed on scope exit.
struct HeaderList {
  curl_slist* list = nullptr;
  ~HeaderList() { curl_slist_free_all(list); }
  void add(const std::string& line) {
    curl_slist* next = curl_slist_append(list, line.c_str());
    if (!next) throw std::bad_alloc();
    list = next;
  }
};

}  // namespace

struct HttpClient::Impl {
  CURL* easy = nullptr;
  std::mt19937_64 rng;
  ~Impl() {
    if (easy) curl_easy_cleanup(easy);
  }

  // Resets the handle (keeping its connection cache) and sets what every call shares.
  void prepare(const HttpOptions& o, const std::string& url, Attempt& a, const HeaderList& headers) {
    curl_easy_reset(easy);
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);  // thread-safe timeouts
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS, long(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS, long(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    // Redirects are followed; libcurl does not send our Authorization header to another host.
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, o.connect_timeout_s);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, o.low_speed_bytes_per_s);
    curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, o.low_speed_time_s);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, o.user_agent.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.list);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &a);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, a.error);
  }
};

HttpClient::HttpClient(HttpOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  global_init();
  impl_->easy = curl_easy_init();
  if (!impl_->easy) throw std::runtime_error("libcurl could not create a handle (curl_easy_init)");
  impl_->rng = options_.retry.make_rng();
}

HttpClient::~HttpClient() = default;

namespace {

std::string curl_failure(CURLcode rc, const Attempt& a) {
  return cat(a.error[0] ? a.error : curl_easy_strerror(rc), " (curl error ", int(rc), ")");
}

}  // namespace

HttpResponse HttpClient::request(const HttpRequest& req) {
  const int max_attempts = std::max(1, options_.retry.max_attempts);
  const std::string where = cat(req.method, " ", redact_url(req.url));
  for (int attempt = 0;; ++attempt) {
    HeaderList headers;
    for (const auto& [name, value] : req.headers) headers.add(name + ": " + value);
    Attempt a;
    impl_->prepare(options_, req.url, a, headers);
    CURL* easy = impl_->easy;
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body_collect);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &a);
    if (options_.request_timeout_s > 0) curl_easy_setopt(easy, CURLOPT_TIMEOUT, options_.request_timeout_s);
    const bool has_body = !req.body.empty() || req.method == "POST" || req.method == "PUT" || req.method == "PATCH";
    if (req.method == "HEAD") {
      curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else if (req.method != "GET") {
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    if (has_body) {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req.body.data());
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(req.body.size()));
    }
    const CURLcode rc = curl_easy_perform(easy);
    const bool last = attempt + 1 >= max_attempts;
    if (rc == CURLE_OK) {
      if (!retryable_status(a.status) || last) {
        if (retryable_status(a.status))
          throw HttpError(cat(where, " failed with HTTP ", a.status, " after ", attempt + 1,
                              " attempt(s); the server said: ", server_message(a.body)),
                          a.status);
        return HttpResponse{a.status, std::move(a.headers), std::move(a.body)};
      }
    } else if (!retryable_curl(rc) || last) {
      fail_input(where, " failed", retryable_curl(rc) ? cat(" after ", attempt + 1, " attempt(s)") : std::string(), ": ",
                 curl_failure(rc, a));
    }
    options_.retry.wait(options_.retry.backoff_seconds(attempt, impl_->rng));
  }
}

HttpResponse HttpClient::request_ok(const HttpRequest& req) {
  HttpResponse r = request(req);
  if (r.status < 200 || r.status > 299)
    throw HttpError(cat(req.method, " ", redact_url(req.url), " failed with HTTP ", r.status, "; the server said: ",
                        server_message(r.body)),
                    r.status);
  return r;
}

DownloadResult HttpClient::download(const std::string& url, const HttpHeaders& headers, uint64_t begin,
                                    std::optional<uint64_t> end, const ChunkSink& sink,
                                    const DownloadOptions& options) {
  DownloadResult result;
  if (end && *end < begin)
    throw std::logic_error(cat("HttpClient::download: end ", *end, " before begin ", begin, " for ", redact_url(url)));
  if (end && *end == begin) return result;
  const int max_attempts = std::max(1, options_.retry.max_attempts);
  const std::string where = redact_url(url);
  Download d;
  d.url = &url;
  d.sink = &sink;
  d.begin = begin;
  d.end = end;
  d.asked_end = end;
  d.next = begin;
  d.pin_header = lower(options.pin_header);
  d.pin_value = options.pin_value;
  d.pin_known = !options.pin_value.empty();
  d.ranged = begin != 0 || end.has_value();
  d.result = &result;
  int failures = 0;  // consecutive attempts that failed without delivering a byte
  while (true) {
    if (d.end && d.next >= *d.end) return result;
    HeaderList list;
    for (const auto& [name, value] : headers) list.add(name + ": " + value);
    // A whole object from its start asks for no range (so an empty object is a plain 200); everything else names
    // the exact bytes still missing.
    if (d.next != 0 || d.asked_end)
      list.add(cat("Range: bytes=", d.next, "-", d.asked_end ? std::to_string(*d.asked_end - 1) : std::string()));
    Attempt a;
    impl_->prepare(options_, url, a, list);
    curl_easy_setopt(impl_->easy, CURLOPT_WRITEFUNCTION, on_body_download);
    curl_easy_setopt(impl_->easy, CURLOPT_WRITEDATA, &d);
    d.attempt = &a;
    d.checked = d.ok = d.whole = false;
    d.skip = 0;
    const uint64_t before = d.next;
    ++result.requests;
    const CURLcode rc = curl_easy_perform(impl_->easy);
    if (!d.checked && rc == CURLE_OK) check_reply(d);  // a reply without body bytes
    if (!d.fatal.empty()) throw HttpError(d.fatal, a.status, d.changed);
    if (d.stopped) {
      result.stopped = true;
      return result;
    }
    const bool progressed = d.next > before;
    std::string why;
    if (rc == CURLE_OK && d.ok) {
      if (d.whole || !d.end || d.next >= *d.end) return result;  // complete
      if (progressed) continue;  // a shorter range than asked for: ask for the rest
      why = cat("HTTP ", a.status, " with no bytes of the range");
    } else if (rc == CURLE_OK) {
      if (!retryable_status(a.status))
        throw HttpError(
            cat(where, " failed with HTTP ", a.status, " (not retried); the server said: ", server_message(a.body)),
            a.status);
      why = cat("HTTP ", a.status, "; the server said: ", server_message(a.body));
    } else {
      if (!retryable_curl(rc))
        fail_input(where, " failed after ", d.next - begin, " bytes: ", curl_failure(rc, a));
      why = curl_failure(rc, a);
    }
    failures = progressed ? 1 : failures + 1;
    if (failures >= max_attempts)
      throw HttpError(cat(where, " failed after ", result.requests, " request(s) (", failures,
                          " in a row without progress) and ", d.next - begin, " bytes: ", why),
                      rc == CURLE_OK ? a.status : 0);
    options_.retry.wait(options_.retry.backoff_seconds(failures - 1, impl_->rng));
  }
}

#endif  // GT_HAVE_CURL

std::string percent_encode(std::string_view s, std::string_view also_keep) {
  static const char* const kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~' || also_keep.find(ch) != std::string_view::npos) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace gt::io
