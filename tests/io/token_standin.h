// A stand-in for Google's OAuth 2.0 token endpoint and the metadata server's token route (issue #10): cpp-httplib on
// 127.0.0.1 at a free port, run in a thread, stopped by the destructor. Built like gcs_standin.h. It checks a
// service-account JWT as Google's endpoint would, issues tokens, records them, and tells the Cloud Storage and
// BigQuery stand-ins which tokens to take.
//
//   const gt::test::RsaTestKey& key = gt::test::shared_rsa_key();       // RSA 2048, made once per test program
//   gt::test::TokenStandin tokens(key.public_key.get());                 // verifies JWTs with the public half
//   write_file(path, tokens.service_account_json(key.private_pem).dump()); // token_uri = tokens.token_uri()
//   gcs.require_token_if([&](const std::string& t) { return tokens.valid(t); });
//   tokens.set([](auto& s) { s.expires_in = 60; });    // tokens issued from now on say, and live, 60 s
//   tokens.revoke_all();                                // every token issued so far is refused from now on
//
//   POST /token   grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>: the JWT is checked (header
//                 alg RS256, typ JWT, kid kKeyId; claims iss kEmail, aud token_uri(), scope kScope, iat now, exp
//                 iat + 3600; the RS256 signature against the public key given); or grant_type=refresh_token with
//                 client_id, client_secret and refresh_token equal to kClientId, kClientSecret, kRefreshToken.
//                 Answers {"access_token":"ya29.tok-N","expires_in":E,"token_type":"Bearer"}, N = 1, 2, ...
//   GET /computeMetadata/v1/instance/service-accounts/default/token   the metadata server's route: needs
//                 Metadata-Flavor: Google (else 403, as the real one), answers as above.
// A request that fails a check is answered 400 {"error":"invalid_grant","error_description":<why>}, so a test sees
// what was wrong. valid() says whether a resource server should take a token: issued here, not revoked, and its
// expires_in not yet over (measured from its issue, on the steady clock).
#pragma once

#include "io/local_server.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace gt::test {

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// A fresh RSA key: its PKCS#8 PEM (as in Google's key files) and the public key read back from PEM.
struct RsaTestKey {
  std::string private_pem;
  Pkey public_key;
};

inline RsaTestKey make_rsa_key() {
  Pkey key(EVP_RSA_gen(2048));
  if (!key) throw std::runtime_error("EVP_RSA_gen failed");
  RsaTestKey out;
  {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    out.private_pem.assign(data, size_t(n));
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PUBKEY(bio.get(), key.get());
  out.public_key.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  return out;
}

// One key for the whole test program (generating one takes tens of milliseconds).
inline const RsaTestKey& shared_rsa_key() {
  static const RsaTestKey key = make_rsa_key();
  return key;
}

// Lines of a PEM's base64 body: none may appear in a message, a log or a run folder.
inline std::vector<std::string> pem_body_lines(const std::string& pem) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < pem.size()) {
    size_t end = pem.find('\n', start);
    if (end == std::string::npos) end = pem.size();
    const std::string line = pem.substr(start, end - start);
    if (!line.empty() && line.rfind("-----", 0) != 0) lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

// base64url without padding (RFC 4648 section 5), as JWTs use; nullopt for any other byte.
inline std::optional<std::string> base64url_decode(const std::string& s) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (const char c : s) {
    const int v = value(c);
    if (v < 0) return std::nullopt;  // padding or the standard alphabet's + / are not base64url
    acc = acc << 6 | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  return out;
}

// An application/x-www-form-urlencoded value decoded: %XX escapes, and '+' is a space.
inline std::string form_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') out += ' ';
    else if (s[i] == '%' && i + 2 < s.size()) {
      out += char(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else out += s[i];
  }
  return out;
}

inline std::map<std::string, std::string> parse_form(const std::string& body) {
  std::map<std::string, std::string> m;
  size_t start = 0;
  while (start <= body.size()) {
    size_t amp = body.find('&', start);
    if (amp == std::string::npos) amp = body.size();
    const std::string kv = body.substr(start, amp - start);
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) m[form_decode(kv.substr(0, eq))] = form_decode(kv.substr(eq + 1));
    start = amp + 1;
  }
  return m;
}

class TokenStandin {
 public:
  static constexpr const char* kScope = "https://www.googleapis.com/auth/cloud-platform";
  static constexpr const char* kEmail = "trainer@my-project.iam.gserviceaccount.com";
  static constexpr const char* kKeyId = "0123456789abcdef";
  static constexpr const char* kClientId = "12345.apps.googleusercontent.com";
  static constexpr const char* kClientSecret = "SECRET-client-secret-d-0wJ";
  static constexpr const char* kRefreshToken = "1//SECRET-refresh-token-xyz";

  struct Recorded {
    std::string method, path, content_type, metadata_flavor, scopes;
    std::map<std::string, std::string> form;
  };
  struct Settings {
    long expires_in = 3600;  // the lifetime issued tokens state, and have (valid())
    int fail_status = 0;     // > 0: answer every token POST with this status and fail_body
    std::string fail_body;
    bool metadata_flavor_reply = true;  // the metadata route answers with Metadata-Flavor: Google
  };

  explicit TokenStandin(const EVP_PKEY* public_key)
      : public_key_(public_key), server_("TokenStandin", [this](httplib::Server& s) {
          s.Post("/token", [this](const httplib::Request& req, httplib::Response& res) { token(req, res); });
          s.Get("/computeMetadata/v1/instance/service-accounts/default/token",
                [this](const httplib::Request& req, httplib::Response& res) { metadata(req, res); });
        }) {}
  TokenStandin(const TokenStandin&) = delete;
  TokenStandin& operator=(const TokenStandin&) = delete;

  std::string token_uri() const { return server_.base() + "/token"; }
  // As GCE_METADATA_HOST would hold it.
  std::string host() const { return "127.0.0.1:" + std::to_string(server_.port()); }
  std::string base() const { return server_.base(); }
  void set(const std::function<void(Settings&)>& edit) {
    std::lock_guard<std::mutex> lock(mu_);
    edit(settings_);
  }
  // Every request to the token and metadata routes, refused ones included.
  std::vector<Recorded> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  size_t count() const { return requests().size(); }

  // The tokens issued so far, in order.
  std::vector<std::string> issued() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const Issued& t : issued_) out.push_back(t.value);
    return out;
  }
  // From now on `token` is refused (revoked, or expired early as the server sees it).
  void revoke(const std::string& token) {
    std::lock_guard<std::mutex> lock(mu_);
    for (Issued& t : issued_)
      if (t.value == token) t.revoked = true;
  }
  // Every token issued so far is refused from now on; later ones are not.
  void revoke_all() {
    std::lock_guard<std::mutex> lock(mu_);
    for (Issued& t : issued_) t.revoked = true;
  }
  // Whether a resource server should accept `token`: issued here, not revoked, within its expires_in.
  bool valid(const std::string& token) const {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    for (const Issued& t : issued_)
      if (t.value == token) return !t.revoked && now < t.expiry;
    return false;
  }

  // A service-account key file for this endpoint (its token_uri), holding `private_pem`.
  nlohmann::json service_account_json(const std::string& private_pem) const {
    return {{"type", "service_account"}, {"project_id", "my-project"}, {"private_key_id", kKeyId},
            {"private_key", private_pem}, {"client_email", kEmail}, {"client_id", "1047"},
            {"auth_uri", "https://accounts.google.com/o/oauth2/auth"}, {"token_uri", token_uri()}};
  }
  // An authorized-user file (gcloud auth application-default login) for this endpoint.
  nlohmann::json authorized_user_json() const {
    return {{"type", "authorized_user"}, {"client_id", kClientId}, {"client_secret", kClientSecret},
            {"refresh_token", kRefreshToken}, {"token_uri", token_uri()}, {"quota_project_id", "billing-proj"}};
  }

 private:
  using Json = nlohmann::json;
  struct Issued {
    std::string value;
    std::chrono::steady_clock::time_point expiry;
    bool revoked = false;
  };

  static void refuse(httplib::Response& res, const std::string& why) {
    res.status = 400;
    res.set_content(Json{{"error", "invalid_grant"}, {"error_description", why}}.dump(), "application/json");
  }

  // Google's checks of a JWT bearer assertion (RFC 7523), as far as a test can make them.
  std::string check_jwt(const std::string& jwt) const {
    const size_t d1 = jwt.find('.'), d2 = jwt.find('.', d1 + 1);
    if (d1 == std::string::npos || d2 == std::string::npos || jwt.find('.', d2 + 1) != std::string::npos)
      return "assertion is not three dot-separated parts";
    const auto header = base64url_decode(jwt.substr(0, d1));
    const auto claims = base64url_decode(jwt.substr(d1 + 1, d2 - d1 - 1));
    const auto sig = base64url_decode(jwt.substr(d2 + 1));
    if (!header || !claims || !sig) return "assertion is not base64url without padding";
    const Json h = Json::parse(*header, nullptr, false), c = Json::parse(*claims, nullptr, false);
    if (!h.is_object() || !c.is_object()) return "header or claims are not JSON objects";
    if (h.value("alg", "") != "RS256" || h.value("typ", "") != "JWT" || h.value("kid", "") != kKeyId)
      return "bad header " + h.dump();
    if (c.value("iss", "") != kEmail) return "bad iss";
    if (c.value("aud", "") != token_uri()) return "bad aud " + c.value("aud", "");
    if (c.value("scope", "") != kScope) return "bad scope";
    if (!c.contains("iat") || !c.contains("exp") || !c["iat"].is_number_integer() || !c["exp"].is_number_integer())
      return "iat/exp missing or not integers";
    const long iat = c["iat"].get<long>(), exp = c["exp"].get<long>();
    if (exp - iat != 3600) return "exp - iat is not 3600";
    const long now = long(std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count());
    if (std::labs(now - iat) > 60) return "iat is not now";
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    const std::string signed_part = jwt.substr(0, d2);
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, const_cast<EVP_PKEY*>(public_key_)) != 1 ||
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                         reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) != 1)
      return "Invalid JWT Signature.";
    return "";
  }

  void issue(httplib::Response& res, long expires_in) {
    std::string value;
    {
      std::lock_guard<std::mutex> lock(mu_);
      value = "ya29.tok-" + std::to_string(issued_.size() + 1);
      issued_.push_back({value, std::chrono::steady_clock::now() + std::chrono::seconds(expires_in)});
    }
    res.status = 200;
    res.set_content(Json{{"access_token", value}, {"expires_in", expires_in}, {"token_type", "Bearer"}}.dump(),
                    "application/json");
  }

  void token(const httplib::Request& req, httplib::Response& res) {
    Settings s;
    const auto form = parse_form(req.body);
    {
      std::lock_guard<std::mutex> lock(mu_);
      log_.push_back({req.method, req.path, req.get_header_value("Content-Type"), "", "", form});
      s = settings_;
    }
    if (s.fail_status > 0) {
      res.status = s.fail_status;
      res.set_content(s.fail_body, "application/json");
      return;
    }
    if (req.get_header_value("Content-Type") != "application/x-www-form-urlencoded")
      return refuse(res, "Content-Type is not application/x-www-form-urlencoded");
    const auto get = [&](const char* k) { return form.count(k) ? form.at(k) : std::string(); };
    const std::string grant = get("grant_type");
    if (grant == "urn:ietf:params:oauth:grant-type:jwt-bearer") {
      if (form.size() != 2) return refuse(res, "unexpected form fields");
      const std::string why = check_jwt(get("assertion"));
      if (!why.empty()) return refuse(res, why);
    } else if (grant == "refresh_token") {
      if (form.size() != 4 || get("client_id") != kClientId || get("client_secret") != kClientSecret ||
          get("refresh_token") != kRefreshToken)
        return refuse(res, "bad refresh_token form");
    } else {
      return refuse(res, "unsupported grant_type");
    }
    issue(res, s.expires_in);
  }

  void metadata(const httplib::Request& req, httplib::Response& res) {
    Settings s;
    {
      std::lock_guard<std::mutex> lock(mu_);
      log_.push_back({req.method, req.path, "", req.get_header_value("Metadata-Flavor"),
                      req.get_param_value("scopes"), {}});
      s = settings_;
    }
    if (s.metadata_flavor_reply) res.set_header("Metadata-Flavor", "Google");
    if (req.get_header_value("Metadata-Flavor") != "Google") {
      res.status = 403;
      res.set_content("Missing Metadata-Flavor:Google header.", "text/plain");
      return;
    }
    issue(res, s.expires_in);
  }

  const EVP_PKEY* public_key_;
  mutable std::mutex mu_;
  Settings settings_;
  std::vector<Recorded> log_;
  std::vector<Issued> issued_;
  LocalServer server_;  // last: started after the state above exists, stopped before it goes
};

}  // namespace gt::test
