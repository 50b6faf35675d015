// The live page's events of a run folder (issue #12): the trainer publishes them as it goes; `runs show RUN --live`
// reads the same from the folder's files (metadata.json, config.yaml, metrics.jsonl, probes.jsonl), following a run
// that is still going. Torch-free.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "core/train_config.h"
#include "data/text_dataset.h"
#include "live/event_hub.h"

namespace gt::live {

// A metrics.jsonl row as a "train" or "eval" event (rows with eval_loss are evaluations).
nlohmann::json metric_event(const nlohmann::json& row);
// Every option of the run's config as JSON values ({"lr": 0.0002, "live": "", ...}).
nlohmann::json config_json(const TrainConfig& cfg);
// {"rows", "examples", "skipped": {kind: n}, "truncated", "supervised_tokens", "text"} of a dataset summary.
nlohmann::json summary_json(const data::TextDatasetSummary& s);

// Publishes a run folder's events into a hub, and then whatever the run adds while it goes on.
class RunFolderEvents {
 public:
  RunFolderEvents(std::string run_dir, EventHub& hub);
  // Reads what is new since the last call (complete lines only) and publishes it; a status change of
  // metadata.json publishes a meta and a status event. Returns true while the run's status is "running".
  bool poll();

 private:
  void publish_new_lines(const std::string& file, uint64_t& offset, bool probes);
  std::string dir_;
  EventHub& hub_;
  uint64_t metrics_offset_ = 0, probes_offset_ = 0;
  std::string status_;
  nlohmann::json last_metadata_;
};

}  // namespace gt::live
