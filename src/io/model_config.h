// config.json of a Hugging Face Gemma 3n or Gemma 4 checkpoint, in every published form. Torch-free.
//
// Forms accepted (model_type at the top level):
//   gemma3n / gemma4             multimodal: text_config, audio_config, vision_config; the text decoder's
//                                tensors are under "model.language_model.", towers beside it
//   gemma3n_text / gemma4_text   text-only causal LM: the text config at the top level, tensors under "model."
// Per-layer values are resolved here once, so model code never re-derives them: layer types, head dims and KV
// heads per layer (Gemma 4's global head dim given as `global_head_dim` or as `per_layer_config`), MLP widths
// (Gemma 3n lists; Gemma 4 double-wide KV-shared layers), RoPE parameters per layer type (old keys
// `rope_theta`/`rope_local_base_freq` or new `rope_parameters`), and which layer a KV-shared layer reads from.
// Field names are the config.json keys.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gt::io {

enum class Family { Gemma3n, Gemma4 };
enum class LayerType { Sliding, Full };

std::string_view family_name(Family f);           // "gemma3n", "gemma4"
// The family named "gemma3n" or "gemma4"; throws gt::InputError naming `what` (e.g. "image processor") otherwise.
Family family_from_name(std::string_view name, std::string_view what);
std::string_view layer_type_name(LayerType t);    // "sliding_attention", "full_attention"

struct RopeParameters {
  std::string rope_type = "default";  // "default" or "proportional" (Gemma 4 global layers)
  double rope_theta = 10000.0;
  double partial_rotary_factor = 1.0;
};

struct TextConfig {
  std::string model_type;  // gemma3n_text / gemma4_text
  int64_t vocab_size = 0;
  int64_t vocab_size_per_layer_input = 0;
  int64_t hidden_size = 0;
  int64_t hidden_size_per_layer_input = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;  // sliding layers (and every layer of Gemma 3n)
  int64_t sliding_window = 0;
  double rms_norm_eps = 1e-6;
  std::string hidden_activation = "gelu_pytorch_tanh";
  double final_logit_softcapping = 0.0;  // 0: no cap
  int64_t num_kv_shared_layers = 0;
  int64_t max_position_embeddings = 0;
  int64_t pad_token_id = 0;
  int64_t bos_token_id = 2;
  std::vector<int64_t> eos_token_id;
  bool tie_word_embeddings = true;
  RopeParameters rope_sliding;
  RopeParameters rope_full;

  // Gemma 3n only.
  std::vector<double> activation_sparsity_pattern;  // per layer; 0 = dense
  int64_t altup_num_inputs = 4;
  int64_t altup_active_idx = 0;
  double altup_coef_clip = 120.0;
  bool altup_correct_scale = true;
  int64_t laurel_rank = 64;

  // Gemma 4 only.
  bool use_double_wide_mlp = false;
  bool attention_k_eq_v = false;
  bool enable_moe_block = false;

  // Resolved per layer (size num_hidden_layers).
  std::vector<LayerType> layer_types;
  std::vector<int64_t> layer_head_dim;
  std::vector<int64_t> layer_num_kv_heads;
  std::vector<int64_t> layer_intermediate_size;
  // Layer whose keys/values layer l uses: l itself, or for KV-shared layers the last non-shared layer of
  // the same type.
  std::vector<int64_t> kv_source_layer;

  int64_t first_kv_shared_layer() const { return num_hidden_layers - num_kv_shared_layers; }
  bool is_kv_shared(int64_t layer) const { return num_kv_shared_layers > 0 && layer >= first_kv_shared_layer(); }
  const RopeParameters& rope(int64_t layer) const {
    return layer_types[layer] == LayerType::Full ? rope_full : rope_sliding;
  }
};

// Token ids of the multimodal markers, from the top-level config (absent in the text-only form).
struct MediaTokenIds {
  std::optional<int64_t> boi_token_id, eoi_token_id, image_token_id;
  std::optional<int64_t> boa_token_id, eoa_token_id, audio_token_id;
  std::optional<int64_t> video_token_id;
  std::optional<int64_t> audio_soft_tokens_per_image;   // Gemma 3n: fixed 188 per clip
  std::optional<int64_t> vision_soft_tokens_per_image;  // Gemma 3n: 256 per image
};

struct ModelConfig {
  std::string path;        // the config.json read
  std::string model_type;  // top level
  Family family = Family::Gemma3n;
  bool multimodal = false;        // top-level gemma3n/gemma4 form
  std::string text_prefix;        // "model.language_model." or "model."
  TextConfig text;
  MediaTokenIds media;
  // The tower configs as JSON text (empty when absent); parsed by the towers that need them.
  std::string audio_config_json;
  std::string vision_config_json;

  bool has_audio_config() const { return !audio_config_json.empty(); }
  bool has_vision_config() const { return !vision_config_json.empty(); }
};

// Reads `<dir>/config.json` (or a config.json path). Throws gt::InputError naming the file and the key:
// unknown model_type, missing or mistyped keys, inconsistent per-layer lists.
ModelConfig load_model_config(const std::string& dir_or_file);
// Same, from JSON text (`path` is only used in messages).
ModelConfig parse_model_config(const std::string& json_text, const std::string& path);

}  // namespace gt::io
