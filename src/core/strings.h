// Small string helpers used across folders. Torch-free.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gt {

std::string trim(std::string_view s);
// Like trim, and also removes Unicode white space (UTF-8 encoded): the White_Space property's characters (U+0085,
// U+00A0 no-break space, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000) plus the invisible
// U+200B zero-width space and U+FEFF byte order mark. For deciding whether user text (a prompt, an answer) is
// empty: an answer of no-break spaces says nothing.
std::string trim_space(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
// Whether `s` starts with `lower_prefix` in any letter case (URL schemes: "gs://", "HTTPS://").
bool starts_with_ci(std::string_view s, std::string_view lower_prefix);
bool ends_with(std::string_view s, std::string_view suffix);
std::vector<std::string> split(std::string_view s, char sep);
// Human-readable byte count: 1536 -> "1.5 KiB".
std::string format_bytes(double bytes);
// Human-readable duration: 3725 -> "1h02m05s".
std::string format_duration(double seconds);
// Hides credentials in URLs anywhere in `text` before it is written to a log, a message or a run file: the user
// information of "scheme://user:pass@host" (RFC 3986 section 3.2.1) becomes "REDACTED@", and the values of query
// parameters that carry secrets (token, access_token, key, api_key, sig, signature, password, secret, credential,
// and signed-URL parameters: X-Goog-Signature, X-Goog-Credential, X-Amz-Signature, X-Amz-Credential,
// X-Amz-Security-Token) become "REDACTED".
std::string redact_url_secrets(std::string_view text);
// Quotes a string for messages, escaping control characters and cutting it at `max_len` bytes.
std::string quote(std::string_view s, size_t max_len = 80);

}  // namespace gt
