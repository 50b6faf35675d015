// The two chat formats: exact strings, exact ids (compared with the ids of the expected string's pieces, which
// the added markers split apart), and exact loss masks, for single and multi-turn conversations with and without
// a system message. Gemma 3n runs on the real tokenizer; Gemma 4 on tests/fixtures/data/gemma4-tiny, whose ids
// are also written out by hand below.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <map>

#include "data/chat_format.h"
#include "data_test_util.h"

using gt::data::ChatFormat;
using gt::data::LabeledIds;
using gt::data::Role;
using gt::data::Turn;
using gt::io::Family;
using gt::test::ExpectedTokens;

namespace {

LabeledIds labeled(const ChatFormat& f, const std::vector<Turn>& turns) {
  auto r = f.tokenize(f.render(turns));
  EXPECT_TRUE(r) << r.error.reason;
  return r.value.value_or(LabeledIds{});
}

}  // namespace

// ----- Gemma 3n, real tokenizer

TEST(ChatFormatGemma3n, KnownMarkerIds) {
  const auto& tk = gt::test::real_gemma3n_tokenizer();
  EXPECT_EQ(tk.encode("<bos><start_of_turn>user\n"), (std::vector<int32_t>{2, 105, 2364, 107}));
  EXPECT_EQ(tk.encode("<end_of_turn>\n<start_of_turn>model\n"), (std::vector<int32_t>{106, 107, 105, 4368, 107}));
}

TEST(ChatFormatGemma3n, SingleTurnStringIdsAndMask) {
  const auto& tk = gt::test::real_gemma3n_tokenizer();
  const ChatFormat f(Family::Gemma3n, tk);
  const std::vector<Turn> turns = {{Role::User, "What is 2+2?"}, {Role::Model, "4"}};
  const auto rendered = f.render(turns);
  EXPECT_EQ(rendered.text, "<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n4<end_of_turn>\n");

  ExpectedTokens e;
  e.add({2, 105}, false).add(tk.encode("user"), false).add(107, false).add(tk.encode("What is 2+2?"), false);
  e.add({106, 107, 105}, false).add(tk.encode("model"), false).add(107, false);
  e.add(tk.encode("4"), true).add({106, 107}, true);
  const LabeledIds got = labeled(f, turns);
  EXPECT_EQ(got.input_ids, e.ids);
  EXPECT_EQ(got.input_ids, tk.encode(rendered.text));
  EXPECT_EQ(got.labels, e.labels);
  EXPECT_EQ(f.count_tokens(turns), e.ids.size());
}

TEST(ChatFormatGemma3n, SystemJoinsFirstUserTurnAndEveryModelTurnIsTrained) {
  const auto& tk = gt::test::real_gemma3n_tokenizer();
  const ChatFormat f(Family::Gemma3n, tk);
  const std::vector<Turn> turns = {{Role::System, "Be brief."},
                                   {Role::User, "Hi"},
                                   {Role::Model, "Hello!"},
                                   {Role::User, "Capital of France?"},
                                   {Role::Model, "Paris."}};
  const auto rendered = f.render(turns);
  EXPECT_EQ(rendered.text,
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n"
            "<start_of_turn>user\nCapital of France?<end_of_turn>\n<start_of_turn>model\nParis.<end_of_turn>\n");
  ASSERT_EQ(rendered.trained_spans.size(), 2u);

  const auto user = tk.encode("user"), model = tk.encode("model");
  ExpectedTokens e;
  e.add({2, 105}, false).add(user, false).add(107, false);
  e.add(tk.encode("Be brief."), false).add(108, false).add(tk.encode("Hi"), false);  // 108 = "\n\n"
  e.add({106, 107, 105}, false).add(model, false).add(107, false);
  e.add(tk.encode("Hello!"), true).add({106, 107}, true);
  e.add(105, false).add(user, false).add(107, false).add(tk.encode("Capital of France?"), false);
  e.add({106, 107, 105}, false).add(model, false).add(107, false);
  e.add(tk.encode("Paris."), true).add({106, 107}, true);
  const LabeledIds got = labeled(f, turns);
  EXPECT_EQ(got.input_ids, e.ids);
  EXPECT_EQ(got.labels, e.labels);
}

TEST(ChatFormatGemma3n, Gemma4MarkersMissingFromAGemma3Tokenizer) {
  const auto& tk = gt::test::real_gemma3n_tokenizer();
  gt::test::expect_input_error_with([&] { ChatFormat f(Family::Gemma4, tk); },
                                    {"\"<|turn>\"", tk.source_path(), "gemma4 chat format"});
}

// ----- Gemma 4, tiny tokenizer (ids: <bos> 2, <|turn> 4, <turn|> 5, "\n" 6, "user" 41, "model" 45,
// "system" 50, "hi" 51, "▁the" 54, letters a..z 9..34, "." 35; see tests/fixtures/data/README.md)

TEST(ChatFormatGemma4, SingleTurnStringIdsAndMask) {
  const auto& tk = gt::test::tiny_gemma4_tokenizer();
  const ChatFormat f(Family::Gemma4, tk);
  const std::vector<Turn> turns = {{Role::User, "hi there"}, {Role::Model, "hello."}};
  const auto rendered = f.render(turns);
  EXPECT_EQ(rendered.text, "<bos><|turn>user\nhi there<turn|>\n<|turn>model\nhello.<turn|>\n");

  // By hand: "hi there" -> hi ▁the r e; "hello." -> he l l o .
  const int32_t r = 9 + 17, e_ = 9 + 4, l = 9 + 11, o = 9 + 14, dot = 35, he = 53;
  ASSERT_EQ(tk.find_id("he"), he);
  ExpectedTokens e;
  e.add({2, 4, 41, 6, 51, 54, r, e_, 5, 6, 4, 45, 6}, false).add({he, l, l, o, dot, 5, 6}, true);
  const LabeledIds got = labeled(f, turns);
  EXPECT_EQ(got.input_ids, e.ids);
  EXPECT_EQ(got.labels, e.labels);
}

TEST(ChatFormatGemma4, SystemIsItsOwnTurnAndMultiTurnMask) {
  const auto& tk = gt::test::tiny_gemma4_tokenizer();
  const ChatFormat f(Family::Gemma4, tk);
  const std::vector<Turn> turns = {
      {Role::System, "be brief"}, {Role::User, "hi"}, {Role::Model, "yo"}, {Role::User, "why?"}, {Role::Model, "so."}};
  const auto rendered = f.render(turns);
  EXPECT_EQ(rendered.text,
            "<bos><|turn>system\nbe brief<turn|>\n<|turn>user\nhi<turn|>\n<|turn>model\nyo<turn|>\n"
            "<|turn>user\nwhy?<turn|>\n<|turn>model\nso.<turn|>\n");
  auto ch = [](char c) { return int32_t(9 + (c - 'a')); };
  ExpectedTokens e;
  e.add({2, 4, 50, 6, ch('b'), ch('e'), 8, ch('b'), ch('r'), ch('i'), ch('e'), ch('f'), 5, 6}, false);
  e.add({4, 41, 6, 51, 5, 6, 4, 45, 6}, false).add({ch('y'), ch('o'), 5, 6}, true);
  e.add({4, 41, 6, ch('w'), ch('h'), ch('y'), 37, 5, 6, 4, 45, 6}, false).add({ch('s'), ch('o'), 35, 5, 6}, true);
  const LabeledIds got = labeled(f, turns);
  EXPECT_EQ(got.input_ids, e.ids);
  EXPECT_EQ(got.labels, e.labels);
  // The same result as tokenizing the pieces of the expected string.
  EXPECT_EQ(got.input_ids, tk.encode(rendered.text));
}

TEST(ChatFormatGemma4, Gemma3nMarkersMissingFromAGemma4Tokenizer) {
  const auto& tk = gt::test::tiny_gemma4_tokenizer();
  gt::test::expect_input_error_with([&] { ChatFormat f(Family::Gemma3n, tk); },
                                    {"\"<start_of_turn>\"", gt::test::tiny_gemma4_tokenizer_path()});
}

TEST(ChatFormatGemma4, MarkerThatIsNotAnAddedTokenIsRefused) {
  // "<turn|>" only in the BPE vocabulary: the text would not tokenize to it, so the format cannot be used.
  nlohmann::json doc = nlohmann::json::parse(gt::test::read_file(gt::test::tiny_gemma4_tokenizer_path()));
  auto& added = doc["added_tokens"];
  for (size_t i = 0; i < added.size(); ++i)
    if (added[i]["content"] == "<turn|>") added.erase(i);
  gt::test::TempDir dir("chat");
  gt::test::write_file(dir / "tokenizer.json", doc.dump());
  const auto tk = gt::tok::Tokenizer::from_file((dir / "tokenizer.json").string());
  gt::test::expect_input_error_with([&] { ChatFormat f(Family::Gemma4, tk); },
                                    {"\"<turn|>\"", "does not tokenize to its token id 5", "added token"});
}

TEST(ChatFormatGemma4, BoundaryInsideATokenIsDetected) {
  // A tokenizer where "\n" is not an added token and merges with the next letter: the answer's first token
  // would start inside the "model\n" header, so labels cannot be placed exactly.
  nlohmann::json doc = nlohmann::json::parse(gt::test::read_file(gt::test::tiny_gemma4_tokenizer_path()));
  auto& added = doc["added_tokens"];
  for (size_t i = added.size(); i-- > 0;)
    if (added[i]["content"] == "\n" || added[i]["content"] == "\n\n") added.erase(i);
  doc["model"]["vocab"]["\nh"] = 311;
  doc["model"]["merges"].insert(doc["model"]["merges"].begin(), nlohmann::json::array({"\n", "h"}));
  gt::test::TempDir dir("chat");
  gt::test::write_file(dir / "tokenizer.json", doc.dump());
  const auto tk = gt::tok::Tokenizer::from_file((dir / "tokenizer.json").string());
  const ChatFormat f(Family::Gemma4, tk);

  const auto bad = f.tokenize(f.render(std::vector<Turn>{{Role::User, "a"}, {Role::Model, "hi"}}));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error.kind, "label_boundary");
  EXPECT_NE(bad.error.reason.find("start of model turn 1"), std::string::npos) << bad.error.reason;
  // The same tokenizer places labels exactly when nothing crosses a boundary.
  const auto good = f.tokenize(f.render(std::vector<Turn>{{Role::User, "a"}, {Role::Model, "yo"}}));
  EXPECT_TRUE(good) << good.error.reason;
}

// ----- Gemma 4 markers in the real vocabulary: the real tokenizer with ids 105/106 renamed to <|turn>/<turn|>
// (the Gemma 4 tokenizer keeps the Gemma 3 vocabulary and puts its turn markers at those ids).

TEST(ChatFormatGemma4, RealVocabularyWithGemma4Markers) {
  nlohmann::json doc = nlohmann::json::parse(gt::test::read_file(gt::test::real_tokenizer_json()));
  const std::map<std::string, std::string> rename = {{"<start_of_turn>", "<|turn>"}, {"<end_of_turn>", "<turn|>"}};
  for (auto& t : doc["added_tokens"])
    if (auto it = rename.find(t["content"]); it != rename.end()) t["content"] = it->second;
  auto& vocab = doc["model"]["vocab"];
  for (const auto& [from, to] : rename) {
    if (!vocab.contains(from)) continue;
    vocab[to] = vocab[from];
    vocab.erase(from);
  }
  gt::test::TempDir dir("gemma4-real");
  gt::test::write_file(dir / "tokenizer.json", doc.dump());
  const auto tk = gt::tok::Tokenizer::from_file((dir / "tokenizer.json").string());
  const ChatFormat f(Family::Gemma4, tk);
  const std::vector<Turn> turns = {{Role::System, "Be brief."}, {Role::User, "What is 2+2?"}, {Role::Model, "4"}};
  const auto rendered = f.render(turns);
  EXPECT_EQ(rendered.text,
            "<bos><|turn>system\nBe brief.<turn|>\n<|turn>user\nWhat is 2+2?<turn|>\n<|turn>model\n4<turn|>\n");
  ExpectedTokens e;
  e.add({2, 105}, false).add(tk.encode("system"), false).add(107, false).add(tk.encode("Be brief."), false);
  e.add({106, 107, 105, 2364, 107}, false).add(tk.encode("What is 2+2?"), false);
  e.add({106, 107, 105, 4368, 107}, false).add(tk.encode("4"), true).add({106, 107}, true);
  const LabeledIds got = labeled(f, turns);
  EXPECT_EQ(got.input_ids, e.ids);
  EXPECT_EQ(got.labels, e.labels);
}
