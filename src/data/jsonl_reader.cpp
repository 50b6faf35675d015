#include "data/jsonl_reader.h"

#include "core/error.h"
#include "data/file_text.h"
#include "data/utf8_text.h"

namespace gt::data {

namespace {

bool is_blank(std::string_view line) { return line.find_first_not_of(" \t\r\f\v") == std::string_view::npos; }

}  // namespace

JsonlFile parse_jsonl(std::string_view text, const std::string& path) {
  JsonlFile file;
  file.path = path;
  text = strip_utf8_bom(text);
  int64_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (is_blank(line)) continue;

    nlohmann::json value;
    try {
      value = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      // The parser's message quotes the text it last read, which may hold the very bytes that were invalid.
      file.skipped.push_back({path, line_no, skip_kind::kBadJson, cat("not valid JSON: ", utf8_sanitize(e.what()))});
      continue;
    }
    if (!value.is_object()) {
      file.skipped.push_back(
          {path, line_no, skip_kind::kNotObject, cat("the line is a JSON ", value.type_name(), "; expected an object")});
      continue;
    }
    file.rows.push_back({line_no, std::move(value)});
  }
  return file;
}

JsonlFile read_jsonl_file(const std::string& path) { return parse_jsonl(read_whole_file(path), path); }

}  // namespace gt::data
