// Model FLOPs of a LoRA training step on a text decoder, and the GPU's peak, for the MFU the benchmarks print (the
// speed issue's "model FLOPs of forward + LoRA backward over the GPU's peak"). Counted as PaLM's appendix B counts
// them: what the model needs, not what an implementation spends (checkpointing's recompute is not counted).
//
//   forward matmuls   2 x N x tokens, N = the weights used as matrices per token: every 2-D parameter of the decoder
//                     (LoRA factors included) but the two embedding tables, which are gathered; plus the tied output
//                     projection (vocab x hidden) on every position; minus k_proj/v_proj of KV-shared layers, whose
//                     keys and values come from an earlier layer
//   forward attention 4 x heads x head_dim x sum over positions of the keys each attends to (causal; at most the
//                     sliding window in sliding layers), per layer, per row
//   backward          frozen weights need only the gradient of their input: one matmul per forward matmul; attention
//                     needs two per forward one
//   step              2 x forward matmuls + 3 x forward attention (the frozen towers of audio and image runs, which run
//                     without autograd, are not counted)
#pragma once

#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "io/model_config.h"
#include "models/text_model.h"

namespace gt::bench {

struct StepFlops {
  double matmul_forward = 0;
  double attention_forward = 0;
  double step = 0;
};

inline StepFlops lora_step_flops(const io::ModelConfig& cfg, models::TextModel& model, int64_t batch, int64_t seq) {
  const io::TextConfig& c = cfg.text;
  double n = 0;
  for (const auto& p : model.module().named_parameters(true)) {
    const std::string& name = p.key();
    if (p.value().dim() != 2 || name == "embed_tokens_per_layer.weight") continue;
    if (name.rfind("layers.", 0) == 0) {
      const int64_t layer = std::stoll(name.substr(7));
      const bool kv = name.find(".k_proj.") != std::string::npos || name.find(".v_proj.") != std::string::npos;
      if (kv && c.is_kv_shared(layer)) continue;
    }
    n += static_cast<double>(p.value().numel());  // embed_tokens.weight counts once: as the output projection
  }
  StepFlops f;
  const double tokens = static_cast<double>(batch * seq);
  f.matmul_forward = 2.0 * n * tokens;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const bool sliding = c.layer_types[static_cast<size_t>(l)] != io::LayerType::Full && c.sliding_window > 0;
    const int64_t window = sliding ? c.sliding_window : seq;
    double keys = 0;  // sum over positions t of min(t + 1, window)
    for (int64_t t = 0; t < seq; ++t) keys += static_cast<double>(std::min(t + 1, window));
    const double hd = static_cast<double>(c.layer_head_dim.empty() ? c.head_dim : c.layer_head_dim[static_cast<size_t>(l)]);
    f.attention_forward += 4.0 * static_cast<double>(c.num_attention_heads) * hd * keys * static_cast<double>(batch);
  }
  f.step = 2.0 * f.matmul_forward + 3.0 * f.attention_forward;
  return f;
}

// Dense bf16 peak (TFLOP/s, without sparsity) of the GPU nvidia-smi names first, for the cards the project benchmarks
// on; nullopt for others (give --peak-tflops). From NVIDIA's data sheets: H100 SXM and H200 989.4, H100 NVL 835,
// H100 PCIe 756.5, A100 312.
inline std::optional<double> gpu_peak_tflops(std::string* name_out = nullptr) {
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen("nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null", "r"),
                                          pclose);
  if (!p) return std::nullopt;
  char buf[256] = {};
  if (!fgets(buf, sizeof buf, p.get())) return std::nullopt;
  std::string name(buf);
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
  if (name_out) *name_out = name;
  auto has = [&](const char* s) { return name.find(s) != std::string::npos; };
  if (has("H200")) return 989.4;
  if (has("H100")) return has("PCIe") ? 756.5 : has("NVL") ? 835.0 : 989.4;
  if (has("A100")) return 312.0;
  return std::nullopt;
}

}  // namespace gt::bench
