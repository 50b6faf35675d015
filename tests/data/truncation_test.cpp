// Fitting over-long conversations into max_seq_len: the first prompt loses its start first, then the last answer
// loses its end; cuts fall between UTF-8 characters; rows that cannot fit are skipped.
// Uses the tiny Gemma 4 tokenizer, where letters a-g are one token each (no merges among them), so the expected
// cut points can be counted: a single exchange costs 11 tokens besides prompt and answer
// (<bos> <|turn> user \n ... <turn|> \n <|turn> model \n ... <turn|> \n).
#include <gtest/gtest.h>

#include "data/chat_format.h"
#include "data/example_builder.h"
#include "data_test_util.h"

using gt::data::build_chat_example;
using gt::data::ChatFormat;
using gt::data::Example;
using gt::data::Role;
using gt::data::Turn;
using gt::io::Family;

namespace {

const ChatFormat& tiny() {
  static const ChatFormat f(Family::Gemma4, gt::test::tiny_gemma4_tokenizer());
  return f;
}

std::string decoded(const Example& e) { return gt::test::tiny_gemma4_tokenizer().decode(e.input_ids); }

std::string exchange(const std::string& prompt, const std::string& answer) {
  return "<bos><|turn>user\n" + prompt + "<turn|>\n<|turn>model\n" + answer + "<turn|>\n";
}

}  // namespace

TEST(DataTruncation, FitsUntouched) {
  auto r = build_chat_example(tiny(), {{Role::User, "abc"}, {Role::Model, "de"}}, 16);
  ASSERT_TRUE(r) << r.error.reason;
  EXPECT_FALSE(r.value->truncated);
  EXPECT_EQ(r.value->input_ids.size(), 16u);
}

TEST(DataTruncation, PromptLosesItsStartFirst) {
  auto r = build_chat_example(tiny(), {{Role::User, "abcdefgabcdefg"}, {Role::Model, "de"}}, 19);
  ASSERT_TRUE(r) << r.error.reason;
  EXPECT_TRUE(r.value->truncated);
  EXPECT_EQ(decoded(*r.value), exchange("bcdefg", "de"));  // 11 + 6 + 2 = 19
  EXPECT_EQ(r.value->input_ids.size(), 19u);
  EXPECT_EQ(r.value->supervised_tokens(), 4);  // d e <turn|> \n
}

TEST(DataTruncation, CutsFallBetweenCharacters) {
  // "é" is two bytes, so two byte-fallback tokens here: room for 5 prompt tokens keeps 2 characters, not 2.5.
  auto r = build_chat_example(tiny(), {{Role::User, "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"}, {Role::Model, "d"}}, 17);
  ASSERT_TRUE(r) << r.error.reason;
  EXPECT_EQ(decoded(*r.value), exchange("\xC3\xA9\xC3\xA9", "d"));
}

TEST(DataTruncation, LeftoverWhitespaceIsTrimmed) {
  auto r = build_chat_example(tiny(), {{Role::User, "abcdefg abc"}, {Role::Model, "d"}}, 15);
  ASSERT_TRUE(r) << r.error.reason;
  EXPECT_EQ(decoded(*r.value), exchange("abc", "d"));
}

TEST(DataTruncation, ThenTheAnswerLosesItsEnd) {
  auto r = build_chat_example(tiny(), {{Role::User, "abcdefg"}, {Role::Model, "abcdefg"}}, 14);
  ASSERT_TRUE(r) << r.error.reason;
  EXPECT_TRUE(r.value->truncated);
  EXPECT_EQ(decoded(*r.value), exchange("", "abc"));
  EXPECT_EQ(r.value->supervised_tokens(), 5);  // a b c <turn|> \n
}

TEST(DataTruncation, SystemIsKeptAndLastAnswerIsTheOneCut) {
  // system turn: <|turn> system \n s <turn|> \n = 6 tokens; the first answer and second prompt stay whole.
  const std::vector<Turn> turns = {{Role::System, "s"},   {Role::User, "abcdefg"}, {Role::Model, "ab"},
                                   {Role::User, "cd"},   {Role::Model, "abcdefg"}};
  // Whole: 1 + 6 + (3+7+2) + (3+2+2) + (3+2+2) + (3+7+2) = 45.
  auto r = build_chat_example(tiny(), turns, 34);
  ASSERT_TRUE(r) << r.error.reason;
  EXPECT_EQ(decoded(*r.value), "<bos><|turn>system\ns<turn|>\n<|turn>user\n<turn|>\n<|turn>model\nab<turn|>\n"
                               "<|turn>user\ncd<turn|>\n<|turn>model\nabc<turn|>\n");
  EXPECT_EQ(r.value->input_ids.size(), 34u);
}

TEST(DataTruncation, RowThatCannotFitIsSkipped) {
  auto r = build_chat_example(tiny(), {{Role::User, "abc"}, {Role::Model, "abc"}}, 11);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error.kind, "too_long");
  EXPECT_NE(r.error.reason.find("needs 17 tokens, more than max_seq_len=11"), std::string::npos) << r.error.reason;
  EXPECT_NE(r.error.reason.find("still needs 12"), std::string::npos) << r.error.reason;
}

TEST(DataTruncation, RealTokenizerKeepsTheEndOfThePrompt) {
  const auto& tk = gt::test::real_gemma3n_tokenizer();
  const ChatFormat f(Family::Gemma3n, tk);
  std::string prompt;
  for (int i = 0; i < 200; ++i) prompt += "Sentence number " + std::to_string(i) + " says something. ";
  prompt += "Final question: what is the answer?";
  const std::vector<Turn> turns = {{Role::System, "Answer briefly."}, {Role::User, prompt}, {Role::Model, "42."}};
  auto r = build_chat_example(f, turns, 64);
  ASSERT_TRUE(r) << r.error.reason;
  EXPECT_TRUE(r.value->truncated);
  EXPECT_LE(r.value->input_ids.size(), 64u);
  EXPECT_GE(r.value->input_ids.size(), 60u);  // the binary search keeps (nearly) all the room it can
  const std::string text = tk.decode(r.value->input_ids);
  EXPECT_EQ(text.rfind("<bos><start_of_turn>user\nAnswer briefly.\n\n", 0), 0u) << text;
  EXPECT_NE(text.find("Final question: what is the answer?<end_of_turn>\n<start_of_turn>model\n42.<end_of_turn>\n"),
            std::string::npos)
      << text;
  // Labels still cover exactly the answer, its end marker and newline.
  EXPECT_EQ(r.value->supervised_tokens(), int64_t(tk.encode("42.").size()) + 2);
}
