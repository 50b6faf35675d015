#include "models/common/lora_targets.h"

#include <algorithm>
#include <optional>
#include <regex>

#include "core/error.h"
#include "core/strings.h"

namespace gt::models {

LoraTargets LoraTargets::defaults() {
  return {{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}, ""};
}

LoraTargets LoraTargets::parse(const std::string& text) {
  LoraTargets t;
  std::string s = trim(text);
  if (s.empty()) return defaults();
  if (starts_with(s, "re:")) {
    t.regex = s.substr(3);
  } else if (s.find_first_of("*()[]|^$\\+?") != std::string::npos) {
    t.regex = s;
  } else {
    for (const std::string& part : split(s, ','))
      if (!trim(part).empty()) t.names.push_back(trim(part));
  }
  if (!t.regex.empty()) {
    try {
      std::regex check(t.regex);
    } catch (const std::regex_error& e) {
      fail_input("--lora-targets: invalid regular expression '", t.regex, "' (", e.what(), ")");
    }
  }
  return t;
}

std::string LoraTargets::describe() const {
  if (!regex.empty()) return "regex " + regex;
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ",") + n;
  return s;
}

LoraTargets LoraTargets::scoped_to(const std::string& prefix) const {
  if (!regex.empty() || names.empty()) return *this;
  std::string escaped;
  for (char ch : prefix) {
    if (std::string(".^$|()[]{}*+?\\").find(ch) != std::string::npos) escaped += '\\';
    escaped += ch;
  }
  std::string alternatives;
  for (const std::string& n : names) {
    if (!alternatives.empty()) alternatives += "|";
    for (char ch : n) {
      if (std::string(".^$|()[]{}*+?\\").find(ch) != std::string::npos) alternatives += '\\';
      alternatives += ch;
    }
  }
  return LoraTargets{{}, escaped + "(.*\\.)?(" + alternatives + ")"};
}

bool lora_target_matches(const LoraTargets& t, const std::string& full_name) {
  if (!t.regex.empty()) return std::regex_match(full_name, std::regex(t.regex));
  for (const std::string& n : t.names)
    if (full_name == n || ends_with(full_name, "." + n)) return true;
  return false;
}

std::vector<std::string> apply_lora(torch::nn::Module& root, const std::string& prefix, const LoraTargets& targets,
                                    const LoraOptions& options) {
  std::vector<std::string> adapted, seen;
  std::optional<std::regex> re;
  if (!targets.regex.empty()) re.emplace(targets.regex);
  for (const auto& item : root.named_modules(/*name_prefix=*/"", /*include_self=*/false)) {
    const std::string full = prefix + item.key();
    if (full.find(".lora_A") != std::string::npos || full.find(".lora_B") != std::string::npos) continue;
    const bool match = re ? std::regex_match(full, *re) : lora_target_matches(targets, full);
    auto* lin = dynamic_cast<LoraLinearImpl*>(item.value().get());
    if (lin) seen.push_back(full);
    if (!match) continue;
    if (!lin) {
      // PEFT matches containers too (e.g. "mlp"); only leaves that are linear layers can take an adapter.
      if (item.value()->children().empty())
        fail_input("LoRA target '", full, "' matches a ", item.value()->name(), ", not a linear layer; targets: ",
                   targets.describe());
      continue;
    }
    // A rank above the smaller side of the layer adds no expressiveness (A·B cannot exceed that rank) and only
    // costs memory: --lora-r 100000 on a 64-wide model asked for gigabytes. Refused with the layer named.
    const int64_t smaller = std::min(lin->in_features(), lin->out_features());
    if (options.r > smaller)
      fail_input("--lora-r ", options.r, " is larger than layer '", full, "' allows: its weight is ", lin->out_features(),
                 " x ", lin->in_features(), " (out x in features), so the rank can be at most ", smaller,
                 "; give --lora-r ", smaller, " or less, or leave this layer out of --lora-targets");
    if (!lin->has_lora()) lin->enable_lora(options);
    adapted.push_back(full);
  }
  if (adapted.empty()) {
    std::string examples;
    for (size_t i = 0; i < seen.size() && i < 5; ++i) examples += "\n  " + seen[i];
    fail_input("LoRA targets (", targets.describe(), ") match no linear layer of the model; linear layers are named like:",
               examples);
  }
  return adapted;
}

std::vector<std::pair<std::string, at::Tensor>> lora_parameters(torch::nn::Module& root, const std::string& prefix) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : root.named_parameters(true)) {
    const std::string& n = p.key();
    if (n.find("lora_A.weight") != std::string::npos || n.find("lora_B.weight") != std::string::npos)
      out.emplace_back(prefix + n, p.value());
  }
  return out;
}

}  // namespace gt::models
