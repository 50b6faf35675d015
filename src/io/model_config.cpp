#include "io/model_config.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/json_section.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace gt::io {

std::string_view family_name(Family f) { return f == Family::Gemma3n ? "gemma3n" : "gemma4"; }

Family family_from_name(std::string_view name, std::string_view what) {
  if (name == "gemma3n") return Family::Gemma3n;
  if (name == "gemma4") return Family::Gemma4;
  fail_input(what, ": unknown model family \"", name, "\", expected gemma3n or gemma4");
}

std::string_view layer_type_name(LayerType t) {
  return t == LayerType::Full ? "full_attention" : "sliding_attention";
}

namespace {

// Every section is read by io::JsonSection: absent or null keys take the transformers config class's default.
using Section = JsonSection;

LayerType parse_layer_type(const Section& s, const std::string& v) {
  if (v == "sliding_attention") return LayerType::Sliding;
  if (v == "full_attention") return LayerType::Full;
  fail_input(s.where("layer_types"), " holds \"", v, "\", expected sliding_attention or full_attention");
}

// layer_types given, or derived as transformers does: full attention every `period`-th layer.
std::vector<LayerType> read_layer_types(const Section& s, int64_t n_layers, int64_t period, bool last_is_full) {
  std::vector<LayerType> types;
  if (s.has("layer_types")) {
    const json& v = s.raw("layer_types");
    if (!v.is_array()) fail_input(s.where("layer_types"), " is ", v.dump(), ", expected a list");
    for (const json& e : v) {
      if (!e.is_string()) fail_input(s.where("layer_types"), " holds ", e.dump(), ", expected strings");
      types.push_back(parse_layer_type(s, e.get<std::string>()));
    }
    if (static_cast<int64_t>(types.size()) != n_layers)
      fail_input(s.where("layer_types"), " has ", types.size(), " entries, expected num_hidden_layers = ", n_layers);
    return types;
  }
  for (int64_t i = 0; i < n_layers; ++i)
    types.push_back((i + 1) % period == 0 ? LayerType::Full : LayerType::Sliding);
  if (last_is_full && n_layers > 0) types.back() = LayerType::Full;
  return types;
}

RopeParameters read_rope_entry(const Section& parent, const json& j, const std::string& what, double default_theta) {
  if (!j.is_object()) fail_input(parent.where("rope_parameters"), ".", what, " is ", j.dump(), ", expected an object");
  Section s(j, "", "");
  RopeParameters r;
  r.rope_type = j.contains("rope_type") && j["rope_type"].is_string() ? j["rope_type"].get<std::string>() : "default";
  if (r.rope_type != "default" && r.rope_type != "proportional")
    fail_input(parent.where("rope_parameters"), ".", what, ".rope_type is \"", r.rope_type,
               "\"; gemma-tune supports default and proportional RoPE");
  r.rope_theta = j.contains("rope_theta") && j["rope_theta"].is_number() ? j["rope_theta"].get<double>() : default_theta;
  if (j.contains("partial_rotary_factor") && j["partial_rotary_factor"].is_number())
    r.partial_rotary_factor = j["partial_rotary_factor"].get<double>();
  if (j.contains("factor") && j["factor"].is_number() && j["factor"].get<double>() != 1.0)
    fail_input(parent.where("rope_parameters"), ".", what, ".factor is ", j["factor"].dump(),
               "; RoPE scaling factors are not supported");
  return r;
}

// RoPE per layer type. `rope_parameters` keyed by layer type is the form transformers 5.x writes; Gemma 3n
// checkpoints as released carry the old keys rope_theta (global layers), rope_local_base_freq (local layers)
// and rope_scaling (merged into the global entry), which fill in what rope_parameters leaves out. Scalars beside
// the layer-type entries (seen in third-party files) are ignored.
void read_rope(const Section& s, Family family, TextConfig& t, RopeParameters full_default,
               RopeParameters sliding_default) {
  t.rope_full = full_default;
  t.rope_sliding = sliding_default;
  bool full_given = false, sliding_given = false;
  if (s.has("rope_parameters")) {
    const json& rp = s.raw("rope_parameters");
    if (!rp.is_object()) fail_input(s.where("rope_parameters"), " is ", rp.dump(), ", expected an object");
    if (!rp.contains("full_attention") && !rp.contains("sliding_attention"))
      fail_input(s.where("rope_parameters"), " has no full_attention / sliding_attention entries (found ",
                 rp.dump(), "); transformers rejects this form for ", family_name(family));
    if (rp.contains("full_attention")) {
      t.rope_full = read_rope_entry(s, rp["full_attention"], "full_attention", full_default.rope_theta);
      full_given = rp["full_attention"].contains("rope_theta");
    }
    if (rp.contains("sliding_attention")) {
      t.rope_sliding = read_rope_entry(s, rp["sliding_attention"], "sliding_attention", sliding_default.rope_theta);
      sliding_given = rp["sliding_attention"].contains("rope_theta");
    }
    if (family == Family::Gemma4 && (!rp.contains("full_attention") || !rp.contains("sliding_attention")))
      fail_input(s.where("rope_parameters"), " needs both full_attention and sliding_attention entries");
  }
  if (family != Family::Gemma3n) return;
  if (s.has("rope_scaling")) {
    const json& rs = s.raw("rope_scaling");
    if (!rs.is_object()) fail_input(s.where("rope_scaling"), " is ", rs.dump(), ", expected an object or null");
    json merged = rs;
    merged["rope_theta"] = t.rope_full.rope_theta;
    t.rope_full = read_rope_entry(s, merged, "full_attention (from rope_scaling)", t.rope_full.rope_theta);
  }
  if (!full_given && s.has("rope_theta")) t.rope_full.rope_theta = s.number("rope_theta");
  if (!sliding_given && s.has("rope_local_base_freq")) t.rope_sliding.rope_theta = s.number("rope_local_base_freq");
}

void read_common_text(const Section& s, TextConfig& t) {
  t.num_attention_heads = s.integer("num_attention_heads", 8);
  t.hidden_activation = s.string("hidden_activation", std::string("gelu_pytorch_tanh"));
  t.rms_norm_eps = s.number("rms_norm_eps", 1e-6);
  t.pad_token_id = s.integer("pad_token_id", 0);
  t.bos_token_id = s.integer("bos_token_id", 2);
  t.eos_token_id = s.integers("eos_token_id", {1});
  t.tie_word_embeddings = s.boolean("tie_word_embeddings", true);
  t.hidden_size_per_layer_input = s.integer("hidden_size_per_layer_input", 256);
  t.vocab_size_per_layer_input = s.integer("vocab_size_per_layer_input", 262144);
  t.sliding_window = s.integer("sliding_window", 512);
  if (t.hidden_activation != "gelu_pytorch_tanh")
    fail_input(s.where("hidden_activation"), " is \"", t.hidden_activation, "\"; Gemma uses gelu_pytorch_tanh");
}

// Gemma3nTextConfig (transformers models/gemma3n/configuration_gemma3n.py).
void read_gemma3n_text(const Section& s, TextConfig& t) {
  read_common_text(s, t);
  t.vocab_size = s.integer("vocab_size", 262400);
  t.hidden_size = s.integer("hidden_size", 2048);
  t.num_hidden_layers = s.integer("num_hidden_layers", 35);
  t.num_key_value_heads = s.integer("num_key_value_heads", 2);
  t.head_dim = s.integer("head_dim", 256);
  t.max_position_embeddings = s.integer("max_position_embeddings", 32768);
  t.num_kv_shared_layers = s.integer("num_kv_shared_layers", 15);
  t.altup_num_inputs = s.integer("altup_num_inputs", 4);
  t.altup_active_idx = s.integer("altup_active_idx", 0);
  t.altup_coef_clip = s.number("altup_coef_clip", 120.0);
  t.final_logit_softcapping = s.number("final_logit_softcapping", 30.0);
  t.altup_correct_scale = s.boolean("altup_correct_scale", true);
  t.laurel_rank = s.integer("laurel_rank", 64);
  const int64_t L = t.num_hidden_layers;
  t.layer_types = read_layer_types(s, L, 5, false);
  read_rope(s, Family::Gemma3n, t, {"default", 1e6, 1.0}, {"default", 1e4, 1.0});

  // intermediate_size: one width for every layer, or a list per layer.
  t.layer_intermediate_size.clear();
  if (s.has("intermediate_size") && s.raw("intermediate_size").is_array()) {
    for (const json& e : s.raw("intermediate_size")) {
      if (!e.is_number_integer()) fail_input(s.where("intermediate_size"), " holds ", e.dump(), ", expected integers");
      t.layer_intermediate_size.push_back(e.get<int64_t>());
    }
    if (static_cast<int64_t>(t.layer_intermediate_size.size()) != L)
      fail_input(s.where("intermediate_size"), " lists ", t.layer_intermediate_size.size(),
                 " widths, expected num_hidden_layers = ", L);
  } else {
    t.layer_intermediate_size.assign(L, s.integer("intermediate_size", 16384));
  }

  // activation_sparsity_pattern: per layer; absent means 0.95 for the first 10 layers, then dense.
  if (s.has("activation_sparsity_pattern")) {
    const json& v = s.raw("activation_sparsity_pattern");
    if (v.is_number()) {
      t.activation_sparsity_pattern.assign(L, v.get<double>());
    } else if (v.is_array()) {
      for (const json& e : v) {
        if (!e.is_number()) fail_input(s.where("activation_sparsity_pattern"), " holds ", e.dump(), ", expected numbers");
        t.activation_sparsity_pattern.push_back(e.get<double>());
      }
    } else {
      fail_input(s.where("activation_sparsity_pattern"), " is ", v.dump(), ", expected a list of numbers");
    }
  } else {
    for (int64_t i = 0; i < L; ++i) t.activation_sparsity_pattern.push_back(i < 10 ? 0.95 : 0.0);
  }
  if (static_cast<int64_t>(t.activation_sparsity_pattern.size()) != L)
    fail_input(s.where("activation_sparsity_pattern"), " has ", t.activation_sparsity_pattern.size(),
               " entries, expected num_hidden_layers = ", L);
  for (double p : t.activation_sparsity_pattern)
    if (p < 0.0 || p >= 1.0) fail_input(s.where("activation_sparsity_pattern"), " holds ", p, ", expected values in [0, 1)");
  t.layer_head_dim.assign(L, t.head_dim);
  t.layer_num_kv_heads.assign(L, t.num_key_value_heads);
}

// Gemma4TextConfig (transformers models/gemma4/configuration_gemma4.py). Class defaults differ from the
// released E2B/E4B values (no soft-cap, no KV sharing): an absent key means what transformers makes of it.
void read_gemma4_text(const Section& s, TextConfig& t) {
  read_common_text(s, t);
  t.vocab_size = s.integer("vocab_size", 262144);
  t.hidden_size = s.integer("hidden_size", 2304);
  t.num_hidden_layers = s.integer("num_hidden_layers", 30);
  t.num_key_value_heads = s.integer("num_key_value_heads", 4);
  t.head_dim = s.integer("head_dim", 256);
  t.max_position_embeddings = s.integer("max_position_embeddings", 131072);
  t.num_kv_shared_layers = s.integer("num_kv_shared_layers", 0);
  t.final_logit_softcapping = s.has("final_logit_softcapping") ? s.number("final_logit_softcapping") : 0.0;
  t.use_double_wide_mlp = s.boolean("use_double_wide_mlp", false);
  t.attention_k_eq_v = s.boolean("attention_k_eq_v", false);
  t.enable_moe_block = s.boolean("enable_moe_block", false);
  if (t.enable_moe_block)
    fail_input(s.where("enable_moe_block"), " is true; mixture-of-experts Gemma 4 models are not supported (E2B/E4B are dense)");
  if (t.attention_k_eq_v)
    fail_input(s.where("attention_k_eq_v"), " is true; only the Gemma 4 E2B/E4B layout (separate k and v) is supported");
  if (s.has("use_bidirectional_attention"))
    fail_input(s.where("use_bidirectional_attention"), " is ", s.raw("use_bidirectional_attention").dump(),
               "; only causal attention (null, as in E2B/E4B) is supported");
  const int64_t L = t.num_hidden_layers;
  // Without layer_types transformers puts a full layer every 6th and forces the last one to full.
  t.layer_types = read_layer_types(s, L, 6, true);
  if (!t.layer_types.empty() && t.layer_types.back() != LayerType::Full) t.layer_types.back() = LayerType::Full;
  read_rope(s, Family::Gemma4, t, {"proportional", 1e6, 0.25}, {"default", 1e4, 1.0});

  const int64_t intermediate = s.integer("intermediate_size", 9216);
  t.layer_head_dim.assign(L, t.head_dim);
  t.layer_num_kv_heads.assign(L, t.num_key_value_heads);
  t.layer_intermediate_size.resize(L);
  for (int64_t l = 0; l < L; ++l)
    t.layer_intermediate_size[l] = intermediate * (t.use_double_wide_mlp && t.is_kv_shared(l) ? 2 : 1);

  if (!s.has("per_layer_config")) {
    // Released form: flat global_head_dim (default 512) for every full-attention layer.
    const int64_t global_head_dim = s.integer("global_head_dim", 512);
    for (int64_t l = 0; l < L; ++l)
      if (t.layer_types[l] == LayerType::Full) t.layer_head_dim[l] = global_head_dim;
    return;
  }
  // transformers >= 5.15 form: per_layer_config {"<layer index>": {attribute: value}} (keys may be zero-padded);
  // global_head_dim is then ignored, as transformers does.
  const json& plc = s.raw("per_layer_config");
  if (!plc.is_object()) fail_input(s.where("per_layer_config"), " is ", plc.dump(), ", expected an object");
  for (auto it = plc.begin(); it != plc.end(); ++it) {
    const std::string& key = it.key();
    int64_t l = -1;
    bool digits = !key.empty() && key.size() < 10;
    for (char ch : key) digits = digits && ch >= '0' && ch <= '9';
    if (digits) l = std::stoll(key);
    if (l < 0 || l >= L)
      fail_input(s.where("per_layer_config"), " has key \"", key, "\", expected a layer index in [0, ", L, ")");
    const json& o = it.value();
    if (!o.is_object()) fail_input(s.where("per_layer_config"), ".", key, " is ", o.dump(), ", expected an object");
    for (auto a = o.begin(); a != o.end(); ++a) {
      const std::string& attr = a.key();
      if (!a->is_number_integer() || a->get<int64_t>() <= 0)
        fail_input(s.where("per_layer_config"), ".", key, ".", attr, " is ", a->dump(), ", expected a positive integer");
      if (attr == "head_dim")
        t.layer_head_dim[l] = a->get<int64_t>();
      else if (attr == "num_key_value_heads")
        t.layer_num_kv_heads[l] = a->get<int64_t>();
      else if (attr == "intermediate_size")
        t.layer_intermediate_size[l] = a->get<int64_t>();
      else
        fail_input(s.where("per_layer_config"), ".", key, " overrides \"", attr,
                   "\"; gemma-tune supports head_dim, num_key_value_heads and intermediate_size there");
    }
  }
}

// For each layer, the layer whose K/V it attends with (itself unless KV-shared).
void resolve_kv_sources(const Section& s, TextConfig& t) {
  const int64_t L = t.num_hidden_layers;
  if (t.num_kv_shared_layers < 0 || t.num_kv_shared_layers >= L)
    fail_input(s.where("num_kv_shared_layers"), " is ", t.num_kv_shared_layers, ", expected a value in [0, ", L, ")");
  t.kv_source_layer.resize(L);
  const int64_t first = t.first_kv_shared_layer();
  for (int64_t l = 0; l < L; ++l) {
    t.kv_source_layer[l] = l;
    if (!t.is_kv_shared(l)) continue;
    int64_t src = -1;
    for (int64_t k = first - 1; k >= 0; --k)
      if (t.layer_types[k] == t.layer_types[l]) {
        src = k;
        break;
      }
    if (src < 0)
      fail_input(s.where("num_kv_shared_layers"), ": KV-shared layer ", l, " (", layer_type_name(t.layer_types[l]),
                 ") has no earlier non-shared layer of its type to read keys and values from");
    t.kv_source_layer[l] = src;
  }
}

void validate_text(const Section& s, const TextConfig& t) {
  auto positive = [&](const char* key, int64_t v) {
    if (v <= 0) fail_input(s.where(key), " is ", v, ", expected a positive integer");
  };
  positive("hidden_size", t.hidden_size);
  positive("num_hidden_layers", t.num_hidden_layers);
  positive("num_attention_heads", t.num_attention_heads);
  positive("num_key_value_heads", t.num_key_value_heads);
  positive("head_dim", t.head_dim);
  positive("vocab_size", t.vocab_size);
  positive("hidden_size_per_layer_input", t.hidden_size_per_layer_input);
  if (t.hidden_size % t.num_attention_heads != 0)
    fail_input(s.where("hidden_size"), " = ", t.hidden_size, " is not a multiple of num_attention_heads = ",
               t.num_attention_heads);
  for (int64_t l = 0; l < t.num_hidden_layers; ++l)
    if (t.layer_num_kv_heads[l] <= 0 || t.num_attention_heads % t.layer_num_kv_heads[l] != 0)
      fail_input(s.where("num_key_value_heads"), ": layer ", l, " has ", t.layer_num_kv_heads[l],
                 " KV heads, which must divide num_attention_heads = ", t.num_attention_heads);
}

std::optional<int64_t> first_present(const Section& s, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (s.has(k)) return s.integer(k);
  return std::nullopt;
}

}  // namespace

ModelConfig parse_model_config(const std::string& json_text, const std::string& path) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    fail_input(path, ": not valid JSON (", e.what(), ")");
  }
  if (!root.is_object()) fail_input(path, ": expected a JSON object, found ", root.type_name());
  ModelConfig c;
  c.path = path;
  Section top(root, path, "");
  c.model_type = top.string("model_type");
  const std::string& mt = c.model_type;
  if (mt == "gemma3n" || mt == "gemma4") {
    c.multimodal = true;
    c.text_prefix = "model.language_model.";
    c.family = mt == "gemma3n" ? Family::Gemma3n : Family::Gemma4;
  } else if (mt == "gemma3n_text" || mt == "gemma4_text") {
    c.multimodal = false;
    c.text_prefix = "model.";
    c.family = mt == "gemma3n_text" ? Family::Gemma3n : Family::Gemma4;
  } else {
    fail_input(path, ": model_type is \"", mt,
               "\"; gemma-tune reads gemma3n, gemma3n_text, gemma4 and gemma4_text checkpoints");
  }

  static const json kEmpty = json::object();
  const json* text_json = &root;
  std::string text_where = "";
  if (c.multimodal) {
    if (!root.contains("text_config") || !root["text_config"].is_object())
      fail_input(path, ": model_type ", mt, " needs a \"text_config\" object");
    text_json = &root["text_config"];
    text_where = "text_config.";
  }
  Section ts(*text_json, path, text_where);
  c.text.model_type = c.family == Family::Gemma3n ? "gemma3n_text" : "gemma4_text";
  if (ts.has("model_type")) {
    std::string inner = ts.string("model_type");
    if (inner != c.text.model_type)
      fail_input(ts.where("model_type"), " is \"", inner, "\", expected \"", c.text.model_type, "\" inside a ", mt,
                 " config");
  }
  if (c.family == Family::Gemma3n)
    read_gemma3n_text(ts, c.text);
  else
    read_gemma4_text(ts, c.text);
  resolve_kv_sources(ts, c.text);
  validate_text(ts, c.text);

  if (c.multimodal) {
    // Gemma 4: a null or absent tower config means no tower. Gemma 3n: transformers fills it with defaults.
    for (auto [key, out] : {std::pair{"audio_config", &c.audio_config_json}, std::pair{"vision_config", &c.vision_config_json}}) {
      if (root.contains(key) && root[key].is_object())
        *out = root[key].dump();
      else if (root.contains(key) && !root[key].is_null())
        fail_input(path, ": ", key, " is ", root[key].dump(), ", expected an object or null");
      else if (c.family == Family::Gemma3n)
        *out = "{}";
    }
    MediaTokenIds& m = c.media;
    m.boi_token_id = first_present(top, {"boi_token_id", "boi_token_index"});
    m.eoi_token_id = first_present(top, {"eoi_token_id", "eoi_token_index"});
    m.image_token_id = first_present(top, {"image_token_id", "image_token_index"});
    m.boa_token_id = first_present(top, {"boa_token_id", "boa_token_index"});
    m.eoa_token_id = first_present(top, {"eoa_token_id", "eoa_token_index"});
    m.audio_token_id = first_present(top, {"audio_token_id", "audio_token_index"});
    m.video_token_id = first_present(top, {"video_token_id", "video_token_index"});
    m.audio_soft_tokens_per_image = top.optional_integer("audio_soft_tokens_per_image");
    m.vision_soft_tokens_per_image = top.optional_integer("vision_soft_tokens_per_image");
  }
  return c;
}

ModelConfig load_model_config(const std::string& dir_or_file) {
  fs::path p(dir_or_file);
  if (fs::is_directory(p)) p /= "config.json";
  if (!fs::exists(p))
    fail_input(p.string(), ": not found; a Hugging Face model folder holds config.json beside its safetensors files");
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_model_config(ss.str(), p.string());
}

}  // namespace gt::io
