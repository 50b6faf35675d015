// Text datasets end to end: row kinds, every skip reason, files with no usable row, and the summary.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/strings.h"
#include "data/chat_format.h"
#include "data/text_dataset.h"
#include "data_test_util.h"

using gt::data::ChatFormat;
using gt::data::Role;
using gt::data::TextDataset;
using gt::data::TextDatasetOptions;
using gt::data::TextMode;
using gt::data::Turn;
using gt::io::Family;
using nlohmann::json;

namespace {

struct Loaded {
  gt::test::TempDir dir{"text-dataset"};
  TextDataset data;
};

std::unique_ptr<Loaded> load(const std::string& name, const std::string& content, TextDatasetOptions options = {},
                             Family family = Family::Gemma3n) {
  auto out = std::make_unique<Loaded>();
  gt::test::write_file(out->dir / name, content);
  const auto& tk = family == Family::Gemma3n ? gt::test::real_gemma3n_tokenizer() : gt::test::tiny_gemma4_tokenizer();
  out->data = gt::data::load_text_dataset((out->dir / name).string(), options, tk, family);
  return out;
}

std::string lines(std::initializer_list<json> rows) {
  std::string s;
  for (const json& r : rows) s += r.dump() + "\n";
  return s;
}

std::vector<int32_t> chat_ids(const std::vector<Turn>& turns, Family family = Family::Gemma3n) {
  const auto& tk = family == Family::Gemma3n ? gt::test::real_gemma3n_tokenizer() : gt::test::tiny_gemma4_tokenizer();
  const ChatFormat f(family, tk);
  return tk.encode(f.render(turns).text);
}

}  // namespace

TEST(DataTextDataset, InstructionRowKinds) {
  const auto l = load("train.jsonl",
                      lines({{{"prompt", "  What is 2+2?\n"}, {"response", " 4 "}},
                             {{"messages",
                               {{{"role", "system"}, {"content", "Be brief."}},
                                {{"role", "user"}, {"content", "Hi"}},
                                {{"role", "assistant"}, {"content", "Hello!"}},
                                {{"role", "user"}, {"content", "Bye"}},
                                {{"role", "model"}, {"content", "Goodbye."}}}}},
                             {{"messages",
                               {{{"role", "user"},
                                 {"content", {{{"type", "text"}, {"text", " Name a "}}, {{"type", "text"}, {"text", "color."}}}}},
                                {{"role", "assistant"}, {"content", {{{"type", "text"}, {"text", "Blue."}}}}}}}}}));
  const auto& ex = l->data.examples;
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_EQ(ex[0].source, "train.jsonl:1");
  EXPECT_EQ(ex[2].source, "train.jsonl:3");
  EXPECT_EQ(ex[0].input_ids, chat_ids({{Role::User, "What is 2+2?"}, {Role::Model, "4"}}));  // trimmed
  EXPECT_EQ(ex[1].input_ids, chat_ids({{Role::System, "Be brief."},
                                       {Role::User, "Hi"},
                                       {Role::Model, "Hello!"},
                                       {Role::User, "Bye"},
                                       {Role::Model, "Goodbye."}}));
  // Text parts are trimmed and joined with nothing between them, as Gemma's chat templates do.
  EXPECT_EQ(ex[2].input_ids, chat_ids({{Role::User, "Name acolor."}, {Role::Model, "Blue."}}));
  for (const auto& e : ex) {
    EXPECT_FALSE(e.truncated);
    EXPECT_EQ(e.labels.size(), e.input_ids.size());
  }
  const auto& s = l->data.summary;
  EXPECT_EQ(s.rows_read, 3);
  EXPECT_EQ(s.examples, 3);
  EXPECT_EQ(s.skipped, 0);
  EXPECT_EQ(s.total_tokens, int64_t(ex[0].input_ids.size() + ex[1].input_ids.size() + ex[2].input_ids.size()));
  EXPECT_EQ(s.supervised_tokens, ex[0].supervised_tokens() + ex[1].supervised_tokens() + ex[2].supervised_tokens());
}

TEST(DataTextDataset, FixedSystemPromptOnlyForRowsWithoutOne) {
  TextDatasetOptions o;
  o.system_prompt = " You are terse. ";
  const auto l = load("train.jsonl",
                      lines({{{"prompt", "Hi"}, {"response", "Yo"}},
                             {{"messages", {{{"role", "system"}, {"content", "Own."}},
                                            {{"role", "user"}, {"content", "Hi"}},
                                            {{"role", "model"}, {"content", "Yo"}}}}}}),
                      o, Family::Gemma4);
  ASSERT_EQ(l->data.examples.size(), 2u);
  EXPECT_EQ(l->data.examples[0].input_ids,
            chat_ids({{Role::System, "You are terse."}, {Role::User, "Hi"}, {Role::Model, "Yo"}}, Family::Gemma4));
  EXPECT_EQ(l->data.examples[1].input_ids,
            chat_ids({{Role::System, "Own."}, {Role::User, "Hi"}, {Role::Model, "Yo"}}, Family::Gemma4));
}

TEST(DataTextDataset, CustomColumnsInCsv) {
  TextDatasetOptions o;
  o.prompt_column = "question";
  o.response_column = "answer";
  const auto l = load("train.csv", "id,question,answer\n1,\"Why, then?\",Because.\n", o);
  ASSERT_EQ(l->data.examples.size(), 1u);
  EXPECT_EQ(l->data.examples[0].source, "train.csv:1");
  EXPECT_EQ(l->data.examples[0].input_ids, chat_ids({{Role::User, "Why, then?"}, {Role::Model, "Because."}}));
}

TEST(DataTextDataset, CompletionRowsTrainEveryToken) {
  TextDatasetOptions o;
  o.mode = TextMode::Completion;
  const auto& tk = gt::test::real_gemma3n_tokenizer();
  const auto l = load("train.csv", "id,text\n1,Once upon a time\n2,\"Two\nlines\"\n", o);
  ASSERT_EQ(l->data.examples.size(), 2u);
  std::vector<int32_t> want = {2};
  for (int32_t id : tk.encode("Once upon a time")) want.push_back(id);
  EXPECT_EQ(l->data.examples[0].input_ids, want);
  EXPECT_EQ(l->data.examples[0].labels, want);  // labels = input_ids; the loss never targets labels[0]
  EXPECT_EQ(l->data.examples[0].supervised_tokens(), int64_t(want.size()) - 1);
}

TEST(DataTextDataset, CompletionKeepsTheFirstTokensOfALongText) {
  TextDatasetOptions o;
  o.mode = TextMode::Completion;
  o.max_seq_len = 4;
  const auto l = load("train.jsonl", lines({{{"text", "one two three four five six"}}, {{"text", "hi"}}}), o);
  const auto& tk = gt::test::real_gemma3n_tokenizer();
  ASSERT_EQ(l->data.examples.size(), 2u);
  std::vector<int32_t> want = {2};
  for (int32_t id : tk.encode("one two three four five six")) want.push_back(id);
  want.resize(4);
  EXPECT_EQ(l->data.examples[0].input_ids, want);
  EXPECT_TRUE(l->data.examples[0].truncated);
  EXPECT_FALSE(l->data.examples[1].truncated);
  EXPECT_EQ(l->data.summary.truncated, 1);
}

TEST(DataTextDataset, PreTokenizedRows) {
  const auto l = load("train.jsonl", lines({{{"input_ids", {2, 10, 11, 12}}, {"labels", {-100, -100, 11, 12}}},
                                            {{"input_ids", {2, 20, 21}}}}));
  ASSERT_EQ(l->data.examples.size(), 2u);
  EXPECT_EQ(l->data.examples[0].input_ids, (std::vector<int32_t>{2, 10, 11, 12}));
  EXPECT_EQ(l->data.examples[0].labels, (std::vector<int32_t>{-100, -100, 11, 12}));
  EXPECT_EQ(l->data.examples[1].labels, (std::vector<int32_t>{2, 20, 21}));  // no labels: every id trained
  EXPECT_EQ(l->data.summary.supervised_tokens, 2 + 2);
}

TEST(DataTextSkips, EveryJsonlReason) {
  TextDatasetOptions o;
  o.max_seq_len = 64;
  const std::string content =
      lines({{{"prompt", "ok"}, {"response", "fine"}},                                           // 1 kept
             {{"prompt", "no answer"}},                                                         // 2
             {{"prompt", "q"}, {"response", "  \n "}},                                          // 3
             {{"prompt", " "}, {"response", "a"}},                                              // 4
             {{"prompt", 5}, {"response", "a"}}}) +                                             // 5
      "{\"prompt\": \"broken\n"                                                                 // 6
      "[1, 2]\n" +                                                                              // 7
      lines({{{"messages", {{{"role", "user"}, {"content", {{{"type", "audio"}, {"audio", "a.wav"}}}}},
                            {{"role", "model"}, {"content", "x"}}}}},                            // 8
             {{"messages", {{{"role", "user"}, {"content", {{{"type", "image"}, {"image", "a.png"}}}}},
                            {{"role", "model"}, {"content", "x"}}}}},                            // 9
             {{"messages", {{{"role", "model"}, {"content", "x"}}}}},                           // 10
             {{"messages", {{{"role", "user"}, {"content", "q"}}}}},                            // 11
             {{"messages", {{{"role", "tool"}, {"content", "q"}}}}},                            // 12
             {{"messages", {{{"role", "user"}, {"content", "q"}}, {{"role", "system"}, {"content", "s"}}}}},  // 13
             {{"text", "plain"}},                                                               // 14
             {{"input_ids", {1, 2, 3}}, {"labels", {1, 2}}},                                    // 15
             {{"input_ids", {1, 300000}}},                                                      // 16
             {{"input_ids", {1, 2}}, {"labels", {-100, 300000}}},                               // 17
             {{"input_ids", std::vector<int>(65, 7)}},                                          // 18
             {{"input_ids", {1, 2}}, {"labels", {-100, -100}}},                                 // 19
             {{"input_ids", {1, 2.5}}},                                                         // 20
             {{"question", "q"}}});                                                             // 21
  gt::test::TempDir logdir("skips");
  o.skipped_log = (logdir / "skipped.jsonl").string();
  const auto l = load("train.jsonl", content, o);
  ASSERT_EQ(l->data.examples.size(), 1u);
  const std::vector<std::pair<int64_t, std::string>> want = {
      {2, "missing_column"}, {3, "empty_answer"},  {4, "empty_prompt"},     {5, "wrong_type"},
      {6, "bad_json"},       {7, "not_object"},    {8, "media_part"},       {9, "media_part"},
      {10, "bad_conversation"}, {11, "bad_conversation"}, {12, "bad_conversation"}, {13, "bad_conversation"},
      {14, "wrong_mode"},    {15, "bad_tokens"},   {16, "bad_tokens"},      {17, "bad_tokens"},
      {18, "too_long"},      {19, "nothing_to_train"}, {20, "bad_tokens"},  {21, "missing_column"}};
  const auto& sk = l->data.skipped;
  ASSERT_EQ(sk.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(sk[i].row, want[i].first) << i;
    EXPECT_EQ(sk[i].kind, want[i].second) << "row " << sk[i].row << ": " << sk[i].reason;
    EXPECT_EQ(sk[i].file, (l->dir / "train.jsonl").string());
  }
  auto reason = [&](int64_t row) {
    for (const auto& s : sk)
      if (s.row == row) return s.reason;
    return std::string();
  };
  EXPECT_NE(reason(2).find("no \"response\" key"), std::string::npos) << reason(2);
  EXPECT_NE(reason(5).find("\"prompt\" is a number; expected a string"), std::string::npos) << reason(5);
  EXPECT_NE(reason(8).find("audio parts need --modality audio"), std::string::npos) << reason(8);
  EXPECT_NE(reason(9).find("image parts need --modality image"), std::string::npos) << reason(9);
  EXPECT_NE(reason(11).find("ends with a user turn"), std::string::npos) << reason(11);
  EXPECT_NE(reason(12).find("\"tool\""), std::string::npos) << reason(12);
  EXPECT_NE(reason(14).find("--mode completion"), std::string::npos) << reason(14);
  EXPECT_NE(reason(15).find("\"labels\" has 2 entries and \"input_ids\" 3"), std::string::npos) << reason(15);
  EXPECT_NE(reason(16).find("input_ids[1] is 300000; expected an id in [0, "), std::string::npos) << reason(16);
  EXPECT_NE(reason(17).find("labels[1] is 300000; expected -100 or an id"), std::string::npos) << reason(17);
  EXPECT_NE(reason(18).find("65 pre-tokenized ids, more than max_seq_len=64"), std::string::npos) << reason(18);
  EXPECT_NE(reason(21).find("keys found: \"question\""), std::string::npos) << reason(21);

  const auto& s = l->data.summary;
  EXPECT_EQ(s.rows_read, 21);
  EXPECT_EQ(s.skipped, 20);
  EXPECT_EQ(s.skipped_by_kind.at("bad_tokens"), 4);
  EXPECT_EQ(s.skipped_by_kind.at("bad_conversation"), 4);

  // The log holds the same rows, one JSON object each.
  const std::string log = gt::test::read_file(o.skipped_log);
  std::vector<json> logged;
  for (const std::string& line : gt::split(log, '\n'))
    if (!line.empty()) logged.push_back(json::parse(line));
  ASSERT_EQ(logged.size(), sk.size());
  EXPECT_EQ(logged[0]["row"], 2);
  EXPECT_EQ(logged[0]["kind"], "missing_column");
  EXPECT_EQ(logged[0]["file"], sk[0].file);
  EXPECT_EQ(logged[0]["reason"], sk[0].reason);
}

TEST(DataTextSkips, EveryCsvReason) {
  const std::string content =
      "prompt,response\n"
      "good,row\n"              // 1
      "\"open,quote\n"          // 2: never closed; reading resumes on the next line
      "a,b,c\n"                 // 3
      "q,\" \"\n"               // 4
      "bad \xC3\x28 bytes,x\n"  // 5: invalid UTF-8
      "also,fine\n";            // 6
  const auto l = load("train.csv", content);
  ASSERT_EQ(l->data.examples.size(), 2u);
  EXPECT_EQ(l->data.examples[1].source, "train.csv:6");
  const auto& sk = l->data.skipped;
  ASSERT_EQ(sk.size(), 4u);
  EXPECT_EQ(sk[0].row, 2);
  EXPECT_EQ(sk[0].kind, "csv_quote");
  EXPECT_EQ(sk[1].row, 3);
  EXPECT_EQ(sk[1].kind, "csv_field_count");
  EXPECT_EQ(sk[2].row, 4);
  EXPECT_EQ(sk[2].kind, "empty_answer");
  EXPECT_EQ(sk[3].row, 5);
  EXPECT_EQ(sk[3].kind, "invalid_utf8");
  EXPECT_NE(sk[3].reason.find("column \"prompt\" is not valid UTF-8 (byte 4"), std::string::npos) << sk[3].reason;
}

// Unicode white space says nothing either: answers and prompts of only such characters are empty; inner and
// ASCII-adjacent ones are kept as text.
TEST(DataTextSkips, UnicodeSpacesAloneAreEmpty) {
  const std::string nbsp = "\u00a0", ideographic = "\u3000", thin = "\u2009", zwsp = "\u200b", nnbsp = "\u202f";
  const std::string content =
      lines({{{"prompt", "q"}, {"response", nbsp + nbsp + nbsp}},             // 1 empty answer
             {{"prompt", ideographic + " \t" + thin}, {"response", "a"}},    // 2 empty prompt
             {{"prompt", "q"}, {"response", zwsp + nnbsp + "\u0085\u2028"}},  // 3 empty answer
             {{"messages", {{{"role", "user"}, {"content", "q"}},
                            {{"role", "assistant"}, {"content", nbsp}}}}},       // 4 empty answer
             {{"prompt", "q"}, {"response", nbsp + "caf\u00e9" + nbsp + "ok" + nbsp}}});  // 5 kept
  const auto l = load("train.jsonl", content);
  const auto& sk = l->data.skipped;
  ASSERT_EQ(sk.size(), 4u);
  EXPECT_EQ(sk[0].kind, "empty_answer");
  EXPECT_EQ(sk[1].kind, "empty_prompt");
  EXPECT_EQ(sk[2].kind, "empty_answer");
  EXPECT_EQ(sk[3].kind, "empty_answer");
  ASSERT_EQ(l->data.examples.size(), 1u);
  EXPECT_EQ(gt::trim_space(nbsp + "caf\u00e9" + nbsp + "ok" + nbsp), "caf\u00e9" + nbsp + "ok");
  EXPECT_EQ(gt::trim_space("\u2000x\u200a"), "x");
  EXPECT_EQ(gt::trim_space("\u2010"), "\u2010");  // a hyphen shares the lead bytes but is no space
}

TEST(DataTextSkips, CsvHeaderWithoutTheColumnsIsAnError) {
  gt::test::expect_input_error_with([] { load("train.csv", "id,question,answer\n1,q,a\n"); },
                                    {"train.csv", "no column \"prompt\"", "id, question, answer", "prompt_column"});
  TextDatasetOptions o;
  o.mode = TextMode::Completion;
  gt::test::expect_input_error_with([&] { load("train.csv", "id,body\n1,x\n", o); }, {"no column \"text\""});
}

TEST(DataTextSkips, FileWithNoUsableRowStopsWithCountsAndReasons) {
  gt::test::TempDir logdir("skips");
  TextDatasetOptions o;
  o.skipped_log = (logdir / "skipped.jsonl").string();
  gt::test::expect_input_error_with(
      [&] { load("train.jsonl", lines({{{"prompt", "a"}}, {{"prompt", "b"}, {"response", ""}}, {{"text", "c"}}}), o); },
      {"train.jsonl", "no usable row", "3 read, 3 skipped", "empty_answer 1", "missing_column 1", "wrong_mode 1",
       "row 1: no \"response\" key", "row 2:", "skipped.jsonl"});
  // Nothing found before the failure is lost.
  EXPECT_EQ(gt::split(gt::trim(gt::test::read_file(o.skipped_log)), '\n').size(), 3u);

  gt::test::expect_input_error_with([] { load("train.jsonl", "\n\n"); }, {"train.jsonl", "no rows"});
  gt::test::expect_input_error_with([] { load("train.csv", "prompt,response\n"); }, {"train.csv", "no rows"});
  gt::test::expect_input_error_with([] { load("train.txt", "x"); }, {"train.txt", "unknown dataset format"});
}

TEST(DataTextDataset, SummaryLine) {
  const auto l = load("train.jsonl", lines({{{"prompt", "a"}, {"response", "b"}}, {{"prompt", "a"}}}));
  const std::string d = l->data.summary.describe();
  EXPECT_NE(d.find("train.jsonl: 2 rows, 1 examples, 1 skipped (missing_column 1)"), std::string::npos) << d;
  EXPECT_NE(d.find(" supervised, longest "), std::string::npos) << d;
}

TEST(DataSkippedLog, AppendsAndReplacesInvalidUtf8) {
  gt::test::TempDir dir("log");
  const std::string path = (dir / "skipped.jsonl").string();
  const std::vector<gt::data::SkippedRow> a = {{"a.csv", 3, "empty_answer", "\"response\" is empty"}};
  const std::vector<gt::data::SkippedRow> b = {{"b.csv", 7, "invalid_utf8", "bad \xff byte"}};
  gt::data::append_skipped_rows(path, a);
  gt::data::append_skipped_rows(path, b);
  const auto rows = gt::split(gt::trim(gt::test::read_file(path)), '\n');
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(json::parse(rows[0]), json({{"file", "a.csv"}, {"row", 3}, {"kind", "empty_answer"},
                                        {"reason", "\"response\" is empty"}}));
  EXPECT_EQ(json::parse(rows[1])["reason"], "bad \xEF\xBF\xBD byte");
  gt::test::expect_input_error_with([&] { gt::data::append_skipped_rows((dir / "no/such/dir/x").string(), a); },
                                    {"no/such/dir/x"});
}
