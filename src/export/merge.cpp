#include "export/merge.h"

#include <filesystem>

#include "core/error.h"
#include "io/safetensors_torch.h"

namespace fs = std::filesystem;

namespace gt::exporting {

std::map<std::string, LoraDelta> read_lora_deltas(const std::string& adapter_dir, const io::Checkpoint& base) {
  const models::AdapterConfig cfg = models::read_adapter_config(adapter_dir);
  const std::string file = (fs::path(adapter_dir) / "adapter_model.safetensors").string();
  const io::Checkpoint adapter = io::Checkpoint::open(file);
  std::map<std::string, LoraDelta> out;
  for (const std::string& key : adapter.names()) {
    const std::string param = models::adapter_key_to_parameter(key);  // "X.lora_A.weight"
    const bool is_a = param.find(".lora_A.weight") != std::string::npos;
    const bool is_b = param.find(".lora_B.weight") != std::string::npos;
    if (!is_a && !is_b) fail_input(file, ": tensor '", key, "' is not a LoRA factor (lora_A / lora_B weight)");
    const std::string module = param.substr(0, param.rfind(is_a ? ".lora_A.weight" : ".lora_B.weight"));
    LoraDelta& d = out[module + ".weight"];
    (is_a ? d.A : d.B) = io::load_tensor(adapter, key).to(at::kFloat);
    d.scale = cfg.lora_alpha / static_cast<double>(cfg.r);
  }
  for (const auto& [name, d] : out) {
    const std::string module = name.substr(0, name.size() - 7);
    if (!d.A.defined() || !d.B.defined())
      fail_input(file, ": module '", module, "' has lora_", d.A.defined() ? "A" : "B", " but no lora_",
                 d.A.defined() ? "B" : "A");
    if (!base.contains(name))
      fail_input(file, ": module '", module, "' has no weight '", name, "' in ", base.describe(),
                 " (an adapter for another model or layout?)");
    base.expect_shape(name, {d.B.size(0), d.A.size(1)}, "the LoRA factors' out x in");
  }
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> merged_tensors(const io::Checkpoint& base,
                                                               const std::map<std::string, LoraDelta>& deltas,
                                                               std::optional<at::ScalarType> dtype) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const std::string& name : base.names()) {
    at::Tensor t = io::load_tensor(base, name);
    const at::ScalarType stored = t.scalar_type();
    const at::ScalarType target = dtype && at::isFloatingType(stored) ? *dtype : stored;
    if (auto it = deltas.find(name); it != deltas.end()) {
      const LoraDelta& d = it->second;
      t = (t.to(at::kFloat) + at::matmul(d.B, d.A) * d.scale).to(target);
    } else if (target != stored) {
      t = t.to(target);
    }
    out.emplace_back(name, t);
  }
  return out;
}

}  // namespace gt::exporting
