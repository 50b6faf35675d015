// `gemma-tune export`, behind a torch-free interface (cli/export.cpp parses options into this struct).
#pragma once

#include <cstdint>
#include <string>

namespace gt::exporting {

struct ExportOptions {
  std::string model;
  std::string adapter;
  std::string format = "merged";  // merged | peft | gguf
  std::string out;
  std::string dtype = "auto";       // merged: auto (as stored) | bfloat16 | float16 | float32
  std::string gguf_type = "bf16";   // gguf: f32 | f16 | bf16 | q8_0
  uint64_t max_shard_bytes = 5000000000ull;  // merged: transformers' default max_shard_size "5GB"
};

void run_export(const ExportOptions& o);

}  // namespace gt::exporting
