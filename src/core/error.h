// Error types and check helpers shared by every folder. Torch-free.
//
// Two kinds of failure are kept apart, as the design asks:
//   gt::InputError   bad user input (a file, a row, an option): the message names what the user can change.
//   std::logic_error programming mistakes inside gemma-tune (a violated precondition).
// Messages follow one shape: "<where>: <what is wrong>; expected <x>, found <y>" plus a hint when one helps.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace gt {

struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Concatenates anything streamable: gt::cat("tensor '", name, "' has ", n, " elements").
template <typename... Args>
std::string cat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}

template <typename... Args>
[[noreturn]] void fail_input(Args&&... args) {
  throw InputError(cat(std::forward<Args>(args)...));
}

}  // namespace gt

// GT_CHECK(cond, parts...): an internal invariant; throws std::logic_error with file:line.
#define GT_CHECK(cond, ...)                                                                          \
  do {                                                                                               \
    if (!(cond))                                                                                     \
      throw std::logic_error(::gt::cat(__FILE__, ":", __LINE__, ": check failed: " #cond ": ", \
                                       ##__VA_ARGS__));                                              \
  } while (0)
