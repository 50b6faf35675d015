// Flags from the option table of core/train_config.h, shared by `train` (every option) and `eval` (the options
// that decide how data is read and the model is run), so each option has one default, one help text and one
// check. Torch-free.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/train_config.h"

namespace CLI {
class App;
class Option;
}

namespace gt::cli {

struct ConfigFlags {
  std::map<std::string, std::string> values;  // key -> text, for flags given
  std::map<std::string, CLI::Option*> options;
  std::map<std::string, bool> bools;
};

// Declares "--<key>" for every option of the table, or only for `keys` (in table order) when given.
void add_config_flags(CLI::App* sub, ConfigFlags& flags, const std::vector<std::string>& keys = {});
// Applies the flags that were given to `cfg` (flags win over what cfg holds).
void apply_config_flags(const ConfigFlags& flags, TrainConfig& cfg);

}  // namespace gt::cli
