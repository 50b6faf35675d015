#include "models/common/weights.h"


#include "core/error.h"
#include "io/safetensors_torch.h"

namespace gt::models {

namespace {

bool is_lora_name(const std::string& name) {
  return name.find(".lora_A.") != std::string::npos || name.find(".lora_B.") != std::string::npos ||
         name.rfind("lora_A.", 0) == 0 || name.rfind("lora_B.", 0) == 0;
}

std::vector<std::pair<std::string, at::Tensor>> module_tensors(torch::nn::Module& module) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : module.named_parameters(/*recurse=*/true))
    if (!is_lora_name(p.key())) out.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(/*recurse=*/true)) out.emplace_back(b.key(), b.value());
  return out;
}

}  // namespace

LoadReport load_weights(torch::nn::Module& module, const io::Checkpoint& ckpt, const std::string& prefix) {
  torch::NoGradGuard no_grad;
  LoadReport report;
  std::vector<std::string> problems;
  for (auto& [name, dst] : module_tensors(module)) {
    const std::string key = prefix + name;
    if (!ckpt.contains(key)) {
      problems.push_back(cat("missing tensor '", key, "' (shape ", io::shape_string(dst.sizes().vec()), ")"));
      continue;
    }
    const io::TensorInfo& info = ckpt.info(key);
    if (info.shape != dst.sizes().vec()) {
      problems.push_back(cat("tensor '", key, "' has shape ", io::shape_string(info.shape), ", expected ",
                             io::shape_string(dst.sizes().vec())));
      continue;
    }
    at::Tensor src = io::load_tensor(ckpt, key);
    // A frozen weight on the host in the checkpoint's own dtype takes the mapped bytes as they are (no copy, no
    // resident memory until pages are read: the per-layer table of a GPU run, every weight of a CPU run).
    if (dst.device().is_cpu() && src.scalar_type() == dst.scalar_type() && !dst.requires_grad())
      dst.set_data(src);
    else
      dst.copy_(src);
    ++report.loaded;
    report.bytes += info.nbytes();
  }
  if (!problems.empty()) {
    std::string msg = cat(ckpt.describe(), ": ", problems.size(), " problem(s) loading '", prefix, "*':");
    const size_t shown = std::min<size_t>(problems.size(), 20);
    for (size_t i = 0; i < shown; ++i) msg += "\n  " + problems[i];
    if (shown < problems.size()) msg += cat("\n  ... and ", problems.size() - shown, " more");
    msg += "\n  hint: are config.json and the weights from the same model and size (E2B/E4B)?";
    throw InputError(msg);
  }
  return report;
}

LoadReport load_frozen_weights(torch::nn::Module& module, const io::Checkpoint& ckpt, const std::string& prefix) {
  const LoadReport r = load_weights(module, ckpt, prefix);
  for (auto& p : module.parameters()) p.set_requires_grad(false);
  module.eval();
  return r;
}

}  // namespace gt::models
