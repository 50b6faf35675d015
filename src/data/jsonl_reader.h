// JSON Lines files: one JSON object per line. Torch-free.
// Lines end with LF or CRLF; blank (whitespace-only) lines are ignored; a UTF-8 byte order mark at the start is
// skipped. A line that does not parse (including invalid UTF-8 inside a string, which the JSON parser rejects),
// or parses to something other than an object, is recorded as a SkippedRow with its line number and the parser's
// message; the rest of the file is still read. An unreadable file is a gt::InputError naming it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "data/example.h"  // SkippedRow

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
// Parses JSONL text; `path` is used in SkippedRow::file only.
JsonlFile parse_jsonl(std::string_view text, const std::string& path);

}  // namespace gt::data
