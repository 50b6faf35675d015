// Gemma 4 vision encoder, parameter layout (transformers 5.17 Gemma4VisionModel; spec §3.4): the module tree of
// `model.vision_tower.*` with every parameter and buffer under the checkpoint's name and shape, sized from
// config.json's vision_config:
//   patch_embedder   input_proj [D, 3·p²] and the 2-D position table [2, position_embedding_size, D]
//   encoder.layers.i sandwich RMSNorms, attention (clippable q/k/v/o, q_norm/k_norm with scale, v_norm without),
//                    MLP (clippable gate/up/down)
//   std_bias/std_scale only when `standardize` is set.
// The pooler and the axial RoPE hold no checkpoint tensors (the RoPE table is a non-persistent buffer in
// transformers), so they have no module here.
//
// Deliberately left out: the forward pass. Issue #3 (init-random) needs only the tree; the vision issue adds
// forward() to these same classes, so no forward is declared yet.
#pragma once

#include <torch/torch.h>

#include <string>

#include "models/common/lora_linear.h"  // defines: LoraLinear (a linear whose weight keeps its checkpoint name)
#include "models/common/modules.h"      // defines: RMSNorm
#include "models/gemma4/audio.h"        // defines: ClippableLinear (Gemma4ClippableLinear, shared with the audio tower)

namespace gt::models::gemma4 {

// config.json "vision_config" (model_type gemma4_vision); absent keys take Gemma4VisionConfig's defaults.
struct VisionConfig {
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_hidden_layers = 16;
  int64_t num_attention_heads = 12;
  int64_t num_key_value_heads = 12;
  int64_t head_dim = 64;
  double rms_norm_eps = 1e-6;
  int64_t patch_size = 16;
  int64_t position_embedding_size = 10 * 1024;
  int64_t pooling_kernel_size = 3;
  int64_t default_output_length = 280;
  bool use_clipped_linears = false;
  bool standardize = false;
  std::string hidden_activation = "gelu_pytorch_tanh";
};

// Parses the vision_config object (JSON text). `where` names the file in messages. Throws gt::InputError naming
// the key for a mistyped or inconsistent value.
VisionConfig parse_vision_config(const std::string& json_text, const std::string& where);

// Gemma4VisionPatchEmbedder.
class VisionPatchEmbedderImpl : public torch::nn::Module {
 public:
  VisionPatchEmbedderImpl(const VisionConfig& c, const at::TensorOptions& opts);
  LoraLinear input_proj{nullptr};       // [D, 3·p²]
  at::Tensor position_embedding_table;  // [2 (x, y), position_embedding_size, D]
};
TORCH_MODULE(VisionPatchEmbedder);

// Gemma4VisionAttention.
class VisionAttentionImpl : public torch::nn::Module {
 public:
  VisionAttentionImpl(const VisionConfig& c, const at::TensorOptions& opts);
  ClippableLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr}, v_norm{nullptr};  // v_norm has no scale
};
TORCH_MODULE(VisionAttention);

// Gemma4VisionMLP.
class VisionMLPImpl : public torch::nn::Module {
 public:
  VisionMLPImpl(const VisionConfig& c, const at::TensorOptions& opts);
  ClippableLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(VisionMLP);

// Gemma4VisionEncoderLayer.
class VisionEncoderLayerImpl : public torch::nn::Module {
 public:
  VisionEncoderLayerImpl(const VisionConfig& c, const at::TensorOptions& opts);
  VisionAttention self_attn{nullptr};
  VisionMLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr}, pre_feedforward_layernorm{nullptr},
      post_feedforward_layernorm{nullptr};
};
TORCH_MODULE(VisionEncoderLayer);

// Gemma4VisionEncoder (its rotary_emb has no checkpoint tensor).
class VisionEncoderImpl : public torch::nn::Module {
 public:
  VisionEncoderImpl(const VisionConfig& c, const at::TensorOptions& opts);
  torch::nn::ModuleList layers{nullptr};
};
TORCH_MODULE(VisionEncoder);

// Gemma4VisionModel: registered as `vision_tower` below "model.".
class VisionModelImpl : public torch::nn::Module {
 public:
  VisionModelImpl(const VisionConfig& c, const at::TensorOptions& opts);
  const VisionConfig& config() const { return cfg_; }
  VisionPatchEmbedder patch_embedder{nullptr};
  VisionEncoder encoder{nullptr};
  at::Tensor std_bias, std_scale;  // [D] buffers, only with `standardize`

 private:
  VisionConfig cfg_;
};
TORCH_MODULE(VisionModel);

}  // namespace gt::models::gemma4
