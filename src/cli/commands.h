// The subcommands of `gemma-tune`. Each add_* function declares one subcommand, its options and its --help
// text on the CLI11 app; the callback it installs runs the command. Torch-free.
#pragma once

namespace CLI {
class App;
}

namespace gt::cli {

void add_doctor(CLI::App& app);
void add_tokenize(CLI::App& app);
// Commands whose issues have not landed yet: train, eval, generate, export, prepare, runs, init-random.
void add_pending_commands(CLI::App& app);

}  // namespace gt::cli
