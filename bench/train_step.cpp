// Benchmark of LoRA training steps, the gemma-tune side of ../shared/bench/hf_peft_baseline.py: the same model
// shapes (presets of io/model_presets.h), random weights, LoRA r16/alpha32 without dropout on q,k,v,o,gate,up,down
// of the language model, AdamW, random token batches with labels = input ids. Prints one JSON line with the same
// fields as the baseline (tokens/s over all positions, median step seconds, peak memory).
//
//   bench_train_step --family gemma4 --size E2B --batch 4 --seq 1024 [--device cuda] [--dtype bfloat16] [--gc]
//   bench_train_step --family gemma4 --size E2B --modality audio --batch 4 --seq 128 --audio-seconds 10
//   bench_train_step --family gemma4 --size E2B --modality image --batch 4 --seq 128 --image-tokens 280
//   ... [--ple-on-device]   the per-layer embedding table on the GPU (models::TablePlacement; default: the host)
//   ... [--quantize int8|nf4] the frozen decoder linears in 8 or 4 bits (models/common/quantized_weight.h)
//   ... [--lora-precision model|float32]  the adapter's arithmetic (models::LoraPrecision; default model)
//   ... [--composite-attention-above D]  layers with head dim > D use attention_grouped, not SDPA (default: 256 on
//                                         CUDA, none elsewhere; models::set_composite_attention_above)
//   ... [--composite-norm]  RMSNorm through the composite ops, not ATen's fused kernels (models::set_fused_rms_norm)
//   ... [--composite-loss]  the loss through the composite ops, not gemma-tune's CUDA kernel (models::set_fused_loss)
//   ... [--repeat-kv]       grouped-query layers repeat K/V for SDPA instead of enable_gqa (models::set_sdpa_gqa)
//   ... [--profile FILE]    a Kineto (Chrome trace) JSON of one timed step, for tools/trace_summary.py
//   ... [--census]          count the kernel-running ATen ops of one step (bench/op_census.h; any device, any
//                           libtorch): ops_per_step and syncs_per_step in the JSON, the largest counts on stderr
//   ... [--peak-tflops X]   the GPU's dense bf16 peak for the MFU (default: known cards by name, bench/model_flops.h)
// Audio, as the baseline does it: random log-mel features of audio_seconds x 100 frames per row (all valid) through
// the frozen audio tower and embedder, each row <bos> <boa> N x <audio> <eoa> + seq text tokens (N = 188 for 3n,
// the tower's output length for Gemma 4), labels on the text tokens only; the step time includes the tower.
// Images, likewise: one random image per row through the frozen vision tower and embedder (Gemma 4: a square grid of
// patches filling the budget, padded to 9 x budget patches; Gemma 3n: 768x768 pixels), <bos> <boi> N x <image> <eoi>
// + seq text tokens.
#include <torch/torch.h>
#include <torch/csrc/autograd/profiler_kineto.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>

#include "core/device.h"
#include "model_flops.h"
#include "op_census.h"
#include "io/model_presets.h"
#include "models/common/attention.h"
#include "models/common/ops.h"
#include "models/common/lora_targets.h"
#include "models/common/loss.h"
#include "models/random_init.h"
#include "models/audio_tower.h"
#include "models/model.h"
#include "models/vision_tower.h"
#include "train/optimizer.h"

using namespace gt;

int main(int argc, char** argv) {
  std::string family = "gemma4", size = "E2B", device_name = "auto", dtype_name = "auto", modality = "text";
  double audio_seconds = 10.0;
  int64_t image_tokens = 280;
  int64_t batch = 4, seq = 1024, steps = 8, warmup = 3;
  bool gc = false, phases = false, census = false;
  models::TablePlacement per_layer_table = models::TablePlacement::Host;
  models::QuantMode quantize = models::QuantMode::None;
  models::LoraPrecision lora_precision = models::LoraPrecision::Model;
  int64_t composite_above = -1;  // -1: the default of models::set_composite_attention_above
  bool composite_norm = false, composite_loss = false, repeat_kv = false;
  std::optional<double> peak_tflops;
  std::string profile_path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (a == "--family") family = next();
    else if (a == "--size") size = next();
    else if (a == "--batch") batch = std::stoll(next());
    else if (a == "--seq") seq = std::stoll(next());
    else if (a == "--steps") steps = std::stoll(next());
    else if (a == "--warmup") warmup = std::stoll(next());
    else if (a == "--device") device_name = next();
    else if (a == "--dtype") dtype_name = next();
    else if (a == "--gc") gc = true;
    else if (a == "--modality") modality = next();
    else if (a == "--audio-seconds") audio_seconds = std::stod(next());
    else if (a == "--image-tokens") image_tokens = std::stoll(next());
    else if (a == "--phases") phases = true;
    else if (a == "--ple-on-device") per_layer_table = models::TablePlacement::Device;
    else if (a == "--peak-tflops") peak_tflops = std::stod(next());
    else if (a == "--quantize") quantize = models::parse_quant_mode(next());
    else if (a == "--profile") profile_path = next();
    else if (a == "--census") census = true;
    else if (a == "--lora-precision") lora_precision = models::parse_lora_precision(next());
    else if (a == "--composite-attention-above") composite_above = std::stoll(next());
    else if (a == "--composite-norm") composite_norm = true;
    else if (a == "--composite-loss") composite_loss = true;
    else if (a == "--repeat-kv") repeat_kv = true;
    else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  device_name = resolve_device(device_name);
  const at::Device device(device_name);
  if (composite_above >= 0) models::set_composite_attention_above(composite_above);
  if (composite_norm) models::set_fused_rms_norm(false);
  if (composite_loss) models::set_fused_loss(false);
  if (repeat_kv) models::set_sdpa_gqa(false);
  const at::ScalarType dtype = dtype_name == "float32" ? at::kFloat
                               : dtype_name == "bfloat16" ? at::kBFloat16
                               : (device_name == "cpu" ? at::kFloat : at::kBFloat16);
  const auto cfg_json = io::preset_config(family, size);
  // The baseline trains the text-only causal LM; same decoder here.
  io::ModelConfig cfg = io::parse_model_config(cfg_json.dump(), "preset");
  if (modality != "text" && modality != "audio" && modality != "image") {
    std::cerr << "--modality is text, audio or image\n";
    return 2;
  }
  reset_peak_memory(device_name);
  std::unique_ptr<models::Model> whole =
      models::make_model(cfg, {.audio = modality == "audio", .vision = modality == "image"}, dtype, device,
                         per_layer_table, quantize);
  models::TextModel* model = &whole->text();
  models::random_init(*model, 0);
  int64_t nparams = 0;
  for (const auto& p : model->module().parameters()) nparams += p.numel();
  const models::QuantizeReport quantized = models::quantize_base_weights(model->module(), quantize, device);
  torch::manual_seed(0);
  models::apply_lora(model->module(), cfg.text_prefix, models::LoraTargets::defaults(),
                     {16, 32.0, 0.0, lora_precision});
  auto named = models::lora_parameters(model->module(), cfg.text_prefix);

  // Audio: the tower with random weights, and the layout of a row.
  models::AudioTower* audio = whole->audio();
  const int64_t frames = static_cast<int64_t>(audio_seconds * 100);
  int64_t n_soft = 0;
  if (audio) {
    at::Generator gen = device.is_cpu() ? at::detail::createCPUGenerator(1) : at::globalContext().defaultGenerator(device);
    audio->init_random(gen);
    for (auto& p : audio->module().parameters()) p.set_requires_grad(false);
    nparams += whole->tower_parameters();
    torch::NoGradGuard ng;
    const at::Tensor f = torch::zeros({1, frames, 128}, at::TensorOptions().dtype(at::kFloat));
    n_soft = audio->encode(f.to(device, dtype), torch::ones({1, frames}, at::kBool).to(device)).embeddings.size(0);
  }
  // Images: random weights for the tower and the patch layout of one image (as the baseline builds it).
  torch::nn::Module* vision = whole->vision();
  int64_t grid = 0, max_patches = 0;
  if (vision) {
    at::Generator gen = device.is_cpu() ? at::detail::createCPUGenerator(2) : at::globalContext().defaultGenerator(device);
    models::init_vision_tower_random(*vision, std::string(io::family_name(cfg.family)), gen);
    for (auto& p : vision->parameters()) p.set_requires_grad(false);
    nparams += whole->tower_parameters();
    if (cfg.family == io::Family::Gemma4) {
      max_patches = 9 * image_tokens;
      grid = static_cast<int64_t>(std::sqrt(static_cast<double>(max_patches))) / 3 * 3;
      n_soft = grid * grid / 9;
    } else {
      n_soft = cfg.media.vision_soft_tokens_per_image.value_or(256);
    }
  }
  const int64_t row_len = audio || vision ? n_soft + 3 + seq : seq;
  train::AdamW opt(named, {1e-4, 0.9, 0.999, 1e-8, 0.0});
  model->set_gradient_checkpointing(gc);
  model->module().train();

  std::vector<double> times;
  double loss_value = 0, t_fwd = 0, t_loss = 0, t_bwd = 0, t_opt = 0;
  // With --phases, the peak memory of each phase too (the allocator's peak is reset at each phase boundary; the
  // run's peak is the largest of them and of the set-up's).
  const double gib = double(1ull << 30);
  const double setup_peak = peak_memory_bytes(device_name) / gib;
  double m_fwd = 0, m_loss = 0, m_bwd = 0, m_opt = 0;
  auto phase_peak = [&](double& into) {
    if (!phases) return;
    into = std::max(into, peak_memory_bytes(device_name) / gib);
    reset_peak_memory(device_name);
  };
  auto now = [&] {
    synchronize_device(device_name);
    return std::chrono::steady_clock::now();
  };
  auto secs = [](auto a, auto b) { return std::chrono::duration<double>(b - a).count(); };
  bench::OpCensus op_census;
  int64_t ops_per_step = -1, syncs_per_step = -1;
  const int64_t extra = (profile_path.empty() ? 0 : 1) + (census ? 1 : 0);  // untimed steps after the warm-up
  for (int64_t i = 0; i < steps + warmup + extra; ++i) {
    at::Tensor ids = torch::randint(3, 250000, {batch, row_len}, at::TensorOptions().dtype(at::kLong));
    at::Tensor labels = ids.clone();
    models::MediaInputs media;
    if (vision) {
      ids.index_put_({at::indexing::Slice(), 0}, 2);
      ids.index_put_({at::indexing::Slice(), 1}, *cfg.media.boi_token_id);
      ids.index_put_({at::indexing::Slice(), at::indexing::Slice(2, 2 + n_soft)}, *cfg.media.image_token_id);
      ids.index_put_({at::indexing::Slice(), 2 + n_soft}, *cfg.media.eoi_token_id);
      labels = ids.clone();
      labels.index_put_({at::indexing::Slice(), at::indexing::Slice(0, 3 + n_soft)}, -100);
      const auto on = at::TensorOptions().device(device);
      if (cfg.family == io::Family::Gemma4) {
        media.pixel_values = torch::rand({batch, max_patches, 768}, on);
        media.pixel_values.index_put_({at::indexing::Slice(), at::indexing::Slice(grid * grid)}, 0);
        const at::Tensor r = torch::arange(grid, on.dtype(at::kLong));
        const at::Tensor xy = at::stack({r.repeat({grid}), r.repeat_interleave(grid)}, -1);  // (x = column, y = row)
        media.pixel_position_ids = torch::full({batch, max_patches, 2}, -1, on.dtype(at::kLong));
        media.pixel_position_ids.index_put_({at::indexing::Slice(), at::indexing::Slice(0, grid * grid)}, xy);
      } else {
        media.pixel_values = torch::rand({batch, 3, 768, 768}, on);
      }
    }
    if (audio) {
      ids.index_put_({at::indexing::Slice(), 0}, 2);
      ids.index_put_({at::indexing::Slice(), 1}, *cfg.media.boa_token_id);
      ids.index_put_({at::indexing::Slice(), at::indexing::Slice(2, 2 + n_soft)}, *cfg.media.audio_token_id);
      ids.index_put_({at::indexing::Slice(), 2 + n_soft}, *cfg.media.eoa_token_id);
      labels = ids.clone();
      labels.index_put_({at::indexing::Slice(), at::indexing::Slice(0, 3 + n_soft)}, -100);
      media.audio_features = torch::randn({batch, frames, 128});
      media.audio_mask = torch::ones({batch, frames}, at::kBool);
    }
    const at::Tensor host_ids = ids;  // as train's batches carry them (TextInputs::input_ids_host)
    ids = ids.to(device);
    labels = labels.to(device);
    // The profiled step is the first timed one; it is left out of the timings (the profiler slows it).
    const bool profiling = !profile_path.empty() && i == warmup;
    const bool counting = census && i == warmup + (profile_path.empty() ? 0 : 1);
    if (counting) op_census.start();
    if (profiling) {
      namespace prof = torch::profiler::impl;
      std::set<prof::ActivityType> activities{prof::ActivityType::CPU};
      if (device.is_cuda()) activities.insert(prof::ActivityType::CUDA);
      // Input shapes and dtypes let tools/trace_summary.py say which tensors the copies and casts move.
      const prof::ProfilerConfig config(prof::ProfilerState::KINETO, /*report_input_shapes=*/true);
      torch::autograd::profiler::prepareProfiler(config, activities);
      torch::autograd::profiler::enableProfiler(config, activities);
    }
    auto t0 = now();
    if (phases) reset_peak_memory(device_name);
    models::TextInputs in;
    in.input_ids = ids;
    in.input_ids_host = host_ids;
    at::Tensor h = whole->forward(in, media);
    auto t1 = phases ? now() : t0;
    phase_peak(m_fwd);
    models::LossSum ls = models::causal_lm_loss(h, labels, model->lm_head_weight(), model->final_logit_softcapping());
    at::Tensor loss = ls.sum / static_cast<double>(ls.tokens);
    auto t2 = phases ? now() : t0;
    phase_peak(m_loss);
    loss.backward();
    auto t3 = phases ? now() : t0;
    phase_peak(m_bwd);
    opt.step(1e-4);
    opt.zero_grad();
    auto t4 = now();
    phase_peak(m_opt);
    if (counting) {
      op_census.stop();
      ops_per_step = op_census.total(), syncs_per_step = op_census.syncs();
      std::cerr << "census of step " << i << ": " << ops_per_step << " kernel-running ops, " << syncs_per_step
                << " host-device syncs\n  by op:";
      for (const auto& [name, n] : op_census.by_op(20)) std::cerr << " " << name << " " << n << ";";
      std::cerr << "\n  by outermost op or autograd node:";
      for (const auto& [name, n] : op_census.by_scope(30)) std::cerr << " " << name << " " << n << ";";
      std::cerr << "\n  by both:";
      for (const auto& [name, n] : op_census.by_pair(40)) std::cerr << "\n    " << n << "  " << name;
      std::cerr << "\n";
    }
    loss_value = loss.item<double>();
    if (counting) continue;
    if (profiling) {
      try {
        torch::autograd::profiler::disableProfiler()->save(profile_path);
        std::cerr << "profile of step " << i << " written to " << profile_path << "\n";
      } catch (const c10::Error& e) {
        std::cerr << "--profile: no trace written (" << e.msg().substr(0, e.msg().find('\n'))
                  << "; the libtorch of PyTorch's wheels has Kineto)\n";
      }
      continue;
    }
    if (i >= warmup) {
      times.push_back(secs(t0, t4));
      t_fwd += secs(t0, t1), t_loss += secs(t1, t2), t_bwd += secs(t2, t3), t_opt += secs(t3, t4);
    }
  }
  std::sort(times.begin(), times.end());
  const double med = times[times.size() / 2];
  nlohmann::json out = {{"tool", "gemma-tune"}, {"family", family}, {"size", size}, {"modality", modality},
                        {"batch", batch}, {"seq", seq}, {"gc", gc}, {"params_b", nparams / 1e9},
                        {"step_s", med}, {"tokens_per_s", batch * row_len / med},
                        {"peak_gib", phases ? std::max({setup_peak, m_fwd, m_loss, m_bwd, m_opt})
                                            : peak_memory_bytes(device_name) / gib},
                        {"loss", loss_value},
                        {"device", device_name}, {"dtype", std::string(c10::toString(dtype))},
                        {"lora_precision", lora_precision == models::LoraPrecision::Model ? "model" : "float32"},
                        {"composite_attention_above", composite_above},
                        {"fused_norm", !composite_norm},
                        {"fused_loss", models::fused_loss_available() && !composite_loss}, {"sdpa_gqa", !repeat_kv}};
  if (census) out["ops_per_step"] = ops_per_step, out["syncs_per_step"] = syncs_per_step;
  // MFU (bench/model_flops.h): the decoder's model FLOPs of a LoRA step over the GPU's dense bf16 peak.
  const bench::StepFlops flops = bench::lora_step_flops(cfg, *model, batch, row_len);
  std::string gpu;
  if (!peak_tflops && device.is_cuda()) peak_tflops = bench::gpu_peak_tflops(&gpu);
  out["model_tflop_per_step"] = flops.step / 1e12;
  out["mfu"] = peak_tflops ? nlohmann::json(flops.step / med / (*peak_tflops * 1e12)) : nlohmann::json(nullptr);
  if (!gpu.empty()) out["gpu"] = gpu;
  if (quantize != models::QuantMode::None) {
    out["quantize"] = models::quant_mode_name(quantize);
    out["quantized_gib"] = {{"before", quantized.bytes_before / gib}, {"after", quantized.bytes_after / gib}};
  }
  if (phases) {
    const double n = static_cast<double>(times.size());
    out["phases_s"] = {{"forward", t_fwd / n}, {"loss", t_loss / n}, {"backward", t_bwd / n}, {"optimizer", t_opt / n}};
    out["phases_peak_gib"] = {{"setup", setup_peak}, {"forward", m_fwd}, {"loss", m_loss}, {"backward", m_bwd},
                              {"optimizer", m_opt}};
  }
  std::cout << out.dump() << std::endl;
  return 0;
}
