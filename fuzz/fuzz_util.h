// Shared by the fuzz targets: the input as a file for parsers that read one, and the rule that decides what is a
// finding. A parser given bad input must throw gt::InputError (core/error.h), whose message the user reads; any other
// exception (std::logic_error from GT_CHECK, a JSON or YAML library exception that escaped, std::out_of_range from
// stol, ...) is a bug, and so is a crash, a sanitizer report, a hang or a leak. expect_input_errors() turns such an
// exception into an abort with its type and message, which libFuzzer records as a crash.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <typeinfo>

#include "core/error.h"  // defines: gt::InputError

namespace gt::fuzz {

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Writes the input to a file of this process (one per `name`, rewritten for each input) and returns its path.
// Under /dev/shm where it exists, so a run does not wear the disk.
inline std::string input_file(std::string_view name, std::string_view bytes) {
  static const std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  std::string path = dir + "/gt-fuzz-" + std::to_string(getpid()) + "-" + std::string(name);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size() || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
  return path;
}

[[noreturn]] inline void finding(const char* what) {
  std::fprintf(stderr, "fuzz finding: %s\n", what);
  std::fflush(stderr);
  std::abort();
}

// Runs `parse`; gt::InputError is the expected answer to bad input, anything else aborts.
template <typename F>
void expect_input_errors(F&& parse) {
  try {
    parse();
  } catch (const gt::InputError&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz finding: uncaught %s: %s\n", typeid(e).name(), e.what());
    std::fflush(stderr);
    std::abort();
  }
}

}  // namespace gt::fuzz
