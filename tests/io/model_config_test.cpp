// config.json parsing of both families in every form: per-layer resolution (layer types, head dims, KV heads,
// MLP widths, KV sources, RoPE) and the refusal paths.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>

#include "core/error.h"
#include "io/model_config.h"
#include "test_util.h"

using gt::io::Family;
using gt::io::LayerType;
using gt::io::ModelConfig;
using gt::io::parse_model_config;
using nlohmann::json;

namespace {

// Gemma 3n E2B text config as released (old RoPE keys, per-layer intermediate_size list).
json gemma3n_e2b_text() {
  json layer_types = json::array();
  for (int i = 0; i < 30; ++i) layer_types.push_back((i + 1) % 5 == 0 ? "full_attention" : "sliding_attention");
  json sparsity = json::array();
  for (int i = 0; i < 30; ++i) sparsity.push_back(i < 10 ? 0.95 : 0.0);
  return {{"model_type", "gemma3n_text"},
          {"vocab_size", 262400},
          {"vocab_size_per_layer_input", 262144},
          {"hidden_size", 2048},
          {"hidden_size_per_layer_input", 256},
          {"intermediate_size", json(std::vector<int>(30, 8192))},
          {"num_hidden_layers", 30},
          {"num_attention_heads", 8},
          {"num_key_value_heads", 2},
          {"head_dim", 256},
          {"layer_types", layer_types},
          {"sliding_window", 512},
          {"rope_theta", 1000000.0},
          {"rope_local_base_freq", 10000.0},
          {"rope_scaling", nullptr},
          {"rms_norm_eps", 1e-6},
          {"hidden_activation", "gelu_pytorch_tanh"},
          {"final_logit_softcapping", 30.0},
          {"num_kv_shared_layers", 10},
          {"activation_sparsity_pattern", sparsity},
          {"altup_num_inputs", 4},
          {"altup_active_idx", 0},
          {"altup_coef_clip", 120.0},
          {"altup_correct_scale", true},
          {"laurel_rank", 64},
          {"query_pre_attn_scalar", 256},
          {"torch_dtype", "bfloat16"}};
}

json gemma3n_multimodal(json text) {
  return {{"architectures", {"Gemma3nForConditionalGeneration"}},
          {"model_type", "gemma3n"},
          {"text_config", text},
          {"audio_config", {{"model_type", "gemma3n_audio"}, {"hidden_size", 1536}}},
          {"vision_config", {{"model_type", "gemma3n_vision"}, {"hidden_size", 2048}}},
          {"audio_soft_tokens_per_image", 188},
          {"vision_soft_tokens_per_image", 256},
          {"boi_token_id", 255999},
          {"eoi_token_id", 262144},
          {"image_token_id", 262145},
          {"boa_token_id", 256000},
          {"eoa_token_id", 262272},
          {"audio_token_id", 262273},
          {"eos_token_id", {1, 106}}};
}

// Gemma 4 E2B text config; `per_layer_form` writes the global head dim the way transformers 5.17 saves it.
json gemma4_e2b_text(bool per_layer_form) {
  json layer_types = json::array();
  for (int i = 0; i < 35; ++i) layer_types.push_back((i + 1) % 5 == 0 ? "full_attention" : "sliding_attention");
  json t = {{"model_type", "gemma4_text"},
            {"vocab_size", 262144},
            {"vocab_size_per_layer_input", 262144},
            {"hidden_size", 1536},
            {"hidden_size_per_layer_input", 256},
            {"intermediate_size", 6144},
            {"num_hidden_layers", 35},
            {"num_attention_heads", 8},
            {"num_key_value_heads", 1},
            {"num_global_key_value_heads", nullptr},
            {"head_dim", 256},
            {"attention_k_eq_v", false},
            {"layer_types", layer_types},
            {"sliding_window", 512},
            {"rope_parameters",
             {{"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 10000.0}}},
              {"full_attention", {{"rope_type", "proportional"}, {"rope_theta", 1000000.0}, {"partial_rotary_factor", 0.25}}}}},
            {"num_kv_shared_layers", 20},
            {"use_double_wide_mlp", true},
            {"final_logit_softcapping", 30.0},
            {"enable_moe_block", false},
            {"use_bidirectional_attention", nullptr},
            {"hidden_activation", "gelu_pytorch_tanh"},
            {"rms_norm_eps", 1e-6}};
  if (per_layer_form) {
    json plc = json::object();
    // transformers 5.17 writes zero-padded layer indices.
    for (int i = 4; i < 35; i += 5) plc[(i < 10 ? "0" : "") + std::to_string(i)] = {{"head_dim", 512}};
    t["per_layer_config"] = plc;
  } else {
    t["global_head_dim"] = 512;
  }
  return t;
}

ModelConfig parse(const json& j) { return parse_model_config(j.dump(), "/models/x/config.json"); }

void expect_error(const json& j, std::initializer_list<std::string> fragments) {
  try {
    parse(j);
    FAIL() << "expected an error for " << j.dump().substr(0, 200);
  } catch (const gt::InputError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("/models/x/config.json"), std::string::npos) << m;
    for (const auto& f : fragments) EXPECT_NE(m.find(f), std::string::npos) << "missing '" << f << "' in: " << m;
  }
}

}  // namespace

TEST(ModelConfig, Gemma3nTextOnlyReleasedForm) {
  ModelConfig c = parse(gemma3n_e2b_text());
  EXPECT_EQ(c.family, Family::Gemma3n);
  EXPECT_FALSE(c.multimodal);
  EXPECT_EQ(c.text_prefix, "model.");
  const auto& t = c.text;
  EXPECT_EQ(t.num_hidden_layers, 30);
  EXPECT_EQ(t.first_kv_shared_layer(), 20);
  for (int l = 0; l < 30; ++l) {
    EXPECT_EQ(t.layer_types[l], (l + 1) % 5 == 0 ? LayerType::Full : LayerType::Sliding) << l;
    EXPECT_EQ(t.layer_head_dim[l], 256);
    EXPECT_EQ(t.layer_num_kv_heads[l], 2);
    EXPECT_EQ(t.layer_intermediate_size[l], 8192);
    EXPECT_DOUBLE_EQ(t.activation_sparsity_pattern[l], l < 10 ? 0.95 : 0.0);
    // Spec 2.3.4: consumers 20..29 read layer 18 (sliding) or 19 (full).
    const int64_t want = l < 20 ? l : (t.layer_types[l] == LayerType::Full ? 19 : 18);
    EXPECT_EQ(t.kv_source_layer[l], want) << "layer " << l;
  }
  EXPECT_DOUBLE_EQ(t.rope_full.rope_theta, 1e6);
  EXPECT_DOUBLE_EQ(t.rope_sliding.rope_theta, 1e4);
  EXPECT_DOUBLE_EQ(t.rope_full.partial_rotary_factor, 1.0);
  EXPECT_DOUBLE_EQ(t.final_logit_softcapping, 30.0);
  EXPECT_EQ(t.laurel_rank, 64);
  EXPECT_EQ(t.vocab_size, 262400);
}

TEST(ModelConfig, Gemma3nMultimodalAndNewRopeForm) {
  json text = gemma3n_e2b_text();
  text.erase("rope_theta");
  text.erase("rope_local_base_freq");
  text.erase("rope_scaling");
  text["rope_parameters"] = {{"full_attention", {{"rope_type", "default"}, {"rope_theta", 500000.0}}},
                             {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 20000.0}}}};
  text["intermediate_size"] = 4096;  // one width for every layer
  ModelConfig c = parse(gemma3n_multimodal(text));
  EXPECT_TRUE(c.multimodal);
  EXPECT_EQ(c.text_prefix, "model.language_model.");
  EXPECT_TRUE(c.has_audio_config());
  EXPECT_TRUE(c.has_vision_config());
  EXPECT_EQ(c.media.audio_token_id, 262273);
  EXPECT_EQ(c.media.eoa_token_id, 262272);
  EXPECT_EQ(c.media.audio_soft_tokens_per_image, 188);
  EXPECT_DOUBLE_EQ(c.text.rope_full.rope_theta, 500000.0);
  EXPECT_DOUBLE_EQ(c.text.rope_sliding.rope_theta, 20000.0);
  EXPECT_EQ(c.text.layer_intermediate_size[29], 4096);
}

TEST(ModelConfig, Gemma3nDefaultsWhenKeysAbsent) {
  // transformers fills absent keys from the config class; layer_types every 5th layer full, sparsity 0.95 x 10.
  json text = {{"model_type", "gemma3n_text"}, {"num_hidden_layers", 12}, {"num_kv_shared_layers", 2}};
  ModelConfig c = parse(text);
  EXPECT_EQ(c.text.layer_types[4], LayerType::Full);
  EXPECT_EQ(c.text.layer_types[5], LayerType::Sliding);
  EXPECT_DOUBLE_EQ(c.text.activation_sparsity_pattern[9], 0.95);
  EXPECT_DOUBLE_EQ(c.text.activation_sparsity_pattern[10], 0.0);
  EXPECT_EQ(c.text.hidden_size, 2048);
  EXPECT_EQ(c.text.kv_source_layer[10], 8);
  EXPECT_EQ(c.text.kv_source_layer[11], 8);
}

TEST(ModelConfig, Gemma4GlobalHeadDimBothForms) {
  for (bool per_layer : {false, true}) {
    SCOPED_TRACE(per_layer ? "per_layer_config" : "global_head_dim");
    ModelConfig c = parse({{"model_type", "gemma4"},
                           {"text_config", gemma4_e2b_text(per_layer)},
                           {"audio_config", {{"hidden_size", 1024}}},
                           {"boa_token_id", 256000},
                           {"eoa_token_index", 258883},
                           {"audio_token_id", 258881},
                           {"image_token_id", 258880}});
    const auto& t = c.text;
    EXPECT_EQ(c.family, Family::Gemma4);
    EXPECT_EQ(c.media.eoa_token_id, 258883);
    EXPECT_FALSE(c.has_vision_config());
    EXPECT_EQ(t.first_kv_shared_layer(), 15);
    for (int l = 0; l < 35; ++l) {
      const bool full = (l + 1) % 5 == 0;
      EXPECT_EQ(t.layer_head_dim[l], full ? 512 : 256) << l;
      EXPECT_EQ(t.layer_num_kv_heads[l], 1) << l;
      // Spec 3.3.2: E2B doubles the MLP width in KV-shared layers 15..34.
      EXPECT_EQ(t.layer_intermediate_size[l], l < 15 ? 6144 : 12288) << l;
      // Spec 3.3.3: consumers 15..34 read layer 13 (sliding) or 14 (full).
      EXPECT_EQ(t.kv_source_layer[l], l < 15 ? l : (full ? 14 : 13)) << l;
    }
    EXPECT_EQ(t.rope_full.rope_type, "proportional");
    EXPECT_DOUBLE_EQ(t.rope_full.partial_rotary_factor, 0.25);
    EXPECT_DOUBLE_EQ(t.rope_full.rope_theta, 1e6);
    EXPECT_EQ(t.rope_sliding.rope_type, "default");
  }
}

TEST(ModelConfig, Gemma4DefaultsWhenKeysAbsent) {
  // Class defaults: no soft-cap, no KV sharing, full attention every 6th layer and always on the last layer.
  ModelConfig c = parse({{"model_type", "gemma4_text"}, {"num_hidden_layers", 10}});
  EXPECT_DOUBLE_EQ(c.text.final_logit_softcapping, 0.0);
  EXPECT_EQ(c.text.num_kv_shared_layers, 0);
  EXPECT_EQ(c.text.layer_types[5], LayerType::Full);
  EXPECT_EQ(c.text.layer_types[8], LayerType::Sliding);
  EXPECT_EQ(c.text.layer_types[9], LayerType::Full);
  EXPECT_EQ(c.text.layer_head_dim[9], 512);
  EXPECT_EQ(c.text.rope_full.rope_type, "proportional");
}

TEST(ModelConfig, Gemma3nRopeScalingAndOldKeysFillGaps) {
  json t = gemma3n_e2b_text();
  t["rope_parameters"] = {{"full_attention", {{"rope_type", "default"}}}, {"sliding_attention", {{"rope_theta", 777.0}}}};
  ModelConfig c = parse(t);
  EXPECT_DOUBLE_EQ(c.text.rope_full.rope_theta, 1e6);      // from rope_theta
  EXPECT_DOUBLE_EQ(c.text.rope_sliding.rope_theta, 777.0);  // rope_parameters wins over rope_local_base_freq
  t = gemma3n_e2b_text();
  t["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 8.0}};
  expect_error(t, {"rope_type is \"linear\""});
}

TEST(ModelConfig, Gemma4E4BTextOnly) {
  json t = gemma4_e2b_text(false);
  json layer_types = json::array();
  for (int i = 0; i < 42; ++i) layer_types.push_back((i + 1) % 6 == 0 ? "full_attention" : "sliding_attention");
  t["num_hidden_layers"] = 42;
  t["layer_types"] = layer_types;
  t["hidden_size"] = 2560;
  t["intermediate_size"] = 10240;
  t["num_key_value_heads"] = 2;
  t["num_kv_shared_layers"] = 18;
  t["use_double_wide_mlp"] = false;
  ModelConfig c = parse(t);
  EXPECT_EQ(c.text_prefix, "model.");
  EXPECT_EQ(c.text.kv_source_layer[24], 22);
  EXPECT_EQ(c.text.kv_source_layer[29], 23);
  EXPECT_EQ(c.text.layer_intermediate_size[41], 10240);
  EXPECT_EQ(c.text.layer_head_dim[41], 512);
}

TEST(ModelConfig, Refusals) {
  expect_error({{"model_type", "llama"}}, {"model_type is \"llama\"", "gemma3n, gemma3n_text, gemma4"});
  expect_error({{"hidden_size", 4}}, {"model_type is missing"});
  expect_error({{"model_type", "gemma3n"}}, {"needs a \"text_config\""});
  json bad = gemma3n_e2b_text();
  bad["layer_types"].erase(0);
  expect_error(bad, {"layer_types has 29 entries, expected num_hidden_layers = 30"});
  bad = gemma3n_e2b_text();
  bad["intermediate_size"] = json(std::vector<int>(29, 8192));
  expect_error(bad, {"intermediate_size lists 29 widths"});
  bad = gemma3n_e2b_text();
  bad["hidden_size"] = "2048";
  expect_error(bad, {"hidden_size is \"2048\", expected an integer"});
  bad = gemma3n_e2b_text();
  bad["num_key_value_heads"] = 3;
  expect_error(bad, {"3 KV heads", "must divide num_attention_heads = 8"});
  bad = gemma3n_e2b_text();
  bad["layer_types"][3] = "chunked_attention";
  expect_error(bad, {"layer_types holds \"chunked_attention\""});
  json mm = gemma3n_multimodal(gemma3n_e2b_text());
  mm["text_config"]["model_type"] = "gemma4_text";
  expect_error(mm, {"text_config.model_type is \"gemma4_text\", expected \"gemma3n_text\""});
  json g4 = gemma4_e2b_text(true);
  g4["per_layer_config"]["99"] = {{"head_dim", 512}};
  expect_error(g4, {"per_layer_config has key \"99\""});
  g4 = gemma4_e2b_text(true);
  g4["per_layer_config"]["full_attention"] = {{"head_dim", 512}};
  expect_error(g4, {"per_layer_config has key \"full_attention\""});
  g4 = gemma4_e2b_text(true);
  g4["per_layer_config"]["04"] = {{"skip", {"mlp"}}};
  expect_error(g4, {"per_layer_config.04.skip"});
  g4 = gemma4_e2b_text(false);
  g4["use_bidirectional_attention"] = "all";
  expect_error(g4, {"use_bidirectional_attention is \"all\""});
  g4 = gemma4_e2b_text(false);
  g4["rope_parameters"].erase("full_attention");
  expect_error(g4, {"needs both full_attention and sliding_attention"});
  bad = gemma3n_e2b_text();
  bad["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 5.0}};
  expect_error(bad, {"rope_parameters has no full_attention / sliding_attention entries"});
  g4 = gemma4_e2b_text(false);
  g4["enable_moe_block"] = true;
  expect_error(g4, {"mixture-of-experts"});
  g4 = gemma4_e2b_text(false);
  g4["rope_parameters"]["full_attention"]["rope_type"] = "yarn";
  expect_error(g4, {"rope_type is \"yarn\""});
  try {
    parse_model_config("{not json", "/models/x/config.json");
    FAIL();
  } catch (const gt::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos);
  }
}

// Found by fuzzing (fuzz/model_config_fuzz.cpp): nlohmann's parser throws out_of_range, not parse_error, for a number
// past double's range, and it escaped as a non-InputError.
TEST(ModelConfig, NumberPastDoubleRangeIsNotValidJson) {
  try {
    parse_model_config(R"({"model_type": "gemma3n_text", "rms_norm_eps": 1e999})", "/models/x/config.json");
    FAIL() << "expected an InputError";
  } catch (const gt::InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("/models/x/config.json: not valid JSON"), std::string::npos) << m;
    EXPECT_NE(m.find("number overflow"), std::string::npos) << m;
  }
}

TEST(ModelConfig, LoadFromFolder) {
  gt::test::TempDir tmp("cfg");
  EXPECT_THROW(gt::io::load_model_config(tmp.path().string()), gt::InputError);
  gt::test::write_file(tmp / "config.json", gemma3n_e2b_text().dump());
  ModelConfig c = gt::io::load_model_config(tmp.path().string());
  EXPECT_EQ(c.path, (tmp / "config.json").string());
}

// config.json files exactly as transformers 5.17 saved them (tools/make_config_fixtures.py), and what
// transformers itself resolved per layer (expected.json): layer types, head dims, KV heads, KV sources, RoPE.
TEST(ModelConfig, AgreesWithTransformersOnItsOwnSavedConfigs) {
  std::ifstream in(gt::test::fixture("config/expected.json"));
  ASSERT_TRUE(in) << "missing tests/fixtures/config/expected.json";
  json expected = json::parse(in);
  int checked = 0;
  for (const char* name : {"gemma3n-e2b", "gemma3n-e2b-text", "gemma4-e2b", "gemma4-e2b-text"}) {
    SCOPED_TRACE(name);
    ModelConfig c = gt::io::load_model_config(gt::test::fixture(std::string("config/") + name + ".json").string());
    const json& e = expected.at(name);
    const auto& t = c.text;
    ASSERT_EQ(static_cast<size_t>(t.num_hidden_layers), e.at("layer_types").size());
    for (int64_t l = 0; l < t.num_hidden_layers; ++l) {
      EXPECT_EQ(gt::io::layer_type_name(t.layer_types[l]), e["layer_types"][l].get<std::string>()) << l;
      EXPECT_EQ(t.layer_head_dim[l], e["head_dim"][l].get<int64_t>()) << l;
      EXPECT_EQ(t.layer_num_kv_heads[l], e["num_key_value_heads"][l].get<int64_t>()) << l;
      EXPECT_EQ(t.kv_source_layer[l], e["kv_source_layer"][l].get<int64_t>()) << l;
    }
    for (auto [type, rope] : {std::pair{"full_attention", &t.rope_full}, std::pair{"sliding_attention", &t.rope_sliding}}) {
      const json& r = e["rope_parameters"].at(type);
      EXPECT_EQ(rope->rope_type, r.value("rope_type", std::string("default"))) << type;
      EXPECT_DOUBLE_EQ(rope->rope_theta, r.at("rope_theta").get<double>()) << type;
      EXPECT_DOUBLE_EQ(rope->partial_rotary_factor, r.value("partial_rotary_factor", 1.0)) << type;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 4);
}
