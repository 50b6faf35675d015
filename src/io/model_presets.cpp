#include "io/model_presets.h"

#include "core/error.h"

using nlohmann::json;

namespace gt::io {

namespace {

json layer_types(int n, int period, bool last_full) {
  json t = json::array();
  for (int i = 0; i < n; ++i) t.push_back((i + 1) % period == 0 || (last_full && i == n - 1) ? "full_attention" : "sliding_attention");
  return t;
}

// Tiny: 8 layers, global at 3 and 7, the last 3 layers KV-shared (sliding ones read layer 4, the global one layer 3).
json tiny_layer_types() {
  json t = json::array();
  for (int i = 0; i < 8; ++i) t.push_back(i == 3 || i == 7 ? "full_attention" : "sliding_attention");
  return t;
}

json gemma3n_text(const std::string& size) {
  if (size == "tiny")
    return {{"model_type", "gemma3n_text"}, {"vocab_size", 262400}, {"vocab_size_per_layer_input", 262144},
            {"hidden_size", 64}, {"hidden_size_per_layer_input", 16}, {"intermediate_size", json(std::vector<int>(8, 128))},
            {"num_hidden_layers", 8}, {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 16},
            {"layer_types", tiny_layer_types()}, {"sliding_window", 32}, {"num_kv_shared_layers", 3},
            {"activation_sparsity_pattern", {0.95, 0.95, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0}}, {"laurel_rank", 8},
            {"altup_num_inputs", 4}, {"altup_active_idx", 0}, {"altup_coef_clip", 120.0}, {"altup_correct_scale", true},
            {"rope_parameters", {{"full_attention", {{"rope_type", "default"}, {"rope_theta", 1000000.0}}},
                                 {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 10000.0}}}}},
            {"final_logit_softcapping", 30.0}, {"rms_norm_eps", 1e-6}, {"hidden_activation", "gelu_pytorch_tanh"},
            {"max_position_embeddings", 32768}, {"pad_token_id", 0}, {"bos_token_id", 2}, {"eos_token_id", 1},
            {"tie_word_embeddings", true}};
  const bool e2b = size == "E2B";
  const int L = e2b ? 30 : 35;
  json sparsity = json::array();
  for (int i = 0; i < L; ++i) sparsity.push_back(i < 10 ? 0.95 : 0.0);
  return {{"model_type", "gemma3n_text"}, {"vocab_size", 262400}, {"vocab_size_per_layer_input", 262144},
          {"hidden_size", 2048}, {"hidden_size_per_layer_input", 256},
          {"intermediate_size", json(std::vector<int>(L, e2b ? 8192 : 16384))}, {"num_hidden_layers", L},
          {"num_attention_heads", 8}, {"num_key_value_heads", 2}, {"head_dim", 256}, {"layer_types", layer_types(L, 5, false)},
          {"sliding_window", 512}, {"num_kv_shared_layers", e2b ? 10 : 15}, {"activation_sparsity_pattern", sparsity},
          {"laurel_rank", 64}, {"altup_num_inputs", 4}, {"altup_active_idx", 0}, {"altup_coef_clip", 120.0},
          {"altup_correct_scale", true}, {"rope_theta", 1000000.0}, {"rope_local_base_freq", 10000.0},
          {"rope_scaling", nullptr}, {"final_logit_softcapping", 30.0}, {"rms_norm_eps", 1e-6},
          {"hidden_activation", "gelu_pytorch_tanh"}, {"max_position_embeddings", 32768}, {"query_pre_attn_scalar", 256},
          {"pad_token_id", 0}, {"bos_token_id", 2}, {"eos_token_id", 1}, {"tie_word_embeddings", true}};
}

json gemma4_text(const std::string& size) {
  json rope = {{"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 10000.0}}},
               {"full_attention", {{"rope_type", "proportional"}, {"rope_theta", 1000000.0}, {"partial_rotary_factor", 0.25}}}};
  json t = {{"model_type", "gemma4_text"}, {"vocab_size", 262144}, {"vocab_size_per_layer_input", 262144},
            {"num_attention_heads", 8}, {"head_dim", 256}, {"global_head_dim", 512}, {"num_global_key_value_heads", nullptr},
            {"attention_k_eq_v", false}, {"sliding_window", 512}, {"rope_parameters", rope},
            {"final_logit_softcapping", 30.0}, {"enable_moe_block", false}, {"use_bidirectional_attention", nullptr},
            {"hidden_activation", "gelu_pytorch_tanh"}, {"rms_norm_eps", 1e-6}, {"max_position_embeddings", 131072},
            {"hidden_size_per_layer_input", 256}, {"pad_token_id", 0}, {"bos_token_id", 2}, {"eos_token_id", 1},
            {"tie_word_embeddings", true}};
  if (size == "tiny") {
    t.update({{"hidden_size", 64}, {"intermediate_size", 128}, {"num_hidden_layers", 8}, {"num_attention_heads", 4},
              {"num_key_value_heads", 1}, {"head_dim", 16}, {"global_head_dim", 32}, {"hidden_size_per_layer_input", 16},
              {"layer_types", tiny_layer_types()}, {"sliding_window", 32}, {"num_kv_shared_layers", 3},
              {"use_double_wide_mlp", true}});
  } else if (size == "E2B") {
    t.update({{"hidden_size", 1536}, {"intermediate_size", 6144}, {"num_hidden_layers", 35}, {"num_key_value_heads", 1},
              {"layer_types", layer_types(35, 5, true)}, {"num_kv_shared_layers", 20}, {"use_double_wide_mlp", true}});
  } else {
    t.update({{"hidden_size", 2560}, {"intermediate_size", 10240}, {"num_hidden_layers", 42}, {"num_key_value_heads", 2},
              {"layer_types", layer_types(42, 6, true)}, {"num_kv_shared_layers", 18}, {"use_double_wide_mlp", false}});
  }
  return t;
}

// Tower configs: the published values for E2B/E4B (identical for both sizes), scaled down for tiny.
json gemma3n_audio(bool tiny) {
  json a = {{"model_type", "gemma3n_audio"}, {"vocab_size", 128}, {"vocab_offset", 262272}, {"input_feat_size", 128},
            {"hidden_size", 1536}, {"rms_norm_eps", 1e-6}, {"gradient_clipping", 1e10},
            {"conf_attention_chunk_size", 12}, {"conf_attention_context_left", 13}, {"conf_attention_context_right", 0},
            {"conf_attention_logit_cap", 50.0}, {"conf_num_attention_heads", 8}, {"conf_num_hidden_layers", 12},
            {"conf_conv_kernel_size", 5}, {"conf_reduction_factor", 4}, {"conf_residual_weight", 0.5},
            {"sscp_conv_channel_size", {128, 32}}, {"sscp_conv_group_norm_eps", 1e-3},
            {"sscp_conv_kernel_size", {{3, 3}, {3, 3}}}, {"sscp_conv_stride_size", {{2, 2}, {2, 2}}}};
  if (tiny) a.update({{"hidden_size", 32}, {"conf_num_attention_heads", 2}, {"conf_num_hidden_layers", 2},
                      {"sscp_conv_channel_size", {8, 4}}});
  return a;
}

// A tiny Gemma 3n gets a small MobileNet-V5 with every block kind of the real one (edge residual, inverted
// residuals with and without depthwise convs, multi-query attention with and without key/value down-sampling), 4x4
// output tokens 64 wide, under a key only gemma-tune reads (models/gemma3n/vision.h: transformers would build the 300M
// network for it).
json gemma3n_vision(bool tiny) {
  json v = {{"model_type", "gemma3n_vision"}, {"architecture", "mobilenetv5_300m_enc"}, {"hidden_size", 2048},
            {"vocab_size", 128}, {"vocab_offset", 262144}, {"rms_norm_eps", 1e-6}, {"do_pooling", false}};
  if (tiny)
    v.update({{"hidden_size", 64},
              {"gemma_tune_architecture",
               {{"stem_size", 8},
                {"block_strings",
                 {{"er_r1_k3_s2_e4_c16", "er_r1_k3_s1_e4_c16"},
                  {"uir_r1_a3_k5_s2_e4_c16", "uir_r1_a3_k0_s1_e2_c16"},
                  {"uir_r1_a5_k0_s2_e4_c24", "mqa_r1_k3_h2_v2_s1_d8_c24", "uir_r1_a0_k0_s1_e2_c24"},
                  {"uir_r1_a0_k3_s2_e4_c32", "mqa_r1_k3_h2_s1_d8_c32", "uir_r1_a0_k0_s1_e2_c32"}}},
                {"msfa_out_channels", 64},
                {"msfa_output_resolution", 4}}}});
  return v;
}

json gemma4_audio(bool tiny) {
  json a = {{"model_type", "gemma4_audio"}, {"hidden_size", 1024}, {"num_hidden_layers", 12}, {"num_attention_heads", 8},
            {"hidden_act", "silu"}, {"subsampling_conv_channels", {128, 32}}, {"conv_kernel_size", 5},
            {"residual_weight", 0.5}, {"attention_chunk_size", 12}, {"attention_context_left", 13},
            {"attention_context_right", 0}, {"attention_logit_cap", 50.0}, {"attention_invalid_logits_value", -1e9},
            {"use_clipped_linears", true}, {"rms_norm_eps", 1e-6}, {"gradient_clipping", 1e10}, {"output_proj_dims", 1536}};
  // transformers sizes the subsampler's output projection as (channels[0] / 4) * channels[1], i.e. it assumes
  // channels[0] equals the 128 mel bins; the first stays 128 so a tiny model takes the real features.
  if (tiny) a.update({{"hidden_size", 32}, {"num_hidden_layers", 2}, {"num_attention_heads", 2},
                      {"subsampling_conv_channels", {128, 8}}, {"output_proj_dims", 48}});
  return a;
}

json gemma4_vision(bool tiny) {
  json v = {{"model_type", "gemma4_vision"}, {"hidden_size", 768}, {"intermediate_size", 3072}, {"num_hidden_layers", 16},
            {"num_attention_heads", 12}, {"num_key_value_heads", 12}, {"head_dim", 64}, {"patch_size", 16},
            {"pooling_kernel_size", 3}, {"position_embedding_size", 10240},
            {"rope_parameters", {{"rope_type", "default"}, {"rope_theta", 100.0}}}, {"rms_norm_eps", 1e-6},
            {"hidden_activation", "gelu_pytorch_tanh"}, {"use_clipped_linears", true}, {"standardize", false},
            {"default_output_length", 280}};
  if (tiny) v.update({{"hidden_size", 32}, {"intermediate_size", 64}, {"num_hidden_layers", 2}, {"num_attention_heads", 2},
                      {"num_key_value_heads", 2}, {"head_dim", 16}, {"position_embedding_size", 256}});
  return v;
}

}  // namespace

json preset_config(const std::string& family, const std::string& size) {
  if (size != "tiny" && size != "E2B" && size != "E4B") fail_input("--size is \"", size, "\", expected tiny, E2B or E4B");
  const bool tiny = size == "tiny";
  if (family == "gemma3n") {
    json c = {{"architectures", {"Gemma3nForConditionalGeneration"}}, {"model_type", "gemma3n"},
              {"text_config", gemma3n_text(size)}, {"audio_config", gemma3n_audio(tiny)},
              {"audio_soft_tokens_per_image", 188}, {"vision_soft_tokens_per_image", tiny ? 16 : 256},
              {"vision_config", gemma3n_vision(tiny)}, {"boi_token_id", 255999},
              {"eoi_token_id", 262144}, {"image_token_id", 262145}, {"boa_token_id", 256000}, {"eoa_token_id", 262272},
              {"audio_token_id", 262273}, {"eos_token_id", {1, 106}}, {"tie_word_embeddings", true}, {"dtype", "bfloat16"}};
    return c;
  }
  if (family == "gemma4")
    return {{"architectures", {"Gemma4ForConditionalGeneration"}}, {"model_type", "gemma4"},
            {"text_config", gemma4_text(size)}, {"audio_config", gemma4_audio(tiny)}, {"vision_config", gemma4_vision(tiny)},
            {"boi_token_id", 255999}, {"eoi_token_id", 258882}, {"image_token_id", 258880}, {"video_token_id", 258884},
            {"boa_token_id", 256000}, {"eoa_token_id", 258883}, {"eoa_token_index", 258883}, {"audio_token_id", 258881},
            {"eos_token_id", {1, 106}}, {"tie_word_embeddings", true}, {"dtype", "bfloat16"}};
  fail_input("--family is \"", family, "\", expected gemma3n or gemma4");
}

}  // namespace gt::io
