// GGUF export of a (LoRA-merged) Gemma 3n / Gemma 4 text decoder for llama.cpp, written the way llama.cpp's
// converter (convert_hf_to_gguf.py: conversion/gemma.py classes Gemma3NModel and Gemma4Model, with TextModel and
// ModelBase from conversion/base.py and gguf-py) writes a Hugging Face checkpoint, so that llama.cpp's loaders for the
// architectures "gemma3n" and "gemma4" (src/models/gemma3n.cpp, src/models/gemma4.cpp) accept the file. Reference:
// llama.cpp release v0.4.0, the version node-llama-cpp 3.21.1 bundles.
//
// What is written:
//   - hyper-parameters under "<arch>." keys, per-layer arrays where the converter writes them (sliding-window
//     pattern, feed-forward widths, KV heads, activation-sparsity scales), general.file_type and
//     general.quantization_version;
//   - the tokenizer from tokenizer.json (plus tokenizer_config.json and chat_template.jinja when they sit beside it):
//     Gemma 3n as a SentencePiece-style "llama" vocabulary with scores, Gemma 4 as the "gemma4" BPE vocabulary with
//     merges; special token ids, add_bos / add_eos, the chat template;
//   - the text-decoder tensors under GGUF names (token_embd, blk.N.attn_q, per_layer_token_embd, altup_proj, ...),
//     with the converter's value changes: Gemma 3n's embeddings padded with zero rows to vocab_size and its three
//     AltUp projections stacked into one tensor; Gemma 4's embedding trimmed to the tokenizer's size and its
//     rope_freqs tensor (proportional RoPE of the full-attention layers) generated. Norm weights are written as
//     stored (neither family adds 1 as Gemma 3 does). Towers, embedders and a tied lm_head are left out.
// Tensors stay float32 where the converter keeps them so: every 1-D tensor, names ending in "_norm.weight", and
// Gemma 3n's AltUp coefficient matrices; a Q8_0 file stores a tensor whose rows are not a multiple of 32 as F16.
//
// Tensors are read a few rows at a time while the file is written (any device, any floating dtype), so a model
// is exported without a second copy of it in memory.
#pragma once

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/model_config.h"  // defines: gt::io::ModelConfig

namespace gt::exporting {

// The file type (the converter's --outtype): the storage of every tensor not kept in float32.
enum class GgufType { F32, F16, BF16, Q8_0 };

// "f32", "f16", "bf16", "q8_0".
std::string_view gguf_type_name(GgufType t);
// Parses one of the names above (case-insensitive); throws gt::InputError listing them otherwise.
GgufType parse_gguf_type(std::string_view name);
// general.file_type for `t` (llama.cpp's LLAMA_FTYPE: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7, MOSTLY_BF16 32).
uint32_t gguf_file_type(GgufType t);

// Writes `path` (through path.tmp). `tokenizer_json` is the path of the model's tokenizer.json; a
// tokenizer_config.json and chat_template.jinja in the same folder are read too when present. `text_weights` are
// the merged text-decoder tensors under Hugging Face names ("model.language_model.*" or "model.*"); tensors of the
// audio / vision towers and embedders, and lm_head.weight when the embeddings are tied, are skipped. Every entry of
// `extra_metadata` (a JSON object, or null) is written last as a KV, replacing a value the export set: strings,
// booleans, numbers (unsigned integers as u32 / u64, negative ones as i32 / i64, others as f32) and arrays of
// one kind; {"type": "u64", "value": ...} picks the GGUF type. Throws gt::InputError naming the tensor, key or
// file at fault: a missing or mis-shaped tensor, an unknown text tensor or an unmerged LoRA factor, a tokenizer
// larger than the embedding (Gemma 4), or a configuration llama.cpp cannot represent.
void write_gguf(const std::string& path, const io::ModelConfig& cfg, const std::string& tokenizer_json,
                const std::vector<std::pair<std::string, at::Tensor>>& text_weights, GgufType type,
                const nlohmann::json& extra_metadata);

// What llama.cpp v0.4.0 hard-codes or assumes for the architecture where `cfg` differs, one sentence each; empty
// when llama.cpp computes what transformers computes. Gemma 3n's loader fixes the per-layer input width (256), the
// LAuReL rank (64), the active AltUp stream (0), the layers with a KV cache (the first 20), the sliding-window
// period (every 5th layer global), activation sparsity (0.95 on the first 10 layers) and the logit soft-cap (30), and
// declares one MLP width for all layers (layer 0's); Gemma 4's takes a KV-shared layer's cache from the last (full) or second-to-last (sliding) layer with a cache.
// write_gguf writes such models all the same (the file is what the converter would write); the caller decides
// whether to warn or refuse.
std::vector<std::string> llama_cpp_limitations(const io::ModelConfig& cfg);

}  // namespace gt::exporting
