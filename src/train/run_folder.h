// The folder of one training run (DESIGN.md "Run folder"):
//   config.yaml      the fully resolved configuration
//   metadata.json    status (running/completed/failed/cancelled), times, versions, device, error
//   metrics.jsonl    one JSON object per logged step or evaluation
//   skipped.jsonl    rows of the dataset that were skipped, with file, row and reason
//   probes.jsonl     with --live: what the live page was shown inside the model (live/event_hub.h probe, media)
//   checkpoints/step-N/  what resume needs (see train/checkpoint.h)
//   adapter/         the final adapter in PEFT format
//   .integrity.json  sha256 + size of every file, written when the run ends
// metadata.json is rewritten atomically (temporary file + rename) at every status change.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace gt::train {

class RunFolder {
 public:
  // Creates <out>/<YYYYmmdd-HHMMSS>-<name>/ (a numeric suffix avoids collisions).
  static RunFolder create(const std::string& out, const std::string& name);
  // Opens an existing run folder (for --resume); throws gt::InputError when it is not one.
  static RunFolder open(const std::string& dir);
  // The run folder as another process of a data-parallel run sees it (rank 0 owns it): read, never written; every
  // write below does nothing.
  static RunFolder follow(const std::string& dir);

  const std::string& path() const { return path_; }
  std::string file(const std::string& rel) const;

  // metadata.json: merges `fields` into the stored object and rewrites it.
  void update_metadata(const nlohmann::json& fields);
  nlohmann::json metadata() const;

  // Appends one JSON object to metrics.jsonl (flushed).
  void append_metric(const nlohmann::json& row);
  // Drops metrics rows with "step" > step (used when resuming from a checkpoint before the last logged step);
  // returns the rows kept, in order.
  std::vector<nlohmann::json> truncate_metrics_after(int64_t step);
  // The same for any JSON-lines file of the folder (the live page's probes.jsonl).
  std::vector<nlohmann::json> truncate_jsonl_after(const std::string& rel, int64_t step);

  void write_text(const std::string& rel, const std::string& content) const;

 private:
  std::string path_;
  bool read_only_ = false;
};

// "2026-11-25T21:04:05Z"
std::string utc_timestamp();

}  // namespace gt::train
