// Google credentials found the way Google's client libraries find them ("Application Default Credentials"),
// turned into OAuth 2.0 access tokens for Cloud Storage and BigQuery (issue #10). Torch-free; OpenSSL signs the
// service-account JWT.
//
//   gt::io::HttpClient http;
//   auto creds = gt::io::find_credentials(http, {.access_token = cli.access_token});
//   if (creds) gcs_token_fn = [&] { return creds->token(); };   // nullptr: nothing found, anonymous access
//   log("using " + creds->describe());
//
// Order (as google-auth-library's GoogleAuth.getApplicationDefault):
//   1. CredentialOptions::access_token (--access-token): used as is, never refreshed.
//   2. GOOGLE_APPLICATION_CREDENTIALS: a JSON file of type "service_account" or "authorized_user".
//   3. gcloud's application-default file: $CLOUDSDK_CONFIG/application_default_credentials.json, else
//      ~/.config/gcloud/application_default_credentials.json (%APPDATA%\gcloud\... on Windows), as written by
//      `gcloud auth application-default login`.
//   4. The metadata server (Compute Engine, GKE, Cloud Run): http://$GCE_METADATA_HOST or
//      http://metadata.google.internal, GET /computeMetadata/v1/instance/service-accounts/default/token with
//      `Metadata-Flavor: Google`. It is probed with a 1 s connect timeout and a single attempt, so a laptop
//      without one fails fast; a server that answers without `Metadata-Flavor: Google` is not one.
//   None found: nullptr. A file that is named (2) or present (3) but broken (unreadable, not JSON, unsupported
//   type, a field missing, a private key OpenSSL cannot read) is a gt::InputError, not a fall-through.
//
// service_account: a JWT {"alg":"RS256","typ":"JWT","kid":private_key_id} . {iss: client_email, scope, aud:
// token_uri, iat, exp: iat+3600}, base64url without padding, signed RS256 with the key file's private_key, is
// exchanged at token_uri (default https://oauth2.googleapis.com/token) with the form body
// grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>.
// authorized_user: token_uri (same default) with grant_type=refresh_token, client_id, client_secret,
// refresh_token.
// Either reply gives access_token and expires_in (3600 when absent).
//
// Tokens are cached and fetched again once less than 5 minutes of life remain (google-auth-library's
// eagerRefreshThresholdMillis). token() is thread-safe: a mutex serialises it, including the refresh, which uses
// the HttpClient given to find_credentials (that client must outlive the source and must not be used by another
// thread while a token() call may refresh).
//
// Messages name the file, the field, the token endpoint, its HTTP status and the server's error /
// error_description; never a private key, refresh token, client secret or access token.
#pragma once

#include <memory>
#include <string>

#include "io/http_client.h"

namespace gt::io {

class AccessTokenSource {
 public:
  virtual ~AccessTokenSource() = default;
  // A valid access token (for `Authorization: Bearer <token>`), cached; refreshed when < 5 min of life remain.
  virtual std::string token() = 0;
  // Where the credentials came from, e.g. "service account x@y (key file /path)"; never a secret.
  virtual std::string describe() const = 0;
  // The key file's quota_project_id (authorized_user / service_account), sent by Google's clients as the
  // x-goog-user-project header; "" when none.
  virtual std::string quota_project() const { return {}; }
  // Token requests made so far (tests, logs).
  virtual int refreshes() const { return 0; }
  // A server refused `token` (HTTP 401: expired or revoked before its stated lifetime): when it is the cached one,
  // the next token() fetches a new one. A token given with --access-token cannot be renewed (no-op).
  virtual void invalidate(const std::string& token) { (void)token; }
};

struct CredentialOptions {
  std::string access_token;  // --access-token: used as is
  std::string scope = "https://www.googleapis.com/auth/cloud-platform";
  bool allow_metadata_server = true;
};

// The first credentials found in the order above, or nullptr.
std::unique_ptr<AccessTokenSource> find_credentials(HttpClient& http, const CredentialOptions& options = {});

// Credentials from one JSON key file (service_account or authorized_user); `origin` says how it was found (for
// messages), e.g. "GOOGLE_APPLICATION_CREDENTIALS". Throws gt::InputError for a broken file.
std::unique_ptr<AccessTokenSource> credentials_from_file(HttpClient& http, const std::string& path,
                                                         const std::string& origin,
                                                         const CredentialOptions& options = {});

// The gcloud application-default file's path from the environment ("" when neither CLOUDSDK_CONFIG nor HOME
// (APPDATA on Windows) is set). The file may not exist.
std::string gcloud_adc_path();

// base64url without padding (RFC 7515 section 2), as JWTs use.
std::string base64url_encode(std::string_view bytes);

}  // namespace gt::io
