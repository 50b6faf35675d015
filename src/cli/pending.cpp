// Subcommands that later issues fill. Each already has its place and its help text, so that
// `gemma-tune --help` shows the whole tool; running one says which issue brings it.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "core/error.h"

namespace gt::cli {

namespace {

struct Pending {
  const char* name;
  const char* description;
  const char* issue;
};

const Pending kPending[] = {
    {"generate", "Generate text from a prompt with a model and optional adapter.", "a later issue"},
    {"export", "Export an adapter: PEFT, merged safetensors, GGUF LoRA.", "a later issue"},
    {"runs", "List and inspect training runs.", "a later issue"},
};

}  // namespace

void add_pending_commands(CLI::App& app) {
  for (const Pending& p : kPending) {
    CLI::App* sub = app.add_subcommand(p.name, cat(p.description, " [arrives with issue ", p.issue, "]"));
    sub->allow_extras();
    std::string name = p.name, issue = p.issue;
    sub->callback([name, issue] {
      fail_input("`gemma-tune ", name, "` is not available in this build yet; it arrives with issue ", issue, ".");
    });
  }
}

}  // namespace gt::cli
