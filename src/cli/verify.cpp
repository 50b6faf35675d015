// `gemma-tune verify DIR`: checks a folder (a run folder, a copied adapter) against its .integrity.json (sha256 and
// size of every file, io/integrity.h). Prints each missing, changed or extra file and ends with exit code 1 when
// there is any; prints "DIR: N files verified" otherwise.
#include <CLI/CLI.hpp>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "io/run_index.h"  // defines: check_integrity

namespace gt::cli {

namespace {

void run_verify(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) fail_input("verify: ", dir, ": no such folder");
  const io::IntegrityStatus s = io::check_integrity(dir);
  if (!s.has_manifest)
    fail_input("verify: ", dir, ": no .integrity.json (train writes one when a run completes)");
  if (!s.error.empty()) fail_input("verify: ", s.error);
  for (const std::string& p : s.problems) std::cout << p << "\n";
  if (!s.problems.empty())
    fail_input("verify: ", dir, ": ", s.problems.size(), " problem(s) against the ", s.files,
               " files of .integrity.json (listed above)");
  std::cout << dir << ": " << s.files << " files verified\n";
}

}  // namespace

void add_verify(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand(
      "verify", "Check a run folder (or any folder with .integrity.json) against its manifest: every file present, "
                "unchanged (size and sha256), nothing extra. Exit code 1 when anything differs.");
  sub->add_option("dir", *dir, "The folder holding .integrity.json")->required();
  sub->callback([dir] { run_verify(*dir); });
}

}  // namespace gt::cli
