#include "live/run_events.h"

#include <filesystem>
#include <fstream>

namespace gt::live {

namespace fs = std::filesystem;
using nlohmann::json;

json metric_event(const json& row) {
  json e = row;
  e["type"] = row.contains("eval_loss") ? "eval" : "train";
  return e;
}

json config_json(const TrainConfig& cfg) {
  json out = json::object();
  for (const ConfigField& f : train_config_fields())
    std::visit([&](auto member) { out[f.key] = cfg.*member; }, f.member);
  return out;
}

json summary_json(const data::TextDatasetSummary& s) {
  json skipped = json::object();
  for (const auto& [kind, n] : s.skipped_by_kind) skipped[kind] = n;
  json j = {{"file", s.file},         {"rows", s.rows_read},      {"examples", s.examples},
            {"skipped", skipped},     {"truncated", s.truncated}, {"tokens", s.total_tokens},
            {"supervised_tokens", s.supervised_tokens}, {"longest", s.longest}, {"text", s.describe()}};
  if (s.audio_clips) j["audio_seconds"] = s.audio_seconds;
  if (s.images) j["images"] = s.images;
  return j;
}

RunFolderEvents::RunFolderEvents(std::string run_dir, EventHub& hub) : dir_(std::move(run_dir)), hub_(hub) {}

void RunFolderEvents::publish_new_lines(const std::string& file, uint64_t& offset, bool probes) {
  std::ifstream in(fs::path(dir_) / file, std::ios::binary);
  if (!in) return;
  in.seekg(0, std::ios::end);
  const uint64_t size = static_cast<uint64_t>(in.tellg());
  if (size < offset) offset = 0;  // rewritten (a resume cut it): read it again
  in.seekg(static_cast<std::streamoff>(offset));
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no newline yet: the writer is mid-line; read it next time
    offset += line.size() + 1;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) continue;
    hub_.publish(probes ? j : metric_event(j));
  }
}

bool RunFolderEvents::poll() {
  json metadata;
  {
    std::ifstream in(fs::path(dir_) / "metadata.json");
    metadata = json::parse(in, nullptr, false);
    if (metadata.is_discarded() || !metadata.is_object()) metadata = last_metadata_;  // mid-rewrite: keep the last
  }
  const bool first = last_metadata_.is_null();
  if (first) {
    json meta = {{"type", "meta"}, {"run", metadata}};
    meta["run"]["path"] = fs::absolute(dir_).string();
    meta["run"]["name"] = fs::path(dir_).filename().string();
    TrainConfig cfg;
    try {
      apply_yaml(cfg, (fs::path(dir_) / "config.yaml").string());
      meta["config"] = config_json(cfg);
    } catch (const std::exception&) {
      // A config from another version of gemma-tune: the page shows the run without it.
    }
    if (metadata.contains("data_summary"))
      meta["data"] = metadata["data_summary"];
    else if (metadata.contains("train_summary"))  // runs from before data_summary was kept
      meta["data"] = {{"train", {{"text", metadata["train_summary"]}}}};
    hub_.publish(meta);
  }
  publish_new_lines("metrics.jsonl", metrics_offset_, false);
  publish_new_lines("probes.jsonl", probes_offset_, true);
  const std::string status = metadata.value("status", "");
  if (!first && metadata != last_metadata_) hub_.publish({{"type", "meta"}, {"run", metadata}});
  if (status != status_) {
    json e = {{"type", "status"}, {"status", status}, {"step", metadata.value("steps", int64_t{0})}};
    if (metadata.contains("error") && !metadata["error"].is_null()) e["error"] = metadata["error"];
    hub_.publish(e);
    status_ = status;
  }
  last_metadata_ = metadata;
  return status == "running";
}

}  // namespace gt::live
