// JSONL reading: one object per line, blank lines ignored, bad lines recorded with their line number.
#include <gtest/gtest.h>

#include "data/jsonl_reader.h"
#include "data/utf8_text.h"
#include "data_test_util.h"

using gt::data::JsonlFile;
using gt::data::parse_jsonl;

TEST(JsonlReader, ObjectsWithLineNumbers) {
  const JsonlFile f = parse_jsonl("\xEF\xBB\xBF{\"a\":1}\r\n\n   \n{\"b\":\"x\"}", "t.jsonl");
  ASSERT_EQ(f.rows.size(), 2u);
  EXPECT_TRUE(f.skipped.empty());
  EXPECT_EQ(f.rows[0].row, 1);
  EXPECT_EQ(f.rows[0].value.at("a"), 1);
  EXPECT_EQ(f.rows[1].row, 4);  // blank lines still count as lines
  EXPECT_EQ(f.rows[1].value.at("b"), "x");
}

TEST(JsonlReader, BadLinesAreSkippedWithTheParserMessage) {
  const JsonlFile f = parse_jsonl("{\"a\":1}\n{\"a\":\n[1,2]\n\"text\"\n{\"s\":\"\xff\"}\n{\"ok\":true}\n", "t.jsonl");
  ASSERT_EQ(f.rows.size(), 2u);
  EXPECT_EQ(f.rows[1].row, 6);
  ASSERT_EQ(f.skipped.size(), 4u);
  EXPECT_EQ(f.skipped[0].row, 2);
  EXPECT_EQ(f.skipped[0].kind, "bad_json");
  EXPECT_NE(f.skipped[0].reason.find("not valid JSON"), std::string::npos);
  EXPECT_NE(f.skipped[0].reason.find("parse error"), std::string::npos) << f.skipped[0].reason;
  EXPECT_EQ(f.skipped[1].row, 3);
  EXPECT_EQ(f.skipped[1].kind, "not_object");
  EXPECT_NE(f.skipped[1].reason.find("JSON array; expected an object"), std::string::npos);
  EXPECT_EQ(f.skipped[2].kind, "not_object");
  // Invalid UTF-8 inside a string: the parser refuses it, and the message stays valid UTF-8.
  EXPECT_EQ(f.skipped[3].row, 5);
  EXPECT_EQ(f.skipped[3].kind, "bad_json");
  EXPECT_EQ(gt::data::find_invalid_utf8(f.skipped[3].reason), std::string::npos) << "message is not valid UTF-8";
}

TEST(JsonlReader, MissingFileNamesIt) {
  gt::test::expect_input_error_with([] { gt::data::read_jsonl_file("/nonexistent/t.jsonl"); },
                                    {"/nonexistent/t.jsonl", "no such file"});
  gt::test::TempDir dir("jsonl");
  gt::test::expect_input_error_with([&] { gt::data::read_jsonl_file(dir.path().string()); }, {"is a folder"});
}

TEST(JsonlReader, ParseJsonlRecordAndRows) {
  std::string error, kind;
  const std::optional<nlohmann::json> v = gt::data::parse_jsonl_record(" {\"a\": [1]} ", &error, &kind);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(v->at("a")[0], 1);
  EXPECT_FALSE(gt::data::parse_jsonl_record("{\"a\":", &error, &kind));
  EXPECT_EQ(kind, "bad_json");
  EXPECT_EQ(error.rfind("not valid JSON: ", 0), 0u) << error;
  EXPECT_FALSE(gt::data::parse_jsonl_record("[1]", &error, &kind));
  EXPECT_EQ(kind, "not_object");
  EXPECT_EQ(error, "the line is a JSON array; expected an object");
  EXPECT_FALSE(gt::data::parse_jsonl_record("3", nullptr));

  gt::data::SplitRecord rec;
  rec.line = 12;
  rec.text = "{\"k\":\"v\"}";
  gt::data::SkippedRow skipped;
  const std::optional<gt::data::JsonlRow> row = gt::data::make_jsonl_row(rec, "s.jsonl", &skipped);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->row, 12);
  EXPECT_EQ(row->value.at("k"), "v");
  rec.text = "null";
  EXPECT_FALSE(gt::data::make_jsonl_row(rec, "s.jsonl", &skipped));
  EXPECT_EQ(skipped.file, "s.jsonl");
  EXPECT_EQ(skipped.row, 12);
  EXPECT_EQ(skipped.kind, "not_object");
  rec.text = "{\"k\":";
  rec.error = "line 12 is longer than max_record_bytes (4 bytes)";  // flagged by RecordSplitter
  rec.too_long = true;
  EXPECT_FALSE(gt::data::make_jsonl_row(rec, "s.jsonl", &skipped));
  EXPECT_EQ(skipped.kind, "bad_json");
  EXPECT_EQ(skipped.reason, rec.error);
}
