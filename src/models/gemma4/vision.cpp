// Gemma 4 vision encoder, parameter layout: constructors in the order transformers 5.17 registers the modules of
// Gemma4VisionModel (spec §3.4). D = hidden_size, p = patch_size, hd = head_dim.
#include "models/gemma4/vision.h"

#include <nlohmann/json.hpp>

#include <type_traits>

#include "core/error.h"
#include "models/common/config_json.h"

namespace gt::models::gemma4 {

namespace {

using nlohmann::json;


void require_positive(int64_t v, const char* key, const std::string& where) {
  if (v <= 0) fail_input(where, ": vision_config.", key, " is ", v, ", expected a positive integer");
}

}  // namespace

VisionConfig parse_vision_config(const std::string& json_text, const std::string& where) {
  json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) fail_input(where, ": vision_config is not a JSON object");
  VisionConfig c;
  if (j.contains("model_type") && j["model_type"] != "gemma4_vision")
    fail_input(where, ": vision_config.model_type is ", j["model_type"].dump(), ", expected \"gemma4_vision\"");
  c.hidden_size = config_value_or(j, "vision_config", "hidden_size", c.hidden_size, where, "an integer");
  c.intermediate_size = config_value_or(j, "vision_config", "intermediate_size", c.intermediate_size, where, "an integer");
  c.num_hidden_layers = config_value_or(j, "vision_config", "num_hidden_layers", c.num_hidden_layers, where, "an integer");
  c.num_attention_heads = config_value_or(j, "vision_config", "num_attention_heads", c.num_attention_heads, where, "an integer");
  c.num_key_value_heads = config_value_or(j, "vision_config", "num_key_value_heads", c.num_key_value_heads, where, "an integer");
  c.head_dim = config_value_or(j, "vision_config", "head_dim", c.head_dim, where, "an integer");
  c.rms_norm_eps = config_value_or(j, "vision_config", "rms_norm_eps", c.rms_norm_eps, where, "a number");
  c.patch_size = config_value_or(j, "vision_config", "patch_size", c.patch_size, where, "an integer");
  c.position_embedding_size = config_value_or(j, "vision_config", "position_embedding_size", c.position_embedding_size, where, "an integer");
  c.pooling_kernel_size = config_value_or(j, "vision_config", "pooling_kernel_size", c.pooling_kernel_size, where, "an integer");
  c.default_output_length = config_value_or(j, "vision_config", "default_output_length", c.default_output_length, where, "an integer");
  c.use_clipped_linears = config_value_or(j, "vision_config", "use_clipped_linears", c.use_clipped_linears, where, "true or false");
  c.standardize = config_value_or(j, "vision_config", "standardize", c.standardize, where, "true or false");
  c.hidden_activation = config_value_or(j, "vision_config", "hidden_activation", c.hidden_activation, where, "a string");

  for (auto [key, v] : {std::pair{"hidden_size", c.hidden_size}, std::pair{"intermediate_size", c.intermediate_size},
                        std::pair{"num_hidden_layers", c.num_hidden_layers},
                        std::pair{"num_attention_heads", c.num_attention_heads},
                        std::pair{"num_key_value_heads", c.num_key_value_heads}, std::pair{"head_dim", c.head_dim},
                        std::pair{"patch_size", c.patch_size},
                        std::pair{"position_embedding_size", c.position_embedding_size},
                        std::pair{"pooling_kernel_size", c.pooling_kernel_size}})
    require_positive(v, key, where);
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    fail_input(where, ": vision_config.num_attention_heads (", c.num_attention_heads,
               ") is not a multiple of num_key_value_heads (", c.num_key_value_heads, ")");
  return c;
}

VisionPatchEmbedderImpl::VisionPatchEmbedderImpl(const VisionConfig& c, const at::TensorOptions& opts) {
  const int64_t D = c.hidden_size;
  input_proj = register_module("input_proj", LoraLinear(3 * c.patch_size * c.patch_size, D, /*bias=*/false, opts));
  position_embedding_table = register_parameter(
      "position_embedding_table", torch::ones({2, c.position_embedding_size, D}, opts), /*requires_grad=*/false);
}

VisionAttentionImpl::VisionAttentionImpl(const VisionConfig& c, const at::TensorOptions& opts) {
  const int64_t D = c.hidden_size, hd = c.head_dim;
  const bool clip = c.use_clipped_linears;
  q_proj = register_module("q_proj", ClippableLinear(D, c.num_attention_heads * hd, clip, opts));
  k_proj = register_module("k_proj", ClippableLinear(D, c.num_key_value_heads * hd, clip, opts));
  v_proj = register_module("v_proj", ClippableLinear(D, c.num_key_value_heads * hd, clip, opts));
  o_proj = register_module("o_proj", ClippableLinear(c.num_attention_heads * hd, D, clip, opts));
  q_norm = register_module("q_norm", RMSNorm(hd, c.rms_norm_eps, /*with_scale=*/true, opts));
  k_norm = register_module("k_norm", RMSNorm(hd, c.rms_norm_eps, /*with_scale=*/true, opts));
  v_norm = register_module("v_norm", RMSNorm(hd, c.rms_norm_eps, /*with_scale=*/false, opts));
}

VisionMLPImpl::VisionMLPImpl(const VisionConfig& c, const at::TensorOptions& opts) {
  const int64_t D = c.hidden_size, I = c.intermediate_size;
  const bool clip = c.use_clipped_linears;
  gate_proj = register_module("gate_proj", ClippableLinear(D, I, clip, opts));
  up_proj = register_module("up_proj", ClippableLinear(D, I, clip, opts));
  down_proj = register_module("down_proj", ClippableLinear(I, D, clip, opts));
}

VisionEncoderLayerImpl::VisionEncoderLayerImpl(const VisionConfig& c, const at::TensorOptions& opts) {
  const int64_t D = c.hidden_size;
  const double eps = c.rms_norm_eps;
  self_attn = register_module("self_attn", VisionAttention(c, opts));
  mlp = register_module("mlp", VisionMLP(c, opts));
  input_layernorm = register_module("input_layernorm", RMSNorm(D, eps, true, opts));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(D, eps, true, opts));
  pre_feedforward_layernorm = register_module("pre_feedforward_layernorm", RMSNorm(D, eps, true, opts));
  post_feedforward_layernorm = register_module("post_feedforward_layernorm", RMSNorm(D, eps, true, opts));
}

VisionEncoderImpl::VisionEncoderImpl(const VisionConfig& c, const at::TensorOptions& opts) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) layers->push_back(VisionEncoderLayer(c, opts));
}

VisionModelImpl::VisionModelImpl(const VisionConfig& c, const at::TensorOptions& opts) : cfg_(c) {
  patch_embedder = register_module("patch_embedder", VisionPatchEmbedder(c, opts));
  encoder = register_module("encoder", VisionEncoder(c, opts));
  if (c.standardize) {
    std_bias = register_buffer("std_bias", torch::zeros({c.hidden_size}, opts));
    std_scale = register_buffer("std_scale", torch::ones({c.hidden_size}, opts));
  }
}

}  // namespace gt::models::gemma4
