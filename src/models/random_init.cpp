#include "models/random_init.h"

#include <filesystem>
#include <fstream>

#include "core/strings.h"
#include "io/safetensors_torch.h"

namespace gt::models {

void random_init(TextModel& model, uint64_t seed, double std, double embed_std) {
  torch::NoGradGuard no_grad;
  // Drawn in place on the weights' device (an E2B per-layer embedding table alone is 2.3 B values): the same seed
  // gives the same weights on the same kind of device.
  const at::Device device = model.lm_head_weight().device();
  at::Generator gen = device.is_cpu() ? at::detail::createCPUGenerator(seed) : at::globalContext().defaultGenerator(device);
  if (!device.is_cpu()) gen.set_current_seed(seed);
  at::Generator host = at::detail::createCPUGenerator(seed + 1);  // a table kept on the host (TablePlacement::Host)
  for (auto& p : model.module().named_parameters(true)) {
    const std::string& n = p.key();
    at::Tensor t = p.value();
    if (t.device() != device) {
      t.normal_(0.0, std, host);
      continue;
    }
    if (n.find("lora_") != std::string::npos) continue;
    if (ends_with(n, "correct_output_scale")) {
      t.zero_();
    } else if (t.dim() == 1) {  // norm scales
      t.fill_(1.0);
    } else if (n == "embed_tokens.weight") {
      t.normal_(0.0, embed_std, gen);
    } else {
      t.normal_(0.0, std, gen);
    }
  }
  for (auto& b : model.module().named_buffers(true)) b.value().fill_(1.0);  // layer_scalar
}

void save_text_model(const std::string& dir, TextModel& model, const std::string& config_json,
                     const std::vector<std::pair<std::string, at::Tensor>>& extra) {
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir + "/config.json");
    out << config_json << "\n";
  }
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  const std::string prefix = model.config().text_prefix;
  for (auto& p : model.module().named_parameters(true))
    if (p.key().find("lora_") == std::string::npos) tensors.emplace_back(prefix + p.key(), p.value());
  for (auto& b : model.module().named_buffers(true)) tensors.emplace_back(prefix + b.key(), b.value());
  tensors.insert(tensors.end(), extra.begin(), extra.end());
  io::save_model_folder(dir, tensors);
}

}  // namespace gt::models
