#include "infer/generation_settings.h"

#include <algorithm>
#include <filesystem>

#include "data/file_text.h"
#include "io/json_section.h"

namespace fs = std::filesystem;

namespace gt::infer {

const char* end_of_turn_marker(io::Family family) {
  return family == io::Family::Gemma3n ? "<end_of_turn>" : "<turn|>";
}

GenerationSettings read_generation_settings(const std::string& model_dir, const io::ModelConfig& cfg,
                                            const tok::Tokenizer& tokenizer) {
  GenerationSettings s;
  auto add_stop = [&](int64_t id) {
    if (std::find(s.stop_ids.begin(), s.stop_ids.end(), id) == s.stop_ids.end()) s.stop_ids.push_back(id);
  };
  const fs::path file = fs::path(model_dir) / "generation_config.json";
  if (fs::exists(file)) {
    s.from_file = true;
    const nlohmann::json j = io::JsonSection::parse_object(data::read_whole_file(file.string()), file.string());
    const io::JsonSection g(j, file.string());
    if (g.boolean("do_sample", false)) {
      // transformers' GenerationConfig defaults when the file leaves a key out.
      s.sampling.temperature = g.number("temperature", 1.0);
      s.sampling.top_k = g.integer("top_k", 50);
      s.sampling.top_p = g.number("top_p", 1.0);
    }
    s.sampling.repetition_penalty = g.number("repetition_penalty", 1.0);
    for (int64_t id : g.integers("eos_token_id", {})) add_stop(id);
  }
  for (int64_t id : cfg.text.eos_token_id) add_stop(id);
  if (auto id = tokenizer.find_id(end_of_turn_marker(cfg.family))) add_stop(*id);
  return s;
}

}  // namespace gt::infer
