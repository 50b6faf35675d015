#include "core/strings.h"

#include <cctype>
#include <cmath>
#include <cstdio>

namespace gt {

std::string trim(std::string_view s) {
  const char* ws = " \t\r\n\f\v";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

namespace {

// Byte length of the white space character that `s` starts with (ASCII or UTF-8 encoded), 0 if none.
size_t leading_space(std::string_view s) {
  if (s.empty()) return 0;
  const auto b = [&](size_t i) { return i < s.size() ? static_cast<unsigned char>(s[i]) : 0u; };
  const unsigned c = b(0);
  if (c == ' ' || (c >= 0x09 && c <= 0x0d)) return 1;
  if (c == 0xc2 && (b(1) == 0x85 || b(1) == 0xa0)) return 2;                       // U+0085, U+00A0
  if (c == 0xe1 && b(1) == 0x9a && b(2) == 0x80) return 3;                         // U+1680
  if (c == 0xe2 && b(1) == 0x80 && (b(2) <= 0x8b || b(2) == 0xa8 || b(2) == 0xa9 || b(2) == 0xaf))
    return b(2) >= 0x80 ? 3 : 0;                                                   // U+2000..200B, 2028, 2029, 202F
  if (c == 0xe2 && b(1) == 0x81 && b(2) == 0x9f) return 3;                         // U+205F
  if (c == 0xe3 && b(1) == 0x80 && b(2) == 0x80) return 3;                         // U+3000
  if (c == 0xef && b(1) == 0xbb && b(2) == 0xbf) return 3;                         // U+FEFF
  return 0;
}

// Byte length of the white space character that `s` ends with, 0 if none (UTF-8 is at most 3 bytes here).
size_t trailing_space(std::string_view s) {
  for (size_t n = 1; n <= 3 && n <= s.size(); ++n)
    if (leading_space(s.substr(s.size() - n)) == n) return n;
  return 0;
}

}  // namespace

std::string trim_space(std::string_view s) {
  while (size_t n = leading_space(s)) s.remove_prefix(n);
  while (size_t n = trailing_space(s)) s.remove_suffix(n);
  return std::string(s);
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool starts_with_ci(std::string_view s, std::string_view lower_prefix) {
  if (s.size() < lower_prefix.size()) return false;
  for (size_t i = 0; i < lower_prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != lower_prefix[i]) return false;
  return true;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    out.emplace_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (std::fabs(bytes) >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm%02lds", s / 3600, (s / 60) % 60, s % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

std::string quote(std::string_view s, size_t max_len) {
  std::string out = "\"";
  size_t n = 0;
  for (char c : s) {
    if (n++ >= max_len) {
      out += "...";
      break;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += "\"";
  return out;
}

namespace {

bool url_stop(char c) {
  return std::isspace(static_cast<unsigned char>(c)) || c == '"' || c == '\'' || c == '<' || c == '>' || c == '`';
}

bool secret_parameter(std::string name) {
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const char* const kNames[] = {"token",          "access_token",     "id_token",          "refresh_token",
                                       "key",            "api_key",          "apikey",            "sig",
                                       "signature",      "password",         "passwd",            "secret",
                                       "client_secret",  "credential",       "auth",              "x-goog-signature",
                                       "x-goog-credential", "x-amz-signature", "x-amz-credential", "x-amz-security-token"};
  for (const char* n : kNames)
    if (name == n) return true;
  return false;
}

}  // namespace

std::string redact_url_secrets(std::string_view text) {
  std::string out(text);
  // User information: between "://" and the last '@' of the authority (which ends at '/', '?', '#' or a stop).
  for (size_t p = out.find("://"); p != std::string::npos; p = out.find("://", p + 3)) {
    const size_t start = p + 3;
    size_t end = start;
    while (end < out.size() && !url_stop(out[end]) && out[end] != '/' && out[end] != '?' && out[end] != '#') ++end;
    const size_t at = out.rfind('@', end == 0 ? 0 : end - 1);
    if (at != std::string::npos && at >= start && at < end) out.replace(start, at - start, "REDACTED");
  }
  // Secret query parameters: "?name=value" or "&name=value", the value up to '&', '#' or a stop.
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] != '?' && out[i] != '&' && out[i] != ';') continue;
    const size_t eq = out.find('=', i + 1);
    if (eq == std::string::npos) break;
    const std::string name = out.substr(i + 1, eq - i - 1);
    if (name.find_first_of("?&#/ \t\n\"'") != std::string::npos || !secret_parameter(name)) continue;
    size_t end = eq + 1;
    while (end < out.size() && !url_stop(out[end]) && out[end] != '&' && out[end] != '#') ++end;
    // Punctuation closing the URL in a message ("...?token=abc: HTTP 404") belongs to the message.
    while (end > eq + 1 && std::string_view(":,.;)").find(out[end - 1]) != std::string_view::npos) --end;
    out.replace(eq + 1, end - eq - 1, "REDACTED");
  }
  return out;
}

}  // namespace gt
