#include "data/csv_reader.h"

#include <algorithm>
#include <set>

#include "core/error.h"
#include "core/strings.h"
#include "data/file_text.h"

namespace gt::data {

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

std::nullopt_t fail_record(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return std::nullopt;
}

}  // namespace

std::optional<std::vector<std::string>> parse_csv_record(std::string_view record, std::string* error) {
  std::vector<std::string> fields;
  size_t pos = 0;
  for (;;) {
    std::string field;
    if (pos < record.size() && record[pos] == '"') {
      ++pos;
      for (;;) {
        const size_t q = record.find('"', pos);
        if (q == std::string_view::npos) return fail_record(error, "a quoted field is never closed");
        field.append(record.substr(pos, q - pos));
        pos = q + 1;
        if (pos >= record.size() || record[pos] != '"') break;
        field += '"';  // "" inside quotes: one quote character
        ++pos;
      }
      if (pos < record.size() && record[pos] != ',')
        return fail_record(error, cat("text after a closing quote (", quote(record.substr(pos, 20)),
                                      "); a quote inside a quoted field must be doubled (\"\")"));
    } else {
      const size_t stop = std::min(record.find_first_of(",\n", pos), record.size());
      if (stop < record.size() && record[stop] == '\n')
        return fail_record(error, "a line break outside quotes; expected one record (as RecordSplitter cuts them)");
      field.assign(record.substr(pos, stop - pos));  // a quote here is an ordinary character
      pos = stop;
    }
    fields.push_back(std::move(field));
    if (pos >= record.size()) return fields;
    ++pos;  // the comma
  }
}

std::vector<std::string> parse_csv_header(const SplitRecord& record, const std::string& path) {
  std::string error = record.error;
  std::optional<std::vector<std::string>> names;
  if (error.empty()) names = parse_csv_record(record.text, &error);
  if (!names) fail_input(path, ": the header row is malformed: ", error);
  std::set<std::string> seen;
  for (std::string& name : *names) {
    name = trim(name);
    if (!seen.insert(name).second) fail_input(path, ": the header names column ", quote(name), " twice");
  }
  return *std::move(names);
}

std::optional<CsvRow> make_csv_row(const std::vector<std::string>& header, const SplitRecord& record, int64_t row,
                                   const std::string& path, SkippedRow* skipped) {
  if (!record.error.empty()) {
    *skipped = {path, row, skip_kind::kCsvQuote, record.error};
    return std::nullopt;
  }
  std::string error;
  std::optional<std::vector<std::string>> fields = parse_csv_record(record.text, &error);
  if (!fields) {  // RecordSplitter catches these first; a record cut some other way may still hold them
    *skipped = {path, row, skip_kind::kCsvQuote, cat("record on line ", record.line, ": ", error)};
    return std::nullopt;
  }
  if (fields->size() != header.size()) {
    *skipped = {path, row, skip_kind::kCsvFieldCount,
                cat("record on line ", record.line, " has ", fields->size(), " fields; expected ", header.size(),
                    " (", joined(header), ")")};
    return std::nullopt;
  }
  CsvRow out;
  out.row = row;
  out.line = record.line;
  for (size_t i = 0; i < fields->size(); ++i) out.fields.emplace(header[i], std::move((*fields)[i]));
  return out;
}

CsvFile parse_csv(std::string_view text, const std::string& path) {
  CsvFile file;
  file.path = path;
  bool have_header = false;
  int64_t row = 0;
  split_text(RecordFormat::Csv, text, [&](const SplitRecord& rec) {
    if (!have_header) {
      file.header = parse_csv_header(rec, path);
      have_header = true;
      return;
    }
    SkippedRow skipped;
    if (std::optional<CsvRow> r = make_csv_row(file.header, rec, ++row, path, &skipped)) {
      file.rows.push_back(std::move(*r));
    } else {
      file.skipped.push_back(std::move(skipped));
    }
  });
  if (!have_header) fail_input(path, ": no header row; expected a first line naming the columns (e.g. prompt,response)");
  return file;
}

CsvFile read_csv_file(const std::string& path) { return parse_csv(read_whole_file(path), path); }

}  // namespace gt::data
