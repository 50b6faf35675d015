#include "data/csv_reader.h"

#include <set>

#include "core/error.h"
#include "core/strings.h"
#include "data/file_text.h"

namespace gt::data {

namespace {

// One record as read from the text, before it is checked against the header.
struct RawRecord {
  std::vector<std::string> fields;
  int64_t line = 0;       // line the record starts on
  std::string error;      // non-empty: malformed quoting (the fields are unusable)
  bool blank = false;     // an empty line
};

class CsvScanner {
 public:
  explicit CsvScanner(std::string_view text) : text_(text) {}

  bool done() const { return pos_ >= text_.size(); }

  // Reads the record starting at the current position and moves past it.
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
          resync_after(record_start, rec.line);
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
  // LF, CRLF, or a CR that ends the file. A CR elsewhere is an ordinary character.
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

  // Reads a quoted field (pos_ on the opening quote). False, with rec.error set, on malformed quoting.
  bool read_quoted(std::string& field, RawRecord& rec) {
    const int64_t open_line = line_;
    ++pos_;
    for (;;) {
      const size_t q = text_.find('"', pos_);
      if (q == std::string_view::npos) {
        rec.error = cat("quoted field opened on line ", open_line, " is never closed");
        return false;
      }
      for (size_t i = pos_; i < q; ++i) line_ += text_[i] == '\n';
      field.append(text_.substr(pos_, q - pos_));
      pos_ = q + 1;
      if (pos_ < text_.size() && text_[pos_] == '"') {  // "" inside quotes: one quote character
        field += '"';
        ++pos_;
        continue;
      }
      if (pos_ >= text_.size() || text_[pos_] == ',' || at_line_end()) return true;
      rec.error = cat("text after the closing quote on line ", line_, " (", quote(text_.substr(pos_, 20)),
                      "); a quote inside a quoted field must be doubled (\"\")");
      return false;
    }
  }

  // After malformed quoting, continue with the line after the one the record started on.
  void resync_after(size_t record_start, int64_t start_line) {
    const size_t nl = text_.find('\n', record_start);
    pos_ = nl == std::string_view::npos ? text_.size() : nl + 1;
    line_ = start_line + 1;
  }

  std::string_view text_;
  size_t pos_ = 0;
  int64_t line_ = 1;
};

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

}  // namespace

CsvFile parse_csv(std::string_view text, const std::string& path) {
  CsvFile file;
  file.path = path;
  CsvScanner scanner(strip_utf8_bom(text));

  RawRecord header;
  do {
    if (scanner.done()) fail_input(path, ": no header row; expected a first line naming the columns (e.g. prompt,response)");
    header = scanner.next();
  } while (header.blank);
  if (!header.error.empty()) fail_input(path, ": the header row is malformed: ", header.error);
  std::set<std::string> seen;
  for (std::string& name : header.fields) {
    name = trim(name);
    if (!seen.insert(name).second) fail_input(path, ": the header names column ", quote(name), " twice");
  }
  file.header = header.fields;

  int64_t row = 0;
  while (!scanner.done()) {
    RawRecord rec = scanner.next();
    if (rec.blank) continue;
    ++row;
    if (!rec.error.empty()) {
      file.skipped.push_back({path, row, skip_kind::kCsvQuote, rec.error});
      continue;
    }
    if (rec.fields.size() != file.header.size()) {
      file.skipped.push_back({path, row, skip_kind::kCsvFieldCount,
                              cat("record on line ", rec.line, " has ", rec.fields.size(), " fields; expected ",
                                  file.header.size(), " (", joined(file.header), ")")});
      continue;
    }
    CsvRow out;
    out.row = row;
    out.line = rec.line;
    for (size_t i = 0; i < rec.fields.size(); ++i) out.fields.emplace(file.header[i], std::move(rec.fields[i]));
    file.rows.push_back(std::move(out));
  }
  return file;
}

CsvFile read_csv_file(const std::string& path) { return parse_csv(read_whole_file(path), path); }

}  // namespace gt::data
