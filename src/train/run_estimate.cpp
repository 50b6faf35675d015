#include "train/run_estimate.h"

#include <algorithm>
#include <cmath>

#include "core/device.h"       // defines: resolve_device, torch_info
#include "core/error.h"
#include "core/strings.h"
#include "core/system_info.h"  // defines: system_info
#include "io/model_config.h"   // defines: load_model_config
#include "io/safetensors.h"    // defines: Checkpoint
#include "models/common/lora_targets.h"  // defines: LoraTargets, lora_target_matches (what apply_lora adapts)
#include "train/batches_torch.h"         // defines: resolve_dtype

namespace gt::train {

namespace {

// Activation elements kept for the backward pass per token and layer, in multiples of the hidden size D and of the
// layer's MLP width F (norm inputs and their float32 upcasts, q/k/v and the attention output, the MLP's gate, up,
// activation and product, LoRA's saved inputs and dropout masks), and a fixed share of memory besides (allocator
// slack, cuBLAS workspaces, the embeddings' output and gradient, the per-layer inputs). Fitted by least squares to the
// four peaks bench_train_step measured on an H100 with the per-layer table on the host (bench/README.md: Gemma 4 E2B
// and Gemma 3n E2B, 4 x 1024 tokens and 1 x 2048 with checkpointing, bf16, LoRA r16 without dropout): the fit
// reproduces each within 0.02 GiB. Four points, three numbers: other shapes are an extrapolation.
constexpr double kActD = 48.0;
constexpr double kActF = 2.5;
constexpr double kFixedAccelerator = 2.0 * (1ull << 30);
// On the CPU the measured peak is the process's resident set, libtorch included (162 MiB for `doctor` on Debian's
// libtorch 1.13).
constexpr double kFixedCpu = 0.2 * (1ull << 30);
// models/common/loss.h: float32 logits held at once.
constexpr double kLossChunkAccelerator = 256.0 * (1 << 20);
constexpr double kLossChunkCpu = 16.0 * (1 << 20);

// Sustained FLOP/s of gemma-tune's LoRA training steps on a device kind. Measured: bench_train_step, Gemma 4 E2B,
// 4 x 1024 tokens, bf16 (bench/README.md: 9,738 tokens/s on an H100, 11,494 on an H200) times the FLOPs a token of
// the formula above (9.12 G for that model: N = 2.28 G). Everything else is a guess, said as such.
struct Throughput {
  double flops;
  std::string basis;
};

Throughput throughput_of(const std::string& device, const std::string& accelerator_name, unsigned cpu_cores) {
  if (device.rfind("cuda", 0) == 0) {
    if (accelerator_name.find("H200") != std::string::npos)
      return {105e12, "H200: 105 TFLOP/s sustained, measured (Gemma 4 E2B LoRA, 4 x 1024 tokens, bf16)"};
    if (accelerator_name.find("H100") != std::string::npos)
      return {89e12, "H100: 89 TFLOP/s sustained, measured (Gemma 4 E2B LoRA, 4 x 1024 tokens, bf16)"};
    return {25e12, "other NVIDIA GPU: 25 TFLOP/s sustained, a guess (an A100-class card; not measured)"};
  }
  if (device == "mps") return {3e12, "Apple GPU (MPS): 3 TFLOP/s sustained, a guess (not measured)"};
  const double cores = std::max(1u, cpu_cores);
  return {cores * 8e9, cat("CPU: 8 GFLOP/s a core x ", cores, " cores, float32, a guess (not measured)")};
}

bool cpu_device(const RunEstimate& e) { return e.device == "cpu"; }

}  // namespace

RunEstimate estimate_run(const TrainConfig& cfg, const DatasetTokens& data) {
  RunEstimate e;
  e.device = resolve_device(cfg.device);
  const bool cpu = e.device == "cpu";
  const TorchInfo t = torch_info();
  const SystemInfo sys = system_info();
  std::string accelerator_name;
  for (const AcceleratorInfo& a : t.accelerators)
    if (a.device == e.device || (e.device == "cuda" && a.device == "cuda:0")) {
      accelerator_name = a.name;
      e.device_memory = a.memory_bytes;
    }
  if (e.device_memory == 0) e.device_memory = sys.memory_total;  // cpu, and mps's unified memory
  e.device_label = e.device + (accelerator_name.empty() ? "" : " " + accelerator_name) +
                   (e.device_memory ? " (" + format_bytes(static_cast<double>(e.device_memory)) + ")" : "");

  const io::ModelConfig mc = io::load_model_config(cfg.model);
  const io::TextConfig& tc = mc.text;
  const io::Checkpoint ck = io::Checkpoint::open(cfg.model);
  const double s = c10::elementSize(resolve_dtype(cfg.dtype, e.device));
  const bool audio = cfg.modality == "audio" || cfg.modality == "audiovisual";
  const bool vision = cfg.modality == "image" || cfg.modality == "audiovisual";
  models::LoraTargets targets = models::LoraTargets::parse(cfg.lora_targets);
  if (mc.multimodal) targets = targets.scoped_to(mc.text_prefix);  // as train/trainer.cpp adapts
  const std::string layers = mc.text_prefix + "layers.";
  const std::string table = mc.text_prefix + "embed_tokens_per_layer.weight";

  double weights = 0, host = 0;
  bool untied_head = false;
  for (const std::string& name : ck.names()) {
    const bool tower_audio = starts_with(name, "model.audio_tower.") || starts_with(name, "model.embed_audio.");
    const bool tower_vision = starts_with(name, "model.vision_tower.") || starts_with(name, "model.embed_vision.");
    const bool text = starts_with(name, mc.text_prefix) || name == "lm_head.weight";
    if (!(text || (audio && tower_audio) || (vision && tower_vision))) continue;
    const io::TensorInfo& info = ck.info(name);
    const double n = static_cast<double>(info.numel());
    if (name == table && !cpu) {  // models::TablePlacement::Host
      host += n * s;
      continue;
    }
    const bool matrix = info.shape.size() == 2 && text;
    const int64_t out = matrix ? info.shape[0] : 0, in = matrix ? info.shape[1] : 0;
    const bool quantized = matrix && starts_with(name, layers) && in >= 64 &&
                           (cfg.quantize == "int8" || (cfg.quantize == "nf4" && in % 64 == 0));
    if (quantized && cfg.quantize == "int8")
      weights += n + 4.0 * static_cast<double>(out);
    else if (quantized)
      weights += n / 2 + 4.0 * n / 64;
    else
      weights += n * s;
    if (!matrix || name.find("embed_tokens") != std::string::npos) continue;
    untied_head |= name == "lm_head.weight";
    e.matmul_params += info.numel();
    if (ends_with(name, ".weight") && models::lora_target_matches(targets, name.substr(0, name.size() - 7)))
      e.lora_params += cfg.lora_r * (in + out);
  }
  if (!untied_head) e.matmul_params += tc.vocab_size * tc.hidden_size;  // the tied output projection
  e.weights = static_cast<uint64_t>(weights);
  e.host_weights = static_cast<uint64_t>(host);
  e.lora = static_cast<uint64_t>(16 * e.lora_params);

  // The longest batch: B rows (fewer when the dataset has fewer) padded to the longest example (packed rows:
  // max_seq_len each).
  const int64_t T = cfg.pack || data.longest <= 0 ? cfg.max_seq_len : std::min(data.longest, cfg.max_seq_len);
  const int64_t B = data.examples > 0 && !cfg.pack ? std::min(cfg.batch_size, data.examples) : cfg.batch_size;
  e.batch_tokens = B * T;
  const double bt = static_cast<double>(e.batch_tokens), D = static_cast<double>(tc.hidden_size);
  // Gemma 3n carries altup_num_inputs copies of the hidden states between layers (AltUp).
  const double streams = mc.family == io::Family::Gemma3n ? static_cast<double>(tc.altup_num_inputs) : 1.0;
  double per_token = 0, widest = 0;
  for (int64_t l = 0; l < tc.num_hidden_layers; ++l) {
    const double layer = kActD * D + kActF * static_cast<double>(tc.layer_intermediate_size.at(l));
    per_token += layer;
    widest = std::max(widest, layer);
  }
  const double L = static_cast<double>(tc.num_hidden_layers);
  e.activations = static_cast<uint64_t>(
      s * bt * (cfg.gradient_checkpointing ? streams * D * L + widest : per_token + (streams - 1) * D * L));
  const double logits = bt * static_cast<double>(tc.vocab_size) * 4;
  e.loss = static_cast<uint64_t>(3 * std::min(logits, cpu ? kLossChunkCpu : kLossChunkAccelerator) + bt * D * 4);
  e.fixed = static_cast<uint64_t>(cpu ? kFixedCpu : kFixedAccelerator);
  e.total = e.weights + e.lora + e.activations + e.loss + e.fixed;

  const Throughput tp = throughput_of(e.device, accelerator_name, sys.cpu_cores);
  e.sustained_flops = tp.flops;
  e.throughput_basis = tp.basis;
  e.flops_per_token = 2.0 * static_cast<double>(e.matmul_params) * (cfg.gradient_checkpointing ? 3 : 2);
  e.tokens_per_s = e.sustained_flops / e.flops_per_token;
  if (data.tokens > 0 && data.examples > 0) {
    const double per_example = static_cast<double>(data.tokens) / static_cast<double>(data.examples);
    e.run_tokens = cfg.max_steps > 0
                       ? static_cast<double>(cfg.max_steps * cfg.grad_accum * cfg.batch_size) * per_example
                       : static_cast<double>(cfg.epochs) * static_cast<double>(data.tokens);
    e.seconds = e.run_tokens / e.tokens_per_s;
  }
  return e;
}

std::vector<std::string> describe_estimate(const RunEstimate& e, const TrainConfig& cfg) {
  auto gib = [](uint64_t b) { return format_bytes(static_cast<double>(b)); };
  std::vector<std::string> lines;
  lines.push_back(cat("device      ", e.device_label));
  lines.push_back(cat("memory      about ", gib(e.total), " on ", e.device, ": weights ", gib(e.weights), " + LoRA and AdamW ",
                      gib(e.lora), " (", e.lora_params, " parameters x 16 bytes) + activations ", gib(e.activations),
                      " (", e.batch_tokens, " tokens a batch", cfg.gradient_checkpointing ? ", checkpointed" : "",
                      ") + loss ", gib(e.loss), " + fixed ", gib(e.fixed)));
  if (e.host_weights > 0)
    lines.push_back(cat("            plus ", gib(e.host_weights), " of host memory (the per-layer embedding table)"));
  if (e.device_memory > 0 && e.total > e.device_memory)
    lines.push_back(cat("            more than the ", gib(e.device_memory), " this device has: lower batch_size or "
                        "max_seq_len, or turn on gradient_checkpointing or quantize"));
  const double tps = std::round(e.tokens_per_s);
  if (e.seconds > 0)
    lines.push_back(cat("time        about ", format_duration(e.seconds), " for ", static_cast<int64_t>(e.run_tokens),
                        " tokens at ~", static_cast<int64_t>(tps), " tokens/s"));
  else
    lines.push_back(cat("time        ~", static_cast<int64_t>(tps), " tokens/s (the dataset's size is not known yet)"));
  lines.push_back(cat("assumes     a rough estimate, not a measurement. Activations: ", kActD, "·D + ", kActF,
                      "·F elements a token and layer (D hidden size, F MLP width; with checkpointing the layer "
                      "inputs and one layer), fitted to peaks measured on an H100 (Gemma 3n and 4 E2B); the fixed "
                      "part is ", cpu_device(e) ? "the process with libtorch" : "allocator slack and workspaces",
                      ". Time: 2·N·(2 + recompute) FLOPs a token, N = ", static_cast<int64_t>(e.matmul_params),
                      " matmul parameters; ", e.throughput_basis, "; padding, attention scores, the towers and "
                      "evaluation not counted."));
  return lines;
}

}  // namespace gt::train
