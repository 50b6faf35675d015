// Small string helpers used across folders. Torch-free.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace gt {

std::string trim(std::string_view s);
bool starts_with(std::string_view s, std::string_view prefix);
// Whether `s` starts with `lower_prefix` in any letter case (URL schemes: "gs://", "HTTPS://").
bool starts_with_ci(std::string_view s, std::string_view lower_prefix);
bool ends_with(std::string_view s, std::string_view suffix);
std::vector<std::string> split(std::string_view s, char sep);
// Human-readable byte count: 1536 -> "1.5 KiB".
std::string format_bytes(double bytes);
// Human-readable duration: 3725 -> "1h02m05s".
std::string format_duration(double seconds);
// Quotes a string for messages, escaping control characters and cutting it at `max_len` bytes.
std::string quote(std::string_view s, size_t max_len = 80);

}  // namespace gt
