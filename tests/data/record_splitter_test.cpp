// RecordSplitter: JSONL/CSV streams cut into records chunk by chunk must give exactly what the whole-file readers
// give: the same records, offsets, line numbers and recovery from malformed quoting, whatever the chunk sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>

#include "core/error.h"
#include "core/strings.h"
#include "data/csv_reader.h"
#include "data/file_text.h"
#include "data/jsonl_reader.h"
#include "data/record_splitter.h"
#include "test_util.h"

using gt::data::RecordFormat;
using gt::data::RecordSplitter;
using gt::data::SplitRecord;

namespace {

constexpr size_t kNoLimit = RecordSplitter::kNoLimit;

// ---------------------------------------------------------------------------------------------------------------
// csv_reader and jsonl_reader as they were before they were built on RecordSplitter: an independent whole-file
// reading to check the splitter (and the readers built on it) against.
namespace legacy {

struct RawRecord {
  std::vector<std::string> fields;
  int64_t line = 0;
  std::string error;
  bool blank = false;
};

class CsvScanner {
 public:
  explicit CsvScanner(std::string_view text) : text_(text) {}
  bool done() const { return pos_ >= text_.size(); }
  RawRecord next() {
    RawRecord rec;
    rec.line = line_;
    const size_t record_start = pos_;
    if (at_line_end()) {
      consume_line_end();
      rec.blank = true;
      return rec;
    }
    std::string field;
    for (;;) {
      field.clear();
      if (pos_ < text_.size() && text_[pos_] == '"') {
        if (!read_quoted(field, rec)) {
          const size_t nl = text_.find('\n', record_start);
          pos_ = nl == std::string_view::npos ? text_.size() : nl + 1;
          line_ = rec.line + 1;
          return rec;
        }
      } else {
        while (pos_ < text_.size() && text_[pos_] != ',' && !at_line_end()) field += text_[pos_++];
      }
      rec.fields.push_back(field);
      if (pos_ >= text_.size()) return rec;
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      consume_line_end();
      return rec;
    }
  }

 private:
  bool at_line_end() const {
    if (pos_ >= text_.size()) return false;
    if (text_[pos_] == '\n') return true;
    return text_[pos_] == '\r' && (pos_ + 1 == text_.size() || text_[pos_ + 1] == '\n');
  }
  void consume_line_end() {
    if (text_[pos_] == '\r') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
    ++line_;
  }
  bool read_quoted(std::string& field, RawRecord& rec) {
    const int64_t open_line = line_;
    ++pos_;
    for (;;) {
      const size_t q = text_.find('"', pos_);
      if (q == std::string_view::npos) {
        rec.error = gt::cat("quoted field opened on line ", open_line, " is never closed");
        return false;
      }
      for (size_t i = pos_; i < q; ++i) line_ += text_[i] == '\n';
      field.append(text_.substr(pos_, q - pos_));
      pos_ = q + 1;
      if (pos_ < text_.size() && text_[pos_] == '"') {
        field += '"';
        ++pos_;
        continue;
      }
      if (pos_ >= text_.size() || text_[pos_] == ',' || at_line_end()) return true;
      rec.error = gt::cat("text after the closing quote on line ", line_, " (", gt::quote(text_.substr(pos_, 20)),
                          "); a quote inside a quoted field must be doubled (\"\")");
      return false;
    }
  }
  std::string_view text_;
  size_t pos_ = 0;
  int64_t line_ = 1;
};

gt::data::CsvFile parse_csv(std::string_view text, const std::string& path) {
  gt::data::CsvFile file;
  file.path = path;
  CsvScanner scanner(gt::data::strip_utf8_bom(text));
  RawRecord header;
  do {
    if (scanner.done()) gt::fail_input(path, ": no header row; expected a first line naming the columns");
    header = scanner.next();
  } while (header.blank);
  if (!header.error.empty()) gt::fail_input(path, ": the header row is malformed: ", header.error);
  std::set<std::string> seen;
  for (std::string& name : header.fields) {
    name = gt::trim(name);
    if (!seen.insert(name).second) gt::fail_input(path, ": the header names column ", gt::quote(name), " twice");
  }
  file.header = header.fields;
  int64_t row = 0;
  while (!scanner.done()) {
    RawRecord rec = scanner.next();
    if (rec.blank) continue;
    ++row;
    if (!rec.error.empty()) {
      file.skipped.push_back({path, row, "csv_quote", rec.error});
      continue;
    }
    if (rec.fields.size() != file.header.size()) {
      file.skipped.push_back({path, row, "csv_field_count", gt::cat("record on line ", rec.line, " has ",
                                                                    rec.fields.size(), " fields")});
      continue;
    }
    gt::data::CsvRow out;
    out.row = row;
    out.line = rec.line;
    for (size_t i = 0; i < rec.fields.size(); ++i) out.fields.emplace(file.header[i], rec.fields[i]);
    file.rows.push_back(std::move(out));
  }
  return file;
}

gt::data::JsonlFile parse_jsonl(std::string_view text, const std::string& path) {
  gt::data::JsonlFile file;
  file.path = path;
  text = gt::data::strip_utf8_bom(text);
  int64_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t\r\f\v") == std::string_view::npos) continue;
    nlohmann::json value;
    try {
      value = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      file.skipped.push_back({path, line_no, "bad_json", ""});
      continue;
    }
    if (!value.is_object()) {
      file.skipped.push_back({path, line_no, "not_object", ""});
      continue;
    }
    file.rows.push_back({line_no, std::move(value)});
  }
  return file;
}

}  // namespace legacy

// ---------------------------------------------------------------------------------------------------------------
// Splitting helpers.

struct Split {
  std::vector<SplitRecord> records;
  uint64_t offset = 0;  // offset()/line() after finish
  int64_t line = 0;
  size_t max_buffered = 0;  // largest buffered() after a feed
};

// Feeds `text` in chunks of the given sizes (the last one takes what is left), then finishes.
Split split_chunks(RecordFormat format, std::string_view text, const std::vector<size_t>& sizes,
                   size_t max_bytes = kNoLimit, uint64_t start_offset = 0, int64_t start_line = 1) {
  RecordSplitter s(format, start_offset, start_line, max_bytes);
  Split out;
  size_t pos = 0;
  for (size_t n : sizes) {
    if (pos >= text.size()) break;
    s.feed(text.substr(pos, n), out.records);
    pos += std::min(n, text.size() - pos);
    out.max_buffered = std::max(out.max_buffered, s.buffered());
  }
  if (pos < text.size()) s.feed(text.substr(pos), out.records);
  s.finish(out.records);
  EXPECT_EQ(s.buffered(), 0u);
  out.offset = s.offset();
  out.line = s.line();
  return out;
}

Split split_whole(RecordFormat format, std::string_view text, size_t max_bytes = kNoLimit) {
  return split_chunks(format, text, {text.size()}, max_bytes);
}

std::vector<size_t> bytewise(size_t n) { return std::vector<size_t>(n, 1); }

// Random chunk sizes: many of 1-3 bytes (every kind of boundary), some up to `large`.
std::vector<size_t> random_chunks(size_t total, std::mt19937& rng, size_t large = 64) {
  std::vector<size_t> sizes;
  for (size_t sum = 0; sum < total;) {
    const size_t n = rng() % 2 ? 1 + rng() % 3 : 1 + rng() % large;
    sizes.push_back(n);
    sum += n;
  }
  return sizes;
}

std::string describe(const SplitRecord& r) {
  return gt::cat(r.offset, "-", r.end, " L", r.line, "-", r.end_line, r.too_long ? " too_long" : "", " ",
                 gt::quote(r.text, 300), r.error.empty() ? "" : " ERROR " + r.error);
}

std::vector<std::string> describe(const std::vector<SplitRecord>& records) {
  std::vector<std::string> out;
  for (const SplitRecord& r : records) out.push_back(describe(r));
  return out;
}

std::vector<std::string> describe(const gt::data::CsvFile& f, bool reasons = true) {
  std::vector<std::string> out{"header " + gt::cat(f.header.size())};
  for (const std::string& h : f.header) out.push_back("  " + gt::quote(h));
  for (const gt::data::CsvRow& r : f.rows) {
    std::string s = gt::cat("row ", r.row, " line ", r.line);
    for (const auto& [k, v] : r.fields) s += " " + gt::quote(k) + "=" + gt::quote(v, 300);
    out.push_back(s);
  }
  for (const gt::data::SkippedRow& s : f.skipped) {
    // The legacy field-count reason lacks the header list; compare its start only.
    const std::string reason = s.kind == "csv_field_count" ? s.reason.substr(0, s.reason.find(" fields") + 7) : s.reason;
    out.push_back(gt::cat("skipped ", s.row, " ", s.kind, reasons ? " " + reason : ""));
  }
  return out;
}

std::vector<std::string> describe(const gt::data::JsonlFile& f, bool reasons = true) {
  std::vector<std::string> out;
  for (const gt::data::JsonlRow& r : f.rows) out.push_back(gt::cat("row ", r.row, " ", r.value.dump()));
  for (const gt::data::SkippedRow& s : f.skipped) out.push_back(gt::cat("skipped ", s.row, " ", s.kind, reasons ? " " + s.reason : ""));
  return out;
}

// What a shard reader builds from a CSV stream's records (the whole-file reader's rules), or the file error.
std::vector<std::string> csv_from_records(const std::vector<SplitRecord>& records) {
  gt::data::CsvFile f;
  try {
    if (records.empty()) gt::fail_input("t.csv: no header row");
    f.header = gt::data::parse_csv_header(records[0], "t.csv");
    for (size_t i = 1; i < records.size(); ++i) {
      gt::data::SkippedRow skipped;
      if (auto row = gt::data::make_csv_row(f.header, records[i], static_cast<int64_t>(i), "t.csv", &skipped)) {
        f.rows.push_back(std::move(*row));
      } else {
        f.skipped.push_back(skipped);
      }
    }
  } catch (const gt::InputError& e) {
    return {std::string("error: ") + e.what()};
  }
  return describe(f);
}

std::vector<std::string> jsonl_from_records(const std::vector<SplitRecord>& records) {
  gt::data::JsonlFile f;
  for (const SplitRecord& r : records) {
    gt::data::SkippedRow skipped;
    if (auto row = gt::data::make_jsonl_row(r, "t.jsonl", &skipped)) {
      f.rows.push_back(std::move(*row));
    } else {
      f.skipped.push_back(skipped);
    }
  }
  return describe(f);
}

template <typename F>
std::vector<std::string> or_error(F&& f) {
  try {
    return f();
  } catch (const gt::InputError& e) {
    std::string msg = e.what();
    return {"error: " + msg.substr(0, msg.find(';'))};  // the legacy "no header row" hint differs after the ';'
  }
}

// Whole-file reading: the new reader, the legacy one, and chunked splitting turned into rows must agree.
void expect_csv_agrees(const std::string& text, std::mt19937& rng) {
  SCOPED_TRACE(gt::quote(text, 200));
  const auto legacy = or_error([&] { return describe(legacy::parse_csv(text, "t.csv")); });
  const auto reader = or_error([&] { return describe(gt::data::parse_csv(text, "t.csv")); });
  EXPECT_EQ(reader, legacy);
  const auto whole = split_whole(RecordFormat::Csv, text);
  for (const std::vector<size_t>& sizes : {bytewise(text.size()), random_chunks(text.size(), rng)}) {
    const Split s = split_chunks(RecordFormat::Csv, text, sizes);
    EXPECT_EQ(describe(s.records), describe(whole.records));
    auto rows = csv_from_records(s.records);
    if (rows.size() == 1 && rows[0].rfind("error: ", 0) == 0) rows[0] = rows[0].substr(0, rows[0].find(';'));
    EXPECT_EQ(rows, reader);
    EXPECT_EQ(s.offset, text.size());
  }
}

void expect_jsonl_agrees(const std::string& text, std::mt19937& rng, size_t large_chunk = 64) {
  SCOPED_TRACE(gt::quote(text, 200));
  const auto legacy = describe(legacy::parse_jsonl(text, "t.jsonl"), /*reasons=*/false);
  const gt::data::JsonlFile file = gt::data::parse_jsonl(text, "t.jsonl");
  EXPECT_EQ(describe(file, false), legacy);
  std::vector<std::vector<size_t>> chunkings{random_chunks(text.size(), rng, large_chunk)};
  if (text.size() < 100000) chunkings.push_back(bytewise(text.size()));
  for (const std::vector<size_t>& sizes : chunkings) {
    const Split s = split_chunks(RecordFormat::Jsonl, text, sizes);
    EXPECT_EQ(jsonl_from_records(s.records), describe(file));
    EXPECT_EQ(s.offset, text.size());
  }
}

// The texts of csv_reader_test.cpp and jsonl_reader_test.cpp, and more line-end corners.
const std::vector<std::string> kCsvTexts = {
    "id,prompt,response\n1,hi,hello\n2,a,b\n",
    "prompt,response\n\"a, b\",\"line one\nline two\"\n\"say \"\"hi\"\"\",\"\"\"\"\n\"\",plain\n",
    "\xEF\xBB\xBFprompt,response\r\n\"x\r\ny\",z\r\nlast,row",
    "\n a , b \n\n1,2\n\n3,4\r",
    "a,b\nsay \"x\",2\n",
    "a,b\n1,2\n1,2,3\n4\n5,6\n",
    "a,b\n1,\"multi\nline\"\n2,\"broken\n3,fine\n",
    "a,b\n1,\"broken\n2,\"x\"\n",
    "a,b\n\"ab\"c,1\n2,3\n",
    "",
    "\xEF\xBB\xBF\n\n",
    "a,\"b\n1,2\n",
    "a,b,a\n1,2,3\n",
    "prompt,response\nq,a\n",
    // more: CRs that are characters, CR after a closing quote, quotes closing on later lines, trailing commas
    "a,b\r\r\n\"x\"\r\r\n1,2\r\n\r\n\r",
    "a\n\"x\"\ry\n\"z\"\r\n\"w\"\r",
    "a,b\n\"q\"\"\",\"\"\n,\n\"\",\n",
    "a\n  \n\t\n",
    "a,b\n1,\"two\nlines\",x\n2,\"a\"\"\nb\"\n3,\"never\n4,5\n6,7",
    "a,b\n\"x\",\"y\"z\n\"1\n2\",\"3\n4\"\n\"un\n",
    "\xEF\xBB\x62,c\n1,2\n",
    "\xEF\xBB\xBF\xEF\xBB\xBF" "a\n1\n",
    "a\n\"\n",
    "a\n\"\r",
    "a\n1\r\r",
};

const std::vector<std::string> kJsonlTexts = {
    "\xEF\xBB\xBF{\"a\":1}\r\n\n   \n{\"b\":\"x\"}",
    "{\"a\":1}\n{\"a\":\n[1,2]\n\"text\"\n{\"s\":\"\xff\"}\n{\"ok\":true}\n",
    "",
    "\r",
    "\n\n",
    "{}\r\r\n{}\r",
    " \t\f\v\r\n{\"x\":\"a\ry\"}\r\n \r\n",
    "\xEF\xBB{}\n",
    "\xEF\xBB\xBF",
    "{\"a\":1}{\"b\":2}\n  {\"c\" : [1, {\"d\": null}]}  \n",
};

}  // namespace

TEST(RecordSplitter, WholeFileReadersAgreeInAnyChunking) {
  std::mt19937 rng(1);
  for (const std::string& text : kCsvTexts) expect_csv_agrees(text, rng);
  for (const std::string& text : kJsonlTexts) expect_jsonl_agrees(text, rng);
  // A real JSONL file (4951 lines of awkward text), in chunks of every size up to 64 KiB.
  expect_jsonl_agrees(gt::test::read_file(gt::test::fixture("tokenizer/corpus.jsonl")), rng, 1 << 16);
}

TEST(RecordSplitter, RandomTextsAgreeWithTheLegacyReaders) {
  // Short texts from the bytes that matter; the pre-RecordSplitter readers are the reference.
  std::mt19937 rng(7);
  const std::string csv_bytes = "ab,,\"\"\n\n\r ";
  const std::string json_bytes = "{}\"\"a:1 \n\n\r[]";
  for (int i = 0; i < 1500; ++i) {
    std::string csv, json;
    const size_t n = rng() % 24;
    for (size_t k = 0; k < n; ++k) csv += csv_bytes[rng() % csv_bytes.size()];
    for (size_t k = 0; k < n; ++k) json += json_bytes[rng() % json_bytes.size()];
    if (rng() % 8 == 0) csv = "\xEF\xBB\xBF" + csv;
    expect_csv_agrees(csv, rng);
    expect_jsonl_agrees(json, rng);
  }
}

TEST(RecordSplitter, EverySplitPointGivesTheSameRecords) {
  // Every way of cutting each text into three chunks, with and without a length limit (the limit's error paths
  // must not depend on the chunks either).
  std::vector<std::pair<RecordFormat, std::string>> texts;
  for (const char* t : {"\xEF\xBB\xBF" "a,b\r\n\"x\r\ny\",z\r\n\r\n\"q\"\"\",\"\"\r\nlast,row\r",
                        "a,b\n\"ab\"c,1\n2,\"x\ny\"\n\"open,3\n4,5\r\n\"x\"\r\ry\n6",
                        "a\n1,\"long quoted\nfield\nacross\",lines\n\"\"\n",
                        // first lines longer than max_record_bytes + 22: their ends are dropped while skipping
                        "x,\"text after\"the closing quote, a long line\r\n1,\"2\"\n3"})
    texts.emplace_back(RecordFormat::Csv, t);
  for (const char* t : {"\xEF\xBB\xBF{\"a\":1}\r\n\n \t\n{\"b\":2}\r\n{\"long\":\"0123456789\"}\n  \n\r",
                        "{}\r\r\n\n{\"x\":[1,2,3]}",
                        "{\"a line\":\"longer than the limit plus 22\"}\r\n                              \n{}"})
    texts.emplace_back(RecordFormat::Jsonl, t);
  for (const auto& [format, text] : texts) {
    for (size_t max_bytes : {kNoLimit, size_t(0), size_t(3), size_t(9), size_t(16)}) {
      SCOPED_TRACE(gt::cat(gt::quote(text), " max_record_bytes ", max_bytes));
      const std::vector<std::string> whole = describe(split_whole(format, text, max_bytes).records);
      for (size_t i = 0; i <= text.size(); ++i)
        for (size_t j = i; j <= text.size(); ++j) {
          const Split s = split_chunks(format, text, {i, j - i, text.size() - j}, max_bytes);
          ASSERT_EQ(describe(s.records), whole) << "cut at " << i << " and " << j;
          ASSERT_EQ(s.offset, text.size());
        }
    }
  }
}

TEST(RecordSplitter, ResumingAtARecordEndGivesTheRest) {
  // A fresh splitter started at any record's end/end_line (or at offset()/line() after any prefix) returns the
  // remaining records exactly; random texts, with and without a limit.
  std::mt19937 rng(3);
  const std::string csv_bytes = "ab,\"\"\n\n\r";
  const std::string json_bytes = "{}a \n\r";
  for (int i = 0; i < 400; ++i) {
    const RecordFormat format = i % 2 ? RecordFormat::Csv : RecordFormat::Jsonl;
    const std::string& bytes = format == RecordFormat::Csv ? csv_bytes : json_bytes;
    std::string text = rng() % 4 == 0 ? "\xEF\xBB\xBF" : "";
    for (size_t k = 0, n = rng() % 45; k < n; ++k) text += bytes[rng() % bytes.size()];
    const size_t max_bytes = rng() % 2 ? kNoLimit : rng() % 8;
    SCOPED_TRACE(gt::cat(gt::quote(text), " max_record_bytes ", max_bytes));
    const Split whole = split_whole(format, text, max_bytes);
    const std::vector<std::string> all = describe(whole.records);
    for (size_t r = 0; r < whole.records.size(); ++r) {
      const SplitRecord& rec = whole.records[r];
      const Split rest = split_chunks(format, std::string_view(text).substr(rec.end), random_chunks(text.size(), rng),
                                      max_bytes, rec.end, rec.end_line);
      ASSERT_EQ(describe(rest.records), std::vector<std::string>(all.begin() + r + 1, all.end())) << "after record " << r;
      EXPECT_EQ(rest.line, whole.line);
    }
    // offset()/line() mid-stream: everything before offset() was returned, everything after comes again.
    for (size_t cut = 0; cut <= text.size(); ++cut) {
      RecordSplitter s(format, 0, 1, max_bytes);
      std::vector<SplitRecord> got;
      s.feed(std::string_view(text).substr(0, cut), got);
      ASSERT_LE(s.offset(), cut);
      const Split rest = split_chunks(format, std::string_view(text).substr(s.offset()), {3, 1}, max_bytes,
                                      s.offset(), s.line());
      got.insert(got.end(), rest.records.begin(), rest.records.end());
      ASSERT_EQ(describe(got), all) << "cut " << cut;
    }
  }
}

TEST(RecordSplitter, OffsetsEndsAndLinesAreExact) {
  // BOM (3 bytes), CRLF, a blank line, a quoted field over two lines, a last record without a line break.
  const std::string text = "\xEF\xBB\xBF" "a,b\r\n\r\n\"x\ny\",2\n3,4";
  const Split s = split_chunks(RecordFormat::Csv, text, bytewise(text.size()));
  ASSERT_EQ(s.records.size(), 3u);
  EXPECT_EQ(describe(s.records[0]), "3-8 L1-2 \"a,b\"");
  EXPECT_EQ(describe(s.records[1]), "10-18 L3-5 \"\\\"x\\ny\\\",2\"");
  EXPECT_EQ(describe(s.records[2]), "18-21 L5-5 \"3,4\"");
  EXPECT_EQ(s.offset, 21u);
  EXPECT_EQ(s.line, 5);

  RecordSplitter j(RecordFormat::Jsonl, 100, 7);  // resumed mid-file: a BOM there is data
  std::vector<SplitRecord> out;
  j.feed("\xEF\xBB\xBF{}\n \n{\"a\"", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(describe(out[0]), "100-106 L7-8 \"\xEF\xBB\xBF{}\"");
  EXPECT_EQ(j.offset(), 108u);  // the blank line 8 is behind offset() too
  EXPECT_EQ(j.line(), 9);
  EXPECT_EQ(j.buffered(), 4u);
  j.feed(":1}", out);
  EXPECT_EQ(out.size(), 1u);  // no line break yet
  j.finish(out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(describe(out[1]), "108-115 L9-9 \"{\\\"a\\\":1}\"");
  EXPECT_EQ(j.offset(), 115u);
}

TEST(RecordSplitter, BomSplitAcrossChunks) {
  RecordSplitter s(RecordFormat::Jsonl);
  std::vector<SplitRecord> out;
  s.feed("\xEF", out);
  s.feed("\xBB", out);
  EXPECT_EQ(s.offset(), 0u);
  EXPECT_EQ(s.buffered(), 2u);
  s.feed("\xBF{}\n", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "{}");
  EXPECT_EQ(out[0].offset, 3u);
  // Two bytes of a BOM and the end: they are the record.
  const Split partial = split_chunks(RecordFormat::Csv, "\xEF\xBB", {1, 1});
  ASSERT_EQ(partial.records.size(), 1u);
  EXPECT_EQ(partial.records[0].text, "\xEF\xBB");
  EXPECT_EQ(partial.records[0].offset, 0u);
}

TEST(RecordSplitter, BlankLinesAreNotRecordsButCountAsLines) {
  const Split j = split_chunks(RecordFormat::Jsonl, "\n \t\r\n\f\v\n{}\n\r\n", bytewise(13));
  ASSERT_EQ(j.records.size(), 1u);
  EXPECT_EQ(j.records[0].line, 4);
  EXPECT_EQ(j.records[0].offset, 8u);
  EXPECT_EQ(j.line, 6);
  // CSV: only an empty line is blank; spaces are a field, as csv_reader (and Python's csv) read them.
  const Split c = split_chunks(RecordFormat::Csv, "a\n\n\r\n  \n1", bytewise(10));
  ASSERT_EQ(c.records.size(), 3u);
  EXPECT_EQ(c.records[1].text, "  ");
  EXPECT_EQ(c.records[1].line, 4);
  EXPECT_EQ(c.records[2].line, 5);
}

TEST(RecordSplitter, UnclosedQuoteRecoversLikeCsvReader) {
  const std::string text = "a,b\n1,\"multi\nline\"\n2,\"broken\n3,fine\n";
  const Split s = split_chunks(RecordFormat::Csv, text, bytewise(text.size()));
  ASSERT_EQ(s.records.size(), 4u);
  const SplitRecord& bad = s.records[2];
  EXPECT_EQ(bad.error, "quoted field opened on line 4 is never closed");
  EXPECT_FALSE(bad.too_long);
  EXPECT_EQ(bad.text, "2,\"broken");  // the first line only
  EXPECT_EQ(bad.line, 4);
  EXPECT_EQ(bad.end, text.find("3,fine"));
  EXPECT_EQ(bad.end_line, 5);
  EXPECT_EQ(s.records[3].text, "3,fine");  // splitting went on from the next line
  EXPECT_EQ(s.records[3].line, 5);
  // The same with the whole-file reader.
  const gt::data::CsvFile f = gt::data::parse_csv(text, "t.csv");
  ASSERT_EQ(f.skipped.size(), 1u);
  EXPECT_EQ(f.skipped[0].reason, bad.error);
  EXPECT_EQ(f.rows.back().line, 5);
}

TEST(RecordSplitter, TextAfterClosingQuote) {
  // The quote opened on line 2 closes on line 3 and "x" follows; csv_reader's message quotes the 20 bytes after
  // the closing quote, so the record waits for them (or the end).
  const std::string text = "a,b\n1,\"broken\n2,\"x\"\n3,4\n";
  const Split s = split_chunks(RecordFormat::Csv, text, bytewise(text.size()));
  ASSERT_EQ(s.records.size(), 4u) << ::testing::PrintToString(describe(s.records));
  EXPECT_EQ(s.records[1].error,
            "text after the closing quote on line 3 (\"x\\\"\\n3,4\\n\"); a quote inside a quoted field must be doubled "
            "(\"\")");
  EXPECT_EQ(s.records[1].text, "1,\"broken");
  EXPECT_EQ(s.records[2].text, "2,\"x\"");
  EXPECT_EQ(s.records[2].line, 3);
}

TEST(RecordSplitter, MaxRecordBytes) {
  // A text of exactly max_record_bytes passes (CRLF not counted); one byte more is too long.
  for (const std::vector<size_t>& sizes : {bytewise(40), std::vector<size_t>{40}}) {
    const Split ok = split_chunks(RecordFormat::Jsonl, "12345\r\n123456\n1234\r", sizes, 5);
    ASSERT_EQ(ok.records.size(), 3u);
    EXPECT_EQ(ok.records[0].text, "12345");
    EXPECT_TRUE(ok.records[0].error.empty());
    EXPECT_EQ(ok.records[1].error, "line 2 is longer than max_record_bytes (5 bytes)");
    EXPECT_TRUE(ok.records[1].too_long);
    EXPECT_EQ(ok.records[1].text, "12345");  // cut at the limit
    EXPECT_EQ(ok.records[1].end, 14u);
    EXPECT_EQ(ok.records[2].text, "1234");
    EXPECT_EQ(ok.records[2].line, 3);
  }
  // A CSV quote that never closes is found before the stream ends: the first line comes back, then the rest.
  std::string csv = "a,b\n1,\"open\n";
  for (int i = 0; i < 2000; ++i) csv += gt::cat(i, ",x\n");
  const Split c = split_chunks(RecordFormat::Csv, csv, std::vector<size_t>(csv.size() / 7 + 1, 7), 100);
  ASSERT_EQ(c.records.size(), 2002u);
  EXPECT_EQ(c.records[1].text, "1,\"open");
  EXPECT_TRUE(c.records[1].too_long);
  EXPECT_EQ(c.records[1].error,
            "the record starting on line 2 is longer than max_record_bytes (100 bytes); the quoted field opened on "
            "line 2 may never be closed");
  EXPECT_EQ(c.records[2].text, "0,x");
  EXPECT_EQ(c.records[2].line, 3);
  EXPECT_EQ(c.records.back().text, "1999,x");
  EXPECT_LE(c.max_buffered, 100u + 22u);
}

TEST(RecordSplitter, JsonlLongLines) {
  // A 3 MB line in chunks of every size passes under the default limit.
  std::string line = "{\"t\":\"" + std::string(3 << 20, 'x') + "\"}";
  const std::string text = "{}\n" + line + "\r\n{\"z\":1}";
  std::mt19937 rng(5);
  const Split s = split_chunks(RecordFormat::Jsonl, text, random_chunks(text.size(), rng, 1 << 16));
  ASSERT_EQ(s.records.size(), 3u);
  EXPECT_EQ(s.records[1].text, line);
  EXPECT_EQ(s.records[2].offset, 3 + line.size() + 2);
  EXPECT_EQ(s.records[2].line, 3);
  // With a 1000-byte limit it is skipped holding ~1 KB, not 3 MB; a long blank line is still just blank.
  const std::string blanks = std::string(5000, ' ') + "\n";
  const Split cut = split_chunks(RecordFormat::Jsonl, text + "\n" + blanks + "{}", std::vector<size_t>(1000, 4096), 1000);
  ASSERT_EQ(cut.records.size(), 4u);
  EXPECT_TRUE(cut.records[1].too_long);
  EXPECT_EQ(cut.records[1].text, line.substr(0, 1000));
  EXPECT_EQ(cut.records[1].end, 3 + line.size() + 2);
  EXPECT_EQ(cut.records[2].text, "{\"z\":1}");
  EXPECT_EQ(cut.records[3].text, "{}");
  EXPECT_EQ(cut.records[3].line, 5);
  EXPECT_LE(cut.max_buffered, 1000u + 22u);
}

TEST(RecordSplitter, NoFinalNewline) {
  for (RecordFormat format : {RecordFormat::Jsonl, RecordFormat::Csv}) {
    const Split s = split_chunks(format, "x\ny", {1, 1, 1});
    ASSERT_EQ(s.records.size(), 2u);
    EXPECT_EQ(s.records[1].text, "y");
    EXPECT_EQ(s.records[1].end, 3u);
    EXPECT_EQ(s.records[1].end_line, 2);
    const Split cr = split_chunks(format, "y\r", {1, 1});  // a CR that ends the stream ends the line
    ASSERT_EQ(cr.records.size(), 1u);
    EXPECT_EQ(cr.records[0].text, "y");
  }
  const Split q = split_chunks(RecordFormat::Csv, "\"a\nb\"\r", bytewise(7));
  ASSERT_EQ(q.records.size(), 1u);
  EXPECT_EQ(q.records[0].text, "\"a\nb\"");
  EXPECT_EQ(q.records[0].end_line, 2);
  // Nothing comes before finish(): the last line might go on.
  RecordSplitter s(RecordFormat::Jsonl);
  std::vector<SplitRecord> out;
  s.feed("{}", out);
  EXPECT_TRUE(out.empty());
  s.finish(out);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_THROW(s.feed("x", out), std::logic_error);
}
