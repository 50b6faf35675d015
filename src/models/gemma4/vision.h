// Gemma 4 vision encoder (transformers 5.17 Gemma4VisionModel): the module tree of `model.vision_tower.*`
// with every parameter and buffer under the checkpoint's name and shape, sized from config.json's vision_config,
// and its forward pass, in the order of operations and dtypes of transformers:
//   patch_embedder   input_proj [D, 3·p²] of 2·(pixels − 0.5), plus the 2-D position table
//                    [2, position_embedding_size, D] looked up at (x, y) (zero for padding patches)
//   encoder.layers.i sandwich RMSNorms, bidirectional attention (clippable q/k/v/o, q_norm/k_norm with scale, v_norm
//                    without, 2-D axial RoPE, scaling 1, padding patches masked as keys), MLP (clippable gate/up/down,
//                    gelu-tanh)
//   pooler           padding zeroed, k×k average by patch position down to P/k² tokens (float32, rounded to the
//                    hidden dtype), × sqrt(D) in float32
//   std_bias/std_scale only when `standardize` is set (applied in float32), then one cast to the hidden dtype.
// The pooler and the axial RoPE hold no checkpoint tensors (the RoPE table is a non-persistent buffer in
// transformers), so they have no module here; the encoder computes the RoPE table and VisionModel pools.
//
// Dimension letters: N images, P patches per image (padded to the budget: max_patches), D hidden, H heads,
// KV key/value heads, hd head dim, L = P / k² pooled tokens per image (k = pooling_kernel_size).
// Every device runs the same ATen code; the attention goes through models/common/attention.h (the fused kernel on
// libtorch >= 2.1, the composite path on 1.13). Not here: the image processor (media/), the embedder
// (multimodal_embedder.h), the family dispatch (models/vision_tower.h).
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "models/common/lora_linear.h"  // defines: LoraLinear (a linear whose weight keeps its checkpoint name)
#include "models/common/modules.h"      // defines: RMSNorm
#include "models/gemma4/audio.h"        // defines: ClippableLinear (shared with the audio tower), models::Trace

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
  // rope_parameters.rope_theta (Gemma4VisionConfig's default rope_parameters are {"rope_type": "default",
  // "rope_theta": 100.0}), read as parse_vision_rope_theta reads it.
  double rope_theta = 100.0;
};

// Parses the vision_config object (JSON text). `where` names the file in messages. Throws gt::InputError naming
// the key for a mistyped or inconsistent value.
VisionConfig parse_vision_config(const std::string& json_text, const std::string& where);

// The 2-D RoPE base of the vision_config object (JSON text): rope_parameters.rope_theta, else a top-level rope_theta,
// else 100 (Gemma4VisionConfig's default). Throws gt::InputError naming the key for a rope_type other than "axial"
// (transformers 5.17's name) or "default" (older configs; 5.17 reads it as axial), or a theta that is not a
// positive number.
double parse_vision_rope_theta(const std::string& json_text, const std::string& where);

// The cos/sin of the 2-D axial RoPE for every patch: [N, P, hd] in the activation dtype, the first hd/2 channels
// from the x position, the last hd/2 from the y position (Gemma4VisionRotaryEmbedding).
struct VisionRope {
  at::Tensor cos, sin;
};

// Gemma4VisionPatchEmbedder.
class VisionPatchEmbedderImpl : public torch::nn::Module {
 public:
  VisionPatchEmbedderImpl(const VisionConfig& c, const at::TensorOptions& opts);
  // pixel_values [N, P, 3·p²] floating, positions [N, P, 2] int64 (x, y), padding [N, P] bool (true = padding patch)
  // -> [N, P, D] in the weight dtype.
  at::Tensor forward(const at::Tensor& pixel_values, const at::Tensor& positions, const at::Tensor& padding);
  LoraLinear input_proj{nullptr};       // [D, 3·p²]
  at::Tensor position_embedding_table;  // [2 (x, y), position_embedding_size, D]
};
TORCH_MODULE(VisionPatchEmbedder);

// Gemma4VisionAttention.
class VisionAttentionImpl : public torch::nn::Module {
 public:
  VisionAttentionImpl(const VisionConfig& c, const at::TensorOptions& opts);
  // x [N, P, D]; rope from VisionEncoderImpl::rope; mask [N, 1, P, P] additive (0 = attend, the dtype's lowest value
  // = masked key), always defined. -> [N, P, D]
  at::Tensor forward(const at::Tensor& x, const VisionRope& rope, const at::Tensor& mask);
  ClippableLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr}, v_norm{nullptr};  // v_norm has no scale

 private:
  int64_t n_head_, n_kv_head_, head_dim_;
};
TORCH_MODULE(VisionAttention);

// Gemma4VisionMLP.
class VisionMLPImpl : public torch::nn::Module {
 public:
  VisionMLPImpl(const VisionConfig& c, const at::TensorOptions& opts);
  // down(gelu_tanh(gate(x)) * up(x))
  at::Tensor forward(const at::Tensor& x);
  ClippableLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(VisionMLP);

// Gemma4VisionEncoderLayer.
class VisionEncoderLayerImpl : public torch::nn::Module {
 public:
  VisionEncoderLayerImpl(const VisionConfig& c, const at::TensorOptions& opts);
  // x + post_attention_layernorm(attn(input_layernorm(x))), then the same with the MLP and its two norms.
  at::Tensor forward(const at::Tensor& x, const VisionRope& rope, const at::Tensor& mask);
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
  // inputs_embeds [N, P, D], padding [N, P] bool, positions [N, P, 2] int64. `trace` (optional) receives
  // "layers.<i>". -> [N, P, D]
  at::Tensor forward(const at::Tensor& inputs_embeds, const at::Tensor& padding, const at::Tensor& positions,
                     Trace* trace = nullptr);
  // Gemma4VisionRotaryEmbedding: inv_freq[i] = 1 / theta^(2i / (hd/2)) in float32 for each axis; angles position ·
  // inv_freq in float32 (padding patches keep their -1), cos/sin cast to `dtype`.
  VisionRope rope(const at::Tensor& positions, at::ScalarType dtype) const;
  // The additive key mask [N, 1, P, P] (0 where the key is a real patch, the dtype's lowest value where it is
  // padding). transformers passes no mask at all when no image of the batch has padding; adding zeros is the same.
  static at::Tensor key_mask(const at::Tensor& padding, at::ScalarType dtype);
  torch::nn::ModuleList layers{nullptr};

 private:
  int64_t head_dim_;
  double rope_theta_;
};
TORCH_MODULE(VisionEncoder);

// What Gemma4VisionModel returns (and Gemma4Model.get_image_features passes to embed_vision).
struct VisionOutput {
  at::Tensor tokens;                      // [sum n_i, D] the soft tokens of every image, in image order
  std::vector<int64_t> tokens_per_image;  // n_i = (patch rows / k) · (patch columns / k) of image i
};

// Gemma4VisionModel: registered as `vision_tower` below "model.".
class VisionModelImpl : public torch::nn::Module {
 public:
  VisionModelImpl(const VisionConfig& c, const at::TensorOptions& opts);
  // pixel_values [N, P, 3·p²] float (values in [0, 1], as Gemma4ImageProcessor makes them, padded rows 0);
  // pixel_position_ids [N, P, 2] int64 (x, y) per patch, (-1, -1) for padding patches. P must be a multiple of k²
  // (the processor pads every image to max_patches = 9 · max_soft_tokens).
  // Returns the pooled soft tokens of every image, padding dropped, concatenated in image order, in the weight
  // dtype, and the count per image. `trace` (optional) receives "patch_embedder", "layers.<i>", "pooler" (the
  // pooled and scaled tokens [N, L, D] in float32, before the padding is dropped) and "pooler_mask" ([N, L] bool,
  // true = kept).
  // Throws gt::InputError for inputs of the wrong shape, positions outside the position table or a patch grid the
  // pooler cannot tile.
  VisionOutput forward(const at::Tensor& pixel_values, const at::Tensor& pixel_position_ids, Trace* trace = nullptr);
  // Gemma4VisionPooler: padding patches zeroed, the mean of each k×k block of patches (by position: block
  // x // k + (W / k) · (y // k), W = 1 + the largest x of the image) as a float32 product with one-hot weights 1/k²,
  // rounded to the hidden dtype, then times sqrt(D) in float32. hidden [N, P, D] -> ([N, L, D] float32, kept [N, L]
  // bool: blocks that hold at least one patch).
  std::pair<at::Tensor, at::Tensor> pool(const at::Tensor& hidden, const at::Tensor& positions,
                                         const at::Tensor& padding) const;
  const VisionConfig& config() const { return cfg_; }
  VisionPatchEmbedder patch_embedder{nullptr};
  VisionEncoder encoder{nullptr};
  at::Tensor std_bias, std_scale;  // [D] buffers, only with `standardize`

 private:
  VisionConfig cfg_;
};
TORCH_MODULE(VisionModel);

}  // namespace gt::models::gemma4
