#include "data/text_dataset.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "core/error.h"
#include "core/progress.h"
#include "core/strings.h"
#include "data/chat_format.h"
#include "data/csv_reader.h"
#include "data/example_maker.h"
#include "data/jsonl_reader.h"
#include "data/text_rows.h"

namespace gt::data {

namespace {

constexpr size_t kReasonsInError = 5;

// Relative media paths resolve against the dataset's folder unless options.base_dir says otherwise.
std::string media_base(const std::string& path, const TextDatasetOptions& options) {
  return options.base_dir.empty() ? std::filesystem::absolute(path).parent_path().string() : options.base_dir;
}

enum class FileFormat { Jsonl, Csv };

FileFormat format_of(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".jsonl") return FileFormat::Jsonl;
  if (ext == ".csv") return FileFormat::Csv;
  fail_input(path, ": unknown dataset format ", quote(ext), "; expected a .jsonl or .csv file");
}

// Turns rows into examples and keeps the books.
class Builder {
 public:
  Builder(const std::string& path, const TextDatasetOptions& options, const tok::Tokenizer& tokenizer,
          io::Family family)
      : path_(path),
        name_(std::filesystem::path(path).filename().string()),
        options_(options),
        maker_(options, tokenizer, family, media_base(path, options), path) {
    out_.summary.file = path;
  }

  void add(int64_t row, const RowResult<TextRow>& parsed, std::string row_id) {
    ++out_.summary.rows_read;
    if (!parsed) return skip(row, parsed.error);
    RowResult<Example> built = maker_.build(*parsed.value);
    if (!built) return skip(row, built.error);
    Example& ex = *built.value;
    ex.source = cat(name_, ":", row);
    ex.row_id = std::move(row_id);
    out_.summary.count(ex);
    out_.examples.push_back(std::move(ex));
  }

  // Rows the reader already refused.
  void add_unreadable(const std::vector<SkippedRow>& rows) {
    for (const SkippedRow& r : rows) {
      ++out_.summary.rows_read;
      skip(r.row, RowError{r.kind, r.reason});
    }
  }

  TextDataset finish() {
    std::stable_sort(out_.skipped.begin(), out_.skipped.end(),
                     [](const SkippedRow& a, const SkippedRow& b) { return a.row < b.row; });
    if (!options_.skipped_log.empty()) append_skipped_rows(options_.skipped_log, out_.skipped);
    if (out_.examples.empty()) fail_input(no_usable_row_message());
    return std::move(out_);
  }

 private:
  void skip(int64_t row, const RowError& error) {
    out_.skipped.push_back({path_, row, error.kind, error.reason});
    ++out_.summary.skipped;
    ++out_.summary.skipped_by_kind[error.kind];
  }

  std::string no_usable_row_message() const {
    const TextDatasetSummary& s = out_.summary;
    if (s.rows_read == 0) return cat(path_, ": no rows; the file holds no data (only blank lines or a header)");
    std::string msg = cat(path_, ": no usable row; ", s.rows_read, " read, ", s.skipped, " skipped (");
    bool first = true;
    for (const auto& [kind, n] : s.skipped_by_kind) {
      msg += cat(first ? "" : ", ", kind, " ", n);
      first = false;
    }
    msg += "); first reasons:";
    for (size_t i = 0; i < out_.skipped.size() && i < kReasonsInError; ++i)
      msg += cat("\n  row ", out_.skipped[i].row, ": ", out_.skipped[i].reason);
    if (!options_.skipped_log.empty()) msg += cat("\nevery skipped row is listed in ", options_.skipped_log);
    return msg;
  }

  std::string path_, name_;
  const TextDatasetOptions& options_;
  ExampleMaker maker_;
  TextDataset out_;
};

}  // namespace

void TextDatasetSummary::count(const Example& ex) {
  ++examples;
  truncated += ex.truncated;
  total_tokens += static_cast<int64_t>(ex.input_ids.size());
  supervised_tokens += ex.supervised_tokens();
  longest = std::max<int64_t>(longest, static_cast<int64_t>(ex.input_ids.size()));
  for (const AudioRef& clip : ex.audio) {
    ++audio_clips;
    audio_cut += clip.cut;
    audio_seconds += clip.seconds;
  }
  images += static_cast<int64_t>(ex.images.size());
}

std::string TextDatasetSummary::describe() const {
  std::string out = cat(redact_url_secrets(std::filesystem::path(file).filename().string()), ": ", rows_read, " rows, ", examples,
                        " examples");
  if (truncated > 0) out += cat(" (", truncated, " truncated)");
  out += cat(", ", skipped, " skipped");
  if (excluded > 0) out += cat(", ", excluded, " excluded");
  if (skipped > 0) {
    out += " (";
    bool first = true;
    for (const auto& [kind, n] : skipped_by_kind) {
      out += cat(first ? "" : ", ", kind, " ", n);
      first = false;
    }
    out += ")";
  }
  out += cat(", ", total_tokens, " tokens, ", supervised_tokens, " supervised, longest ", longest);
  if (audio_clips > 0) {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", audio_seconds);
    out += cat(", ", audio_clips, " clips, ", secs, " s of audio");
    if (audio_cut > 0) out += cat(" (", audio_cut, " cut to max_duration)");
  }
  if (images > 0) out += cat(", ", images, images == 1 ? " image" : " images");
  return out;
}

TextDataset load_text_dataset(const std::string& path, const TextDatasetOptions& options,
                              const tok::Tokenizer& tokenizer, io::Family family) {
  const FileFormat format = format_of(path);
  Builder builder(path, options, tokenizer, family);
  // Media rows decode their images and clips here, which takes a while on a large set: show it.
  std::optional<Progress> bar;
  auto tick = [&](size_t done, size_t total) {
    if (!options.audio && !options.image) return;
    if (!bar) bar.emplace("read " + std::filesystem::path(path).filename().string(), static_cast<int64_t>(total));
    bar->update(static_cast<int64_t>(done), "");
  };
  if (format == FileFormat::Jsonl) {
    const JsonlFile file = read_jsonl_file(path);
    builder.add_unreadable(file.skipped);
    for (size_t i = 0; i < file.rows.size(); ++i) {
      builder.add(file.rows[i].row, text_row_from_json(file.rows[i].value, options, tokenizer.vocab_size()),
                  json_row_id(file.rows[i].value));
      tick(i + 1, file.rows.size());
    }
  } else {
    const CsvFile file = read_csv_file(path);
    require_columns(file.header, options, file.path);
    builder.add_unreadable(file.skipped);
    for (size_t i = 0; i < file.rows.size(); ++i) {
      const auto id = file.rows[i].fields.find("id");
      builder.add(file.rows[i].row, text_row_from_csv(file.rows[i].fields, options),
                  id == file.rows[i].fields.end() ? std::string() : id->second);
      tick(i + 1, file.rows.size());
    }
  }
  if (bar) bar->finish();
  return builder.finish();
}

std::set<std::string> read_excluded_ids(const std::string& csv_path) {
  const CsvFile f = read_csv_file(csv_path);
  if (std::find(f.header.begin(), f.header.end(), "id") == f.header.end())
    fail_input(csv_path, ": no \"id\" column; an exclusion list names rows in a column \"id\" (the rows' own id, or file:row)");
  std::set<std::string> ids;
  for (const CsvRow& r : f.rows) ids.insert(r.fields.at("id"));
  return ids;
}

void exclude_rows(TextDataset& ds, const std::set<std::string>& ids) {
  if (ids.empty()) return;
  std::vector<Example> kept;
  for (Example& e : ds.examples) {
    if (!ids.count(e.source) && (e.row_id.empty() || !ids.count(e.row_id))) {
      kept.push_back(std::move(e));
      continue;
    }
    ds.summary.excluded += 1;
    ds.summary.examples -= 1;
    ds.summary.total_tokens -= static_cast<int64_t>(e.input_ids.size());
    ds.summary.supervised_tokens -= e.supervised_tokens();
    ds.summary.images -= static_cast<int64_t>(e.images.size());
    ds.summary.audio_clips -= static_cast<int64_t>(e.audio.size());
  }
  ds.examples = std::move(kept);
}

}  // namespace gt::data
