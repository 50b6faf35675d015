// What the training loop, eval and generation need from a text decoder of either family, independent of its
// internals: final hidden states, the (tied) output embedding and the logit soft-cap, and the module tree for
// LoRA, loading and optimizers.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "io/model_config.h"  // defines: gt::io::ModelConfig
#include "models/common/quantized_weight.h"  // defines: QuantMode

namespace gt::models {

class KvCache;

struct TextInputs {
  at::Tensor input_ids;       // [B, T] int64
  at::Tensor attention_mask;  // [B, T], 1 = real token; undefined = no padding
  // Optional [B, T, D] embeddings to use instead of looking input_ids up (multimodal merges write soft tokens
  // here); the per-layer (PLE) token part is still taken from input_ids.
  at::Tensor inputs_embeds;
  // Generation (models/common/kv_cache.h): the step's tokens follow the cache's history; attention_mask then covers
  // history and step [B, past + T]. Keys/values are appended and the cache is committed by the forward.
  KvCache* cache = nullptr;
  // RoPE positions [B, T] int64 (left-padded batches count real tokens only); undefined = cache indices
  // past .. past + T - 1.
  at::Tensor position_ids;
  // Optional: the same ids on the host, as the batch was built. A per-layer table kept on the host
  // (TablePlacement::Host) gathers its rows from them without waiting for the device to hand the ids back.
  at::Tensor input_ids_host;
  // Packed rows (data::pack_examples): [B, T] int64, the document each position belongs to (1, 2, ... along a row; 0 =
  // padding). A position then sees only earlier positions of its own document, and position_ids restart at each
  // document. Undefined = one document a row. Training only (no KV cache).
  at::Tensor segment_ids;
};

// Optional capture of named intermediates (llama.cpp's cb / eval-callback): "layer.<l>" etc.
using Trace = std::vector<std::pair<std::string, at::Tensor>>;

class TextModel {
 public:
  virtual ~TextModel() = default;
  // Final normalised hidden states [B, T, D].
  virtual at::Tensor forward(const TextInputs& in, Trace* trace = nullptr) = 0;
  // Embeddings of token ids as the model scales them [.., D] (for merging multimodal features).
  virtual at::Tensor embed(const at::Tensor& ids) = 0;
  // The output projection (tied input embedding) [V, D].
  virtual at::Tensor lm_head_weight() = 0;
  virtual double final_logit_softcapping() const = 0;
  virtual torch::nn::Module& module() = 0;
  virtual const io::ModelConfig& config() const = 0;
  // Recompute each decoder layer in the backward pass instead of keeping its activations.
  virtual void set_gradient_checkpointing(bool on) = 0;
};

// Where the per-layer-input embedding table (embed_tokens_per_layer: 262144 x layers x 256, 4.7 GB in bf16 at E2B,
// frozen, only ever gathered by row) lives when the model runs on a GPU. Host: in this process's memory (mapped from
// the checkpoint when its dtype is the run's, see load_weights), each batch's rows gathered there and only those
// sent to the GPU, which then never holds the table; on Apple's unified memory the table's untouched pages are
// never read at all. Device: on the GPU with the rest (a gather without the host round trip).
enum class TablePlacement { Host, Device };

// Builds the text decoder of the checkpoint's family with weights in `dtype` on `device` (uninitialised: load
// them with load_text_model or fill them for a random checkpoint). With `quantize` other than None the base
// linears are staged on the host (models/common/lora_linear.h): fill them, then quantize_base_weights().
std::shared_ptr<TextModel> make_text_model(const io::ModelConfig& cfg, at::ScalarType dtype, at::Device device,
                                           TablePlacement per_layer_table = TablePlacement::Host,
                                           QuantMode quantize = QuantMode::None);

struct LoadedTextModel {
  std::shared_ptr<TextModel> model;
  io::ModelConfig config;
  size_t tensors = 0;   // loaded
  uint64_t bytes = 0;   // as stored in the checkpoint
};

// Reads config.json and the safetensors of `model_dir` and loads the text decoder only (no tower is read).
// Base weights are frozen. Throws gt::InputError naming the folder and every missing or mis-shaped tensor.
LoadedTextModel load_text_model(const std::string& model_dir, at::ScalarType dtype, at::Device device);

}  // namespace gt::models
