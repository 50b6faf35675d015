#include "models/peft_adapter.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/error.h"
#include "io/safetensors_torch.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace gt::models {

namespace {

constexpr const char* kConfigFile = "adapter_config.json";
constexpr const char* kWeightsFile = "adapter_model.safetensors";

std::string text_prefix(TextModel& m) { return m.config().text_prefix; }

}  // namespace

AdapterConfig read_adapter_config(const std::string& dir) {
  fs::path p = fs::path(dir) / kConfigFile;
  if (!fs::exists(p)) fail_input(p.string(), ": not found; a PEFT adapter folder holds adapter_config.json and ", kWeightsFile);
  std::ifstream in(p);
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number past double's range
    fail_input(p.string(), ": not valid JSON (", e.what(), ")");
  }
  auto where = [&](const char* k) { return cat(p.string(), ": ", k); };
  if (j.value("peft_type", std::string("LORA")) != "LORA")
    fail_input(where("peft_type"), " is ", j["peft_type"].dump(), "; only LORA adapters are supported");
  for (const char* flag : {"use_dora", "use_rslora", "fan_in_fan_out"})
    if (j.contains(flag) && j[flag].is_boolean() && j[flag].get<bool>())
      fail_input(where(flag), " is true; gemma-tune supports plain LoRA adapters");
  for (const char* pattern : {"rank_pattern", "alpha_pattern"})
    if (j.contains(pattern) && j[pattern].is_object() && !j[pattern].empty())
      fail_input(where(pattern), " is not empty; per-module ranks or alphas are not supported");
  if (j.contains("bias") && j["bias"].is_string() && j["bias"] != "none")
    fail_input(where("bias"), " is ", j["bias"].dump(), "; only bias \"none\" is supported");
  AdapterConfig c;
  if (!j.contains("r") || !j["r"].is_number_integer()) fail_input(where("r"), " is missing or not an integer");
  c.r = j["r"].get<int64_t>();
  if (j.contains("lora_alpha") && j["lora_alpha"].is_number()) c.lora_alpha = j["lora_alpha"].get<double>();
  if (j.contains("lora_dropout") && j["lora_dropout"].is_number()) c.lora_dropout = j["lora_dropout"].get<double>();
  if (j.contains("base_model_name_or_path") && j["base_model_name_or_path"].is_string())
    c.base_model_name_or_path = j["base_model_name_or_path"].get<std::string>();
  if (j.contains("task_type") && j["task_type"].is_string()) c.task_type = j["task_type"].get<std::string>();
  const json& t = j.contains("target_modules") ? j["target_modules"] : json();
  if (t.is_string()) {
    c.target_modules = LoraTargets{{}, t.get<std::string>()};
  } else if (t.is_array()) {
    c.target_modules.names.clear();
    for (const json& e : t) c.target_modules.names.push_back(e.get<std::string>());
  } else {
    fail_input(where("target_modules"), " is ", t.dump(), ", expected a list of names or a regex string");
  }
  if (j.contains("gemma_tune_image_token_budget") && j["gemma_tune_image_token_budget"].is_number_integer())
    c.image_token_budget = j["gemma_tune_image_token_budget"].get<int64_t>();
  if (j.contains("gemma_tune_modality") && j["gemma_tune_modality"].is_string())
    c.modality = j["gemma_tune_modality"].get<std::string>();
  return c;
}

void save_adapter(const std::string& dir, TextModel& model, const AdapterConfig& c) {
  fs::create_directories(dir);
  auto params = lora_parameters(model.module(), text_prefix(model));
  if (params.empty()) fail_input("save_adapter: the model has no LoRA layers");
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& [name, t] : params) tensors.emplace_back(kAdapterPrefix + name, t);
  io::save_tensors((fs::path(dir) / kWeightsFile).string(), tensors, {{"format", "pt"}});

  json targets = c.target_modules.regex.empty() ? json(c.target_modules.names) : json(c.target_modules.regex);
  json j = {{"alpha_pattern", json::object()},
            {"auto_mapping", nullptr},
            {"base_model_name_or_path", c.base_model_name_or_path},
            {"bias", "none"},
            {"fan_in_fan_out", false},
            {"inference_mode", true},
            {"init_lora_weights", true},
            {"layers_pattern", nullptr},
            {"layers_to_transform", nullptr},
            {"lora_alpha", c.lora_alpha},
            {"lora_dropout", c.lora_dropout},
            {"modules_to_save", nullptr},
            {"peft_type", "LORA"},
            {"r", c.r},
            {"rank_pattern", json::object()},
            {"revision", nullptr},
            {"target_modules", targets},
            {"task_type", c.task_type},
            {"use_dora", false},
            {"use_rslora", false},
            {"gemma_tune_version", GT_VERSION}};
  if (c.image_token_budget > 0) j["gemma_tune_image_token_budget"] = c.image_token_budget;
  if (!c.modality.empty()) j["gemma_tune_modality"] = c.modality;
  const std::string path = (fs::path(dir) / kConfigFile).string();
  {
    std::ofstream out(path + ".tmp");
    out << j.dump(2) << "\n";
    if (!out) fail_input(path, ": write failed");
  }
  fs::rename(path + ".tmp", path);
}

std::string adapter_key_to_parameter(const std::string& key) {
  std::string name = key.rfind(kAdapterPrefix, 0) == 0 ? key.substr(std::string(kAdapterPrefix).size()) : key;
  // PEFT also accepts keys with the adapter's name (".lora_A.default.weight"); both forms are read.
  for (const std::string f : {".lora_A.default.weight", ".lora_B.default.weight"}) {
    size_t pos = name.find(f);
    if (pos != std::string::npos) name.replace(pos, f.size(), f.substr(0, 7) + ".weight");
  }
  return name;
}

void load_adapter_weights(const std::string& dir, TextModel& model) {
  const std::string prefix = text_prefix(model);
  const fs::path weights = fs::path(dir) / kWeightsFile;
  if (!fs::exists(weights)) fail_input(weights.string(), ": not found (PEFT writes adapter weights there)");
  io::Checkpoint ckpt = io::Checkpoint::open(weights.string());
  std::map<std::string, at::Tensor> by_name;
  for (auto& [name, t] : lora_parameters(model.module(), prefix)) by_name[name] = t;
  std::vector<std::string> problems;
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  for (const std::string& key : ckpt.names()) {
    const std::string name = adapter_key_to_parameter(key);
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      problems.push_back(cat("tensor '", key, "' matches no LoRA layer of the model (expected names like '",
                             by_name.empty() ? std::string("?") : kAdapterPrefix + by_name.begin()->first, "')"));
      continue;
    }
    at::Tensor src = io::load_tensor(ckpt, key);
    if (src.sizes() != it->second.sizes()) {
      problems.push_back(cat("tensor '", key, "' has shape ", io::shape_string(src.sizes().vec()), ", expected ",
                             io::shape_string(it->second.sizes().vec())));
      continue;
    }
    it->second.copy_(src);
    used.insert(name);
  }
  for (const auto& [name, t] : by_name)
    if (!used.count(name)) problems.push_back(cat("no weights for '", kAdapterPrefix, name, "'"));
  if (!problems.empty()) {
    std::string msg = cat(weights.string(), ": ", problems.size(), " problem(s) loading the adapter:");
    for (size_t i = 0; i < problems.size() && i < 10; ++i) msg += "\n  " + problems[i];
    if (problems.size() > 10) msg += cat("\n  ... and ", problems.size() - 10, " more");
    msg += cat("\n  hint: was the adapter trained on this model and checkpoint layout (tensors under '", prefix, "')?");
    throw InputError(msg);
  }
}

size_t load_adapter(const std::string& dir, TextModel& model) {
  AdapterConfig c = read_adapter_config(dir);
  std::vector<std::string> adapted = apply_lora(model.module(), text_prefix(model), c.target_modules,
                                                LoraOptions{c.r, c.lora_alpha, c.lora_dropout});
  load_adapter_weights(dir, model);
  return adapted.size();
}

}  // namespace gt::models
