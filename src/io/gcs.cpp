#include "io/gcs.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/crc32c.h"

namespace gt::io {

namespace {

// The public endpoint of the JSON API.
constexpr const char* kPublicBase = "https://storage.googleapis.com";
// Only the metadata we use, which keeps listing replies small.
constexpr const char* kObjectFields = "name,bucket,size,generation,crc32c,md5Hash";
constexpr const char* kListFields = "items(name,bucket,size,generation,crc32c,md5Hash),nextPageToken";

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// The error's "message" from a Google API error reply ({"error":{"code":404,"message":"..."}}), else the start of
// the body.
std::string api_message(const std::string& body) {
  try {
    const auto j = nlohmann::json::parse(body);
    if (j.is_object() && j.contains("error")) {
      const auto& e = j["error"];
      if (e.is_object() && e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
      if (e.is_string()) return e.get<std::string>();
    }
  } catch (const nlohmann::json::exception&) {
  }
  std::string s = body.substr(0, 300);
  if (s.empty()) s = "(empty reply)";
  return s;
}

// What to check after a refusal: 401 and 403 are about the credentials or their permissions ("" otherwise).
std::string access_hint(int status) {
  if (status != 401 && status != 403) return {};
  return "; check the credentials (--access-token, GOOGLE_APPLICATION_CREDENTIALS, gcloud auth application-default "
         "login) and their permissions on the bucket (storage.objects.list and storage.objects.get)";
}

// The string field `key` of `j`, or "" when absent.
std::string str_field(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A decimal the API sends as a JSON string (int64/uint64 fields are strings in the JSON API).
template <typename T>
T num_field(const nlohmann::json& j, const char* key, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end()) fail_input(where, ": the object metadata has no '", key, "'");
  if (it->is_number_integer()) return it->get<T>();
  if (!it->is_string()) fail_input(where, ": the object metadata's '", key, "' is not a number: ", it->dump());
  const std::string s = it->get<std::string>();
  try {
    size_t used = 0;
    const long long v = std::stoll(s, &used);
    if (used != s.size() || v < 0) throw std::invalid_argument(s);
    return T(v);
  } catch (const std::exception&) {
    fail_input(where, ": the object metadata's '", key, "' is not a non-negative integer: '", s, "'");
  }
}

GcsObject object_from_json(const nlohmann::json& j, const std::string& bucket, const std::string& where) {
  if (!j.is_object()) fail_input(where, ": expected an object's metadata (a JSON object), found ", j.dump().substr(0, 200));
  GcsObject o;
  o.name = str_field(j, "name");
  if (o.name.empty()) fail_input(where, ": an object in the reply has no name");
  o.bucket = str_field(j, "bucket");
  if (o.bucket.empty()) o.bucket = bucket;
  const std::string at = "gs://" + o.bucket + "/" + o.name;
  o.size = num_field<uint64_t>(j, "size", at);
  o.generation = num_field<int64_t>(j, "generation", at);
  o.crc32c = str_field(j, "crc32c");
  o.md5 = str_field(j, "md5Hash");
  return o;
}

nlohmann::json parse_reply(const HttpResponse& r, const std::string& where, const std::string& http_url) {
  try {
    return nlohmann::json::parse(r.body);
  } catch (const nlohmann::json::exception& e) {
    fail_input(where, ": the reply of GET ", redact_url(http_url), " is not JSON (", e.what(), "): ",
               r.body.substr(0, 200));
  }
}

}  // namespace

std::string gcs_percent_encode(std::string_view s) { return percent_encode(s); }

GcsEndpoint gcs_endpoint_from(std::string_view value, std::string_view from) {
  std::string v(value);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\n' || v.back() == '\r')) v.pop_back();
  while (!v.empty() && v.front() == ' ') v.erase(0, 1);
  const size_t sep = v.find("://");
  if (sep == std::string::npos) {
    v = "http://" + v;  // "localhost:4443", as Go's and Python's clients accept it
  } else {
    std::string scheme = v.substr(0, sep);
    std::transform(scheme.begin(), scheme.end(), scheme.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (scheme != "http" && scheme != "https")
      fail_input(from, "='", value, "': expected an address such as localhost:4443 or https://host, "
                 "found the scheme '", v.substr(0, sep), "'");
  }
  const size_t host = v.find("://") + 3;
  while (v.size() > host && v.back() == '/') v.pop_back();
  const std::string suffix = "/storage/v1";
  if (v.size() > host + suffix.size() && v.compare(v.size() - suffix.size(), suffix.size(), suffix) == 0)
    v.resize(v.size() - suffix.size());
  while (v.size() > host && v.back() == '/') v.pop_back();
  if (host >= v.size() || v[host] == '/')
    fail_input(from, "='", value, "': expected an address such as localhost:4443 or https://host, "
               "found no host");
  return GcsEndpoint{v, true, std::string(from)};
}

GcsEndpoint resolve_gcs_endpoint() {
  for (const char* name : {"STORAGE_EMULATOR_HOST", "CLOUD_STORAGE_EMULATOR_ENDPOINT"}) {
    const char* v = std::getenv(name);
    if (v && *v) return gcs_endpoint_from(v, name);
  }
  return GcsEndpoint{kPublicBase, false, ""};
}

GsUrl parse_gs_url(std::string_view url) {
  const std::string u(url);
  if (u.rfind("gs://", 0) != 0) fail_input("'", u, "' is not a Cloud Storage URL; expected gs://bucket/path");
  const std::string rest = u.substr(5);
  const size_t slash = rest.find('/');
  GsUrl g;
  g.bucket = rest.substr(0, slash);
  g.object = slash == std::string::npos ? std::string() : rest.substr(slash + 1);
  if (g.bucket.empty()) fail_input(u, ": no bucket name; expected gs://bucket/path");
  bool ok = g.bucket.size() >= 3 && g.bucket.size() <= 222 && is_lower_alnum(g.bucket.front()) &&
            is_lower_alnum(g.bucket.back());
  for (const char c : g.bucket) ok = ok && (is_lower_alnum(c) || c == '-' || c == '_' || c == '.');
  if (!ok)
    fail_input(u, ": '", g.bucket, "' is not a Cloud Storage bucket name; expected 3-222 characters of a-z, 0-9, "
               "'-', '_' and '.', starting and ending with a letter or digit (wildcards are not allowed in the "
               "bucket)");
  const size_t wild = g.object.find_first_of("*?");
  if (wild == std::string::npos) {
    g.prefix = g.object;
    return g;
  }
  const size_t last_slash = g.object.rfind('/');
  if (last_slash != std::string::npos && wild < last_slash)
    fail_input(u, ": wildcards ('*', '?') are allowed only in the last path segment (after the last '/'); found one "
               "in '", g.object.substr(0, last_slash), "'");
  g.prefix = g.object.substr(0, wild);
  g.glob = g.object;
  return g;
}

bool gcs_glob_match(std::string_view glob, std::string_view name) {
  // Greedy matching with backtracking to the last '*'. A '*' never takes a '/': wildcards stand only in the last
  // segment (parse_gs_url), so a '/' after the last '*' can never be matched and the name fails at once.
  size_t g = 0, n = 0, star = std::string_view::npos, mark = 0;
  while (n < name.size()) {
    if (g < glob.size() && glob[g] == '*') {
      star = g++;
      mark = n;
    } else if (g < glob.size() && (glob[g] == name[n] && glob[g] != '?')) {
      ++g;
      ++n;
    } else if (g < glob.size() && glob[g] == '?' && name[n] != '/') {
      ++g;
      ++n;
    } else if (star != std::string_view::npos && name[mark] != '/') {
      g = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (g < glob.size() && glob[g] == '*') ++g;
  return g == glob.size();
}

GcsClient::GcsClient(HttpClient& http, GcsEndpoint endpoint, std::function<std::string()> access_token)
    : GcsClient(http, std::move(endpoint), std::move(access_token), Options{}) {}

GcsClient::GcsClient(HttpClient& http, GcsEndpoint endpoint, std::function<std::string()> access_token,
                     Options options)
    : http_(http), endpoint_(std::move(endpoint)), access_token_(std::move(access_token)), options_(std::move(options)) {
  if (options_.page_size < 1) options_.page_size = 1;
}

HttpRequest GcsClient::get_request(const std::string& url) const {
  HttpRequest req;
  req.url = url;
  req.headers = headers();
  return req;
}

HttpHeaders GcsClient::headers() const {
  HttpHeaders h;
  if (access_token_) {
    last_token_ = access_token_();
    if (!last_token_.empty()) h.emplace_back("Authorization", "Bearer " + last_token_);
  }
  return h;
}

HttpResponse GcsClient::get(const std::string& url) {
  HttpResponse r = http_.request(get_request(url));
  if (r.status == 401 && options_.token_refused && access_token_) {
    options_.token_refused(last_token_);
    r = http_.request(get_request(url));
  }
  return r;
}

std::string GcsClient::object_url(const std::string& bucket, const std::string& name) const {
  return endpoint_.base + "/storage/v1/b/" + gcs_percent_encode(bucket) + "/o/" + gcs_percent_encode(name);
}

std::optional<bool> GcsClient::bucket_exists(const std::string& bucket) {
  std::string url = endpoint_.base + "/storage/v1/b/" + gcs_percent_encode(bucket) + "?fields=name";
  if (!options_.user_project.empty()) url += "&userProject=" + gcs_percent_encode(options_.user_project);
  try {
    const HttpResponse r = get(url);
    if (r.status == 404) return false;
    if (r.status >= 200 && r.status < 300) return true;
  } catch (const InputError&) {
  }
  return std::nullopt;  // e.g. 403: a reader may lack storage.buckets.get
}

std::vector<GcsObject> GcsClient::list(const std::string& bucket, const std::string& prefix) {
  const std::string where = "gs://" + bucket + "/" + prefix;
  std::vector<GcsObject> out;
  std::string page_token;
  do {
    std::string url = endpoint_.base + "/storage/v1/b/" + gcs_percent_encode(bucket) +
                      "/o?prefix=" + gcs_percent_encode(prefix) + "&fields=" + gcs_percent_encode(kListFields) +
                      "&maxResults=" + std::to_string(options_.page_size);
    if (!page_token.empty()) url += "&pageToken=" + gcs_percent_encode(page_token);
    if (!options_.user_project.empty()) url += "&userProject=" + gcs_percent_encode(options_.user_project);
    HttpResponse r;
    try {
      r = get(url);
    } catch (const InputError& e) {
      fail_input(where, ": listing objects failed: ", e.what());
    }
    if (r.status == 404)
      fail_input(where, ": bucket '", bucket, "' does not exist (HTTP 404 from GET ", redact_url(url), ": ",
                 api_message(r.body), ")");
    if (r.status < 200 || r.status > 299)
      fail_input(where, ": listing objects failed with HTTP ", r.status, " (GET ", redact_url(url), "): ",
                 api_message(r.body), access_hint(r.status));
    const nlohmann::json j = parse_reply(r, where, url);
    if (!j.is_object()) fail_input(where, ": the listing reply is not a JSON object: ", r.body.substr(0, 200));
    if (const auto it = j.find("items"); it != j.end()) {
      if (!it->is_array()) fail_input(where, ": the listing reply's 'items' is not an array");
      for (const auto& item : *it) out.push_back(object_from_json(item, bucket, where));
    }
    const std::string next = str_field(j, "nextPageToken");
    if (!next.empty() && next == page_token)
      fail_input(where, ": the server returned the same nextPageToken twice ('", next, "'); listing would not end");
    page_token = next;
  } while (!page_token.empty());
  return out;
}

GcsObject GcsClient::stat(const std::string& bucket, const std::string& name) {
  const std::string where = "gs://" + bucket + "/" + name;
  std::string url = object_url(bucket, name) + "?fields=" + gcs_percent_encode(kObjectFields);
  if (!options_.user_project.empty()) url += "&userProject=" + gcs_percent_encode(options_.user_project);
  HttpResponse r;
  try {
    r = get(url);
  } catch (const InputError& e) {
    fail_input(where, ": reading the object's metadata failed: ", e.what());
  }
  if (r.status == 404) {
    const std::optional<bool> has_bucket = bucket_exists(bucket);
    if (has_bucket && !*has_bucket)
      fail_input(where, ": bucket '", bucket, "' does not exist (HTTP 404: ", api_message(r.body), ")");
    fail_input(where, ": no such object", has_bucket ? cat(" in bucket '", bucket, "'") : std::string(),
               " (HTTP 404: ", api_message(r.body), ")");
  }
  if (r.status < 200 || r.status > 299)
    fail_input(where, ": reading the object's metadata failed with HTTP ", r.status, " (GET ", redact_url(url),
               "): ", api_message(r.body), access_hint(r.status));
  return object_from_json(parse_reply(r, where, url), bucket, where);
}

DownloadResult GcsClient::read(const GcsObject& object, uint64_t begin, std::optional<uint64_t> end,
                               const ChunkSink& sink) {
  const std::string where = object.url();
  const std::string gen = std::to_string(object.generation);
  std::string url = object_url(object.bucket, object.name) + "?alt=media&generation=" + gen;
  if (!options_.user_project.empty()) url += "&userProject=" + gcs_percent_encode(options_.user_project);
  uint64_t delivered = 0;
  // A read of the whole object is checked against the CRC-32C the listing gave (ranges cannot be).
  const bool verify = options_.verify_crc32c && begin == 0 && (!end || *end >= object.size) && !object.crc32c.empty();
  uint32_t crc = 0;
  const ChunkSink counting = [&](std::string_view chunk) {
    delivered += chunk.size();
    if (verify) crc = crc32c_update(crc, chunk.data(), chunk.size());
    return sink(chunk);
  };
  const DownloadOptions pin{.pin_header = "x-goog-generation", .pin_value = gen};
  DownloadResult r;
  try {
    try {
      r = http_.download(url, headers(), begin, end, counting, pin);
    } catch (const HttpError& e) {
      if (e.status != 401 || !options_.token_refused || !access_token_) throw;
      // The token was refused (expired or revoked early): a fresh one, and the read goes on from the next byte.
      options_.token_refused(last_token_);
      const uint64_t before = delivered;
      r = http_.download(url, headers(), begin + before, end, counting, pin);
      r.bytes += before;
    }
  } catch (const HttpError& e) {
    const std::string msg = e.what();
    if (e.changed)
      fail_input(where, " changed while being read (generation ", gen, " was replaced, after ", delivered,
                 " bytes): ", msg);
    // A 404 for a pinned generation: the object was deleted or replaced (without versioning the old generation
    // is gone at once). Ask for the live one to say which.
    if (e.status == 404) {
      std::optional<GcsObject> now;
      std::string stat_error;
      try {
        now = stat(object.bucket, object.name);
      } catch (const InputError& e2) {
        stat_error = e2.what();
      }
      if (now && now->generation != object.generation)
        fail_input(where, " changed while being read: generation ", gen, " no longer exists and the object is now "
                   "generation ", now->generation, " (after ", delivered, " bytes); a shard is never stitched from "
                   "two versions, so list the data again");
      if (!now)
        fail_input(where, ": generation ", gen, " cannot be read (", msg, "); the object itself: ", stat_error);
    }
    fail_input(where, ": reading generation ", gen, " failed: ", msg, access_hint(e.status));
  } catch (const InputError& e) {
    fail_input(where, ": reading generation ", gen, " failed: ", e.what());
  }
  if (verify && !r.stopped && gcs_crc32c_header_value(crc) != object.crc32c)
    fail_input(where, ": CRC-32C mismatch after reading all ", delivered, " bytes of generation ", gen,
               ": the object's metadata says ", object.crc32c, ", the bytes read give ", gcs_crc32c_header_value(crc),
               " (corrupted in transit or a damaged object)");
  return r;
}

std::vector<GcsObject> GcsClient::expand(const std::string& gs_url) {
  const GsUrl g = parse_gs_url(gs_url);
  std::vector<GcsObject> listed = list(g.bucket, g.prefix);
  std::vector<GcsObject> out;
  const bool folder_like = g.object.empty() || g.object.back() == '/';
  for (GcsObject& o : listed) {
    if (!o.name.empty() && o.name.back() == '/') continue;  // a folder placeholder
    bool take = false;
    if (g.glob) {
      take = gcs_glob_match(*g.glob, o.name);
    } else if (folder_like) {
      take = true;  // every object under the folder (the prefix)
    } else {
      take = o.name == g.object;
    }
    if (take) out.push_back(std::move(o));
  }
  if (out.empty() && !g.glob && !folder_like) {
    // No object of exactly that name: read it as a folder.
    const std::string dir = g.object + "/";
    for (GcsObject& o : listed)
      if (o.name.size() > dir.size() && o.name.compare(0, dir.size(), dir) == 0 && o.name.back() != '/')
        out.push_back(std::move(o));
  }
  if (out.empty())
    fail_input(gs_url, ": no object matches", g.glob ? " the pattern" : "", " (bucket '", g.bucket, "' exists; ",
               listed.size(), " object(s) have the prefix '", g.prefix, "'",
               g.glob ? "; '*' and '?' do not match '/'" : "", ")");
  std::sort(out.begin(), out.end(), [](const GcsObject& a, const GcsObject& b) { return a.name < b.name; });
  return out;
}

}  // namespace gt::io
