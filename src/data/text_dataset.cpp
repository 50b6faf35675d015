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
#include "data/example_builder.h"
#include "data/jsonl_reader.h"
#include "data/text_rows.h"

namespace gt::data {

namespace {

constexpr size_t kReasonsInError = 5;

enum class FileFormat { Jsonl, Csv };

FileFormat format_of(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".jsonl") return FileFormat::Jsonl;
  if (ext == ".csv") return FileFormat::Csv;
  fail_input(path, ": unknown dataset format ", quote(ext), "; expected a .jsonl or .csv file");
}

// A JSONL row's own "id" (a string or an integer), if it has one.
std::string json_row_id(const nlohmann::json& row) {
  if (!row.is_object() || !row.contains("id")) return {};
  const nlohmann::json& id = row["id"];
  if (id.is_string()) return id.get<std::string>();
  if (id.is_number_integer()) return std::to_string(id.get<int64_t>());
  return {};
}

// Turns rows into examples and keeps the books.
class Builder {
 public:
  Builder(const std::string& path, const TextDatasetOptions& options, const tok::Tokenizer& tokenizer,
          io::Family family)
      : path_(path), name_(std::filesystem::path(path).filename().string()), options_(options), tokenizer_(tokenizer) {
    if (options.mode == TextMode::Instruction) {
      chat_.emplace(family, tokenizer);
      bos_id_ = chat_->bos_id();
    } else {
      bos_id_ = require_single_token(tokenizer, "<bos>", "completion rows");
    }
    out_.summary.file = path;
    if (options.max_seq_len < 2)
      fail_input(path, ": max_seq_len is ", options.max_seq_len, "; expected at least 2 (a token and its target)");
  }

  void add(int64_t row, const RowResult<TextRow>& parsed, std::string row_id) {
    ++out_.summary.rows_read;
    if (!parsed) return skip(row, parsed.error);
    RowResult<Example> built = build(*parsed.value);
    if (!built) return skip(row, built.error);
    Example& ex = *built.value;
    ex.source = cat(name_, ":", row);
    ex.row_id = std::move(row_id);
    TextDatasetSummary& s = out_.summary;
    ++s.examples;
    s.truncated += ex.truncated;
    s.total_tokens += static_cast<int64_t>(ex.input_ids.size());
    s.supervised_tokens += ex.supervised_tokens();
    s.longest = std::max<int64_t>(s.longest, static_cast<int64_t>(ex.input_ids.size()));
    for (const AudioRef& clip : ex.audio) {
      ++s.audio_clips;
      s.audio_cut += clip.cut;
      s.audio_seconds += clip.seconds;
    }
    s.images += static_cast<int64_t>(ex.images.size());
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
  RowResult<Example> build(const TextRow& row) {
    if (const auto* chat = std::get_if<ChatRow>(&row)) {
      GT_CHECK(chat_.has_value(), "conversation rows only come in instruction mode");
      if (chat->media.empty()) return build_chat_example(*chat_, chat->turns, options_.max_seq_len);
      return build_media_example(*chat);
    }
    if (const auto* text = std::get_if<CompletionRow>(&row))
      return build_completion_example(tokenizer_, bos_id_, text->text, options_.max_seq_len);
    return build_token_example(std::get<TokenRow>(row), options_.max_seq_len);
  }

  // A conversation with images or clips: probe each one, put its placeholder text at its place in its turn, and check
  // after tokenization that the placeholders are exactly the media's (a prompt that spells a placeholder token would
  // break that).
  RowResult<Example> build_media_example(const ChatRow& chat) {
    std::vector<Turn> turns = chat.turns;
    std::vector<AudioRef> clips;
    std::vector<ImageRef> images;
    int64_t audio_tokens = 0, image_tokens = 0;
    for (const MediaPart& m : chat.media) {
      std::string text;
      if (m.kind == MediaKind::Image) {
        GT_CHECK(options_.image && options_.image->probe && options_.image->placeholder_text,
                 "image rows need probe and placeholder_text functions");
        RowResult<ImageRef> probed = options_.image->probe(resolve(m.source));
        if (!probed) return RowResult<Example>::fail(probed.error.kind, probed.error.reason);
        text = options_.image->placeholder_text(*probed.value);
        image_tokens += probed.value->soft_tokens;
        images.push_back(std::move(*probed.value));
      } else {
        GT_CHECK(options_.audio && options_.audio->probe && options_.audio->placeholder_text,
                 "audio rows need probe and placeholder_text functions");
        RowResult<AudioRef> probed = options_.audio->probe(resolve(m.source));
        if (!probed) return RowResult<Example>::fail(probed.error.kind, probed.error.reason);
        text = options_.audio->placeholder_text(*probed.value);
        audio_tokens += probed.value->soft_tokens;
        clips.push_back(std::move(*probed.value));
      }
      turns[m.turn].media.push_back({m.offset, std::move(text)});
    }
    RowResult<Example> built = build_chat_example(*chat_, std::move(turns), options_.max_seq_len);
    if (!built) return built;
    const std::vector<int32_t>& ids = built.value->input_ids;
    auto check = [&](int32_t id, int64_t want, size_t n, const char* what, const char* kind) -> std::optional<RowError> {
      if (id < 0) return std::nullopt;
      const auto found = std::count(ids.begin(), ids.end(), id);
      if (found == want) return std::nullopt;
      return RowError{kind, cat("the text has ", found, " ", what, " placeholder tokens (id ", id, ") where its ", n,
                                " ", what, " part(s) need ", want,
                                "; does the text itself contain the placeholder token?")};
    };
    if (auto e = check(options_.audio ? options_.audio->placeholder_id : -1, audio_tokens, clips.size(), "audio",
                       skip_kind::kAudioTokens))
      return RowResult<Example>::fail(e->kind, e->reason);
    if (auto e = check(options_.image ? options_.image->placeholder_id : -1, image_tokens, images.size(), "image",
                       skip_kind::kImageTokens))
      return RowResult<Example>::fail(e->kind, e->reason);
    built.value->audio = std::move(clips);
    built.value->images = std::move(images);
    return built;
  }

  // A medium's source as written in a row -> an absolute path (relative to the dataset folder) or the URL as is.
  std::string resolve(const std::string& source) const {
    if (source.find("://") != std::string::npos) return source;
    std::filesystem::path p(source);
    if (p.is_absolute()) return source;
    const std::filesystem::path base = options_.base_dir.empty() ? std::filesystem::absolute(path_).parent_path()
                                                                 : std::filesystem::path(options_.base_dir);
    return (base / p).lexically_normal().string();
  }

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
  const tok::Tokenizer& tokenizer_;
  std::optional<ChatFormat> chat_;
  int32_t bos_id_ = 0;
  TextDataset out_;
};

void require_columns(const CsvFile& csv, const TextDatasetOptions& options) {
  std::vector<std::pair<std::string, const char*>> needed;
  if (options.image) {
    needed = {{options.image->column, "image_column"}};
    if (options.audio) {
      needed.push_back({options.audio->column, "audio_column"});
      needed.push_back({options.image->caption_column, "caption_column"});
    } else if (options.image_rows == ImageRowKind::Vqa ||
               (options.image_rows == ImageRowKind::Auto &&
                std::find(csv.header.begin(), csv.header.end(), options.image->question_column) != csv.header.end())) {
      needed.push_back({options.image->question_column, "question_column"});
      needed.push_back({options.image->answer_column, "answer_column"});
    } else {
      needed.push_back({options.image->caption_column, "caption_column"});
    }
  } else if (options.audio) {
    needed = {{options.audio->column, "audio_column"}, {options.text_column, "text_column"}};
  } else if (options.mode == TextMode::Instruction) {
    needed = {{options.prompt_column, "prompt_column"}, {options.response_column, "response_column"}};
  } else {
    needed = {{options.text_column, "text_column"}};
  }
  for (const auto& [column, option] : needed) {
    if (std::find(csv.header.begin(), csv.header.end(), column) != csv.header.end()) continue;
    std::string columns;
    for (const std::string& h : csv.header) columns += (columns.empty() ? "" : ", ") + h;
    fail_input(csv.path, ": the header has no column ", quote(column), " (columns: ", columns, "); set ", option,
               " to the column that holds it");
  }
}

}  // namespace

std::string TextDatasetSummary::describe() const {
  std::string out = cat(std::filesystem::path(file).filename().string(), ": ", rows_read, " rows, ", examples,
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
    require_columns(file, options);
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
