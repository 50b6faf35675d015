// Benchmark of decoding, the gemma-tune side of bench/hf_generate_baseline.py: the same model shapes (presets of
// io/model_presets.h), random weights, a batch of random prompts, greedy decoding of a fixed number of tokens with
// the KV cache (no stop token, so every run decodes the same count). Prints one JSON line with the baseline's
// fields: prefill seconds, decode tokens/s (new tokens after the first, over all rows, per second of decoding),
// peak memory.
//
//   bench_generate --family gemma4 --size E2B --batch 1 --prompt 128 --new 256 [--device cuda] [--dtype bfloat16]
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>

#include "core/device.h"
#include "infer/generator.h"
#include "io/model_presets.h"
#include "models/model.h"
#include "models/random_init.h"
#include "train/batches_torch.h"

using namespace gt;

int main(int argc, char** argv) {
  std::string family = "gemma4", size = "E2B", device_name = "auto", dtype_name = "auto";
  int64_t batch = 1, prompt = 128, new_tokens = 256, runs = 3;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return std::string(i + 1 < argc ? argv[++i] : ""); };
    if (a == "--family") family = next();
    else if (a == "--size") size = next();
    else if (a == "--batch") batch = std::stoll(next());
    else if (a == "--prompt") prompt = std::stoll(next());
    else if (a == "--new") new_tokens = std::stoll(next());
    else if (a == "--runs") runs = std::stoll(next());
    else if (a == "--device") device_name = next();
    else if (a == "--dtype") dtype_name = next();
    else {
      std::cerr << "unknown argument " << a << "\n";
      return 2;
    }
  }
  device_name = resolve_device(device_name);
  const at::Device device(device_name);
  const at::ScalarType dtype = train::resolve_dtype(dtype_name, device_name);
  const io::ModelConfig cfg = io::parse_model_config(io::preset_config(family, size).dump(), "preset");
  std::unique_ptr<models::Model> model = models::make_model(cfg, {}, dtype, device);
  models::random_init(model->text(), 0);

  torch::manual_seed(1);
  std::vector<std::vector<int64_t>> prompts;
  for (int64_t b = 0; b < batch; ++b) {
    at::Tensor ids = torch::randint(3, 262000, {prompt}, at::TensorOptions().dtype(at::kLong));
    prompts.emplace_back(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + prompt);
  }
  const infer::PromptBatch pb = infer::left_pad(prompts, 0);
  infer::GenerationOptions o;
  o.max_new_tokens = new_tokens;  // no stop ids: every run decodes new_tokens per row
  {
    infer::GenerationOptions warm = o;
    warm.max_new_tokens = 8;
    infer::generate(*model, pb, {}, warm);
  }
  reset_peak_memory(device_name);
  std::vector<double> prefill, per_s;
  for (int64_t r = 0; r < runs; ++r) {
    infer::GenerationTimes t;
    infer::generate(*model, pb, {}, o, {}, &t);
    synchronize_device(device_name);
    prefill.push_back(t.prefill_s);
    per_s.push_back(static_cast<double>(t.new_tokens - batch) / t.decode_s);
  }
  std::sort(prefill.begin(), prefill.end());
  std::sort(per_s.begin(), per_s.end());
  nlohmann::json out = {{"tool", "gemma-tune"},       {"family", family},
                        {"size", size},               {"batch", batch},
                        {"prompt", prompt},           {"new", new_tokens},
                        {"device", device_name},      {"dtype", dtype == at::kFloat ? "float32" : "bfloat16"},
                        {"prefill_s", prefill[prefill.size() / 2]},
                        {"decode_tokens_per_s", per_s[per_s.size() / 2]},
                        {"peak_gib", peak_memory_bytes(device_name) / double(1ull << 30)}};
  std::cout << out.dump() << "\n";
  return 0;
}
