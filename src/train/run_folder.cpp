#include "train/run_folder.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/files.h"
#include "core/strings.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace gt::train {

std::string utc_timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

RunFolder RunFolder::create(const std::string& out, const std::string& name) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
  std::string safe;
  for (char ch : name) safe += (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.') ? ch : '_';
  if (safe.empty()) safe = "run";
  fs::path base = fs::path(out) / (std::string(stamp) + "-" + safe);
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) fail_input(out, ": cannot create the output folder (", ec.message(), ")");
  // mkdir(2) is the exclusive step: two runs started together with the same name never share a folder, the
  // second one takes the next suffix. 0700: a run's config and data paths are for its owner only.
  fs::path p = base;
  for (int i = 2;; ++i) {
    if (::mkdir(p.c_str(), 0700) == 0) break;
    if (errno != EEXIST)
      fail_input(p.string(), ": cannot create the run folder (", std::strerror(errno), ")");
    p = base.string() + "-" + std::to_string(i);
  }
  RunFolder r;
  r.path_ = p.string();
  return r;
}

RunFolder RunFolder::open(const std::string& dir) {
  if (!fs::exists(fs::path(dir) / "metadata.json") || !fs::exists(fs::path(dir) / "config.yaml"))
    fail_input(dir, ": not a gemma-tune run folder (expected metadata.json and config.yaml)");
  RunFolder r;
  r.path_ = dir;
  return r;
}

RunFolder RunFolder::follow(const std::string& dir) {
  RunFolder r = open(dir);
  r.read_only_ = true;
  return r;
}

std::string RunFolder::file(const std::string& rel) const { return (fs::path(path_) / rel).string(); }

json RunFolder::metadata() const {
  std::ifstream in(file("metadata.json"));
  if (!in) return json::object();
  json j = json::parse(in, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

void RunFolder::update_metadata(const json& fields) {
  json j = metadata();
  j.merge_patch(fields);
  // A URL's credentials (a streamed dataset's, an error that names one) are never written (gt::redact_url_secrets).
  write_text("metadata.json", redact_url_secrets(j.dump(2)) + "\n");
}

void RunFolder::append_metric(const json& row) {
  if (read_only_) return;
  std::ofstream out(file("metrics.jsonl"), std::ios::app);
  out << row.dump() << "\n";
  out.flush();
  if (!out) fail_input(file("metrics.jsonl"), ": cannot append a row; the disk may be full");
}

std::vector<json> RunFolder::truncate_metrics_after(int64_t step) { return truncate_jsonl_after("metrics.jsonl", step); }

std::vector<json> RunFolder::truncate_jsonl_after(const std::string& rel, int64_t step) {
  std::ifstream in(file(rel));
  if (!in) return {};
  std::vector<json> kept;
  std::string text, line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded()) continue;
    if (j.value("step", int64_t{0}) <= step) {
      text += line + "\n";
      kept.push_back(std::move(j));
    }
  }
  in.close();
  write_text(rel, text);
  return kept;
}

void RunFolder::write_text(const std::string& rel, const std::string& content) const {
  if (read_only_) return;
  const std::string p = file(rel);
  // On the disk before it replaces the previous version, and the rename on the disk after: a power cut leaves one or
  // the other, whole.
  try {
    write_synced(p + ".tmp", content);
  } catch (const InputError& e) {
    std::error_code ec;
    fs::remove(p + ".tmp", ec);
    fail_input(p, ": write failed; the disk may be full (the previous version is kept): ", e.what());
  }
  std::error_code ec;
  fs::rename(p + ".tmp", p, ec);
  if (ec) fail_input(p, ": cannot move ", p, ".tmp into place (", ec.message(), ")");
  sync_path(path_);
}

}  // namespace gt::train
