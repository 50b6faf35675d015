// `gemma-tune tokenize` end to end through the binary: encode, --bos, --decode, --skip-special, and a bad line.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"
#include "tokenizer/tokenizer.h"

using gt::tok::Tokenizer;
using Ids = std::vector<int32_t>;

namespace {

std::string real_dir() { return gt::test::real_tokenizer_json().parent_path().string(); }

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

}  // namespace

TEST(TokenizeCli, EncodesJsonLines) {
  const Tokenizer tk = Tokenizer::from_file(gt::test::real_tokenizer_json().string());
  const std::string a = "Hello world", b = "<start_of_turn>user\nWie geht's? 日本語  ok";
  const std::string in = nlohmann::json{{"text", a}}.dump() + "\n" + nlohmann::json{{"text", b}}.dump() + "\n";
  const auto r = gt::test::run_cli("tokenize --model '" + real_dir() + "'", in);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 2u) << r.out;
  EXPECT_EQ(nlohmann::json::parse(out[0]).get<Ids>(), tk.encode(a));
  EXPECT_EQ(nlohmann::json::parse(out[1]).get<Ids>(), tk.encode(b));
}

TEST(TokenizeCli, BosPrependsTheBosId) {
  const auto r = gt::test::run_cli("tokenize --model '" + real_dir() + "' --bos", "{\"text\": \"Hello\"}\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out).get<Ids>(), (Ids{2, 9259}));
}

TEST(TokenizeCli, DecodesIdArrays) {
  const auto r = gt::test::run_cli("tokenize --model '" + real_dir() + "' --decode",
                                   "[9259, 1902]\n[105, 2364, 107, 9259, 106]\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 2u) << r.out;
  EXPECT_EQ(nlohmann::json::parse(out[0]).at("text"), "Hello world");
  EXPECT_EQ(nlohmann::json::parse(out[1]).at("text"), "<start_of_turn>user\nHello<end_of_turn>");
  const auto s = gt::test::run_cli("tokenize --model '" + real_dir() + "' --decode --skip-special",
                                   "[105, 2364, 107, 9259, 106]\n");
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(nlohmann::json::parse(s.out).at("text"), "user\nHello");
}

TEST(TokenizeCli, BadLinePrintsNullAndFails) {
  const std::string tiny = gt::test::fixture("tokenizer/tiny/tokenizer.json").string();
  const auto r = gt::test::run_cli("tokenize --tokenizer '" + tiny + "'",
                                   "{\"text\": \"hello\"}\nnot json\n{\"text\": \"aaa\"}\n{\"txt\": 1}\n");
  EXPECT_EQ(r.exit_code, 1);
  const auto out = lines_of(r.out);
  ASSERT_EQ(out.size(), 4u) << r.out;
  EXPECT_EQ(out[0], "[20]");
  EXPECT_EQ(out[1], "null");
  EXPECT_EQ(out[2], "[14,6]");
  EXPECT_EQ(out[3], "null");
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not valid JSON"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("line 4"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("2 of 4 lines"), std::string::npos) << r.err;
}

TEST(TokenizeCli, DecodeOfUnknownIdIsABadLine) {
  const std::string tiny = gt::test::fixture("tokenizer/tiny/tokenizer.json").string();
  const auto r = gt::test::run_cli("tokenize --tokenizer '" + tiny + "' --decode", "[20, 500]\n[20]\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "null\n{\"text\":\"hello\"}\n");
  EXPECT_NE(r.err.find("token id 500"), std::string::npos) << r.err;
}

TEST(TokenizeCli, MissingTokenizerIsAnError) {
  gt::test::TempDir dir("tokenize-cli");
  const auto r = gt::test::run_cli("tokenize --model '" + dir.path().string() + "'", "{\"text\": \"a\"}\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("tokenizer.json"), std::string::npos) << r.err;
}
