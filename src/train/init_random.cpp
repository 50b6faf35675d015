// `gemma-tune init-random`: a random-weight checkpoint in the published multimodal layout (config.json with
// text/audio/vision configs, text decoder weights under model.language_model.*, a tokenizer with the family's
// special tokens), for the demo, tests and benchmarks. See io/model_presets.h for the sizes.
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/error.h"
#include "core/files.h"
#include "core/strings.h"
#include "io/model_presets.h"
#include "models/audio_tower.h"
#include "models/random_init.h"
#include "models/vision_tower.h"
#include "tokenizer/family_layout.h"
#include "train/commands.h"

namespace fs = std::filesystem;

namespace gt::train {

void run_init_random(const InitRandomOptions& o) {
  if (o.out.empty()) fail_input("init-random: --out DIR is required");
  nlohmann::json cfg_json = io::preset_config(o.family, o.size);
  if (o.vocab_size > 0) {
    nlohmann::json& t = cfg_json["text_config"];
    t["vocab_size"] = o.vocab_size;
    t["vocab_size_per_layer_input"] = o.vocab_size;
    // Gemma 3n keeps its hard audio (and vision) token ids at the top of the text vocabulary.
    if (cfg_json.contains("audio_config") && cfg_json["audio_config"].contains("vocab_offset")) {
      nlohmann::json& a = cfg_json["audio_config"];
      a["vocab_offset"] = o.vocab_size - a.value("vocab_size", int64_t{128});
      if (cfg_json.contains("vision_config") && cfg_json["vision_config"].contains("vocab_offset")) {
        nlohmann::json& v = cfg_json["vision_config"];
        v["vocab_offset"] = a["vocab_offset"].get<int64_t>() - v.value("vocab_size", int64_t{128});
      }
    }
  }
  const std::string text = cfg_json.dump(2);
  const io::ModelConfig cfg = io::parse_model_config(text, o.out + "/config.json");
  at::ScalarType dtype;
  if (o.dtype == "bfloat16")
    dtype = at::kBFloat16;
  else if (o.dtype == "float32")
    dtype = at::kFloat;
  else
    fail_input("init-random: --dtype is \"", o.dtype, "\", expected bfloat16 or float32");
  if (fs::exists(o.out) && !fs::is_empty(o.out))
    fail_input("init-random: ", o.out, " exists and is not empty; choose a new folder");
  make_output_folder(o.out, "init-random: --out");
  if (o.config_only) {
    std::ofstream(o.out + "/config.json") << text << "\n";
    std::cout << "wrote " << o.out << "/config.json (" << o.family << " " << o.size << ")\n";
    return;
  }

  std::string tokenizer = o.tokenizer;
  if (tokenizer.empty() && fs::exists(".cache/gemma3-tokenizer/tokenizer.json"))
    tokenizer = ".cache/gemma3-tokenizer/tokenizer.json";
  if (!tokenizer.empty()) tok::write_family_tokenizer(tokenizer, o.out + "/tokenizer.json", o.family);

  auto model = models::make_text_model(cfg, dtype, at::kCPU);
  // Tiny: logits with a spread of about 2 (so the demo's loss visibly falls); real sizes: transformers' 0.02.
  const double embed_std = o.size == "tiny" ? 2.0 / std::sqrt(static_cast<double>(cfg.text.hidden_size)) : 0.02;
  models::random_init(*model, static_cast<uint64_t>(o.seed), 0.02, embed_std);

  // The towers and their embedders, initialised as transformers initialises a fresh model, named "model.*".
  std::vector<std::pair<std::string, at::Tensor>> towers;
  int64_t audio_params = 0, vision_params = 0;
  at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(o.seed) + 1);
  std::shared_ptr<models::AudioTower> audio;
  if (cfg.has_audio_config()) {
    audio = models::make_audio_tower(cfg, dtype, at::kCPU);
    audio->init_random(gen);
    for (auto& p : audio->module().named_parameters(true)) {
      towers.emplace_back("model." + p.key(), p.value());
      audio_params += p.value().numel();
    }
    for (auto& b : audio->module().named_buffers(true)) towers.emplace_back("model." + b.key(), b.value());
  }
  std::shared_ptr<torch::nn::Module> vision;
  // Only what the preset describes (a tiny Gemma 3n has a small MobileNet-V5, see the note printed below).
  if (cfg_json.contains("vision_config")) {
    vision = models::make_vision_tower_layout(cfg, dtype, at::kCPU);
    if (vision) {
      models::init_vision_tower_random(*vision, o.family, gen);
      for (auto& p : vision->named_parameters(true)) {
        towers.emplace_back("model." + p.key(), p.value());
        vision_params += p.value().numel();
      }
      for (auto& b : vision->named_buffers(true)) towers.emplace_back("model." + b.key(), b.value());
    }
  }
  models::save_text_model(o.out, *model, text, towers);
  int64_t params = 0;
  for (const auto& p : model->module().parameters()) params += p.numel();
  std::cout << "wrote " << o.family << " " << o.size << " (" << params << " text, " << audio_params << " audio, "
            << vision_params << " vision parameters, " << o.dtype << ") to " << o.out
            << (tokenizer.empty() ? " without a tokenizer (give --tokenizer FILE)" : "") << "\n";
  if (cfg_json.contains("vision_config") && cfg_json["vision_config"].contains("gemma_tune_architecture"))
    std::cout << "note: the vision tower is a small MobileNet-V5 (vision_config.gemma_tune_architecture) for tests; "
                 "transformers builds the 300M network for a Gemma 3n config and cannot load it\n";
}

}  // namespace gt::train
