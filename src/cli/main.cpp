// gemma-tune: LoRA fine-tuning of Gemma 3n and Gemma 4 on text, image + text and audio + text.
// Entry point: builds the command line (one subcommand per file in src/cli/) and maps failures to exit codes:
//   0 success, 1 bad input or a failed run (message names what to change), 2 usage error, 3 internal error.
#include <CLI/CLI.hpp>

#include <execinfo.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>

#include "cli/commands.h"  // defines: add_doctor, add_train, add_eval, ...
#include "core/error.h"    // defines: gt::InputError
#include "core/strings.h"  // defines: gt::redact_url_secrets
#include "core/system_info.h"  // defines: gt::set_command_line

namespace {
// A crash is a bug: print where it happened so that it can be reported, then die with the same signal.
void on_crash(int sig) {
  const char msg[] = "\ngemma-tune crashed; this is a bug, please report it with this backtrace:\n";
  ssize_t ignored = ::write(STDERR_FILENO, msg, sizeof msg - 1);
  (void)ignored;
  void* frames[64];
  const int n = ::backtrace(frames, 64);
  ::backtrace_symbols_fd(frames, n, STDERR_FILENO);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}
}  // namespace

int main(int argc, char** argv) {
  gt::set_command_line(argc, argv);  // `train --nproc` starts copies of it
  void* warm[1];
  ::backtrace(warm, 1);  // loads the unwinder now, not inside the signal handler
  std::signal(SIGSEGV, on_crash);
  std::signal(SIGBUS, on_crash);
  std::signal(SIGILL, on_crash);
  CLI::App app{"gemma-tune " GT_VERSION
               ": LoRA fine-tuning of Gemma 3n and Gemma 4 (E2B/E4B) on text, image + text and audio + text.\n"
               "Run `gemma-tune <command> --help` for the options of a command.",
               "gemma-tune"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "gemma-tune " GT_VERSION);
  gt::cli::add_train(app);
  gt::cli::add_eval(app);
  gt::cli::add_generate(app);
  gt::cli::add_export(app);
  gt::cli::add_blacklist(app);
  gt::cli::add_doctor(app);
  gt::cli::add_tokenize(app);
  gt::cli::add_init_random(app);
  gt::cli::add_prepare(app);
  gt::cli::add_runs(app);
  gt::cli::add_verify(app);
  gt::cli::add_wizard(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // a command's own exit code (train interrupted: 130)
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every other parse failure is a usage error (2), whatever CLI11's own code.
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const gt::InputError& e) {
    std::fflush(stdout);
    std::cerr << "error: " << gt::redact_url_secrets(e.what()) << "\n";  // a URL's credentials stay private
    return 1;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cerr << "internal error: " << gt::redact_url_secrets(e.what()) << "\n"
              << "This is a bug in gemma-tune; please report it with the command you ran.\n";
    return 3;
  }
  return 0;
}
