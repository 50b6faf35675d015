// CSV files as RFC 4180 writes them (and spreadsheet programs export them). Torch-free.
//
// Accepted: a header row naming the columns; fields separated by commas; fields in double quotes may hold commas,
// line breaks and doubled quotes ("" = one "); records end with LF or CRLF (the last one may lack it); a UTF-8
// byte order mark at the start is skipped; blank lines are ignored. A quote inside an unquoted field is kept as
// a character (a"b reads as a"b), as Python's csv module does.
// Refused per row (recorded as a SkippedRow, the rest of the file is still read):
//   - a quoted field that is never closed: the row is skipped and reading resumes on the line after the one the
//     row started on, so one stray quote costs one row, not the rest of the file;
//   - text between a closing quote and the next comma or line end ("ab"c): same recovery;
//   - a record with more or fewer fields than the header.
// Refused for the file (gt::InputError naming it): unreadable, no header row, a broken or duplicate header name.
// Header names are trimmed of surrounding whitespace; field values are kept exactly.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/example.h"          // SkippedRow
#include "data/record_splitter.h"  // SplitRecord: the records are cut out of the text there

namespace gt::data {

struct CsvRow {
  int64_t row = 0;   // 1-based record number after the header (records, not lines: a field may span lines)
  int64_t line = 0;  // 1-based line of the file on which the record starts
  std::map<std::string, std::string> fields;  // column name -> value
};

struct CsvFile {
  std::string path;
  std::vector<std::string> header;  // column names in file order
  std::vector<CsvRow> rows;         // well-formed records
  std::vector<SkippedRow> skipped;  // malformed records, in file order
};

// Reads and parses `path`.
CsvFile read_csv_file(const std::string& path);
// Parses CSV text; `path` is used in messages and SkippedRow::file only. The text is cut into records by
// RecordSplitter (no length limit), so a stream split by it in chunks reads exactly as the whole file does:
// the header is parse_csv_header(first record), each later record make_csv_row(header, record, 1, 2, ...).
CsvFile parse_csv(std::string_view text, const std::string& path);

// Splits one record (as RecordSplitter returns it: no terminating line break) into fields. nullopt, with *error
// set when error is not null, for a malformed record: a quoted field never closed, text after a closing quote, or a
// line break outside quotes (the text holds more than one record).
std::optional<std::vector<std::string>> parse_csv_record(std::string_view record, std::string* error);

// The column names of a header record (the first record RecordSplitter returns), trimmed of surrounding
// whitespace. Throws gt::InputError naming `path` when it is malformed or names a column twice.
std::vector<std::string> parse_csv_header(const SplitRecord& record, const std::string& path);

// A data record (any record after the header) as CsvRow `row` (1-based count of records after the header,
// malformed ones included). nullopt, with *skipped filled (file = path, row, kind csv_quote or csv_field_count,
// reason), when RecordSplitter flagged it, its quoting is malformed, or it has more or fewer fields than `header`.
std::optional<CsvRow> make_csv_row(const std::vector<std::string>& header, const SplitRecord& record, int64_t row,
                                   const std::string& path, SkippedRow* skipped);

}  // namespace gt::data
