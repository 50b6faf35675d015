// Range checks for command-line numbers whose messages name the value and the allowed range ("value -3, expected
// a number >= 0"), where CLI11's own Range prints the largest double in full. A failed check is a usage error
// (exit 2, cli/main.cpp).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdlib>
#include <string>

namespace gt::cli {

// Numbers > 0 (`strict`) or >= `min`.
inline CLI::Validator number_at_least(double min, bool strict = false) {
  const std::string range = std::string(strict ? "a number > " : "a number >= ") + CLI::detail::to_string(min);
  return CLI::Validator(
      [min, strict, range](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0') return "value " + text + " is not a number, expected " + range;
        if (strict ? !(v > min) : !(v >= min)) return "value " + text + " is out of range, expected " + range;
        return "";
      },
      strict ? "POSITIVE" : "NONNEGATIVE");
}
inline CLI::Validator positive_number() { return number_at_least(0, true); }
inline CLI::Validator non_negative_number() { return number_at_least(0, false); }

}  // namespace gt::cli
