// Google credentials (io/gcp_credentials) against a local token stand-in: a service-account key generated at test
// time (RSA 2048, OpenSSL) whose token_uri points at the stand-in, which checks the JWT as Google's endpoint would
// (header, claims, the RS256 signature with the public key) before it issues a token; token caching and refresh;
// the authorized-user refresh form; --access-token; the search order (GOOGLE_APPLICATION_CREDENTIALS, gcloud's
// file, metadata server); broken files reported by file and field without secrets; token endpoint errors.
// Every test points HOME and CLOUDSDK_CONFIG at an empty folder and restores the environment afterwards.
#include <gtest/gtest.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "core/error.h"
#include "io/gcp_credentials.h"
#include "io/local_server.h"
#include "test_util.h"

using gt::io::AccessTokenSource;
using gt::io::CredentialOptions;
using gt::io::HttpClient;
using gt::io::HttpOptions;
using Json = nlohmann::json;

namespace {

constexpr const char* kScope = "https://www.googleapis.com/auth/cloud-platform";
constexpr const char* kEmail = "trainer@my-project.iam.gserviceaccount.com";
constexpr const char* kKeyId = "0123456789abcdef";
constexpr const char* kClientId = "12345.apps.googleusercontent.com";
constexpr const char* kClientSecret = "SECRET-client-secret-d-0wJ";
constexpr const char* kRefreshToken = "1//SECRET-refresh-token-xyz";

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// A fresh RSA key: its PKCS#8 PEM (as in Google's key files) and the public key read back from PEM.
struct RsaKey {
  std::string private_pem;
  Pkey public_key;
};

RsaKey make_key() {
  Pkey key(EVP_RSA_gen(2048));
  if (!key) throw std::runtime_error("EVP_RSA_gen failed");
  RsaKey out;
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

const RsaKey& test_key() {
  static const RsaKey key = make_key();
  return key;
}

std::optional<std::string> b64url_decode(const std::string& s) {
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

std::string percent_decode(const std::string& s) {
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

std::map<std::string, std::string> parse_form(const std::string& body) {
  std::map<std::string, std::string> m;
  size_t start = 0;
  while (start <= body.size()) {
    size_t amp = body.find('&', start);
    if (amp == std::string::npos) amp = body.size();
    const std::string kv = body.substr(start, amp - start);
    const size_t eq = kv.find('=');
    if (eq != std::string::npos) m[percent_decode(kv.substr(0, eq))] = percent_decode(kv.substr(eq + 1));
    start = amp + 1;
  }
  return m;
}

// The token endpoint and metadata server. A request that fails a check is answered 400 invalid_grant with the
// reason, so a test sees what was wrong.
class TokenStandin {
 public:
  struct Recorded {
    std::string method, path, content_type, metadata_flavor, scopes;
    std::map<std::string, std::string> form;
  };
  struct Settings {
    long expires_in = 3600;
    int fail_status = 0;  // > 0: answer every token POST with this status and fail_body
    std::string fail_body;
    bool metadata_flavor_reply = true;  // the metadata route answers with Metadata-Flavor: Google
  };

  explicit TokenStandin(const EVP_PKEY* public_key)
      : public_key_(public_key), server_("TokenStandin", [this](httplib::Server& s) {
          s.Post("/token", [this](const httplib::Request& req, httplib::Response& res) { token(req, res); });
          s.Get("/computeMetadata/v1/instance/service-accounts/default/token",
                [this](const httplib::Request& req, httplib::Response& res) { metadata(req, res); });
        }) {}

  std::string token_uri() const { return server_.base() + "/token"; }
  std::string host() const { return "127.0.0.1:" + std::to_string(server_.port()); }
  std::string base() const { return server_.base(); }
  void set(const std::function<void(Settings&)>& edit) {
    std::lock_guard<std::mutex> lock(mu_);
    edit(settings_);
  }
  std::vector<Recorded> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  size_t count() const { return requests().size(); }

 private:
  static void refuse(httplib::Response& res, const std::string& why) {
    res.status = 400;
    res.set_content(Json{{"error", "invalid_grant"}, {"error_description", why}}.dump(), "application/json");
  }

  // Google's checks of a JWT bearer assertion (RFC 7523), as far as a test can make them.
  std::string check_jwt(const std::string& jwt) const {
    const size_t d1 = jwt.find('.'), d2 = jwt.find('.', d1 + 1);
    if (d1 == std::string::npos || d2 == std::string::npos || jwt.find('.', d2 + 1) != std::string::npos)
      return "assertion is not three dot-separated parts";
    const auto header = b64url_decode(jwt.substr(0, d1));
    const auto claims = b64url_decode(jwt.substr(d1 + 1, d2 - d1 - 1));
    const auto sig = b64url_decode(jwt.substr(d2 + 1));
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
    const int n = ++issued_;
    res.status = 200;
    res.set_content(Json{{"access_token", "ya29.tok-" + std::to_string(n)}, {"expires_in", expires_in},
                         {"token_type", "Bearer"}}.dump(),
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
  std::atomic<int> issued_{0};
  gt::test::LocalServer server_;  // last: stopped before the state above goes
};

// Saves the variables credentials are looked up in, points HOME and CLOUDSDK_CONFIG at an empty folder, unsets the
// others; restores everything in the destructor.
class CleanEnv {
 public:
  explicit CleanEnv(const std::filesystem::path& empty_home) {
    for (const char* name : kNames) {
      const char* v = std::getenv(name);
      saved_.emplace_back(name, v ? std::optional<std::string>(v) : std::nullopt);
      unsetenv(name);
    }
    setenv("HOME", empty_home.c_str(), 1);
    setenv("CLOUDSDK_CONFIG", (empty_home / "gcloud").c_str(), 1);
  }
  ~CleanEnv() {
    for (const auto& [name, value] : saved_) {
      if (value) setenv(name, value->c_str(), 1);
      else unsetenv(name);
    }
  }

 private:
  static constexpr const char* kNames[] = {"GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "HOME",
                                           "GCE_METADATA_HOST"};
  std::vector<std::pair<const char*, std::optional<std::string>>> saved_;
};

HttpOptions fast_options() {
  HttpOptions o;
  o.retry.seed = 7;
  o.retry.max_attempts = 2;
  o.retry.sleep = [](double) {};
  o.connect_timeout_s = 2;
  return o;
}

class GcpCredentials : public ::testing::Test {
 protected:
  GcpCredentials() : home_("gcp-cred-home"), files_("gcp-cred-files"), env_(home_.path()), http_(fast_options()) {}

  Json service_account_json(const std::string& pem) const {
    return {{"type", "service_account"}, {"project_id", "my-project"}, {"private_key_id", kKeyId},
            {"private_key", pem}, {"client_email", kEmail}, {"client_id", "1047"},
            {"auth_uri", "https://accounts.google.com/o/oauth2/auth"}, {"token_uri", standin_.token_uri()}};
  }
  Json authorized_user_json() const {
    return {{"type", "authorized_user"}, {"client_id", kClientId}, {"client_secret", kClientSecret},
            {"refresh_token", kRefreshToken}, {"token_uri", standin_.token_uri()}, {"quota_project_id", "billing-proj"}};
  }
  std::string write(const std::string& name, const std::string& text) const {
    const auto p = files_ / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
  // The message of the gt::InputError that find_credentials throws ("" if it does not).
  std::string error_of(const CredentialOptions& o = {}) {
    try {
      find_credentials(http_, o);
    } catch (const gt::InputError& e) {
      return e.what();
    }
    return "";
  }

  gt::test::TempDir home_, files_;
  CleanEnv env_;
  TokenStandin standin_{test_key().public_key.get()};
  HttpClient http_;
};

// A line of the PEM body: must never appear in a message.
std::string key_body_line(const std::string& pem) { return pem.substr(pem.find('\n') + 1, 40); }

TEST_F(GcpCredentials, Base64urlHasNoPaddingAndTheUrlAlphabet) {
  EXPECT_EQ(gt::io::base64url_encode(""), "");
  EXPECT_EQ(gt::io::base64url_encode("f"), "Zg");
  EXPECT_EQ(gt::io::base64url_encode("fo"), "Zm8");
  EXPECT_EQ(gt::io::base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(gt::io::base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(gt::io::base64url_encode(std::string("\xfb\xff\xbf", 3)), "-_-_");
}

TEST_F(GcpCredentials, ServiceAccountJwtIsVerifiedAndExchanged) {
  const std::string path = write("sa.json", service_account_json(test_key().private_pem).dump(2));
  setenv("GOOGLE_APPLICATION_CREDENTIALS", path.c_str(), 1);
  auto creds = find_credentials(http_, {});
  ASSERT_NE(creds, nullptr);
  EXPECT_EQ(creds->describe(), std::string("service account ") + kEmail + " (key file " + path + ")");
  EXPECT_EQ(creds->token(), "ya29.tok-1");  // issued only after the stand-in verified header, claims and signature
  const auto reqs = standin_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].content_type, "application/x-www-form-urlencoded");
  EXPECT_EQ(reqs[0].form.at("grant_type"), "urn:ietf:params:oauth:grant-type:jwt-bearer");
}

TEST_F(GcpCredentials, ASignatureFromAnotherKeyIsRefused) {
  // The stand-in's check can fail: a key file holding a different key than the one it verifies with.
  const RsaKey other = make_key();
  const std::string path = write("other.json", service_account_json(other.private_pem).dump());
  setenv("GOOGLE_APPLICATION_CREDENTIALS", path.c_str(), 1);
  auto creds = find_credentials(http_, {});
  ASSERT_NE(creds, nullptr);
  try {
    creds->token();
    FAIL() << "a token was issued for a JWT signed with the wrong key";
  } catch (const gt::InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("Invalid JWT Signature."), std::string::npos) << m;
    EXPECT_EQ(m.find(key_body_line(other.private_pem)), std::string::npos) << m;
  }
}

TEST_F(GcpCredentials, TokenIsCachedThenRefreshedWhenShortLived) {
  const std::string path = write("sa.json", service_account_json(test_key().private_pem).dump());
  setenv("GOOGLE_APPLICATION_CREDENTIALS", path.c_str(), 1);
  auto creds = find_credentials(http_, {});
  ASSERT_NE(creds, nullptr);
  EXPECT_EQ(creds->token(), "ya29.tok-1");
  EXPECT_EQ(creds->token(), "ya29.tok-1");
  EXPECT_EQ(standin_.count(), 1u);
  EXPECT_EQ(creds->refreshes(), 1);

  // 60 s of life is under the 5-minute margin: the next call fetches again.
  standin_.set([](auto& s) { s.expires_in = 60; });
  auto short_lived = find_credentials(http_, {});
  EXPECT_EQ(short_lived->token(), "ya29.tok-2");
  EXPECT_EQ(short_lived->token(), "ya29.tok-3");
  EXPECT_EQ(standin_.count(), 3u);
}

TEST_F(GcpCredentials, ARefusedTokenIsFetchedAgainOnlyWhenItIsTheCachedOne) {
  const std::string path = write("sa.json", service_account_json(test_key().private_pem).dump());
  setenv("GOOGLE_APPLICATION_CREDENTIALS", path.c_str(), 1);
  auto creds = find_credentials(http_, {});
  ASSERT_NE(creds, nullptr);
  EXPECT_EQ(creds->token(), "ya29.tok-1");
  creds->invalidate("ya29.some-older-token");  // another thread's stale refusal: the cached token stays
  EXPECT_EQ(creds->token(), "ya29.tok-1");
  creds->invalidate("ya29.tok-1");
  EXPECT_EQ(creds->token(), "ya29.tok-2");
  EXPECT_EQ(standin_.count(), 2u);
  auto given = find_credentials(http_, {.access_token = "ya29.given"});
  given->invalidate("ya29.given");  // cannot be renewed: still the one given
  EXPECT_EQ(given->token(), "ya29.given");
}

TEST_F(GcpCredentials, ConcurrentCallersShareOneRefresh) {
  const std::string path = write("sa.json", service_account_json(test_key().private_pem).dump());
  setenv("GOOGLE_APPLICATION_CREDENTIALS", path.c_str(), 1);
  auto creds = find_credentials(http_, {});
  ASSERT_NE(creds, nullptr);
  std::vector<std::string> got(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i) threads.emplace_back([&, i] { got[i] = creds->token(); });
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, "ya29.tok-1");
  EXPECT_EQ(standin_.count(), 1u);
}

TEST_F(GcpCredentials, AuthorizedUserFromGcloudFileSendsTheRefreshForm) {
  // gcloud's application-default file, found through CLOUDSDK_CONFIG.
  const std::string dir = std::getenv("CLOUDSDK_CONFIG");
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/application_default_credentials.json";
  std::ofstream(path) << authorized_user_json().dump(2);
  auto creds = find_credentials(http_, {.allow_metadata_server = false});
  ASSERT_NE(creds, nullptr);
  EXPECT_NE(creds->describe().find("authorized user"), std::string::npos);
  EXPECT_NE(creds->describe().find(path), std::string::npos);
  EXPECT_EQ(creds->describe().find(kRefreshToken), std::string::npos);
  EXPECT_EQ(creds->quota_project(), "billing-proj");
  EXPECT_EQ(creds->token(), "ya29.tok-1");
  const auto reqs = standin_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  const std::map<std::string, std::string> expected = {{"grant_type", "refresh_token"},
                                                       {"client_id", kClientId},
                                                       {"client_secret", kClientSecret},
                                                       {"refresh_token", kRefreshToken}};
  EXPECT_EQ(reqs[0].form, expected);
}

TEST_F(GcpCredentials, GcloudFileUnderHomeWhenNoCloudsdkConfig) {
  unsetenv("CLOUDSDK_CONFIG");
  const auto dir = home_ / ".config/gcloud";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "application_default_credentials.json") << authorized_user_json().dump();
  auto creds = find_credentials(http_, {.allow_metadata_server = false});
  ASSERT_NE(creds, nullptr);
  EXPECT_NE(creds->describe().find((dir / "application_default_credentials.json").string()), std::string::npos);
}

TEST_F(GcpCredentials, ExplicitFileComesBeforeGcloudFile) {
  const std::string dir = std::getenv("CLOUDSDK_CONFIG");
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/application_default_credentials.json") << authorized_user_json().dump();
  const std::string path = write("sa.json", service_account_json(test_key().private_pem).dump());
  setenv("GOOGLE_APPLICATION_CREDENTIALS", path.c_str(), 1);
  auto creds = find_credentials(http_, {});
  ASSERT_NE(creds, nullptr);
  EXPECT_NE(creds->describe().find("service account"), std::string::npos);
}

TEST_F(GcpCredentials, ExplicitAccessTokenIsUsedAsIs) {
  setenv("GOOGLE_APPLICATION_CREDENTIALS", (files_ / "missing.json").c_str(), 1);  // not even looked at
  auto creds = find_credentials(http_, {.access_token = "ya29.given"});
  ASSERT_NE(creds, nullptr);
  EXPECT_EQ(creds->token(), "ya29.given");
  EXPECT_EQ(creds->token(), "ya29.given");
  EXPECT_EQ(creds->describe().find("ya29.given"), std::string::npos);
  EXPECT_EQ(standin_.count(), 0u);
}

TEST_F(GcpCredentials, MissingFileIsAnErrorNamingIt) {
  const std::string path = (files_ / "missing.json").string();
  setenv("GOOGLE_APPLICATION_CREDENTIALS", path.c_str(), 1);
  const std::string m = error_of();
  EXPECT_NE(m.find("GOOGLE_APPLICATION_CREDENTIALS"), std::string::npos) << m;
  EXPECT_NE(m.find(path), std::string::npos) << m;
  EXPECT_NE(m.find("does not exist"), std::string::npos) << m;
}

TEST_F(GcpCredentials, UnsupportedTypeIsAnErrorWithoutSecrets) {
  Json j = authorized_user_json();
  j["type"] = "external_account";
  const std::string path = write("ext.json", j.dump());
  setenv("GOOGLE_APPLICATION_CREDENTIALS", path.c_str(), 1);
  const std::string m = error_of();
  EXPECT_NE(m.find(path), std::string::npos) << m;
  EXPECT_NE(m.find("'external_account'"), std::string::npos) << m;
  EXPECT_EQ(m.find(kRefreshToken), std::string::npos) << m;
  EXPECT_EQ(m.find(kClientSecret), std::string::npos) << m;
}

TEST_F(GcpCredentials, MissingFieldIsNamedWithoutSecrets) {
  Json sa = service_account_json(test_key().private_pem);
  sa.erase("client_email");
  const std::string sa_path = write("sa-no-email.json", sa.dump());
  setenv("GOOGLE_APPLICATION_CREDENTIALS", sa_path.c_str(), 1);
  std::string m = error_of();
  EXPECT_NE(m.find(sa_path), std::string::npos) << m;
  EXPECT_NE(m.find("'client_email'"), std::string::npos) << m;
  EXPECT_EQ(m.find("PRIVATE KEY"), std::string::npos) << m;
  EXPECT_EQ(m.find(key_body_line(test_key().private_pem)), std::string::npos) << m;

  Json user = authorized_user_json();
  user.erase("client_secret");
  const std::string user_path = write("user-no-secret.json", user.dump());
  setenv("GOOGLE_APPLICATION_CREDENTIALS", user_path.c_str(), 1);
  m = error_of();
  EXPECT_NE(m.find(user_path), std::string::npos) << m;
  EXPECT_NE(m.find("'client_secret'"), std::string::npos) << m;
  EXPECT_EQ(m.find(kRefreshToken), std::string::npos) << m;
}

TEST_F(GcpCredentials, BrokenKeyOrJsonIsAnErrorWithoutSecrets) {
  Json sa = service_account_json("-----BEGIN PRIVATE KEY-----\nNOTAKEYsecretbits\n-----END PRIVATE KEY-----\n");
  const std::string bad_key = write("bad-key.json", sa.dump());
  setenv("GOOGLE_APPLICATION_CREDENTIALS", bad_key.c_str(), 1);
  std::string m = error_of();
  EXPECT_NE(m.find(bad_key), std::string::npos) << m;
  EXPECT_NE(m.find("'private_key'"), std::string::npos) << m;
  EXPECT_EQ(m.find("NOTAKEYsecretbits"), std::string::npos) << m;

  // Cut off in the middle of the private key: the parser's own message would quote it.
  const std::string text = service_account_json(test_key().private_pem).dump();
  const std::string cut = write("cut.json", text.substr(0, text.find("PRIVATE KEY") + 200));
  setenv("GOOGLE_APPLICATION_CREDENTIALS", cut.c_str(), 1);
  m = error_of();
  EXPECT_NE(m.find(cut), std::string::npos) << m;
  EXPECT_NE(m.find("not valid JSON"), std::string::npos) << m;
  EXPECT_EQ(m.find(key_body_line(test_key().private_pem)), std::string::npos) << m;
}

TEST_F(GcpCredentials, MetadataServerNeedsTheFlavorHeader) {
  // The stand-in refuses a request without Metadata-Flavor: Google, as the real server does.
  gt::io::HttpRequest bare;
  bare.url = standin_.base() + "/computeMetadata/v1/instance/service-accounts/default/token";
  EXPECT_EQ(http_.request(bare).status, 403);

  setenv("GCE_METADATA_HOST", standin_.host().c_str(), 1);
  auto creds = find_credentials(http_, {});
  ASSERT_NE(creds, nullptr);
  EXPECT_NE(creds->describe().find("metadata server"), std::string::npos);
  EXPECT_EQ(creds->token(), "ya29.tok-1");  // from the probe, cached
  EXPECT_EQ(creds->token(), "ya29.tok-1");
  const auto reqs = standin_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].method, "GET");
  EXPECT_EQ(reqs[1].metadata_flavor, "Google");
  EXPECT_EQ(reqs[1].scopes, kScope);
}

TEST_F(GcpCredentials, NoMetadataServerMeansNoCredentialsQuickly) {
  int port = 0;
  {
    gt::test::LocalServer gone("gone", [](httplib::Server&) {});
    port = gone.port();
  }
  setenv("GCE_METADATA_HOST", ("127.0.0.1:" + std::to_string(port)).c_str(), 1);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(find_credentials(http_, {}), nullptr);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));

  // A server that answers without Metadata-Flavor: Google is not a metadata server.
  standin_.set([](auto& s) { s.metadata_flavor_reply = false; });
  setenv("GCE_METADATA_HOST", standin_.host().c_str(), 1);
  EXPECT_EQ(find_credentials(http_, {}), nullptr);
}

TEST_F(GcpCredentials, NothingConfiguredGivesNull) {
  EXPECT_EQ(find_credentials(http_, {.allow_metadata_server = false}), nullptr);
  EXPECT_EQ(standin_.count(), 0u);
}

TEST_F(GcpCredentials, TokenEndpointErrorNamesEndpointStatusAndDescription) {
  standin_.set([](auto& s) {
    s.fail_status = 400;
    s.fail_body = R"({"error":"invalid_grant","error_description":"Token has been expired or revoked."})";
  });
  const std::string path = write("user.json", authorized_user_json().dump());
  setenv("GOOGLE_APPLICATION_CREDENTIALS", path.c_str(), 1);
  auto creds = find_credentials(http_, {});
  ASSERT_NE(creds, nullptr);
  try {
    creds->token();
    FAIL() << "no error for HTTP 400";
  } catch (const gt::InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(standin_.token_uri()), std::string::npos) << m;
    EXPECT_NE(m.find("HTTP 400"), std::string::npos) << m;
    EXPECT_NE(m.find("invalid_grant: Token has been expired or revoked."), std::string::npos) << m;
    EXPECT_NE(m.find(path), std::string::npos) << m;
    EXPECT_EQ(m.find(kRefreshToken), std::string::npos) << m;
    EXPECT_EQ(m.find(kClientSecret), std::string::npos) << m;
  }
  EXPECT_EQ(standin_.count(), 1u);  // 400 is final, not retried
}

}  // namespace
