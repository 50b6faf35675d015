#include "data/jsonl_reader.h"

#include "core/error.h"
#include "data/file_text.h"
#include "data/utf8_text.h"

namespace gt::data {

std::optional<nlohmann::json> parse_jsonl_record(std::string_view line, std::string* error, std::string* kind) {
  auto refuse = [&](const char* k, std::string reason) -> std::optional<nlohmann::json> {
    if (error != nullptr) *error = std::move(reason);
    if (kind != nullptr) *kind = k;
    return std::nullopt;
  };
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    // The parser's message quotes the text it last read, which may hold the very bytes that were invalid.
    return refuse(skip_kind::kBadJson, cat("not valid JSON: ", utf8_sanitize(e.what())));
  }
  if (!value.is_object())
    return refuse(skip_kind::kNotObject, cat("the line is a JSON ", value.type_name(), "; expected an object"));
  return value;
}

std::optional<JsonlRow> make_jsonl_row(const SplitRecord& record, const std::string& path, SkippedRow* skipped) {
  if (!record.error.empty()) {
    *skipped = {path, record.line, skip_kind::kBadJson, record.error};
    return std::nullopt;
  }
  std::string error, kind;
  std::optional<nlohmann::json> value = parse_jsonl_record(record.text, &error, &kind);
  if (!value) {
    *skipped = {path, record.line, std::move(kind), std::move(error)};
    return std::nullopt;
  }
  return JsonlRow{record.line, *std::move(value)};
}

JsonlFile parse_jsonl(std::string_view text, const std::string& path) {
  JsonlFile file;
  file.path = path;
  split_text(RecordFormat::Jsonl, text, [&](const SplitRecord& rec) {
    SkippedRow skipped;
    if (std::optional<JsonlRow> row = make_jsonl_row(rec, path, &skipped)) {
      file.rows.push_back(std::move(*row));
    } else {
      file.skipped.push_back(std::move(skipped));
    }
  });
  return file;
}

JsonlFile read_jsonl_file(const std::string& path) { return parse_jsonl(read_whole_file(path), path); }

}  // namespace gt::data
