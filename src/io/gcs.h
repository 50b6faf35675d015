// Google Cloud Storage through its JSON API (issue #10): gs:// URLs with globs, object listing, metadata and
// generation-pinned, resumable byte-range reads, over HttpClient (libcurl). Torch-free.
//
//   gt::io::HttpClient http;
//   gt::io::GcsClient gcs(http, gt::io::resolve_gcs_endpoint(), token_fn);   // token_fn empty: no Authorization
//   for (const GcsObject& o : gcs.expand("gs://bkt/data/train-*.jsonl"))
//     gcs.read(o, 0, std::nullopt, [&](std::string_view chunk) { feed(chunk); return true; });
//
// Wire format (checked against what the official Node client @google-cloud/storage 8.4.0 sends; see
// tools/npm/gcs-client-check.mjs):
//   list  GET {base}/storage/v1/b/{bucket}/o?prefix=..&fields=..[&pageToken=..][&maxResults=..]   (pages via
//         nextPageToken; only name, bucket, size, generation, crc32c and md5Hash are asked for)
//   stat  GET {base}/storage/v1/b/{bucket}/o/{object}?fields=..
//   read  GET {base}/storage/v1/b/{bucket}/o/{object}?alt=media&generation=G   [Range: bytes=a-b]
// Object names are percent-encoded as one path segment (every byte but A-Z a-z 0-9 - . _ ~, so '/' is %2F), as
// the JSON API requires; query values likewise.
//
// Generation pinning: a read names the listed generation in the query, so Cloud Storage serves exactly that
// version or answers 404 once it is gone (a replaced object in a bucket without versioning), and HttpClient checks
// that every reply's x-goog-generation header says the same (a server or proxy that ignored the parameter). Both
// cases end in gt::InputError "gs://bkt/name changed while being read ...", so a shard is never stitched from two
// versions.
//
// Errors are gt::InputError naming the gs:// URL, the HTTP status and the server's message; a missing bucket and a
// missing object are told apart. The access token is sent as `Authorization: Bearer <token>` and never appears in
// a message.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/http_client.h"

namespace gt::io {

struct GcsObject {
  std::string bucket, name;
  uint64_t size = 0;
  int64_t generation = 0;
  std::string crc32c;  // base64 of the big-endian CRC-32C, as the API gives it ("" when absent)
  std::string md5;     // base64 MD5 ("" for composite objects)

  std::string url() const { return "gs://" + bucket + "/" + name; }
};

// Where the JSON API lives. Requests go to base + "/storage/v1/...".
struct GcsEndpoint {
  std::string base = "https://storage.googleapis.com";  // scheme://host[:port][/path], no trailing slash
  bool emulator = false;
  std::string from;  // the environment variable it came from ("" for the public endpoint), for messages
};

// The endpoint from the environment, as Google's client libraries take it:
//   STORAGE_EMULATOR_HOST            (Node, Python, Go, Java; e.g. "localhost:4443" or "http://localhost:4443")
//   CLOUD_STORAGE_EMULATOR_ENDPOINT  (google-cloud-cpp; e.g. "http://localhost:9000")
// the first one set and non-empty wins; otherwise the public endpoint. See gcs_endpoint_from.
GcsEndpoint resolve_gcs_endpoint();
// An emulator endpoint from a variable's value: http:// is added when the value has no scheme (Go's and Python's
// clients do so; Node's would reject it), a trailing "/" and a trailing "/storage/v1" are dropped (Node's client
// appends the value's path verbatim, so emulators are set either way). `from` names the variable in messages.
// Throws gt::InputError for an empty host or a scheme other than http/https.
GcsEndpoint gcs_endpoint_from(std::string_view value, std::string_view from);

// A parsed gs:// URL. `object` is everything after "gs://bucket/" (may be empty: the whole bucket).
struct GsUrl {
  std::string bucket;
  std::string object;
  std::string prefix;                // object up to its first wildcard (== object when there is none)
  std::optional<std::string> glob;   // object itself when it has a wildcard ('*' or '?' in its last segment)

  std::string url() const { return "gs://" + bucket + "/" + object; }
};

// "gs://bucket/path/train-*.jsonl" -> {bucket, "path/train-*.jsonl", prefix "path/train-", glob}. Throws
// gt::InputError naming the URL when it does not start with gs://, has no bucket, the bucket name is not one Cloud
// Storage allows (3-222 characters of a-z 0-9 - _ .), or a wildcard appears outside the last path segment.
// '[' and ']' are ordinary characters (Cloud Storage allows them in names).
GsUrl parse_gs_url(std::string_view url);

// Whether `name` matches `glob`: '*' is any run of characters but '/', '?' one character but '/', everything else
// itself (byte-wise).
bool gcs_glob_match(std::string_view glob, std::string_view name);

// Percent-encoding for a path segment or query value: every byte except A-Z a-z 0-9 - . _ ~ becomes %XX.
std::string gcs_percent_encode(std::string_view s);

class GcsClient {
 public:
  struct Options {
    int page_size = 1000;       // maxResults of list requests (the API's own maximum is 1000)
    std::string user_project;   // sent as userProject (requester-pays buckets); "" = none
    bool verify_crc32c = true;  // check whole-object reads against GcsObject::crc32c (when it is known)
    // Called with the token a 401 reply refused (expired or revoked before its stated lifetime); the request is then
    // sent once more with access_token()'s next answer, as Google's clients refresh on 401. Empty: a 401 is final.
    std::function<void(const std::string& refused_token)> token_refused;
  };

  // `access_token` is called before each request (it may refresh and cache); empty = anonymous (emulators, public
  // buckets).
  GcsClient(HttpClient& http, GcsEndpoint endpoint, std::function<std::string()> access_token = {});
  GcsClient(HttpClient& http, GcsEndpoint endpoint, std::function<std::string()> access_token, Options options);

  // Every live object whose name starts with `prefix`, in the API's order (lexicographic by name), following
  // nextPageToken. A missing bucket is an error; no object is an empty list.
  std::vector<GcsObject> list(const std::string& bucket, const std::string& prefix);
  // One object's metadata (its live generation). Errors tell a missing object from a missing bucket.
  GcsObject stat(const std::string& bucket, const std::string& name);
  // Streams bytes [begin, end) of generation `object.generation` of the object to `sink` (end nullopt = to the
  // end), resuming after dropped connections (HttpClient::download). A read of the whole object that ran to its
  // end is checked against object.crc32c (gt::InputError on a mismatch, after the bytes were delivered: the caller
  // must treat what it got as suspect); ranges are not checked.
  DownloadResult read(const GcsObject& object, uint64_t begin, std::optional<uint64_t> end, const ChunkSink& sink);
  // list() + glob filter, sorted by name. Without a wildcard the URL names one object or, when no object has
  // exactly that name, a folder (every object under "<object>/"); names ending in '/' (folder placeholders) are
  // skipped. No match is an error naming the URL.
  std::vector<GcsObject> expand(const std::string& gs_url);

  const GcsEndpoint& endpoint() const { return endpoint_; }

 private:
  HttpHeaders headers() const;
  HttpRequest get_request(const std::string& url) const;
  // GET `url`; after a 401, the token is refreshed (Options::token_refused) and the GET sent once more.
  HttpResponse get(const std::string& url);
  std::string object_url(const std::string& bucket, const std::string& name) const;
  // After a 404 on `what`: whether the bucket exists (nullopt when that cannot be told, e.g. 403).
  std::optional<bool> bucket_exists(const std::string& bucket);

  HttpClient& http_;
  GcsEndpoint endpoint_;
  std::function<std::string()> access_token_;
  Options options_;
  mutable std::string last_token_;  // the token the last request carried
};

}  // namespace gt::io
