// `train --live`: the trainer's side of the live page (issue #12). It owns the event history and the page's server,
// turns the run's metrics into events, runs the probe every --live-every steps (train/live_probe.h) and keeps what
// the probe showed in the run folder's probes.jsonl, so `runs show RUN --live` can show it later. The trainer never
// waits for a page: publishing only appends to the history (live/event_hub.h).
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "core/train_config.h"
#include "live/event_hub.h"
#include "live/live_server.h"
#include "train/live_probe.h"
#include "train/run_folder.h"

namespace gt::train {

class LiveRun {
 public:
  // Starts serving (prints "live        URL" on stderr). Throws gt::InputError when the port cannot be bound.
  LiveRun(const TrainConfig& cfg, RunFolder& run);
  ~LiveRun();

  void publish(nlohmann::json event);
  // A metrics.jsonl row (train or eval).
  void metric(const nlohmann::json& row);
  // The fixed row the page looks inside the model with; its media event goes out now. Null = no probe.
  void set_probe(std::unique_ptr<LiveProbe> probe);
  // Runs the probe when `step` is a multiple of --live-every (and at step 0 / the first step of a resume).
  void maybe_probe(models::Model& model, int64_t step, bool force = false);
  void status(const std::string& status, int64_t step, const std::string& error = "");
  // "12 probes took 0.8 s (1.2 % of 66 s of training), 2 pages watching" for the end of the run.
  std::string describe(double train_seconds) const;
  const std::string& url() const { return server_->url(); }

 private:
  void keep(const nlohmann::json& event);  // appended to probes.jsonl
  int64_t every_;
  RunFolder& run_;
  live::EventHub hub_;
  std::unique_ptr<live::LiveServer> server_;
  std::unique_ptr<LiveProbe> probe_;
  int64_t probes_ = 0, last_probe_step_ = -1;
  double probe_seconds_ = 0;
};

}  // namespace gt::train
