// gt::data audio soft tokens: the count per clip and the prompt text against transformers 5.17's processors
// (tests/fixtures/audio/features/<family>/meta.json "tokens", made by tools/make_audio_feature_fixtures.py: Gemma 4 by
// Gemma4Processor.replace_audio_token on the extractor's mask, by _compute_audio_num_tokens, and by the valid frames
// Gemma4AudioModel returns, for every length up to 1300 samples and the boundaries of long clips), edge lengths,
// the rule read from a model folder and its errors, and the markers in the family tokenizers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "data/audio_tokens.h"
#include "io/model_config.h"
#include "test_util.h"
#include "tokenizer/family_layout.h"
#include "tokenizer/tokenizer.h"

namespace fs = std::filesystem;
using namespace gt;
using nlohmann::json;

using gt::test::error_of;

namespace {

const json& tokens_meta(const std::string& family) {
  static std::map<std::string, json> cache;
  auto it = cache.find(family);
  if (it != cache.end()) return it->second;
  const fs::path p = test::fixture("audio/features/" + family + "/meta.json");
  std::ifstream in(p);
  if (!in) throw std::runtime_error("missing " + p.string() + "; run tools/make_audio_feature_fixtures.py");
  return cache.emplace(family, json::parse(in)["tokens"]).first->second;
}

io::ModelConfig config_of(const std::string& name) {
  return io::load_model_config(test::fixture("config/" + name + ".json").string());
}

std::string repeat(const std::string& s, int64_t n) {
  std::string out;
  for (int64_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

// Every length the fixture lists: the processor's text, its serving-side prediction and the encoder's valid frames.
TEST(AudioTokens, Gemma4CountsMatchProcessorAndEncoder) {
  const json& t = tokens_meta("gemma4");
  ASSERT_TRUE(t["expanded_equals_predicted"].get<bool>());
  ASSERT_TRUE(t["encoder_equals_expanded"].get<bool>());
  const auto rule = data::default_audio_token_rule(io::Family::Gemma4);
  const auto& lengths = t["lengths"];
  size_t mismatches = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    const int64_t n = lengths[i].get<int64_t>();
    const int64_t got = data::audio_soft_token_count(rule, n);
    const int64_t expanded = t["expanded"][i].get<int64_t>();
    const int64_t predicted = t["predicted"][i].get<int64_t>();
    const json& encoder = t["encoder"][i];
    const int64_t from_encoder = encoder.is_null() ? 0 : encoder.get<int64_t>();
    if (got != expanded || got != predicted || got != from_encoder) {
      if (++mismatches <= 10)
        ADD_FAILURE() << n << " samples: " << got << " soft tokens; processor text " << expanded << ", prediction "
                      << predicted << ", encoder " << encoder.dump();
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << lengths.size() << " lengths";
  std::cout << "[parity] gemma4 soft-token counts: " << lengths.size() - mismatches << "/" << lengths.size()
            << " lengths equal to the processor text, its prediction and the encoder's valid frames\n";
}

TEST(AudioTokens, Gemma4PromptTextIsTheProcessors) {
  const json& t = tokens_meta("gemma4");
  const auto rule = data::default_audio_token_rule(io::Family::Gemma4);
  EXPECT_EQ(rule.begin_marker, t["token_strings"]["boa_token"].get<std::string>());
  EXPECT_EQ(rule.soft_token, t["token_strings"]["audio_token"].get<std::string>());
  EXPECT_EQ(rule.end_marker, t["token_strings"]["eoa_token"].get<std::string>());
  ASSERT_GE(t["prompt_text"].size(), 3u);
  for (const auto& [length, text] : t["prompt_text"].items())
    EXPECT_EQ(data::audio_prompt_text(rule, std::stoll(length)), text.get<std::string>()) << length << " samples";
}

TEST(AudioTokens, Gemma3nTextIsFixedWhateverTheLength) {
  const json& t = tokens_meta("gemma3n");
  const auto rule = data::default_audio_token_rule(io::Family::Gemma3n);
  EXPECT_EQ(t["count"].get<int64_t>(), 188);
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{16000}, int64_t{480000}, int64_t{10'000'000}}) {
    EXPECT_EQ(data::audio_soft_token_count(rule, n), 188);
    EXPECT_EQ(data::audio_prompt_text(rule, n), t["prompt_text"].get<std::string>()) << n << " samples";
  }
}

// Edge lengths at the defaults (frame 320, hop 160, 160 zeros of semicausal padding, windows of 321 samples).
TEST(AudioTokens, Gemma4EdgeLengths) {
  const auto rule = data::default_audio_token_rule(io::Family::Gemma4);
  auto count = [&](int64_t n) { return data::audio_soft_token_count(rule, n); };
  EXPECT_EQ(count(0), 0);
  EXPECT_EQ(count(1), 0);
  EXPECT_EQ(count(160), 0);    // 160 + 160 < 321: no frame
  EXPECT_EQ(count(161), 1);    // the first whole window
  EXPECT_EQ(count(320), 1);
  EXPECT_EQ(count(321), 1);    // 2 frames -> 1 -> 1
  EXPECT_EQ(count(481), 1);    // 3 frames -> 2 -> 1
  EXPECT_EQ(count(800), 1);    // 4 frames -> 2 -> 1
  EXPECT_EQ(count(801), 2);    // 5 frames -> 3 -> 2
  EXPECT_EQ(count(16000), 25);  // 1 s: 99 frames -> 50 -> 25
  EXPECT_EQ(count(480000), 750);
  EXPECT_EQ(count(480001), 750);  // truncated to 30 s
  EXPECT_EQ(count(int64_t{1} << 40), 750);
  EXPECT_EQ(data::audio_prompt_text(rule, 160), "<|audio><audio|>");
  EXPECT_EQ(data::audio_prompt_text(rule, 161), "<|audio><|audio|><audio|>");
}

TEST(AudioTokens, RuleFromReleasedConfigs) {
  const auto r3 = data::audio_token_rule(config_of("gemma3n-e2b"));
  EXPECT_EQ(r3.family, io::Family::Gemma3n);
  EXPECT_EQ(r3.fixed_count, 188);
  EXPECT_EQ(r3.around, "\n\n");
  const auto r4 = data::audio_token_rule(config_of("gemma4-e2b"));
  EXPECT_EQ(r4.family, io::Family::Gemma4);
  EXPECT_EQ(r4.frame_length, 320);
  EXPECT_EQ(r4.hop_length, 160);
  EXPECT_EQ(data::audio_soft_token_count(r4, 16000), 25);
}

// A model folder's processor_config.json / preprocessor_config.json, read where transformers reads them.
TEST(AudioTokens, RuleFromModelFolder) {
  test::TempDir dir("audio-rule");
  const std::string d = dir.path().string();
  const io::ModelConfig c3 = config_of("gemma3n-e2b");
  const io::ModelConfig c4 = config_of("gemma4-e2b");
  EXPECT_EQ(data::audio_token_rule(c3, d).fixed_count, 188);  // no files: the defaults

  test::write_file(dir / "processor_config.json", R"({"audio_seq_length": 188, "image_seq_length": 256})");
  EXPECT_EQ(data::audio_token_rule(c3, d).fixed_count, 188);
  io::ModelConfig c3_other = c3;
  c3_other.media.audio_soft_tokens_per_image = 94;
  test::write_file(dir / "processor_config.json", R"({"audio_seq_length": 94})");
  EXPECT_EQ(data::audio_token_rule(c3_other, d).fixed_count, 94);

  // Gemma 4 framing of 25 ms / 12.5 ms: windows of 401 samples every 200, 200 zeros in front.
  test::write_file(dir / "preprocessor_config.json", R"({"frame_length_ms": 25.0, "hop_length_ms": 12.5})");
  const auto r4 = data::audio_token_rule(c4, d);
  EXPECT_EQ(r4.frame_length, 400);
  EXPECT_EQ(r4.hop_length, 200);
  EXPECT_EQ(data::audio_soft_token_count(r4, 200), 0);  // 200 + 200 < 401
  EXPECT_EQ(data::audio_soft_token_count(r4, 201), 1);
  EXPECT_EQ(data::audio_soft_token_count(r4, 16000), 20);  // (16000 + 200 - 401) // 200 + 1 = 79 -> 40 -> 20
  // The nested object of processor_config.json wins over preprocessor_config.json.
  test::write_file(dir / "processor_config.json", R"({"feature_extractor": {"hop_length_ms": 10}})");
  EXPECT_EQ(data::audio_token_rule(c4, d).hop_length, 160);
  EXPECT_EQ(data::audio_token_rule(c4, d).frame_length, 320);
}

TEST(AudioTokens, RuleErrorsNameTheFileAndKey) {
  test::TempDir dir("audio-rule-err");
  const std::string d = dir.path().string();
  const std::string proc = (dir / "processor_config.json").string();
  const std::string pre = (dir / "preprocessor_config.json").string();
  const io::ModelConfig c3 = config_of("gemma3n-e2b");
  const io::ModelConfig c4 = config_of("gemma4-e2b");

  test::write_file(dir / "processor_config.json", R"({"audio_seq_length": 100})");
  EXPECT_EQ(error_of([&] { data::audio_token_rule(c3, d); }),
            proc + ": audio_seq_length is 100 but " + c3.path +
                " says audio_soft_tokens_per_image 188; Gemma 3n needs both equal (the processor writes one, the "
                "model pads its audio to the other)");
  test::write_file(dir / "processor_config.json", R"({"audio_seq_length": "188"})");
  EXPECT_EQ(error_of([&] { data::audio_token_rule(c3, d); }), proc + ": audio_seq_length is \"188\", expected an integer");
  test::write_file(dir / "processor_config.json", R"({"audio_seq_length": 0})");
  EXPECT_EQ(error_of([&] { data::audio_token_rule(c3, d); }), proc + ": audio_seq_length is 0, expected a positive integer");

  test::write_file(dir / "processor_config.json", R"({"feature_extractor": {"hop_length_ms": "10"}})");
  EXPECT_EQ(error_of([&] { data::audio_token_rule(c4, d); }),
            proc + ": feature_extractor.hop_length_ms is \"10\", expected a number");
  test::write_file(dir / "processor_config.json", "{}");
  test::write_file(dir / "preprocessor_config.json", R"({"padding_side": "left"})");
  EXPECT_EQ(error_of([&] { data::audio_token_rule(c4, d); }),
            pre + ": padding_side is \"left\"; gemma-tune counts Gemma 4 audio tokens for right padding only (with "
                  "left padding the reference's count depends on the other clips of a batch)");
  test::write_file(dir / "preprocessor_config.json", R"({"hop_length_ms": 0.01})");
  EXPECT_EQ(error_of([&] { data::audio_token_rule(c4, d); }),
            pre + ": hop_length_ms gives a hop of 0 samples, expected at least 1");
  test::write_file(dir / "preprocessor_config.json", "not json");
  EXPECT_EQ(error_of([&] { data::audio_token_rule(c4, d); }), pre + ": not valid JSON");
  EXPECT_EQ(error_of([&] { data::audio_token_rule(c4, d + "/nope"); }), d + "/nope: not a folder; expected a model folder");
}

// The markers are single special tokens of the family tokenizers, with the ids config.json gives, so the text
// tokenizes to exactly begin + n placeholders + end.
TEST(AudioTokens, FamilyTokenizersHaveTheMarkersAtTheConfigIds) {
  for (const std::string family : {"gemma3n", "gemma4"}) {
    SCOPED_TRACE(family);
    test::TempDir dir("audio-tok");
    tok::write_family_tokenizer(test::real_tokenizer_json().string(), (dir / "tokenizer.json").string(), family);
    const tok::Tokenizer tk = tok::Tokenizer::from_file((dir / "tokenizer.json").string());
    const io::ModelConfig cfg = config_of(family + "-e2b");
    const auto rule = data::audio_token_rule(cfg);
    const int32_t begin = tk.require_id(rule.begin_marker);
    const int32_t soft = tk.require_id(rule.soft_token);
    const int32_t end = tk.require_id(rule.end_marker);
    EXPECT_EQ(begin, *cfg.media.boa_token_id);
    EXPECT_EQ(soft, *cfg.media.audio_token_id);
    EXPECT_EQ(end, *cfg.media.eoa_token_id);

    const int64_t n = data::audio_soft_token_count(rule, 16000);
    std::vector<int32_t> want = tk.encode(rule.around);
    want.push_back(begin);
    want.insert(want.end(), static_cast<size_t>(n), soft);
    want.push_back(end);
    for (int32_t id : tk.encode(rule.around)) want.push_back(id);
    EXPECT_EQ(tk.encode(data::audio_prompt_text(rule, 16000)), want);
    EXPECT_EQ(data::audio_prompt_text(rule, 16000),
              rule.around + rule.begin_marker + repeat(rule.soft_token, n) + rule.end_marker + rule.around);
  }
}
