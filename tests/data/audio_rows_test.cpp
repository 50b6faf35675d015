// Audio rows of a dataset (--modality audio), with a stand-in probe so that only the data layer is under test:
// CSV audio_path,text and JSONL messages with audio parts, path resolution, placeholders in the user turn, labels
// on the transcript only, every skip reason, the summary and the clips a batch carries.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>

#include "core/strings.h"
#include "data/batching.h"
#include "data/text_dataset.h"
#include "data_test_util.h"
#include "tokenizer/family_layout.h"

using namespace gt;
using nlohmann::json;

namespace {

const tok::Tokenizer& gemma3n_tokenizer() {
  static test::TempDir dir("audio-rows-tok");
  static const tok::Tokenizer t = [] {
    tok::write_family_tokenizer(test::real_tokenizer_json().string(), (dir / "tokenizer.json").string(), "gemma3n");
    return tok::Tokenizer::from_file((dir / "tokenizer.json").string());
  }();
  return t;
}

// Clips the stand-in probe knows: "<name>.wav" -> seconds; anything else cannot be decoded.
struct FakeAudio {
  std::map<std::string, double> seconds = {{"a.wav", 1.5}, {"b.wav", 2.0}, {"long.wav", 40.0}, {"empty.wav", 0.0}};
  double max_duration = 30;
  std::vector<std::string> probed;  // absolute sources seen

  data::AudioRowOptions options() {
    data::AudioRowOptions a;
    a.probe = [this](const std::string& source) -> data::RowResult<data::AudioRef> {
      probed.push_back(source);
      auto it = seconds.find(std::filesystem::path(source).filename().string());
      if (it == seconds.end())
        return data::RowResult<data::AudioRef>::fail(data::skip_kind::kBadAudio, cat(source, ": cannot decode"));
      if (it->second == 0)
        return data::RowResult<data::AudioRef>::fail(data::skip_kind::kEmptyAudio, cat(source, ": no samples"));
      data::AudioRef r;
      r.source = source;
      r.seconds = std::min(it->second, max_duration);
      r.cut = it->second > max_duration;
      r.samples = static_cast<int64_t>(r.seconds * 16000);
      r.soft_tokens = static_cast<int64_t>(r.seconds * 4);  // any rule: the data layer only counts
      return data::RowResult<data::AudioRef>::ok(r);
    };
    a.placeholder_text = [](const data::AudioRef& r) {
      std::string s = "<start_of_audio>";
      for (int64_t i = 0; i < r.soft_tokens; ++i) s += "<audio_soft_token>";
      return s + "<end_of_audio>";
    };
    a.placeholder_id = *gemma3n_tokenizer().find_id("<audio_soft_token>");
    return a;
  }
};

struct Loaded {
  test::TempDir dir{"audio-rows"};
  FakeAudio audio;
  std::string skipped_log;
  data::TextDataset data;
};

std::unique_ptr<Loaded> load(const std::string& name, const std::string& content,
                             data::TextDatasetOptions options = {}) {
  auto out = std::make_unique<Loaded>();
  test::write_file(out->dir / name, content);
  out->skipped_log = (out->dir / "skipped.jsonl").string();
  options.skipped_log = out->skipped_log;
  if (!options.audio) options.audio = out->audio.options();
  out->data = data::load_text_dataset((out->dir / name).string(), options, gemma3n_tokenizer(), io::Family::Gemma3n);
  return out;
}

int64_t count_id(const std::vector<int32_t>& ids, int32_t id) { return std::count(ids.begin(), ids.end(), id); }

std::string decoded_trained(const data::Example& ex) {
  std::vector<int32_t> t;
  for (size_t i = 0; i < ex.labels.size(); ++i)
    if (ex.labels[i] != data::kIgnoreIndex) t.push_back(ex.labels[i]);
  return gemma3n_tokenizer().decode(t);
}

}  // namespace

TEST(DataAudioRows, CsvRowsBecomeTheReferenceTurns) {
  const auto l = load("train.csv", "audio_path,text\nclips/a.wav, hello there \n/abs/b.wav,second one\n");
  ASSERT_EQ(l->data.examples.size(), 2u);
  const data::Example& ex = l->data.examples[0];
  ASSERT_EQ(ex.audio.size(), 1u);
  // relative to the dataset folder; absolute paths unchanged
  EXPECT_EQ(ex.audio[0].source, (l->dir.path() / "clips/a.wav").lexically_normal().string());
  EXPECT_EQ(l->data.examples[1].audio[0].source, "/abs/b.wav");
  EXPECT_EQ(ex.audio[0].soft_tokens, 6);
  EXPECT_EQ(count_id(ex.input_ids, *gemma3n_tokenizer().find_id("<audio_soft_token>")), 6);
  // the whole rendered conversation, then what is trained
  std::string expected = "<bos><start_of_turn>user\n<start_of_audio>";
  for (int i = 0; i < 6; ++i) expected += "<audio_soft_token>";
  expected += "<end_of_audio>Please transcribe this audio.<end_of_turn>\n<start_of_turn>model\nhello there<end_of_turn>\n";
  EXPECT_EQ(gemma3n_tokenizer().decode(ex.input_ids), expected);
  EXPECT_EQ(decoded_trained(ex), "hello there<end_of_turn>\n");
  const data::TextDatasetSummary& s = l->data.summary;
  EXPECT_EQ(s.audio_clips, 2);
  EXPECT_DOUBLE_EQ(s.audio_seconds, 3.5);
  EXPECT_NE(s.describe().find("2 clips, 3.5 s of audio"), std::string::npos) << s.describe();
}

TEST(DataAudioRows, PromptColumnAndOptionAndSystemPrompt) {
  data::TextDatasetOptions o;
  FakeAudio fa;
  o.audio = fa.options();
  o.audio->prompt = "Write down what is said.";
  o.system_prompt = "Medical dictation.";
  const auto l = load("train.csv", "audio_path,text,prompt\na.wav,x,\na.wav,y,Translate it.\n", o);
  ASSERT_EQ(l->data.examples.size(), 2u);
  const std::string first = gemma3n_tokenizer().decode(l->data.examples[0].input_ids);
  const std::string second = gemma3n_tokenizer().decode(l->data.examples[1].input_ids);
  // Gemma 3n: the system message opens the first user turn, then the clip, then the prompt
  EXPECT_NE(first.find("user\nMedical dictation.\n\n<start_of_audio>"), std::string::npos) << first;
  EXPECT_NE(first.find("<end_of_audio>Write down what is said.<end_of_turn>"), std::string::npos) << first;
  EXPECT_NE(second.find("<end_of_audio>Translate it.<end_of_turn>"), std::string::npos) << second;
}

TEST(DataAudioRows, JsonlMessagesAndFlatRows) {
  const json conv = {{"messages",
                      {{{"role", "user"},
                        {"content", {{{"type", "text"}, {"text", "Compare "}}, {{"type", "audio"}, {"path", "a.wav"}},
                                     {{"type", "audio"}, {"url", "https://example.com/b.wav"}}}}},
                       {{"role", "assistant"}, {"content", "They differ."}}}}};
  const json flat = {{"audio_path", "b.wav"}, {"text", "flat row"}};
  const json text_only = {{"prompt", "no audio"}, {"response", "fine"}};
  const auto l = load("train.jsonl", conv.dump() + "\n" + flat.dump() + "\n" + text_only.dump() + "\n");
  ASSERT_EQ(l->data.examples.size(), 3u) << l->data.summary.describe();
  const data::Example& ex = l->data.examples[0];
  ASSERT_EQ(ex.audio.size(), 2u);
  EXPECT_EQ(ex.audio[1].source, "https://example.com/b.wav");  // URLs are not resolved
  const std::string text = gemma3n_tokenizer().decode(ex.input_ids);
  // the parts in their order: the (trimmed) text, then both clips
  EXPECT_NE(text.find("<end_of_audio><start_of_audio>"), std::string::npos);
  EXPECT_NE(text.find("user\nCompare<start_of_audio>"), std::string::npos) << text;
  EXPECT_NE(text.find("<end_of_audio><end_of_turn>"), std::string::npos) << text;
  EXPECT_EQ(count_id(ex.input_ids, *gemma3n_tokenizer().find_id("<audio_soft_token>")), 6 + 8);
  EXPECT_EQ(l->data.examples[1].audio.size(), 1u);
  EXPECT_TRUE(l->data.examples[2].audio.empty());
}

TEST(DataAudioRows, BadRowsAreSkippedWithReasons) {
  const json model_audio = {
      {"messages",
       {{{"role", "user"}, {"content", "hi"}},
        {{"role", "assistant"}, {"content", {{{"type", "audio"}, {"path", "a.wav"}}}}}}}};
  const json no_path = {{"messages",
                         {{{"role", "user"}, {"content", {{{"type", "audio"}}}}}, {{"role", "model"}, {"content", "x"}}}}};
  const json inline_audio = {
      {"messages",
       {{{"role", "user"}, {"content", {{{"type", "input_audio"}, {"input_audio", {{"data", "AAAA"}}}}}}},
        {{"role", "model"}, {"content", "x"}}}}};
  const json spelled = {{"audio_path", "a.wav"}, {"text", "x"}, {"prompt", "say <audio_soft_token>"}};
  std::string content;
  for (const json& r : {json{{"audio_path", "missing.wav"}, {"text", "x"}}, json{{"audio_path", "empty.wav"}, {"text", "x"}},
                        json{{"audio_path", "a.wav"}, {"text", "  "}}, json{{"audio_path", ""}, {"text", "x"}},
                        model_audio, no_path, inline_audio, spelled, json{{"audio_path", "a.wav"}, {"text", "ok"}}})
    content += r.dump() + "\n";
  const auto l = load("train.jsonl", content);
  ASSERT_EQ(l->data.examples.size(), 1u);
  std::map<int64_t, std::string> kinds;
  for (const auto& s : l->data.skipped) kinds[s.row] = s.kind;
  EXPECT_EQ(kinds[1], "bad_audio");
  EXPECT_EQ(kinds[2], "empty_audio");
  EXPECT_EQ(kinds[3], "empty_answer");
  EXPECT_EQ(kinds[4], "missing_column");
  EXPECT_EQ(kinds[5], "media_part");
  EXPECT_EQ(kinds[6], "missing_column");
  EXPECT_EQ(kinds[7], "media_part");
  EXPECT_EQ(kinds[8], "audio_tokens");
  const std::string log = test::read_file(l->skipped_log);
  EXPECT_NE(log.find("missing.wav: cannot decode"), std::string::npos) << log;
  EXPECT_NE(log.find("placeholder"), std::string::npos) << log;
}

TEST(DataAudioRows, AudioPartsNeedTheAudioModality) {
  const json conv = {{"messages",
                      {{{"role", "user"}, {"content", {{{"type", "audio"}, {"path", "a.wav"}}}}},
                       {{"role", "model"}, {"content", "x"}}}}};
  test::TempDir dir("audio-rows-text");
  test::write_file(dir / "train.jsonl", conv.dump() + "\n" + json{{"prompt", "p"}, {"response", "r"}}.dump() + "\n");
  const data::TextDataset ds = data::load_text_dataset((dir / "train.jsonl").string(), {}, gemma3n_tokenizer(),
                                                       io::Family::Gemma3n);
  ASSERT_EQ(ds.skipped.size(), 1u);
  EXPECT_EQ(ds.skipped[0].kind, "media_part");
  EXPECT_NE(ds.skipped[0].reason.find("--modality audio"), std::string::npos);
}

TEST(DataAudioRows, LongClipsAreCountedAndLongRowsAreNeverCut) {
  data::TextDatasetOptions o;
  FakeAudio fa;
  o.audio = fa.options();
  o.max_seq_len = 200;  // long.wav: 30 s after the cut -> 120 placeholders; fits. a.wav with a long answer: not
  std::string long_answer;
  for (int i = 0; i < 250; ++i) long_answer += "word ";
  const auto l = load("train.csv", "audio_path,text\nlong.wav,short\na.wav," + long_answer + "\n", o);
  ASSERT_EQ(l->data.examples.size(), 1u);
  EXPECT_TRUE(l->data.examples[0].audio[0].cut);
  EXPECT_EQ(l->data.summary.audio_cut, 1);
  EXPECT_NE(l->data.summary.describe().find("1 cut to max_duration"), std::string::npos);
  ASSERT_EQ(l->data.skipped.size(), 1u);
  EXPECT_EQ(l->data.skipped[0].kind, "too_long");
  EXPECT_NE(l->data.skipped[0].reason.find("never cut"), std::string::npos);
}

TEST(DataAudioRows, CsvWithoutTheAudioColumnStops) {
  test::TempDir dir("audio-rows-csv");
  test::write_file(dir / "train.csv", "path,text\na.wav,x\n");
  FakeAudio fa;
  data::TextDatasetOptions o;
  o.audio = fa.options();
  test::expect_input_error_with(
      [&] { data::load_text_dataset((dir / "train.csv").string(), o, gemma3n_tokenizer(), io::Family::Gemma3n); },
      {"train.csv", "no column \"audio_path\"", "audio_column"});
}

TEST(DataAudioRows, BatchesCarryTheClipsInRowOrder) {
  const auto l = load("train.csv", "audio_path,text\na.wav,one\nb.wav,two\n");
  const std::vector<int64_t> idx = {1, 0};
  const data::Batch b = data::collate(l->data.examples, idx, 0);
  ASSERT_EQ(b.audio.size(), 2u);
  EXPECT_NE(b.audio[0].source.find("b.wav"), std::string::npos);
  EXPECT_NE(b.audio[1].source.find("a.wav"), std::string::npos);
}
