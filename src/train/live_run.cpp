#include "train/live_run.h"

#include <cstdio>
#include <fstream>
#include <iostream>

#include "core/device.h"
#include "core/error.h"
#include "core/strings.h"
#include "live/run_events.h"

namespace gt::train {

using nlohmann::json;


LiveRun::LiveRun(const TrainConfig& cfg, RunFolder& run) : every_(cfg.live_every), run_(run) {
  server_ = std::make_unique<live::LiveServer>(hub_, live::live_options(cfg.live, cfg.live_host));
  std::cerr << "live        " << server_->url()
            << (live::is_loopback_host(cfg.live_host) ? "" : " (reachable beyond this machine; keep the token private)")
            << "\n";
}

LiveRun::~LiveRun() = default;

void LiveRun::publish(json event) { hub_.publish(std::move(event)); }

void LiveRun::metric(const json& row) { hub_.publish(live::metric_event(row)); }

void LiveRun::keep(const json& event) {
  std::ofstream out(run_.file("probes.jsonl"), std::ios::app | std::ios::binary);
  out << event.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  if (!out) std::cerr << "live        could not append to " << run_.file("probes.jsonl") << " (disk full?)\n";
}

void LiveRun::set_probe(std::unique_ptr<LiveProbe> probe) {
  probe_ = std::move(probe);
  if (!probe_) return;
  json media = probe_->media_event();
  if (!media.is_null()) {
    keep(media);
    hub_.publish(std::move(media));
  }
}

void LiveRun::maybe_probe(models::Model& model, int64_t step, bool force) {
  if (!probe_ || every_ <= 0 || step == last_probe_step_) return;
  if (!force && step % every_ != 0) return;
  json e;
  try {
    e = probe_->run(model, step);
  } catch (const std::exception& err) {
    // The page is a view: a probe that fails (out of memory at a long row, say) must not stop the training.
    std::cerr << "live        probes stopped: the probe at step " << step << " failed: " << err.what() << "\n";
    probe_.reset();
    return;
  }
  probe_seconds_ += e.value("cost_s", 0.0);
  ++probes_;
  last_probe_step_ = step;
  keep(e);
  hub_.publish(std::move(e));
}

void LiveRun::status(const std::string& status, int64_t step, const std::string& error) {
  json e = {{"type", "status"}, {"status", status}, {"step", step}};
  if (!error.empty()) e["error"] = error;
  hub_.publish(std::move(e));
}

std::string LiveRun::describe(double train_seconds) const {
  char took[32], share[32];
  std::snprintf(took, sizeof took, "%.2f s", probe_seconds_);
  std::snprintf(share, sizeof share, "%.1f %%", train_seconds > 0 ? 100 * probe_seconds_ / train_seconds : 0.0);
  return cat(probes_, " probe", probes_ == 1 ? "" : "s", " took ", took,
             train_seconds > 0 ? cat(" (", share, " of ", format_duration(train_seconds), " of training)") : std::string());
}

}  // namespace gt::train
