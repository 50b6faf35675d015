// Gemma 4 text decoder (transformers Gemma4TextModel). Module names mirror the checkpoint under
// "model.language_model." (multimodal) or "model." (Gemma4ForCausalLM), so loading is a name match.
#pragma once

#include <torch/torch.h>

#include "io/model_config.h"
#include "models/common/lora_linear.h"
#include "models/common/modules.h"
#include "models/common/layer_stack.h"
#include "models/common/rope.h"
#include "models/text_model.h"

namespace gt::models::gemma4 {

class TextAttentionImpl : public torch::nn::Module {
 public:
  TextAttentionImpl(const io::TextConfig& c, int64_t layer, const at::TensorOptions& opts);
  LoraLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr}, v_norm{nullptr};
  int64_t layer, head_dim, n_head, n_kv_head;
  bool sliding, kv_shared;
};
TORCH_MODULE(TextAttention);

class TextMLPImpl : public torch::nn::Module {
 public:
  TextMLPImpl(int64_t hidden, int64_t intermediate, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x);
  LoraLinear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(TextMLP);

class TextDecoderLayerImpl : public torch::nn::Module {
 public:
  TextDecoderLayerImpl(const io::TextConfig& c, int64_t layer, const at::TensorOptions& opts);
  TextAttention self_attn{nullptr};
  TextMLP mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr}, pre_feedforward_layernorm{nullptr},
      post_feedforward_layernorm{nullptr}, post_per_layer_input_norm{nullptr};
  LoraLinear per_layer_input_gate{nullptr}, per_layer_projection{nullptr};
  at::Tensor layer_scalar;  // [1] buffer
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
  torch::nn::ModuleList layers{nullptr};

 private:
  // PLE (get_per_layer_inputs + project_per_layer_inputs): [B, T, L, P].
  // `host_ids`: TextInputs::input_ids_host (may be undefined).
  at::Tensor per_layer_inputs(const at::Tensor& ids, const at::Tensor& inputs_embeds, const at::Tensor& host_ids);
  // One decoder layer. `shared_in`: the keys/values a KV-shared layer reads; `shared_out`: where the last
  // non-shared layer of a type leaves its keys/values for them.
  at::Tensor layer_forward(int64_t l, const at::Tensor& x, const at::Tensor& ple, const at::Tensor& mask,
                           const RopeTable& rope, const KeyValue* shared_in, KeyValue* shared_out, KvCache* cache);

  io::ModelConfig cfg_;
  bool checkpointing_ = false;
};

}  // namespace gt::models::gemma4
