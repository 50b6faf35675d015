// The subcommands of `gemma-tune`. Each add_* function declares one subcommand, its options and its --help
// text on the CLI11 app; the callback it installs runs the command. Torch-free.
#pragma once

namespace CLI {
class App;
}

namespace gt::cli {

void add_doctor(CLI::App& app);
void add_train(CLI::App& app);
void add_eval(CLI::App& app);
void add_generate(CLI::App& app);
void add_export(CLI::App& app);
void add_blacklist(CLI::App& app);
void add_init_random(CLI::App& app);
void add_prepare(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_runs(CLI::App& app);
void add_verify(CLI::App& app);
void add_wizard(CLI::App& app);

}  // namespace gt::cli
