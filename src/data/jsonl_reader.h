// JSON Lines files: one JSON object per line. Torch-free.
// Lines end with LF or CRLF; blank (whitespace-only) lines are ignored; a UTF-8 byte order mark at the start is
// skipped. A line that does not parse (including invalid UTF-8 inside a string, which the JSON parser rejects),
// or parses to something other than an object, is recorded as a SkippedRow with its line number and the parser's
// message; the rest of the file is still read. An unreadable file is a gt::InputError naming it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "data/example.h"          // SkippedRow
#include "data/record_splitter.h"  // SplitRecord: the lines are cut out of the text there

namespace gt::data {

struct JsonlRow {
  int64_t row = 0;  // 1-based line number in the file
  nlohmann::json value;  // always an object
};

struct JsonlFile {
  std::string path;
  std::vector<JsonlRow> rows;
  std::vector<SkippedRow> skipped;
};

JsonlFile read_jsonl_file(const std::string& path);
// Parses JSONL text; `path` is used in SkippedRow::file only. The lines are cut by RecordSplitter (no length
// limit), so a stream split by it in chunks reads exactly as the whole file does: each line is make_jsonl_row.
JsonlFile parse_jsonl(std::string_view text, const std::string& path);

// One line (a RecordSplitter record's text) as a JSON object. nullopt, with *error set to the reason ("not valid
// JSON: <the parser's message>" or "the line is a JSON array; expected an object") and *kind to skip_kind::kBadJson
// or kNotObject (each when not null), when it is not one.
std::optional<nlohmann::json> parse_jsonl_record(std::string_view line, std::string* error,
                                                 std::string* kind = nullptr);

// A RecordSplitter record as JsonlRow (row = its line). nullopt, with *skipped filled (file = path, row, kind,
// reason), when it is not an object or RecordSplitter flagged it (longer than max_record_bytes: kind bad_json).
std::optional<JsonlRow> make_jsonl_row(const SplitRecord& record, const std::string& path, SkippedRow* skipped);

}  // namespace gt::data
