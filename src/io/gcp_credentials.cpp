#include "io/gcp_credentials.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "core/error.h"

namespace gt::io {

namespace {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kDefaultTokenUri = "https://oauth2.googleapis.com/token";
// google-auth-library refreshes this long before expiry (eagerRefreshThresholdMillis = 5 min).
constexpr auto kRefreshMargin = std::chrono::minutes(5);
constexpr long kDefaultLifetimeS = 3600;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// application/x-www-form-urlencoded value: every byte but A-Z a-z 0-9 - . _ ~ as %XX.
std::string form_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string form(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string body;
  for (const auto& [k, v] : fields) {
    if (!body.empty()) body += '&';
    body += form_encode(k) + "=" + form_encode(v);
  }
  return body;
}

// The first bytes of a non-JSON error reply, on one line.
std::string snippet(const std::string& body) {
  std::string m = body.substr(0, 200);
  for (char& c : m)
    if (c == '\n' || c == '\r') c = ' ';
  if (body.size() > 200) m += "...";
  return m.empty() ? "(empty reply)" : "\"" + m + "\"";
}

struct Token {
  std::string value;
  long expires_in = kDefaultLifetimeS;
};

// Reads {access_token, expires_in} from a 2xx reply, or throws naming `endpoint` and the server's
// error / error_description. `for_what` says whose token it is (describe()).
Token parse_token_reply(const HttpResponse& r, const std::string& endpoint, const std::string& for_what) {
  const Json j = Json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (r.status < 200 || r.status >= 300) {
    std::string said;
    if (j.is_object()) {
      // OAuth endpoints answer {"error": "...", "error_description": "..."}; some Google APIs nest
      // {"error": {"message": ...}}.
      if (j.contains("error") && j["error"].is_string()) said = j["error"].get<std::string>();
      if (j.contains("error") && j["error"].is_object() && j["error"].contains("message") &&
          j["error"]["message"].is_string())
        said = j["error"]["message"].get<std::string>();
      if (j.contains("error_description") && j["error_description"].is_string())
        said += (said.empty() ? "" : ": ") + j["error_description"].get<std::string>();
    }
    if (said.empty()) said = snippet(r.body);
    fail_input("token endpoint ", redact_url(endpoint), " refused to issue an access token for ", for_what, ": HTTP ",
               r.status, ": ", said);
  }
  if (!j.is_object() || !j.contains("access_token") || !j["access_token"].is_string() ||
      j["access_token"].get<std::string>().empty())
    fail_input("token endpoint ", redact_url(endpoint), " answered HTTP ", r.status, " for ", for_what,
               " without a string field 'access_token' (a reply of ", r.body.size(), " bytes)");
  Token t;
  t.value = j["access_token"].get<std::string>();
  if (j.contains("expires_in")) {
    const Json& e = j["expires_in"];
    if (e.is_number()) t.expires_in = long(e.get<double>());
    else if (e.is_string()) t.expires_in = std::strtol(e.get<std::string>().c_str(), nullptr, 10);
  }
  return t;
}

// Calls `http`, adding who wanted the token to connection errors (the request body, which carries the secret, is
// never in HttpClient's messages).
HttpResponse call(HttpClient& http, const HttpRequest& req, const std::string& for_what) {
  try {
    return http.request(req);
  } catch (const InputError& e) {
    fail_input("fetching an access token for ", for_what, ": ", e.what());
  }
}

Token post_form(HttpClient& http, const std::string& url, const std::string& body, const std::string& for_what) {
  HttpRequest req;
  req.method = "POST";
  req.url = url;
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  req.body = body;
  return parse_token_reply(call(http, req, for_what), url, for_what);
}

// A token cache shared by the refreshing sources: fetch() runs under the mutex when the cached token has less than
// kRefreshMargin of life left.
class CachedSource : public AccessTokenSource {
 public:
  std::string token() final {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = SteadyClock::now();
    if (!cached_.empty() && now + kRefreshMargin < expiry_) return cached_;
    store(fetch(), now);
    return cached_;
  }
  int refreshes() const final { return refreshes_.load(); }
  void invalidate(const std::string& token) final {
    std::lock_guard<std::mutex> lock(mu_);
    if (token == cached_) cached_.clear();
  }

 protected:
  virtual Token fetch() = 0;
  // Takes a token obtained elsewhere (the metadata probe) as the cached one.
  void seed(const Token& t) {
    std::lock_guard<std::mutex> lock(mu_);
    store(t, SteadyClock::now());
  }

 private:
  void store(const Token& t, SteadyClock::time_point now) {
    ++refreshes_;
    cached_ = t.value;
    expiry_ = now + std::chrono::seconds(t.expires_in);
  }

  std::mutex mu_;
  std::string cached_;
  SteadyClock::time_point expiry_{};
  std::atomic<int> refreshes_{0};
};

// --access-token: used as given.
class StaticSource final : public AccessTokenSource {
 public:
  explicit StaticSource(std::string token) : token_(std::move(token)) {}
  std::string token() override { return token_; }
  std::string describe() const override { return "access token given with --access-token"; }

 private:
  const std::string token_;
};

// A JSON key file, read and checked field by field.
struct KeyFile {
  std::string path, origin;
  Json json;

  std::string where() const { return cat(path, " (", origin, ")"); }

  // A required string field; the message names the field, never its value.
  std::string field(const std::string& name) const {
    if (!json.contains(name) || !json[name].is_string() || json[name].get<std::string>().empty())
      fail_input(where(), ": field '", name, "' is missing or not a non-empty string; expected it in a credentials file of type '",
                 json.value("type", std::string("?")), "'");
    return json[name].get<std::string>();
  }
  std::string optional_field(const std::string& name, const std::string& fallback = "") const {
    if (!json.contains(name) || json[name].is_null()) return fallback;
    if (!json[name].is_string()) fail_input(where(), ": field '", name, "' is not a string");
    const std::string v = json[name].get<std::string>();
    return v.empty() ? fallback : v;
  }
};

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

// No passphrase: an encrypted key fails instead of prompting on the terminal.
int no_passphrase(char*, int, int, void*) { return 0; }

class ServiceAccountSource final : public CachedSource {
 public:
  ServiceAccountSource(HttpClient& http, const KeyFile& f, std::string scope) : http_(http), scope_(std::move(scope)) {
    client_email_ = f.field("client_email");
    const std::string pem = f.field("private_key");
    key_id_ = f.optional_field("private_key_id");
    token_uri_ = f.optional_field("token_uri", kDefaultTokenUri);
    quota_project_ = f.optional_field("quota_project_id");
    path_ = f.path;
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
    key_.reset(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr);
    ERR_clear_error();
    if (!key_)
      fail_input(f.where(), ": field 'private_key' is not an unencrypted PEM private key OpenSSL can read; expected "
                 "the \"-----BEGIN PRIVATE KEY-----\" text of a service-account key file");
    if (EVP_PKEY_base_id(key_.get()) != EVP_PKEY_RSA)
      fail_input(f.where(), ": field 'private_key' is not an RSA key; expected one (RS256)");
  }

  std::string describe() const override { return cat("service account ", client_email_, " (key file ", path_, ")"); }
  std::string quota_project() const override { return quota_project_; }

  // header.claims.signature as Google's token endpoint expects (RFC 7523).
  std::string jwt(long iat) const {
    Json header = {{"alg", "RS256"}, {"typ", "JWT"}};
    if (!key_id_.empty()) header["kid"] = key_id_;
    const Json claims = {{"iss", client_email_}, {"scope", scope_}, {"aud", token_uri_}, {"iat", iat}, {"exp", iat + 3600}};
    const std::string signing_input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
    std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    size_t len = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(signing_input.data());
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &len, data, signing_input.size()) != 1) {
      ERR_clear_error();
      fail_input(describe(), ": OpenSSL could not sign the token request (RS256)");
    }
    std::string sig(len, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data, signing_input.size()) != 1) {
      ERR_clear_error();
      fail_input(describe(), ": OpenSSL could not sign the token request (RS256)");
    }
    sig.resize(len);
    return signing_input + "." + base64url_encode(sig);
  }

 protected:
  Token fetch() override {
    const long iat = long(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
    const std::string body =
        form({{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"}, {"assertion", jwt(iat)}});
    return post_form(http_, token_uri_, body, describe());
  }

 private:
  HttpClient& http_;
  std::string scope_, client_email_, key_id_, token_uri_, quota_project_, path_;
  std::unique_ptr<EVP_PKEY, PkeyFree> key_;
};

class AuthorizedUserSource final : public CachedSource {
 public:
  AuthorizedUserSource(HttpClient& http, const KeyFile& f) : http_(http) {
    client_id_ = f.field("client_id");
    client_secret_ = f.field("client_secret");
    refresh_token_ = f.field("refresh_token");
    token_uri_ = f.optional_field("token_uri", kDefaultTokenUri);
    quota_project_ = f.optional_field("quota_project_id");
    path_ = f.path;
    origin_ = f.origin;
  }
  std::string describe() const override { return cat("authorized user (", origin_, " file ", path_, ")"); }
  std::string quota_project() const override { return quota_project_; }

 protected:
  Token fetch() override {
    const std::string body = form({{"grant_type", "refresh_token"},
                                   {"client_id", client_id_},
                                   {"client_secret", client_secret_},
                                   {"refresh_token", refresh_token_}});
    return post_form(http_, token_uri_, body, describe());
  }

 private:
  HttpClient& http_;
  std::string client_id_, client_secret_, refresh_token_, token_uri_, quota_project_, path_, origin_;
};

class MetadataSource final : public CachedSource {
 public:
  MetadataSource(HttpClient& http, std::string base, const std::string& scope) : http_(http), base_(std::move(base)) {
    url_ = base_ + "/computeMetadata/v1/instance/service-accounts/default/token";
    if (!scope.empty()) url_ += "?scopes=" + form_encode(scope);
  }
  std::string describe() const override { return cat("metadata server ", base_, " (default service account)"); }
  HttpRequest request() const {
    HttpRequest req;
    req.url = url_;
    req.headers = {{"Metadata-Flavor", "Google"}};
    return req;
  }
  Token parse(const HttpResponse& r) const { return parse_token_reply(r, url_, describe()); }
  void seed_with(const Token& t) { seed(t); }

 protected:
  Token fetch() override { return parse(call(http_, request(), describe())); }

 private:
  HttpClient& http_;
  std::string base_, url_;
};

std::string read_whole(const std::string& path, const std::string& origin) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    fail_input(origin, " names ", path, ", which does not exist; expected a service-account or authorized-user JSON "
               "key file");
  if (std::filesystem::is_directory(path, ec))
    fail_input(origin, " names ", path, ", which is a folder; expected a JSON key file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(origin, " names ", path, ", which cannot be opened for reading");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8 | uint8_t(bytes[i + 2]);
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    out += alphabet[v >> 6 & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = uint32_t(uint8_t(bytes[i])) << 16 | uint32_t(uint8_t(bytes[i + 1])) << 8;
    out += alphabet[v >> 18 & 63];
    out += alphabet[v >> 12 & 63];
    out += alphabet[v >> 6 & 63];
  }
  return out;
}

std::string gcloud_adc_path() {
  const std::string config = env("CLOUDSDK_CONFIG");
  if (!config.empty()) return (std::filesystem::path(config) / "application_default_credentials.json").string();
#ifdef _WIN32
  const std::string appdata = env("APPDATA");
  if (appdata.empty()) return {};
  return (std::filesystem::path(appdata) / "gcloud" / "application_default_credentials.json").string();
#else
  const std::string home = env("HOME");
  if (home.empty()) return {};
  return (std::filesystem::path(home) / ".config" / "gcloud" / "application_default_credentials.json").string();
#endif
}

std::unique_ptr<AccessTokenSource> credentials_from_file(HttpClient& http, const std::string& path,
                                                         const std::string& origin, const CredentialOptions& options) {
  KeyFile f;
  f.path = path;
  f.origin = origin;
  const std::string text = read_whole(path, origin);
  try {
    f.json = Json::parse(text);
  } catch (const Json::parse_error& e) {
    // Only the position: nlohmann's own message quotes the bytes it read, which may be key material.
    fail_input(f.where(), ": not valid JSON (syntax error at byte ", e.byte, "); expected a credentials file");
  }
  if (!f.json.is_object()) fail_input(f.where(), ": expected a JSON object (a credentials file)");
  if (!f.json.contains("type") || !f.json["type"].is_string())
    fail_input(f.where(), ": field 'type' is missing or not a string; expected \"service_account\" or \"authorized_user\"");
  const std::string type = f.json["type"].get<std::string>();
  if (type == "service_account") return std::make_unique<ServiceAccountSource>(http, f, options.scope);
  if (type == "authorized_user") return std::make_unique<AuthorizedUserSource>(http, f);
  fail_input(f.where(), ": credentials of type '", type,
             "' are not supported; expected \"service_account\" or \"authorized_user\" (for other kinds, e.g. "
             "external_account or impersonated_service_account, pass a token with --access-token)");
}

std::unique_ptr<AccessTokenSource> find_credentials(HttpClient& http, const CredentialOptions& options) {
  if (!options.access_token.empty()) return std::make_unique<StaticSource>(options.access_token);

  const std::string explicit_file = env("GOOGLE_APPLICATION_CREDENTIALS");
  if (!explicit_file.empty())
    return credentials_from_file(http, explicit_file, "GOOGLE_APPLICATION_CREDENTIALS", options);

  const std::string adc = gcloud_adc_path();
  std::error_code ec;
  if (!adc.empty() && std::filesystem::exists(adc, ec))
    return credentials_from_file(http, adc, "gcloud application-default credentials", options);

  if (!options.allow_metadata_server) return nullptr;
  std::string host = env("GCE_METADATA_HOST");
  if (host.empty()) host = "metadata.google.internal";
  const std::string base = host.find("://") == std::string::npos ? "http://" + host : host;
  auto source = std::make_unique<MetadataSource>(http, base, options.scope);
  // The probe: one attempt with a short connect timeout, so a machine without a metadata server moves on at once.
  HttpOptions probe_options;
  probe_options.connect_timeout_s = 1;
  probe_options.request_timeout_s = 5;
  probe_options.retry.max_attempts = 1;
  HttpClient probe(probe_options);
  HttpResponse r;
  try {
    r = probe.request(source->request());
  } catch (const InputError&) {
    return nullptr;  // nothing listening (or not reachable): not on Google Cloud
  }
  if (r.header("Metadata-Flavor") != "Google") return nullptr;  // something else answered
  source->seed_with(source->parse(r));                          // a metadata server that refuses is an error
  return source;
}

}  // namespace gt::io
