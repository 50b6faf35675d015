// `gemma-tune export`: a model with its adapter merged (Hugging Face layout), the adapter alone (PEFT), or the merged
// text model as GGUF for llama.cpp. See export/commands.h.
#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "cli/option_ranges.h"
#include "export/commands.h"

namespace gt::cli {

void add_export(CLI::App& app) {
  auto o = std::make_shared<exporting::ExportOptions>();
  CLI::App* sub = app.add_subcommand(
      "export",
      "Export a trained adapter: --format merged (the adapter folded into the base weights, in the published "
      "safetensors layout with config, tokenizer and processor files: loads in transformers and gemma-tune), peft "
      "(the adapter folder for PEFT) or gguf (the merged text model for llama.cpp / Ollama / LM Studio). Writes "
      "gemma_tune_export.json and .integrity.json beside it (check with `gemma-tune verify DIR`).");
  sub->add_option("--model", o->model, "The base model folder the adapter was trained on")->required();
  sub->add_option("--adapter", o->adapter, "LoRA adapter folder (PEFT format); merged and gguf without it: the base");
  sub->add_option("--format", o->format, "merged | peft | gguf")->capture_default_str();
  sub->add_option("--out", o->out, "Output folder (new or empty)")->required();
  sub->add_option("--dtype", o->dtype, "merged: auto (as stored) | bfloat16 | float16 | float32")
      ->capture_default_str();
  sub->add_option("--gguf-type", o->gguf_type, "gguf: f32 | f16 | bf16 | q8_0 (norms and 1-D tensors stay f32)")
      ->capture_default_str();
  sub->add_option("--max-shard-size", o->max_shard_bytes,
                  "merged: bytes per safetensors shard (a tensor larger than this gets a shard of its own)")
      ->check(number_at_least(1))
      ->capture_default_str();
  sub->callback([o] { exporting::run_export(*o); });
}

}  // namespace gt::cli
