// `gemma-tune prepare`: checks every row of an audio dataset, decodes each clip once (FFmpeg: any format, file or
// URL), mixes it to mono, resamples to 16 kHz, cuts it to max_duration and writes it to <out>/clips/ as a 16-bit wav;
// writes the same rows with their audio paths pointing at those files (<out>/train.csv, validation.csv or .jsonl),
// the rows it could not use to <out>/skipped.jsonl, and a report of durations to <out>/prepare.json and the terminal.
// Training reads the prepared folder like any dataset (no decoding of mp3/URLs per epoch); it also works without it.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "core/error.h"
#include "core/files.h"
#include "core/progress.h"
#include "core/strings.h"
#include "data/csv_reader.h"
#include "data/dataset_files.h"
#include "data/example.h"
#include "data/jsonl_reader.h"
#include "media/audio_decode.h"
#include "train/commands.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace gt::train {

namespace {

constexpr int kRate = 16000;

std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

struct SplitReport {
  std::string file;
  int64_t rows = 0, prepared = 0, cut = 0;
  std::map<std::string, int64_t> skipped;  // kind -> count
  std::vector<double> seconds;             // of the prepared clips, as written

  json to_json() const {
    std::vector<double> s = seconds;
    std::sort(s.begin(), s.end());
    double total = 0;
    for (double x : s) total += x;
    json j = {{"file", file}, {"rows", rows}, {"prepared", prepared}, {"cut_to_max_duration", cut},
              {"skipped", skipped}, {"clips", s.size()}, {"total_seconds", total}};
    if (!s.empty())
      j["seconds"] = {{"min", s.front()}, {"median", s[s.size() / 2]}, {"max", s.back()}, {"mean", total / s.size()}};
    return j;
  }
  std::string describe() const {
    std::vector<double> s = seconds;
    std::sort(s.begin(), s.end());
    double total = 0;
    for (double x : s) total += x;
    char buf[200];
    std::snprintf(buf, sizeof buf, "%s: %lld rows, %lld prepared, %lld skipped; %.1f min of audio",
                  fs::path(file).filename().string().c_str(), static_cast<long long>(rows),
                  static_cast<long long>(prepared), static_cast<long long>(rows - prepared), total / 60.0);
    std::string out = buf;
    if (!s.empty()) {
      std::snprintf(buf, sizeof buf, ", clips %.2f / %.2f / %.2f s (min / median / max)", s.front(), s[s.size() / 2],
                    s.back());
      out += buf;
    }
    if (cut > 0) out += cat(", ", cut, " cut to max_duration");
    for (const auto& [kind, n] : skipped) out += cat("\n  skipped ", kind, ": ", n);
    return out;
  }
};

class Preparer {
 public:
  explicit Preparer(const PrepareOptions& o) : o_(o) {
    make_output_folder((fs::path(o.out) / "clips").string(), "prepare: --out");
    skipped_log_ = (fs::path(o.out) / "skipped.jsonl").string();
    std::ofstream(skipped_log_, std::ios::trunc);  // a fresh record of this preparation
  }

  // Decodes one clip into clips/<name>.wav; returns the new relative path, or the reason it cannot be used.
  data::RowResult<std::string> clip(const std::string& source, const std::string& base_dir, const std::string& name,
                                    SplitReport& report) {
    using R = data::RowResult<std::string>;
    const std::string resolved = media::resolve_audio_source(source, base_dir);
    media::AudioClip c;
    try {
      c = media::decode_audio(resolved, kRate, o_.max_duration);
    } catch (const InputError& e) {
      return R::fail(data::skip_kind::kBadAudio, e.what());
    }
    if (c.samples.empty()) return R::fail(data::skip_kind::kEmptyAudio, cat(resolved, ": the clip has no samples"));
    if (c.seconds() < o_.min_duration)
      return R::fail("too_short", cat(resolved, ": ", c.seconds(), " s, shorter than --min-duration ", o_.min_duration));
    const std::string rel = "clips/" + name + ".wav";
    media::write_wav((fs::path(o_.out) / rel).string(), c.samples, kRate);
    report.cut += c.truncated;
    report.seconds.push_back(c.seconds());
    return R::ok(rel);
  }

  void skip(SplitReport& r, int64_t row, const std::string& kind, const std::string& reason) {
    ++r.skipped[kind];
    const data::SkippedRow s{r.file, row, kind, reason};
    data::append_skipped_rows(skipped_log_, std::span<const data::SkippedRow>(&s, 1));
  }

  SplitReport csv(const std::string& path, const std::string& split) {
    SplitReport r;
    r.file = path;
    const data::CsvFile f = data::read_csv_file(path);
    if (std::find(f.header.begin(), f.header.end(), o_.audio_column) == f.header.end())
      fail_input(path, ": the header has no column ", quote(o_.audio_column), "; set --audio-column");
    std::ofstream out(fs::path(o_.out) / (split + ".csv"), std::ios::binary | std::ios::trunc);
    for (size_t i = 0; i < f.header.size(); ++i) out << (i ? "," : "") << csv_field(f.header[i]);
    out << "\n";
    r.rows = static_cast<int64_t>(f.rows.size() + f.skipped.size());
    for (const auto& s : f.skipped) skip(r, s.row, s.kind, s.reason);
    Progress bar("prepare " + split, static_cast<int64_t>(f.rows.size()));
    const std::string base = fs::absolute(path).parent_path().string();
    for (size_t k = 0; k < f.rows.size(); ++k) {
      const data::CsvRow& row = f.rows[k];
      const std::string& source = row.fields.at(o_.audio_column);
      if (trim(source).empty()) {
        skip(r, row.row, data::skip_kind::kMissingColumn, cat("column ", quote(o_.audio_column), " is empty"));
      } else if (auto c = clip(trim(source), base, cat(split, "-", row.row), r); !c) {
        skip(r, row.row, c.error.kind, c.error.reason);
      } else {
        for (size_t i = 0; i < f.header.size(); ++i) {
          const std::string& col = f.header[i];
          out << (i ? "," : "") << csv_field(col == o_.audio_column ? *c.value : row.fields.at(col));
        }
        out << "\n";
        ++r.prepared;
      }
      bar.update(static_cast<int64_t>(k + 1), cat(r.prepared, " ok"));
    }
    bar.finish();
    return r;
  }

  SplitReport jsonl(const std::string& path, const std::string& split) {
    SplitReport r;
    r.file = path;
    const data::JsonlFile f = data::read_jsonl_file(path);
    std::ofstream out(fs::path(o_.out) / (split + ".jsonl"), std::ios::binary | std::ios::trunc);
    r.rows = static_cast<int64_t>(f.rows.size() + f.skipped.size());
    for (const auto& s : f.skipped) skip(r, s.row, s.kind, s.reason);
    Progress bar("prepare " + split, static_cast<int64_t>(f.rows.size()));
    const std::string base = fs::absolute(path).parent_path().string();
    for (size_t k = 0; k < f.rows.size(); ++k) {
      json row = f.rows[k].value;
      const int64_t n = f.rows[k].row;
      int clips = 0;
      std::optional<data::RowError> error;
      // Every audio source of the row: the flat key, and the audio parts of messages.
      auto rewrite = [&](json& holder, const char* key) {
        if (error || !holder.contains(key) || !holder.at(key).is_string()) return;
        auto c = clip(trim(holder.at(key).get<std::string>()), base, cat(split, "-", n, "-", clips++), r);
        if (!c) error = c.error;
        else holder[key] = *c.value;
      };
      if (row.is_object() && row.contains(o_.audio_column)) rewrite(row, o_.audio_column.c_str());
      if (row.is_object() && row.contains("messages") && row.at("messages").is_array())
        for (json& m : row["messages"])
          if (m.is_object() && m.contains("content") && m.at("content").is_array())
            for (json& part : m["content"])
              if (part.is_object() && part.value("type", "") == "audio")
                for (const char* key : {"path", "audio", "url"})
                  if (part.contains(key)) {
                    rewrite(part, key);
                    break;
                  }
      if (error) {
        skip(r, n, error->kind, error->reason);
      } else if (clips == 0) {
        skip(r, n, data::skip_kind::kMissingColumn,
             cat("no audio: neither ", quote(o_.audio_column), " nor an audio part in \"messages\""));
      } else {
        out << row.dump() << "\n";
        ++r.prepared;
      }
      bar.update(static_cast<int64_t>(k + 1), cat(r.prepared, " ok"));
    }
    bar.finish();
    return r;
  }

 private:
  const PrepareOptions& o_;
  std::string skipped_log_;
};

}  // namespace

void run_prepare(const PrepareOptions& o) {
  if (o.data.empty() || o.out.empty()) fail_input("prepare: --data and --out are required");
  if (o.modality != "audio")
    fail_input("prepare: --modality ", o.modality, " has nothing to prepare; audio datasets are prepared (images "
               "arrive with the vision issue)");
  if (!(o.max_duration > 0)) fail_input("prepare: --max-duration is ", o.max_duration, ", expected > 0");
  data::DatasetFiles files;
  if (fs::is_directory(o.data)) {
    files = data::find_dataset_files(o.data);
  } else if (fs::exists(o.data)) {
    files.train = o.data;
  } else {
    fail_input("prepare: ", o.data, " does not exist");
  }
  if (fs::exists(o.out) && fs::weakly_canonical(o.out) == fs::weakly_canonical(fs::path(files.train).parent_path()))
    fail_input("prepare: --out ", o.out, " is the dataset's own folder; choose a new folder");
  for (const char* f : {"train.csv", "train.jsonl", "validation.csv", "validation.jsonl"})
    if (fs::exists(fs::path(o.out) / f))
      fail_input("prepare: ", (fs::path(o.out) / f).string(), " exists; prepare into a new or empty folder");

  Preparer p(o);
  json report = {{"max_duration", o.max_duration}, {"min_duration", o.min_duration}, {"sample_rate", kRate},
                 {"audio_column", o.audio_column}};
  int64_t prepared = 0;
  for (const auto& [split, path] : {std::pair{std::string("train"), files.train},
                                    std::pair{std::string("validation"), files.validation}}) {
    if (path.empty()) continue;
    const std::string ext = fs::path(path).extension().string();
    SplitReport r;
    if (ext == ".csv") r = p.csv(path, split);
    else if (ext == ".jsonl") r = p.jsonl(path, split);
    else fail_input(path, ": unknown dataset format ", quote(ext), "; expected a .jsonl or .csv file");
    std::cerr << r.describe() << "\n";
    report[split] = r.to_json();
    prepared += r.prepared;
  }
  std::ofstream(fs::path(o.out) / "prepare.json") << report.dump(2) << "\n";
  std::cerr << "prepared dataset in " << o.out << " (rows that could not be used: " << o.out << "/skipped.jsonl)\n";
  if (prepared == 0) fail_input("prepare: no row of ", o.data, " could be prepared; see ", o.out, "/skipped.jsonl");
}

}  // namespace gt::train
