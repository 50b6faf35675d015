// Google credentials (io/gcp_credentials) against a local token stand-in: a service-account key generated at test
// time (RSA 2048, OpenSSL) whose token_uri points at the stand-in, which checks the JWT as Google's endpoint would
// (header, claims, the RS256 signature with the public key) before it issues a token; token caching and refresh;
// the authorized-user refresh form; --access-token; the search order (GOOGLE_APPLICATION_CREDENTIALS, gcloud's
// file, metadata server); broken files reported by file and field without secrets; token endpoint errors.
// Every test points HOME and CLOUDSDK_CONFIG at an empty folder and restores the environment afterwards.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "core/error.h"
#include "io/gcp_credentials.h"
#include "io/local_server.h"
#include "io/token_standin.h"
#include "test_util.h"

using gt::io::AccessTokenSource;
using gt::io::CredentialOptions;
using gt::io::HttpClient;
using gt::io::HttpOptions;
using Json = nlohmann::json;

namespace {

using gt::test::RsaTestKey;
using gt::test::TokenStandin;

constexpr const char* kScope = TokenStandin::kScope;
constexpr const char* kEmail = TokenStandin::kEmail;
constexpr const char* kClientId = TokenStandin::kClientId;
constexpr const char* kClientSecret = TokenStandin::kClientSecret;
constexpr const char* kRefreshToken = TokenStandin::kRefreshToken;

RsaTestKey make_key() { return gt::test::make_rsa_key(); }
const RsaTestKey& test_key() { return gt::test::shared_rsa_key(); }

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

  Json service_account_json(const std::string& pem) const { return standin_.service_account_json(pem); }
  Json authorized_user_json() const { return standin_.authorized_user_json(); }
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
  const RsaTestKey other = make_key();
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

// The stand-in's bookkeeping, which the CLI token tests (tests/cli/stream_token_cli_test.cpp) rely on: issued tokens
// are recorded and valid until revoked or their expires_in is over; unknown ones never are.
TEST_F(GcpCredentials, StandinRecordsRevokesAndExpiresTokens) {
  const std::string path = write("sa.json", service_account_json(test_key().private_pem).dump());
  setenv("GOOGLE_APPLICATION_CREDENTIALS", path.c_str(), 1);
  auto creds = find_credentials(http_, {});
  ASSERT_NE(creds, nullptr);
  const std::string first = creds->token();
  EXPECT_TRUE(standin_.valid(first));
  EXPECT_FALSE(standin_.valid("ya29.never-issued"));
  standin_.revoke_all();
  EXPECT_FALSE(standin_.valid(first));
  creds->invalidate(first);
  const std::string second = creds->token();
  EXPECT_TRUE(standin_.valid(second)) << "revoke_all leaves later tokens alone";
  standin_.revoke(second);
  EXPECT_FALSE(standin_.valid(second));
  standin_.set([](auto& s) { s.expires_in = 0; });  // dead when issued
  creds->invalidate(second);
  const std::string third = creds->token();
  EXPECT_FALSE(standin_.valid(third));
  EXPECT_EQ(standin_.issued(), (std::vector<std::string>{"ya29.tok-1", "ya29.tok-2", "ya29.tok-3"}));
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
