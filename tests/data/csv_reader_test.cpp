// CSV reading: RFC 4180 quoting, line endings, BOM, and malformed rows recorded instead of thrown.
#include <gtest/gtest.h>

#include "data/csv_reader.h"
#include "data_test_util.h"

using gt::data::CsvFile;
using gt::data::parse_csv;

namespace {

std::string value(const CsvFile& f, size_t i, const std::string& column) { return f.rows.at(i).fields.at(column); }

}  // namespace

TEST(CsvReader, PlainRowsWithHeader) {
  const CsvFile f = parse_csv("id,prompt,response\n1,hi,hello\n2,a,b\n", "t.csv");
  EXPECT_EQ(f.header, (std::vector<std::string>{"id", "prompt", "response"}));
  ASSERT_EQ(f.rows.size(), 2u);
  EXPECT_TRUE(f.skipped.empty());
  EXPECT_EQ(f.rows[0].row, 1);
  EXPECT_EQ(f.rows[0].line, 2);
  EXPECT_EQ(value(f, 0, "prompt"), "hi");
  EXPECT_EQ(value(f, 1, "response"), "b");
  EXPECT_EQ(f.rows[1].row, 2);
}

TEST(CsvReader, QuotedFieldsWithCommasNewlinesAndDoubledQuotes) {
  const CsvFile f = parse_csv(
      "prompt,response\n"
      "\"a, b\",\"line one\nline two\"\n"
      "\"say \"\"hi\"\"\",\"\"\"\"\n"
      "\"\",plain\n",
      "t.csv");
  ASSERT_EQ(f.rows.size(), 3u) << (f.skipped.empty() ? "" : f.skipped[0].reason);
  EXPECT_EQ(value(f, 0, "prompt"), "a, b");
  EXPECT_EQ(value(f, 0, "response"), "line one\nline two");
  EXPECT_EQ(value(f, 1, "prompt"), "say \"hi\"");
  EXPECT_EQ(value(f, 1, "response"), "\"");
  EXPECT_EQ(value(f, 2, "prompt"), "");
  // Row numbers count records; line numbers count lines (the first record spans lines 2-3).
  EXPECT_EQ(f.rows[1].row, 2);
  EXPECT_EQ(f.rows[1].line, 4);
  EXPECT_EQ(f.rows[2].line, 5);
}

TEST(CsvReader, CrlfBomAndMissingFinalNewline) {
  const CsvFile f = parse_csv("\xEF\xBB\xBFprompt,response\r\n\"x\r\ny\",z\r\nlast,row", "t.csv");
  EXPECT_EQ(f.header[0], "prompt");  // the BOM is not part of the first name
  ASSERT_EQ(f.rows.size(), 2u);
  EXPECT_EQ(value(f, 0, "prompt"), "x\r\ny");  // inside quotes a line break is kept exactly
  EXPECT_EQ(value(f, 0, "response"), "z");
  EXPECT_EQ(value(f, 1, "prompt"), "last");
  EXPECT_EQ(value(f, 1, "response"), "row");
}

TEST(CsvReader, FinalCarriageReturnAndBlankLines) {
  const CsvFile f = parse_csv("\n a , b \n\n1,2\n\n3,4\r", "t.csv");
  EXPECT_EQ(f.header, (std::vector<std::string>{"a", "b"}));  // header names are trimmed
  ASSERT_EQ(f.rows.size(), 2u);
  EXPECT_EQ(value(f, 0, "a"), "1");
  EXPECT_EQ(value(f, 1, "b"), "4");
  EXPECT_EQ(f.rows[1].row, 2);  // blank lines are not rows
}

TEST(CsvReader, QuoteInsideUnquotedFieldIsKept) {
  const CsvFile f = parse_csv("a,b\nsay \"x\",2\n", "t.csv");
  ASSERT_EQ(f.rows.size(), 1u);
  EXPECT_EQ(value(f, 0, "a"), "say \"x\"");
}

TEST(CsvReader, WrongFieldCountIsSkipped) {
  const CsvFile f = parse_csv("a,b\n1,2\n1,2,3\n4\n5,6\n", "t.csv");
  ASSERT_EQ(f.rows.size(), 2u);
  ASSERT_EQ(f.skipped.size(), 2u);
  EXPECT_EQ(f.skipped[0].file, "t.csv");
  EXPECT_EQ(f.skipped[0].row, 2);
  EXPECT_EQ(f.skipped[0].kind, "csv_field_count");
  EXPECT_NE(f.skipped[0].reason.find("has 3 fields; expected 2 (a,b)"), std::string::npos) << f.skipped[0].reason;
  EXPECT_EQ(f.skipped[1].row, 3);
  EXPECT_NE(f.skipped[1].reason.find("has 1 fields"), std::string::npos);
  EXPECT_EQ(f.rows[1].row, 4);
  EXPECT_EQ(value(f, 1, "b"), "6");
}

TEST(CsvReader, UnterminatedQuoteCostsOneRow) {
  // The quote opened on line 4 is never closed; reading resumes on line 5.
  const CsvFile f = parse_csv("a,b\n1,\"multi\nline\"\n2,\"broken\n3,fine\n", "t.csv");
  ASSERT_EQ(f.skipped.size(), 1u);
  EXPECT_EQ(f.skipped[0].row, 2);
  EXPECT_EQ(f.skipped[0].kind, "csv_quote");
  EXPECT_NE(f.skipped[0].reason.find("opened on line 4 is never closed"), std::string::npos) << f.skipped[0].reason;
  ASSERT_EQ(f.rows.size(), 2u);
  EXPECT_EQ(value(f, 0, "b"), "multi\nline");
  EXPECT_EQ(f.rows[1].row, 3);
  EXPECT_EQ(f.rows[1].line, 5);
  EXPECT_EQ(value(f, 1, "a"), "3");
  EXPECT_EQ(value(f, 1, "b"), "fine");
}

TEST(CsvReader, QuoteClosedOnALaterRowCostsOneRow) {
  // A stray opening quote pairs with the next row's quote; the text after it shows the mistake, and reading
  // resumes on the line after the broken row's first line.
  const CsvFile f = parse_csv("a,b\n1,\"broken\n2,\"x\"\n", "t.csv");
  ASSERT_EQ(f.skipped.size(), 1u);
  EXPECT_EQ(f.skipped[0].row, 1);
  EXPECT_EQ(f.skipped[0].kind, "csv_quote");
  ASSERT_EQ(f.rows.size(), 1u);
  EXPECT_EQ(value(f, 0, "b"), "x");
}

TEST(CsvReader, TextAfterClosingQuoteIsSkipped) {
  const CsvFile f = parse_csv("a,b\n\"ab\"c,1\n2,3\n", "t.csv");
  ASSERT_EQ(f.skipped.size(), 1u);
  EXPECT_EQ(f.skipped[0].kind, "csv_quote");
  EXPECT_NE(f.skipped[0].reason.find("text after the closing quote"), std::string::npos);
  ASSERT_EQ(f.rows.size(), 1u);
  EXPECT_EQ(value(f, 0, "a"), "2");
}

TEST(CsvReader, FileErrors) {
  gt::test::expect_input_error_with([] { parse_csv("", "empty.csv"); }, {"empty.csv", "no header row"});
  gt::test::expect_input_error_with([] { parse_csv("\xEF\xBB\xBF\n\n", "blank.csv"); }, {"blank.csv", "no header"});
  gt::test::expect_input_error_with([] { parse_csv("a,\"b\n1,2\n", "h.csv"); }, {"h.csv", "header row is malformed"});
  gt::test::expect_input_error_with([] { parse_csv("a,b,a\n1,2,3\n", "d.csv"); }, {"d.csv", "\"a\" twice"});
  gt::test::expect_input_error_with([] { gt::data::read_csv_file("/nonexistent/x.csv"); },
                                    {"/nonexistent/x.csv", "no such file"});
}

TEST(CsvReader, ReadsAFile) {
  gt::test::TempDir dir("csv");
  gt::test::write_file(dir / "t.csv", "prompt,response\nq,a\n");
  const CsvFile f = gt::data::read_csv_file((dir / "t.csv").string());
  EXPECT_EQ(f.path, (dir / "t.csv").string());
  ASSERT_EQ(f.rows.size(), 1u);
  EXPECT_EQ(value(f, 0, "response"), "a");
}

TEST(CsvReader, ParseCsvRecordSplitsOneRecord) {
  using Fields = std::vector<std::string>;
  using gt::data::parse_csv_record;
  std::string error;
  EXPECT_EQ(parse_csv_record("a,\"b,c\",\"say \"\"hi\"\"\",", &error), (Fields{"a", "b,c", "say \"hi\"", ""}));
  // Line breaks are kept inside quotes; a CR outside quotes is an ordinary character.
  EXPECT_EQ(parse_csv_record("\"line\r\nbreak\",x\r", &error), (Fields{"line\r\nbreak", "x\r"}));
  EXPECT_EQ(parse_csv_record("say \"x\",", &error), (Fields{"say \"x\"", ""}));
  EXPECT_EQ(parse_csv_record("", &error), (Fields{""}));
  EXPECT_FALSE(parse_csv_record("a,\"open", &error));
  EXPECT_EQ(error, "a quoted field is never closed");
  EXPECT_FALSE(parse_csv_record("\"ab\"c,1", &error));
  EXPECT_NE(error.find("text after a closing quote (\"c,1\")"), std::string::npos) << error;
  EXPECT_FALSE(parse_csv_record("\"ab\"\r", &error));  // RecordSplitter strips a CRLF's CR; a CR left is text
  EXPECT_FALSE(parse_csv_record("1,2\n3,4", nullptr));
  EXPECT_FALSE(parse_csv_record("1,2\n", &error));
  EXPECT_NE(error.find("line break outside quotes"), std::string::npos) << error;
}

TEST(CsvReader, HeaderAndRowsFromSplitRecords) {
  // What a shard reader does with RecordSplitter's records: the first is the header, each later one a row.
  using gt::data::SplitRecord;
  SplitRecord header;
  header.text = " a ,b";
  EXPECT_EQ(gt::data::parse_csv_header(header, "s.csv"), (std::vector<std::string>{"a", "b"}));
  header.error = "quoted field opened on line 1 is never closed";
  gt::test::expect_input_error_with([&] { gt::data::parse_csv_header(header, "s.csv"); },
                                    {"s.csv", "header row is malformed", "line 1 is never closed"});
  header.error.clear();
  header.text = "a,\"a\"";
  gt::test::expect_input_error_with([&] { gt::data::parse_csv_header(header, "s.csv"); }, {"s.csv", "\"a\" twice"});

  const std::vector<std::string> columns{"a", "b"};
  SplitRecord rec;
  rec.text = "1,\"x\ny\"";
  rec.line = 7;
  gt::data::SkippedRow skipped;
  const std::optional<gt::data::CsvRow> row = gt::data::make_csv_row(columns, rec, 3, "s.csv", &skipped);
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->row, 3);
  EXPECT_EQ(row->line, 7);
  EXPECT_EQ(row->fields.at("b"), "x\ny");

  rec.text = "1";
  EXPECT_FALSE(gt::data::make_csv_row(columns, rec, 4, "s.csv", &skipped));
  EXPECT_EQ(skipped.file, "s.csv");
  EXPECT_EQ(skipped.row, 4);
  EXPECT_EQ(skipped.kind, "csv_field_count");
  EXPECT_EQ(skipped.reason, "record on line 7 has 1 fields; expected 2 (a,b)");

  rec.error = "quoted field opened on line 7 is never closed";  // flagged by RecordSplitter
  EXPECT_FALSE(gt::data::make_csv_row(columns, rec, 5, "s.csv", &skipped));
  EXPECT_EQ(skipped.kind, "csv_quote");
  EXPECT_EQ(skipped.reason, rec.error);

  rec.error.clear();
  rec.text = "\"ab\"c,1";  // a record cut some other way: parse_csv_record still refuses it
  EXPECT_FALSE(gt::data::make_csv_row(columns, rec, 6, "s.csv", &skipped));
  EXPECT_EQ(skipped.kind, "csv_quote");
  EXPECT_NE(skipped.reason.find("record on line 7: text after a closing quote"), std::string::npos) << skipped.reason;
}
