// Gemma 3n text decoder (transformers Gemma3nTextModel): AltUp streams, LAuReL, per-layer embeddings,
// KV sharing, Gaussian top-k activation sparsity. Module names mirror the checkpoint under
// "model.language_model." (multimodal) or "model." (Gemma3nForCausalLM).
#pragma once

#include <torch/torch.h>

#include "io/model_config.h"
#include "models/common/lora_linear.h"
#include "models/common/modules.h"
#include "models/common/layer_stack.h"
#include "models/common/rope.h"
#include "models/text_model.h"

namespace gt::models::gemma3n {

class TextAttentionImpl : public torch::nn::Module {
 public:
  TextAttentionImpl(const io::TextConfig& c, int64_t layer, const at::TensorOptions& opts);
  LoraLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr}, v_norm{nullptr};
  int64_t head_dim;
  bool sliding, kv_shared;
};
TORCH_MODULE(TextAttention);

class TextMLPImpl : public torch::nn::Module {
 public:
  TextMLPImpl(int64_t hidden, int64_t intermediate, double sparsity, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x);
  LoraLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  double activation_sparsity;
};
TORCH_MODULE(TextMLP);

// Alternating updates: predict the four streams before a layer, correct them after it.
class TextAltUpImpl : public torch::nn::Module {
 public:
  TextAltUpImpl(const io::TextConfig& c, const at::TensorOptions& opts);
  at::Tensor compute_router_modalities(const at::Tensor& x);                  // [B, T, 4]
  at::Tensor predict(const at::Tensor& streams);                              // [4, B, T, D]
  // predicted_active: predictions' active stream, as the caller already took it out (one unbind, see layer_forward).
  at::Tensor correct(const at::Tensor& predictions, const at::Tensor& predicted_active, const at::Tensor& activated);
  at::Tensor scale_corrected_output(const at::Tensor& x);
  at::Tensor correct_output_scale;  // [D] parameter
  LoraLinear correction_coefs{nullptr}, prediction_coefs{nullptr}, modality_router{nullptr};
  RMSNorm router_norm{nullptr};

 private:
  int64_t n_;
  int64_t active_;
  double coef_clip_;
  double router_input_scale_;
};
TORCH_MODULE(TextAltUp);

class TextLaurelBlockImpl : public torch::nn::Module {
 public:
  TextLaurelBlockImpl(const io::TextConfig& c, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x);
  LoraLinear linear_left{nullptr}, linear_right{nullptr};
  RMSNorm post_laurel_norm{nullptr};
};
TORCH_MODULE(TextLaurelBlock);

class TextDecoderLayerImpl : public torch::nn::Module {
 public:
  TextDecoderLayerImpl(const io::TextConfig& c, int64_t layer, const at::TensorOptions& opts);
  TextAttention self_attn{nullptr};
  TextMLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr}, pre_feedforward_layernorm{nullptr},
      post_feedforward_layernorm{nullptr}, post_per_layer_input_norm{nullptr};
  TextAltUp altup{nullptr};
  TextLaurelBlock laurel{nullptr};
  LoraLinear per_layer_input_gate{nullptr}, per_layer_projection{nullptr};
};
TORCH_MODULE(TextDecoderLayer);

class TextModelImpl : public torch::nn::Module, public models::TextModel {
 public:
  // `table_opts`: where embed_tokens_per_layer lives (models::TablePlacement; the host or opts' device).
  TextModelImpl(const io::ModelConfig& cfg, const at::TensorOptions& opts, const at::TensorOptions& table_opts);

  at::Tensor forward(const TextInputs& in, Trace* trace = nullptr) override;
  at::Tensor embed(const at::Tensor& ids) override;
  at::Tensor lm_head_weight() override { return embed_tokens->weight; }
  double final_logit_softcapping() const override { return cfg_.text.final_logit_softcapping; }
  torch::nn::Module& module() override { return *this; }
  const io::ModelConfig& config() const override { return cfg_; }
  void set_gradient_checkpointing(bool on) override { checkpointing_ = on; }

  Embedding embed_tokens{nullptr}, embed_tokens_per_layer{nullptr};
  LoraLinear per_layer_model_projection{nullptr};
  RMSNorm per_layer_projection_norm{nullptr}, norm{nullptr};
  torch::nn::ModuleList layers{nullptr}, altup_projections{nullptr}, altup_unembed_projections{nullptr};

 private:
  // `host_ids`: TextInputs::input_ids_host (may be undefined).
  at::Tensor per_layer_inputs(const at::Tensor& ids, const at::Tensor& inputs_embeds, const at::Tensor& host_ids);
  // One decoder layer on the AltUp streams; shared_in / shared_out as in the Gemma 4 decoder.
  at::Tensor layer_forward(int64_t l, const at::Tensor& streams, const at::Tensor& ple, const at::Tensor& mask,
                           const RopeTable& rope, const KeyValue* shared_in, KeyValue* shared_out, KvCache* cache);
  // Magnitude-matched projections of stream 0 (AltUp expansion) or back (unembedding).
  at::Tensor rescale_to(const at::Tensor& x, const at::Tensor& target_magnitude);

  io::ModelConfig cfg_;
  bool checkpointing_ = false;
};

}  // namespace gt::models::gemma3n
