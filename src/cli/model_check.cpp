#include "cli/model_check.h"

#include <filesystem>

#include "core/error.h"
#include "core/strings.h"
#include "io/model_config.h"   // defines: load_model_config
#include "io/safetensors.h"    // defines: Checkpoint
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;

namespace gt::cli {

nlohmann::json check_model_folder(const std::string& dir) {
  nlohmann::json r;
  r["path"] = dir;
  nlohmann::json problems = nlohmann::json::array();
  std::optional<io::ModelConfig> cfg;
  try {
    cfg = io::load_model_config(dir);
    const io::TextConfig& t = cfg->text;
    r["family"] = std::string(io::family_name(cfg->family));
    r["form"] = cfg->multimodal ? "multimodal (model.language_model.*)" : "text-only (model.*)";
    r["layers"] = t.num_hidden_layers;
    r["hidden_size"] = t.hidden_size;
    r["kv_shared_layers"] = t.num_kv_shared_layers;
    nlohmann::json towers = nlohmann::json::array();
    if (cfg->has_audio_config()) towers.push_back("audio");
    if (cfg->has_vision_config()) towers.push_back("vision");
    r["towers"] = towers;
  } catch (const InputError& e) {
    problems.push_back(e.what());
  }
  try {
    tok::Tokenizer tk = tok::Tokenizer::from_model_dir(dir);
    nlohmann::json tj = {{"vocab_size", tk.vocab_size()}};
    for (const char* s : {"<bos>", "<eos>", "<pad>"})
      if (!tk.find_id(s)) problems.push_back(cat(tk.source_path(), ": has no ", s, " token"));
    r["tokenizer"] = tj;
  } catch (const InputError& e) {
    problems.push_back(e.what());
  }
  try {
    io::Checkpoint ck = io::Checkpoint::open(dir);
    r["tensors"] = ck.names().size();
    r["shards"] = ck.shard_count();
    if (cfg) {
      const std::string embed = cfg->text_prefix + "embed_tokens.weight";
      if (!ck.contains(embed)) problems.push_back(cat(ck.describe(), ": no tensor '", embed, "' (expected for a ",
                                                      cfg->model_type, " checkpoint)"));
      else
        ck.expect_shape(embed, {cfg->text.vocab_size, cfg->text.hidden_size}, "vocab_size x hidden_size");
      const std::string last = cat(cfg->text_prefix, "layers.", cfg->text.num_hidden_layers - 1, ".input_layernorm.weight");
      if (!ck.contains(last))
        problems.push_back(cat(ck.describe(), ": no tensor '", last, "'; config.json has num_hidden_layers = ",
                               cfg->text.num_hidden_layers, " (are config and weights from the same model?)"));
    }
  } catch (const InputError& e) {
    problems.push_back(e.what());
  }
  r["problems"] = problems;
  r["ok"] = problems.empty();
  return r;
}

void print_model_check(const nlohmann::json& r, std::ostream& os) {
  os << "model       " << r["path"].get<std::string>() << "\n";
  if (r.contains("family"))
    os << "            " << r["family"].get<std::string>() << ", " << r["form"].get<std::string>() << ", "
       << r["layers"] << " layers, hidden " << r["hidden_size"] << ", towers " << r["towers"].dump() << "\n";
  if (r.contains("tokenizer")) os << "            tokenizer: " << r["tokenizer"]["vocab_size"] << " tokens\n";
  if (r.contains("tensors")) os << "            weights: " << r["tensors"] << " tensors in " << r["shards"] << " file(s)\n";
  for (const auto& p : r["problems"]) os << "  problem: " << p.get<std::string>() << "\n";
  if (r["ok"].get<bool>()) os << "            ok\n";
}

}  // namespace gt::cli
