#include "cli/config_flags.h"

#include <CLI/CLI.hpp>

#include <algorithm>

namespace gt::cli {

void add_config_flags(CLI::App* sub, ConfigFlags& flags, const std::vector<std::string>& keys) {
  const TrainConfig defaults;
  for (const ConfigField& f : train_config_fields()) {
    if (!keys.empty() && std::find(keys.begin(), keys.end(), f.key) == keys.end()) continue;
    const std::string flag = flag_name(f.key);
    if (std::holds_alternative<bool TrainConfig::*>(f.member)) {
      flags.options[f.key] = sub->add_flag(flag, flags.bools[f.key], f.help)->group(f.group);
    } else {
      const std::string def = config_value_text(defaults, f);
      flags.options[f.key] =
          sub->add_option(flag, flags.values[f.key], f.help)->group(f.group)->default_str(def);
      // --live takes its port optionally: alone it means "auto" (apply_config_flags).
      if (f.key == "live") flags.options[f.key]->expected(0, 1)->default_str("off");
    }
  }
}

void apply_config_flags(const ConfigFlags& flags, TrainConfig& cfg) {
  for (const auto& [key, opt] : flags.options) {
    if (opt->empty()) continue;
    if (flags.bools.count(key))
      apply_text(cfg, key, flags.bools.at(key) ? "true" : "false");
    else if (key == "live" && flags.values.at(key).empty())
      apply_text(cfg, key, "auto");
    else
      apply_text(cfg, key, flags.values.at(key));
  }
}

}  // namespace gt::cli
