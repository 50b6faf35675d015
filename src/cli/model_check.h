// Checks a model folder the way `train` will read it, for `doctor --model`: config.json, tokenizer.json and
// the safetensors index/headers (no weights are read). Torch-free.
#pragma once

#include <nlohmann/json.hpp>

#include <ostream>
#include <string>

namespace gt::cli {

// {"ok": bool, "path", "family", "form", "layers", "hidden_size", "towers": [...], "tokenizer": {...},
//  "tensors": n, "problems": [...]}; never throws for problems in the folder, it lists them.
nlohmann::json check_model_folder(const std::string& dir);
void print_model_check(const nlohmann::json& report, std::ostream& os);

}  // namespace gt::cli
