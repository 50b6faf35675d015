// Unit tests of gt::tok::Tokenizer: BPE order on a hand-written tokenizer (tests/fixtures/tokenizer/tiny), byte
// fallback and decoding on the real Gemma tokenizer, id lookups, and the loading errors with their messages.
// Exactness against the reference implementation is in tokenizer_corpus_test.cpp.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/family_layout.h"
#include "tokenizer/tokenizer.h"

using gt::tok::Tokenizer;
using nlohmann::json;
using Ids = std::vector<int32_t>;

namespace {

std::string tiny_path() { return gt::test::fixture("tokenizer/tiny/tokenizer.json").string(); }
Tokenizer tiny() { return Tokenizer::from_file(tiny_path()); }
json tiny_json() { return json::parse(gt::test::read_file(tiny_path())); }

const Tokenizer& real() {
  static const Tokenizer tk = Tokenizer::from_file(gt::test::real_tokenizer_json().string());
  return tk;
}

// Runs `f`, expects a gt::InputError whose message contains every one of `parts`.
void expect_input_error(const std::function<void()>& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected gt::InputError, nothing was thrown";
  } catch (const gt::InputError& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

// Writes `doc` as tokenizer.json into `dir` and loads it, expecting an InputError mentioning `parts`.
void expect_load_error(const json& doc, std::initializer_list<std::string> parts) {
  gt::test::TempDir dir("tokenizer");
  const std::string path = (dir / "tokenizer.json").string();
  gt::test::write_file(path, doc.dump());
  std::vector<std::string> all(parts);
  all.push_back(path);  // every message names the file
  try {
    Tokenizer::from_file(path);
    ADD_FAILURE() << "expected gt::InputError, nothing was thrown";
  } catch (const gt::InputError& e) {
    const std::string msg = e.what();
    for (const std::string& p : all) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

int32_t id_of(const Tokenizer& tk, const std::string& token) { return tk.require_id(token); }

}  // namespace

// ----- BPE order and the pipeline, on the tiny tokenizer (ids in tests/fixtures/tokenizer/tiny/tokenizer.json)

TEST(TokenizerTiny, MergeEqualRanksLeftmostFirst) {
  const Tokenizer tk = tiny();
  EXPECT_EQ(tk.encode("aaa"), (Ids{14, 6}));  // a+a at 0 and 1 tie: the left one merges -> "aa", "a"
  EXPECT_EQ(tk.encode("aaaa"), (Ids{14, 14}));
  EXPECT_EQ(tk.encode("aaaaa"), (Ids{14, 14, 6}));
}

TEST(TokenizerTiny, LowerRankMergesFirst) {
  const Tokenizer tk = tiny();
  // b+c (rank 1) beats a+b (rank 2) although a+b is further left; "a"+"bc" then has no merge.
  EXPECT_EQ(tk.encode("abc"), (Ids{6, 15}));
  EXPECT_EQ(tk.encode("ab"), (Ids{16}));
}

TEST(TokenizerTiny, SpacesBecomeMetaspaceAndOneWord) {
  const Tokenizer tk = tiny();
  EXPECT_EQ(tk.encode("hello"), (Ids{20}));
  EXPECT_EQ(tk.encode(" hello"), (Ids{21}));
  EXPECT_EQ(tk.encode("hello hello"), (Ids{20, 21}));  // merges run across the "▁": one BPE word
  EXPECT_EQ(tk.encode("hello\xE2\x96\x81hello"), tk.encode("hello hello"));  // literal "▁" is the same symbol
  EXPECT_EQ(tk.encode(""), Ids{});
}

TEST(TokenizerTiny, LongWordsKeepTheSameOrder) {
  // Past a few dozen symbols the merge loop uses a heap instead of a linear scan; the order must not change.
  const Tokenizer tk = tiny();
  Ids want(50, 14);
  want.push_back(6);
  EXPECT_EQ(tk.encode(std::string(101, 'a')), want);
  Ids abc;
  std::string text;
  for (int i = 0; i < 40; ++i) {
    text += "abc";
    abc.insert(abc.end(), {6, 15});
  }
  EXPECT_EQ(tk.encode(text), abc);
}

TEST(TokenizerTiny, NoCutWhereAMergedTokenSpansTheSpace) {
  // Words are encoded in chunks cut before "▁", except where a merged token has a character right before a "▁"
  // (Gemma's ">▁</"). Here "o▁" merges first, so "hello hello" must stay one piece: hell + o▁ + hello.
  json doc = tiny_json();
  doc["model"]["vocab"]["o\xE2\x96\x81"] = 42;
  doc["model"]["merges"].insert(doc["model"]["merges"].begin(), json::array({"o", "\xE2\x96\x81"}));
  gt::test::TempDir dir("tokenizer");
  gt::test::write_file(dir / "tokenizer.json", doc.dump());
  const Tokenizer tk = Tokenizer::from_file((dir / "tokenizer.json").string());
  EXPECT_EQ(tk.encode("hello hello"), (Ids{19, 42, 20}));
  EXPECT_EQ(tk.encode("ab hello"), (Ids{16, 21}));  // no "o" before the space: cut, as without the merge
}

TEST(TokenizerTiny, ByteFallbackAndFusedUnk) {
  const Tokenizer tk = tiny();
  EXPECT_EQ(tk.encode("\xC3\xA9"), (Ids{23, 24}));      // é: not in the vocabulary -> <0xC3> <0xA9>
  EXPECT_EQ(tk.encode("\xE2\x82\xAC"), (Ids{25, 26, 27}));  // €
  EXPECT_EQ(tk.encode("a\xC3\xBC"), (Ids{6, 3}));       // ü: <0xBC> is missing -> <unk>
  EXPECT_EQ(tk.encode("\xC3\xBC\xC3\xBCz"), (Ids{3}));  // consecutive unknowns fuse into one <unk>
  EXPECT_EQ(tk.encode("\xC3\xBC" "a\xC3\xBC"), (Ids{3, 6, 3}));
}

TEST(TokenizerTiny, InvalidUtf8BytesFallBackOneByOne) {
  const Tokenizer tk = tiny();
  EXPECT_EQ(tk.encode("a\xFF" "b"), (Ids{6, 28, 7}));
  EXPECT_EQ(tk.encode("\xE2\x82"), (Ids{25, 26}));  // truncated sequence: each byte its own symbol
  EXPECT_EQ(tk.encode("\xC3"), (Ids{23}));
  EXPECT_EQ(tk.encode("\x80"), (Ids{3}));  // <0x80> is missing -> <unk>
}

TEST(TokenizerTiny, AddedTokensSplitFirstLongestMatch) {
  const Tokenizer tk = tiny();
  EXPECT_EQ(tk.encode("<bos>"), (Ids{2}));
  EXPECT_EQ(tk.encode("<bo"), (Ids{32}));
  EXPECT_EQ(tk.encode("<bos><bo<bos>"), (Ids{2, 32, 2}));  // "<bos>" is longer than "<bo" at the same place
  EXPECT_EQ(tk.encode("a <b> b"), (Ids{6, 9, 29, 9, 7}));   // plain added token: spaces stay around it
  EXPECT_EQ(tk.encode("hello<start_of_turn>hello"), (Ids{20, 4, 20}));
}

TEST(TokenizerTiny, LstripRstripSwallowWhitespace) {
  const Tokenizer tk = tiny();
  EXPECT_EQ(tk.encode("a  <strip>  b"), (Ids{6, 30, 7}));
  EXPECT_EQ(tk.encode("a\t\n<strip>\xE3\x80\x80" "b"), (Ids{6, 30, 7}));  // any Unicode White_Space (U+3000 too)
  EXPECT_EQ(tk.encode("<b> <strip>"), (Ids{29, 30}));  // reaches back to the previous match, not past it
  EXPECT_EQ(tk.encode("  <strip>"), (Ids{30}));
}

TEST(TokenizerTiny, NormalizedAddedTokenMatchesNormalizedText) {
  const Tokenizer tk = tiny();
  EXPECT_EQ(tk.encode("x y"), (Ids{31}));
  EXPECT_EQ(tk.encode("x\xE2\x96\x81y"), (Ids{31}));  // "x▁y" normalizes to the same text
  EXPECT_EQ(tk.encode("ax yb"), (Ids{6, 31, 7}));
}

TEST(TokenizerTiny, OlderStringMergesGiveTheSameIds) {
  json doc = tiny_json();
  json merges = json::array();
  for (const json& m : doc["model"]["merges"]) merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
  doc["model"]["merges"] = merges;
  gt::test::TempDir dir("tokenizer");
  gt::test::write_file(dir / "tokenizer.json", doc.dump());
  const Tokenizer old_form = Tokenizer::from_file((dir / "tokenizer.json").string());
  const Tokenizer tk = tiny();
  for (const char* s : {"aaa", "abc", "hello hello", " hello", "\xC3\xA9"}) EXPECT_EQ(old_form.encode(s), tk.encode(s)) << s;
}

TEST(TokenizerTiny, SplitPreTokenizerWithoutNormalizer) {
  // With no normalizer the Split pre-tokenizer does cut at spaces: "a  b" -> "a ", " ", "b" (MergedWithPrevious).
  json doc = tiny_json();
  doc["normalizer"] = nullptr;
  doc["model"]["vocab"][" "] = 40;
  doc["model"]["vocab"]["a "] = 41;
  doc["model"]["merges"].push_back({"a", " "});
  gt::test::TempDir dir("tokenizer");
  gt::test::write_file(dir / "tokenizer.json", doc.dump());
  const Tokenizer tk = Tokenizer::from_file((dir / "tokenizer.json").string());
  EXPECT_EQ(tk.encode("a  b"), (Ids{41, 40, 7}));
  EXPECT_EQ(tk.encode(" a"), (Ids{40, 6}));
  EXPECT_EQ(tk.encode("aa "), (Ids{14, 40}));  // "aa " is one word: a+a (rank 0) before a+" " (rank 8)
}

TEST(TokenizerTiny, DecodeJoinsAndReplaces) {
  const Tokenizer tk = tiny();
  EXPECT_EQ(tk.decode(Ids{20, 21}), "hello hello");
  EXPECT_EQ(tk.decode(Ids{2, 20, 5}), "<bos>hello<end_of_turn>");
  EXPECT_EQ(tk.decode(Ids{2, 20, 5}, /*skip_special=*/true), "hello");
  EXPECT_EQ(tk.decode(Ids{29, 30}, true), "<b><strip>");  // added but not special: kept
  EXPECT_EQ(tk.decode(Ids{}), "");
}

TEST(TokenizerTiny, LookupsAndSizes) {
  const Tokenizer tk = tiny();
  EXPECT_EQ(tk.vocab_size(), 33u);
  EXPECT_EQ(tk.find_id("hello"), 20);
  EXPECT_EQ(tk.find_id("<b>"), 29);
  EXPECT_EQ(tk.find_id("nope"), std::nullopt);
  EXPECT_EQ(tk.token(21), "\xE2\x96\x81hello");
  EXPECT_TRUE(tk.is_special(4));
  EXPECT_FALSE(tk.is_special(29));
  EXPECT_FALSE(tk.is_special(20));
  EXPECT_FALSE(tk.is_special(-1));
  EXPECT_EQ(tk.source_path(), tiny_path());
  // Ids 33 and above do not exist, and neither do gaps (none here) or negative ids.
  expect_input_error([&] { tk.token(33); }, {"token id 33", tiny_path()});
  expect_input_error([&] { tk.token(-1); }, {"token id -1"});
  expect_input_error([&] { tk.decode(Ids{20, 999}); }, {"token id 999", tiny_path()});
}

// ----- The real Gemma tokenizer

TEST(TokenizerReal, SpecialTokensByString) {
  const Tokenizer& tk = real();
  EXPECT_EQ(tk.vocab_size(), 262145u);
  EXPECT_EQ(tk.require_id("<start_of_turn>"), 105);
  EXPECT_EQ(tk.require_id("<end_of_turn>"), 106);
  EXPECT_EQ(tk.require_id("<bos>"), 2);
  EXPECT_EQ(tk.require_id("<eos>"), 1);
  EXPECT_EQ(tk.require_id("<pad>"), 0);
  EXPECT_EQ(tk.require_id("<image_soft_token>"), 262144);
  EXPECT_TRUE(tk.is_special(105));
  EXPECT_TRUE(tk.is_special(262144));
  EXPECT_FALSE(tk.is_special(tk.require_id("\n")));  // an added token, but not special
  EXPECT_EQ(tk.encode("<start_of_turn>user\n"), (Ids{105, tk.require_id("user"), tk.require_id("\n")}));
}

TEST(TokenizerReal, RequireIdNamesTheFile) {
  const Tokenizer& tk = real();
  EXPECT_EQ(tk.find_id("<no_such_token>"), std::nullopt);
  expect_input_error([&] { tk.require_id("<no_such_token>"); },
                     {"<no_such_token>", gt::test::real_tokenizer_json().string()});
}

TEST(TokenizerReal, ByteFallbackForUnknownCodePoints) {
  const Tokenizer& tk = real();
  ASSERT_EQ(tk.find_id("\xF4\x8F\xBF\xBF"), std::nullopt);  // U+10FFFF is not a token
  EXPECT_EQ(tk.encode("\xF4\x8F\xBF\xBF"),
            (Ids{id_of(tk, "<0xF4>"), id_of(tk, "<0x8F>"), id_of(tk, "<0xBF>"), id_of(tk, "<0xBF>")}));
  EXPECT_EQ(tk.decode(tk.encode("\xF4\x8F\xBF\xBF")), "\xF4\x8F\xBF\xBF");
  // Invalid UTF-8 in the input: each bad byte becomes its byte token.
  EXPECT_EQ(tk.encode("\xFF"), (Ids{id_of(tk, "<0xFF>")}));
  EXPECT_EQ(tk.encode("\xE2\x82"), (Ids{id_of(tk, "<0xE2>"), id_of(tk, "<0x82>")}));
  const Ids mixed = tk.encode("ok\xC0\xAF" "ok");  // C0 AF: an overlong "/", invalid
  EXPECT_NE(std::find(mixed.begin(), mixed.end(), id_of(tk, "<0xC0>")), mixed.end());
  EXPECT_NE(std::find(mixed.begin(), mixed.end(), id_of(tk, "<0xAF>")), mixed.end());
}

TEST(TokenizerReal, DecodeByteRuns) {
  const Tokenizer& tk = real();
  const int32_t e2 = id_of(tk, "<0xE2>"), x82 = id_of(tk, "<0x82>"), xac = id_of(tk, "<0xAC>");
  const int32_t x41 = id_of(tk, "<0x41>"), xff = id_of(tk, "<0xFF>"), hello = id_of(tk, "Hello");
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(tk.decode(Ids{e2, x82, xac}), "\xE2\x82\xAC");          // a complete run decodes as UTF-8
  EXPECT_EQ(tk.decode(Ids{e2, x82}), fffd + fffd);                  // a truncated run: U+FFFD per byte
  EXPECT_EQ(tk.decode(Ids{x41, xff}), fffd + fffd);                 // the whole invalid run, even its valid "A"
  EXPECT_EQ(tk.decode(Ids{x41, hello, xff}), "AHello" + fffd);      // runs end at other tokens
  EXPECT_EQ(tk.decode(Ids{e2, x82, hello, xac}), fffd + fffd + "Hello" + fffd);
}

TEST(TokenizerReal, DecodeSpacesAndSkipSpecial) {
  const Tokenizer& tk = real();
  const std::string text = "<start_of_turn>user\nHello  world,\tfriend!<end_of_turn>\n";
  const Ids ids = tk.encode(text);
  EXPECT_EQ(tk.decode(ids), text);
  EXPECT_EQ(tk.decode(ids, /*skip_special=*/true), "user\nHello  world,\tfriend!\n");
  Ids with_bos = {tk.require_id("<bos>")};
  with_bos.insert(with_bos.end(), ids.begin(), ids.end());
  EXPECT_EQ(tk.decode(with_bos, true), "user\nHello  world,\tfriend!\n");
  // "▁" is the space symbol: it decodes to " ", so text holding "▁" does not round-trip.
  EXPECT_EQ(tk.decode(tk.encode("a\xE2\x96\x81" "b")), "a b");
}

// ----- Loading errors

TEST(TokenizerLoad, MissingFile) {
  expect_input_error([] { Tokenizer::from_file("/nonexistent/dir/tokenizer.json"); },
                     {"/nonexistent/dir/tokenizer.json", "cannot open"});
  expect_input_error([] { Tokenizer::from_model_dir("/nonexistent/model"); }, {"/nonexistent/model", "tokenizer.json"});
}

TEST(TokenizerLoad, FromModelDir) {
  const Tokenizer tk = Tokenizer::from_model_dir(gt::test::fixture("tokenizer/tiny").string());
  EXPECT_EQ(tk.encode("hello"), (Ids{20}));
}

TEST(TokenizerLoad, InvalidJson) {
  gt::test::TempDir dir("tokenizer");
  const std::string path = (dir / "tokenizer.json").string();
  std::string text = gt::test::read_file(tiny_path());
  gt::test::write_file(path, text.substr(0, text.size() / 2));
  expect_input_error([&] { Tokenizer::from_file(path); }, {path, "not valid JSON"});
  gt::test::write_file(path, "[1, 2]");
  expect_input_error([&] { Tokenizer::from_file(path); }, {path, "expected a JSON object"});
}

TEST(TokenizerLoad, UnsupportedModel) {
  json doc = tiny_json();
  doc["model"]["type"] = "Unigram";
  expect_load_error(doc, {"model.type", "\"Unigram\"", "expected \"BPE\""});
  doc = tiny_json();
  doc["model"]["dropout"] = 0.1;
  expect_load_error(doc, {"model.dropout"});
  doc = tiny_json();
  doc.erase("model");
  expect_load_error(doc, {"model", "missing"});
  doc = tiny_json();
  doc["model"]["vocab"] = json::array({json::array({"a", 0.0})});
  expect_load_error(doc, {"model.vocab", "expected an object"});
}

TEST(TokenizerLoad, UnsupportedNormalizer) {
  json doc = tiny_json();
  doc["normalizer"] = {{"type", "NFKC"}};
  expect_load_error(doc, {"normalizer", "\"NFKC\"", "not supported"});
  doc["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "Prepend"}, {"prepend", "_"}}}}};
  expect_load_error(doc, {"normalizer.normalizers[0]", "\"Prepend\""});
  doc["normalizer"] = {{"type", "Replace"}, {"pattern", {{"Regex", " +"}}}, {"content", "_"}};
  expect_load_error(doc, {"normalizer.pattern", "Regex"});
}

TEST(TokenizerLoad, UnsupportedPreTokenizerAndDecoder) {
  json doc = tiny_json();
  doc["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "first"}};
  expect_load_error(doc, {"pre_tokenizer", "\"Metaspace\"", "not supported"});
  doc["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}};
  expect_load_error(doc, {"pre_tokenizer", "\"ByteLevel\""});
  doc["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Isolated"}};
  expect_load_error(doc, {"pre_tokenizer.behavior", "\"Isolated\""});
  doc = tiny_json();
  doc["decoder"]["decoders"].push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
  expect_load_error(doc, {"decoder.decoders[3]", "\"Strip\""});
  doc = tiny_json();
  doc["post_processor"] = {{"type", "ByteLevel"}};
  expect_load_error(doc, {"post_processor", "\"ByteLevel\""});
}

TEST(TokenizerLoad, BadVocabMergesAndAddedTokens) {
  json doc = tiny_json();
  doc["model"]["merges"].push_back({"h", "zz"});
  expect_load_error(doc, {"model.merges[8]", "\"zz\"", "not in model.vocab"});
  doc = tiny_json();
  doc["model"]["merges"].push_back({"o", "h"});
  expect_load_error(doc, {"model.merges[8]", "merged token \"oh\""});
  doc = tiny_json();
  doc["model"]["merges"].push_back({"h"});
  expect_load_error(doc, {"model.merges[8]", "pair"});
  doc = tiny_json();
  doc["model"]["merges"].push_back("a b c");
  expect_load_error(doc, {"model.merges[8]", "exactly one space"});
  doc = tiny_json();
  doc["model"]["vocab"]["zz"] = 6;
  expect_load_error(doc, {"model.vocab", "id 6"});
  doc = tiny_json();
  doc["model"]["vocab"]["zz"] = "6";
  expect_load_error(doc, {"model.vocab", "\"zz\"", "must be an integer"});
  doc = tiny_json();
  doc["model"]["unk_token"] = "<missing>";
  expect_load_error(doc, {"model.unk_token", "<missing>"});
  doc = tiny_json();
  doc["added_tokens"][6]["single_word"] = true;
  expect_load_error(doc, {"added_tokens[6]", "<b>", "single_word"});
  doc = tiny_json();
  doc["added_tokens"][4]["id"] = 7;  // <start_of_turn> is model token 4
  expect_load_error(doc, {"added_tokens[4]", "<start_of_turn>", "expected 4", "found 7"});
  doc = tiny_json();
  doc["added_tokens"][6]["id"] = 20;  // a new token on an id that "hello" has
  expect_load_error(doc, {"added_tokens[6]", "already belongs to \"hello\""});
}

// init-random --tokenizer takes a tokenizer already in the family's layout (a real Gemma 4 tokenizer.json, with
// <|turn> at id 105) as well as the Gemma 3 one: the family layout of a family-layout tokenizer is itself.
TEST(FamilyLayout, ATokenizerAlreadyInTheLayoutComesOutUnchanged) {
  gt::test::TempDir dir("family-layout");
  for (const char* family : {"gemma4", "gemma3n"}) {
    const std::string once = (dir / (std::string(family) + "-1.json")).string();
    const std::string twice = (dir / (std::string(family) + "-2.json")).string();
    gt::tok::write_family_tokenizer(gt::test::real_tokenizer_json().string(), once, family);
    EXPECT_NO_THROW(gt::tok::write_family_tokenizer(once, twice, family)) << family;
    const auto a = gt::tok::Tokenizer::from_file(once), b = gt::tok::Tokenizer::from_file(twice);
    EXPECT_EQ(a.vocab_size(), b.vocab_size()) << family;
    for (const char* t : {"<|turn>", "<turn|>", "<|image|>", "<start_of_turn>", "<image_soft_token>", "<audio_soft_token>"})
      EXPECT_EQ(a.find_id(t), b.find_id(t)) << family << " " << t;
    EXPECT_EQ(a.encode("<|turn>user\nhello<turn|>"), b.encode("<|turn>user\nhello<turn|>")) << family;
  }
}
