// Image and audiovisual rows of a dataset (--modality image / audiovisual), with stand-in probes so that only the
// data layer is under test: the reference's CSV schemas (caption, VQA, audiovisual), JSONL messages with image parts
// among text parts, the rendering pinned to what the processors write (data/image_tokens.h), path resolution, every
// skip reason, truncation that never cuts an image or an answer, and the images a batch carries.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>

#include "core/strings.h"
#include "data/batching.h"
#include "data/image_tokens.h"
#include "data/text_dataset.h"
#include "data_test_util.h"
#include "fake_media.h"
#include "tokenizer/family_layout.h"

using namespace gt;
using nlohmann::json;

namespace {

using test::FakeClips;
using test::FakeImages;
using test::family_of;
using test::family_tokenizer;

struct Loaded {
  test::TempDir dir{"image-rows"};
  FakeImages images;
  std::string skipped_log;
  data::TextDataset data;
  std::string family;
  std::string text(size_t i) const { return family_tokenizer(family).decode(data.examples.at(i).input_ids); }
  std::string trained(size_t i) const {
    std::vector<int32_t> t;
    for (int32_t l : data.examples.at(i).labels)
      if (l != data::kIgnoreIndex) t.push_back(l);
    return family_tokenizer(family).decode(t);
  }
  std::vector<json> skipped() const {
    std::vector<json> out;
    for (const std::string& line : split(test::read_file(skipped_log), '\n'))
      if (!line.empty()) out.push_back(json::parse(line));
    return out;
  }
};

std::unique_ptr<Loaded> load(const std::string& name, const std::string& content, data::TextDatasetOptions o = {},
                             const std::string& family = "gemma4", bool audiovisual = false) {
  auto out = std::make_unique<Loaded>();
  out->family = family;
  test::write_file(out->dir / name, content);
  out->skipped_log = (out->dir / "skipped.jsonl").string();
  o.skipped_log = out->skipped_log;
  if (!o.image) o.image = out->images.options(family);
  if (audiovisual) o.audio = FakeClips().options(family);
  out->data = data::load_text_dataset((out->dir / name).string(), o, family_tokenizer(family), family_of(family));
  return out;
}

std::string repeat(const std::string& s, int64_t n) {
  std::string out;
  for (int64_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST(DataImageRows, Gemma4CaptionRowRendersAsTheProcessorWritesIt) {
  const auto l = load("train.csv", "image_path,caption\nimgs/a.png, A red square. \n/abs/b.jpg,Two dots\n");
  ASSERT_EQ(l->data.examples.size(), 2u) << l->data.summary.describe();
  const data::Example& ex = l->data.examples[0];
  ASSERT_EQ(ex.images.size(), 1u);
  EXPECT_EQ(ex.images[0].source, (l->dir.path() / "imgs/a.png").lexically_normal().string());
  EXPECT_EQ(l->data.examples[1].images[0].source, "/abs/b.jpg");
  // budget 70, a 336x480 image: 70 soft tokens (the issue's pinned example)
  EXPECT_EQ(ex.images[0].soft_tokens, 70);
  EXPECT_EQ(l->text(0), "<bos><|turn>user\n<|image>" + repeat("<|image|>", 70) +
                            "<image|>Describe this image.<turn|>\n<|turn>model\nA red square.<turn|>\n");
  EXPECT_EQ(l->trained(0), "A red square.<turn|>\n");
  EXPECT_EQ(l->data.summary.images, 2);
  EXPECT_NE(l->data.summary.describe().find(", 2 images"), std::string::npos) << l->data.summary.describe();
}

TEST(DataImageRows, Gemma3nImageTextHasTheNewlinesAndFixedCount) {
  data::TextDatasetOptions o;
  o.system_prompt = "Be brief.";
  const auto l = load("train.csv", "image_path,question,answer\na.png,What colour?,Red\n", o, "gemma3n");
  ASSERT_EQ(l->data.examples.size(), 1u) << l->data.summary.describe();
  EXPECT_EQ(l->data.examples[0].images[0].soft_tokens, 256);
  EXPECT_EQ(l->text(0), "<bos><start_of_turn>user\nBe brief.\n\n\n\n<start_of_image>" +
                            repeat("<image_soft_token>", 256) +
                            "<end_of_image>\n\nWhat colour?<end_of_turn>\n<start_of_turn>model\nRed<end_of_turn>\n");
}

TEST(DataImageRows, VqaIsDetectedByItsQuestionColumnUnlessTheModeSaysCaption) {
  const std::string csv = "image_path,question,answer,caption\na.png,How many?,Two,A caption\n";
  const auto vqa = load("train.csv", csv);
  ASSERT_EQ(vqa->data.examples.size(), 1u);
  EXPECT_NE(vqa->text(0).find("<image|>How many?<turn|>"), std::string::npos) << vqa->text(0);
  EXPECT_EQ(vqa->trained(0), "Two<turn|>\n");
  data::TextDatasetOptions o;
  o.image_rows = data::ImageRowKind::Caption;
  const auto cap = load("train.csv", csv, o);
  EXPECT_NE(cap->text(0).find("<image|>Describe this image.<turn|>"), std::string::npos) << cap->text(0);
  EXPECT_EQ(cap->trained(0), "A caption<turn|>\n");
  // forced VQA on a file without the question column: the header is refused with the option to set
  o.image_rows = data::ImageRowKind::Vqa;
  test::expect_input_error_with([&] { load("train.csv", "image_path,caption\na.png,x\n", o); },
                           {"no column \"question\"", "question_column"});
}

TEST(DataImageRows, AudiovisualRowIsImageThenClipThenThePrompt) {
  const auto l = load("train.csv", "audio_path,image_path,caption\ns.wav,a.png,A dog barks.\n", {}, "gemma4", true);
  ASSERT_EQ(l->data.examples.size(), 1u) << l->data.summary.describe();
  const data::Example& ex = l->data.examples[0];
  EXPECT_EQ(ex.images.size(), 1u);
  EXPECT_EQ(ex.audio.size(), 1u);
  EXPECT_EQ(l->text(0), "<bos><|turn>user\n<|image>" + repeat("<|image|>", 70) + "<image|><|audio>" +
                            repeat("<|audio|>", 3) +
                            "<audio|>Describe what is happening using the attached audio and image.<turn|>\n"
                            "<|turn>model\nA dog barks.<turn|>\n");
}

TEST(DataImageRows, MessagesKeepImagesWhereTheyAreAmongTextParts) {
  const json conv = {{"messages",
                      {{{"role", "user"},
                        {"content",
                         {{{"type", "text"}, {"text", " Compare "}},
                          {{"type", "image"}, {"path", "a.png"}},
                          {{"type", "text"}, {"text", "with"}},
                          {{"type", "image_url"}, {"image_url", {{"url", "https://example.com/b.jpg"}}}},
                          {{"type", "text"}, {"text", "."}}}}},
                       {{"role", "assistant"}, {"content", "Same shape."}}}}};
  const json flat = {{"image_path", "b.jpg"}, {"caption", "flat row"}};
  const auto l = load("train.jsonl", conv.dump() + "\n" + flat.dump() + "\n");
  ASSERT_EQ(l->data.examples.size(), 2u) << l->data.summary.describe();
  const data::Example& ex = l->data.examples[0];
  ASSERT_EQ(ex.images.size(), 2u);
  EXPECT_EQ(ex.images[1].source, "https://example.com/b.jpg");  // URLs are not resolved
  const int64_t n1 = ex.images[0].soft_tokens, n2 = ex.images[1].soft_tokens;
  EXPECT_EQ(n2, 63);  // 640x480 at budget 70: scaled to 432x336 -> 27 x 21 patches / 9
  EXPECT_EQ(l->text(0), "<bos><|turn>user\nCompare<|image>" + repeat("<|image|>", n1) + "<image|>with<|image>" +
                            repeat("<|image|>", n2) + "<image|>.<turn|>\n<|turn>model\nSame shape.<turn|>\n");
  EXPECT_EQ(l->data.examples[1].images.size(), 1u);
}

TEST(DataImageRows, BadRowsAreSkippedWithTheirReason) {
  const json image_in_model_turn = {
      {"messages",
       {{{"role", "user"}, {"content", "hi"}},
        {{"role", "assistant"}, {"content", {{{"type", "image"}, {"path", "a.png"}}}}}}}};
  const json inline_image = {
      {"messages",
       {{{"role", "user"}, {"content", {{{"type", "image"}, {"url", "data:image/png;base64,AAAA"}}}}},
        {{"role", "assistant"}, {"content", "x"}}}}};
  const std::string rows = json{{"image_path", "missing.png"}, {"caption", "x"}}.dump() + "\n" +      // 1 bad_image
                           json{{"image_path", "huge.png"}, {"caption", "x"}}.dump() + "\n" +         // 2 too large
                           json{{"image_path", ""}, {"caption", "x"}}.dump() + "\n" +                 // 3 empty column
                           json{{"image_path", "a.png"}, {"caption", " "}}.dump() + "\n" +            // 4 empty answer
                           json{{"image_path", "a.png"}, {"question", "<|image|>?"}, {"answer", "y"}}.dump() +
                           "\n" +                                                                     // 5 tokens
                           image_in_model_turn.dump() + "\n" +                                        // 6 media_part
                           inline_image.dump() + "\n" +                                               // 7 media_part
                           json{{"image_path", "a.png"}, {"caption", "fine"}}.dump() + "\n";          // 8 ok
  const auto l = load("train.jsonl", rows);
  ASSERT_EQ(l->data.examples.size(), 1u) << l->data.summary.describe();
  const std::vector<json> s = l->skipped();
  ASSERT_EQ(s.size(), 7u);
  const std::vector<std::string> kinds = {"bad_image", "image_too_large", "missing_column", "empty_answer",
                                          "image_tokens", "media_part", "media_part"};
  for (size_t i = 0; i < kinds.size(); ++i) {
    EXPECT_EQ(s[i]["row"], static_cast<int64_t>(i + 1)) << s[i].dump();
    EXPECT_EQ(s[i]["kind"], kinds[i]) << s[i].dump();
  }
  EXPECT_NE(s[4]["reason"].get<std::string>().find("image placeholder tokens"), std::string::npos) << s[4].dump();
  EXPECT_NE(s[6]["reason"].get<std::string>().find("inline"), std::string::npos) << s[6].dump();
  // an image part in a text run
  data::TextDatasetOptions text_only;
  text_only.skipped_log = (l->dir / "skipped-text.jsonl").string();
  test::write_file(l->dir / "t.jsonl", json{{"messages",
                                             {{{"role", "user"}, {"content", {{{"type", "image"}, {"path", "a.png"}}}}},
                                              {{"role", "assistant"}, {"content", "x"}}}}}
                                               .dump() + "\n" + json{{"prompt", "p"}, {"response", "r"}}.dump() + "\n");
  const auto t = data::load_text_dataset((l->dir / "t.jsonl").string(), text_only, family_tokenizer("gemma4"),
                                         io::Family::Gemma4);
  EXPECT_EQ(t.examples.size(), 1u);
  ASSERT_EQ(t.skipped.size(), 1u);
  EXPECT_EQ(t.skipped[0].kind, "media_part");
}

TEST(DataImageRows, LongRowsLoseTheirPromptTextNeverTheImageOrTheAnswer) {
  data::TextDatasetOptions o;
  o.max_seq_len = 100;  // the image alone takes 72 tokens, the turn markers and answer ~14
  const std::string long_question = repeat("word ", 40);
  const auto l = load("train.csv",
                      "image_path,question,answer\na.png," + long_question + ",Short answer\n"
                      "a.png,q," + repeat("long answer ", 40) + "\n", o);
  ASSERT_EQ(l->data.examples.size(), 1u) << l->data.summary.describe();
  const data::Example& ex = l->data.examples[0];
  EXPECT_TRUE(ex.truncated);
  EXPECT_LE(ex.input_ids.size(), 100u);
  const std::string text = l->text(0);
  EXPECT_NE(text.find("<|image>" + repeat("<|image|>", 70) + "<image|>"), std::string::npos) << text;
  EXPECT_EQ(l->trained(0), "Short answer<turn|>\n");
  const std::vector<json> s = l->skipped();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]["kind"], "too_long");
  EXPECT_NE(s[0]["reason"].get<std::string>().find("never cut"), std::string::npos) << s[0].dump();
}

TEST(DataImageRows, BatchesCarryTheImagesOfTheirRowsInOrder) {
  const auto l = load("train.csv", "image_path,caption\na.png,one\nb.jpg,two\nwide.png,three\n");
  ASSERT_EQ(l->data.examples.size(), 3u) << l->data.summary.describe();
  const std::vector<int64_t> order = {2, 0};
  const data::Batch b = data::collate(l->data.examples, order, 0);
  ASSERT_EQ(b.images.size(), 2u);
  EXPECT_NE(b.images[0].source.find("wide.png"), std::string::npos);
  EXPECT_NE(b.images[1].source.find("a.png"), std::string::npos);
}

TEST(DataImageTokens, Gemma4TargetSizesAndCountsMatchTheProcessor) {
  // (height, width, budget) -> target height, width, tokens: Gemma4ImageProcessor's outputs in transformers 5.17
  struct Case {
    int64_t h, w, budget, th, tw, tokens;
  };
  const std::vector<Case> cases = {{224, 224, 280, 768, 768, 256},  {480, 640, 280, 672, 912, 266},
                                   {1000, 300, 280, 1440, 432, 270}, {50, 2000, 280, 96, 5040, 210},
                                   {50, 2000, 70, 48, 2496, 52},     {20, 20, 1120, 1584, 1584, 1089},
                                   {480, 336, 70, 480, 336, 70},     {1, 100000, 70, 48, 3360, 70}};
  for (const Case& c : cases) {
    const data::ImageTokenRule rule = data::default_image_token_rule(io::Family::Gemma4, c.budget);
    const data::ImageSize t = data::gemma4_image_target_size(rule, c.h, c.w);
    EXPECT_EQ(t.height, c.th) << c.h << "x" << c.w << "@" << c.budget;
    EXPECT_EQ(t.width, c.tw) << c.h << "x" << c.w << "@" << c.budget;
    EXPECT_EQ(data::image_soft_token_count(rule, c.h, c.w), c.tokens) << c.h << "x" << c.w << "@" << c.budget;
    EXPECT_LE(c.tokens, c.budget);
  }
  const data::ImageTokenRule rule = data::default_image_token_rule(io::Family::Gemma4, 70);
  test::expect_input_error_with([&] { data::gemma4_image_target_size(rule, 0, 10); }, {"no area"});
  EXPECT_EQ(data::image_soft_token_count(data::default_image_token_rule(io::Family::Gemma3n), 10, 5000), 256);
}
