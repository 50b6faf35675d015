// `gemma-tune export`: what was trained, in the forms the rest of the ecosystem loads.
//   merged  the adapter folded into the base weights (export/merge.h), written in the published layout:
//           model.safetensors or model-0000i-of-0000n.safetensors + model.safetensors.index.json, with every other
//           file of the model folder (config, generation config, tokenizer and processor files) copied; a Gemma 4
//           image adapter's token budget is written into the processor file, so transformers' processor uses it
//   peft    the adapter folder itself (adapter_config.json + adapter_model.safetensors), for PEFT
//   gguf    the merged text decoder as one GGUF file for llama.cpp (export/gguf_export.h)
// Every export has gemma_tune_export.json (base model folder and the sha256 of its config.json, adapter, its
// modality and image token budget, format, dtype, version, time) and .integrity.json (io/integrity.h), which
// `gemma-tune verify DIR` checks.
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/error.h"
#include "core/files.h"
#include "core/progress.h"
#include "core/strings.h"
#include "data/file_text.h"
#include "export/commands.h"
#include "export/gguf_export.h"
#include "export/merge.h"
#include "io/integrity.h"
#include "io/model_config.h"
#include "io/safetensors_torch.h"
#include "models/peft_adapter.h"
#include "train/run_folder.h"

namespace fs = std::filesystem;

namespace gt::exporting {

namespace {

bool is_weight_file(const std::string& name) {
  return name.ends_with(".safetensors") || name == "model.safetensors.index.json" || name.ends_with(".bin") ||
         name.ends_with(".gguf") || name == ".integrity.json" || name == "gemma_tune_export.json";
}

// The files of the model folder that are not weights (config, tokenizer, processor, chat template, ...).
void copy_side_files(const std::string& model, const std::string& out) {
  for (const auto& e : fs::directory_iterator(model)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || is_weight_file(name)) continue;
    fs::copy_file(e.path(), fs::path(out) / name, fs::copy_options::overwrite_existing);
  }
}

// Gemma 4 images: the processor of the export makes as many soft tokens as the adapter was trained with.
void write_image_budget(const std::string& out, int64_t budget) {
  for (const char* file : {"processor_config.json", "preprocessor_config.json"}) {
    const fs::path p = fs::path(out) / file;
    if (!fs::exists(p)) continue;
    nlohmann::json j = nlohmann::json::parse(data::read_whole_file(p.string()));
    nlohmann::json& target = std::string(file) == "processor_config.json" && j.contains("image_processor")
                                 ? j["image_processor"]
                                 : j;
    target["max_soft_tokens"] = budget;
    std::ofstream(p) << j.dump(2) << "\n";
    return;
  }
}

std::optional<at::ScalarType> parse_dtype(const std::string& s) {
  if (s == "auto") return std::nullopt;
  if (s == "bfloat16") return at::kBFloat16;
  if (s == "float16") return at::kHalf;
  if (s == "float32") return at::kFloat;
  fail_input("--dtype is \"", s, "\", expected auto (as stored), bfloat16, float16 or float32");
}

}  // namespace

namespace {
void write_export(const ExportOptions& o);
}

void run_export(const ExportOptions& o) {
  const bool fresh = !fs::exists(o.out);
  try {
    write_export(o);
  } catch (...) {
    // A failed export leaves nothing that looks like one.
    if (fresh && fs::exists(o.out)) remove_tree(o.out);
    throw;
  }
}

namespace {

void write_export(const ExportOptions& o) {
  if (o.model.empty() || o.out.empty()) fail_input("export: --model DIR and --out DIR are required");
  if (o.format != "merged" && o.format != "peft" && o.format != "gguf")
    fail_input("export: --format is \"", o.format, "\", expected merged, peft or gguf");
  if (o.adapter.empty() && o.format == "peft") fail_input("export --format peft needs --adapter DIR");
  if (fs::exists(o.out) && !fs::is_empty(o.out)) fail_input(o.out, " exists and is not empty; choose a new folder");
  const io::ModelConfig cfg = io::load_model_config(o.model);
  models::AdapterConfig acfg;
  if (!o.adapter.empty()) acfg = models::read_adapter_config(o.adapter);
  const std::optional<at::ScalarType> dtype = parse_dtype(o.dtype);
  const GgufType gguf_type = parse_gguf_type(o.gguf_type);

  fs::create_directories(o.out);
  nlohmann::json info{{"format", o.format},
                      {"base_model", fs::absolute(o.model).string()},
                      {"base_config_sha256", io::sha256_file((fs::path(o.model) / "config.json").string())},
                      {"family", io::family_name(cfg.family)},
                      {"gemma_tune_version", GT_VERSION},
                      {"created_at", train::utc_timestamp()}};
  if (!o.adapter.empty()) {
    info["adapter"] = fs::absolute(o.adapter).string();
    info["adapter_sha256"] = io::sha256_file((fs::path(o.adapter) / "adapter_model.safetensors").string());
    info["modality"] = acfg.modality.empty() ? nlohmann::json(nullptr) : nlohmann::json(acfg.modality);
    info["image_token_budget"] = acfg.image_token_budget > 0 ? nlohmann::json(acfg.image_token_budget) : nullptr;
  }

  if (o.format == "peft") {
    for (const char* f : {"adapter_config.json", "adapter_model.safetensors"})
      fs::copy_file(fs::path(o.adapter) / f, fs::path(o.out) / f);
  } else {
    const io::Checkpoint base = io::Checkpoint::open(o.model);
    const std::map<std::string, LoraDelta> deltas =
        o.adapter.empty() ? std::map<std::string, LoraDelta>{} : read_lora_deltas(o.adapter, base);
    std::cerr << "merging  " << deltas.size() << " LoRA modules into " << base.names().size() << " tensors of "
              << o.model << "\n";
    std::vector<std::pair<std::string, at::Tensor>> tensors = merged_tensors(base, deltas, dtype);
    info["merged_modules"] = deltas.size();
    if (o.format == "merged") {
      info["dtype"] = o.dtype;
      io::save_model_folder(o.out, tensors, o.max_shard_bytes);
      copy_side_files(o.model, o.out);
      if (cfg.family == io::Family::Gemma4 && acfg.image_token_budget > 0)
        write_image_budget(o.out, acfg.image_token_budget);
    } else {
      info["gguf_type"] = gguf_type_name(gguf_type);
      const std::string file = (fs::path(o.out) / (fs::path(o.model).filename().string() + "-" +
                                                    std::string(gguf_type_name(gguf_type)) + ".gguf"))
                                   .string();
      nlohmann::json extra{{"general.name", fs::path(o.model).filename().string()}};
      if (!o.adapter.empty()) extra["gemma_tune.adapter_sha256"] = info["adapter_sha256"];
      for (const std::string& w : llama_cpp_limitations(cfg))
        std::cerr << "warning: llama.cpp may refuse or misread this model: " << w << "\n";
      write_gguf(file, cfg, (fs::path(o.model) / "tokenizer.json").string(), tensors, gguf_type, extra);
      info["file"] = fs::path(file).filename().string();
    }
  }
  std::ofstream(fs::path(o.out) / "gemma_tune_export.json") << info.dump(2) << "\n";
  io::write_integrity_manifest(o.out);
  std::cout << "exported " << o.format << " to " << o.out << "\n";
}

}  // namespace

}  // namespace gt::exporting
