// The live page's events (issue #12): what a training run tells `train --live` and `runs show RUN --live`, kept in
// order for pages opened late (/history.json) and handed to the pages already open (/events, Server-Sent Events).
// Torch-free.
//
// Every event is one JSON object with "type", and "seq" (1, 2, ... in the order published; set by the hub). Types:
//   meta    {"run": {name, path, model, family, modality, device, dtype, status, total_steps, started_at, ...},
//            "config": {every key of the run's resolved config}, "data": {"train": SUMMARY, "validation": SUMMARY}}
//           SUMMARY = {"rows", "examples", "skipped": {kind: count}, "supervised_tokens", "text": "human line"}.
//           Published at the start; a later meta replaces fields of an earlier one (the page merges them).
//   train   one metrics.jsonl training row: step, epoch, loss, lr, grad_norm, tokens_per_s, step_s,
//           peak_memory_bytes, memory_bytes (device, now), host_rss_bytes, gpu_util (CUDA), ...
//   eval    one metrics.jsonl evaluation row: step, eval_loss, eval_tokens, when (periodic | epoch | final)
//   probe   the fixed probe row seen by the model at a step (train/live_probe.h):
//           {"step", "layer", "layers" (count), "source" ("validation.jsonl:3"), "tokens": [text of each position],
//            "attention": {"size": n, "bin": b, "values": base64 of n*n bytes, row-major, query rows x key columns},
//            "predictions": [{"position", "target": token text, "top": [{"token", "id", "p"} x5]}],
//            "cost_s": seconds the probe took}
//           attention: the chosen layer's probabilities averaged over heads; with more than n positions, b positions
//           share a bin (queries averaged, keys summed, so rows still sum to 1); byte = round(255 * sqrt(p)).
//   media   the probe row's image or audio, once: {"kind": "image" | "spectrogram", "width", "height",
//           "channels" (3 = RGB, 1 = grey), "pixels": base64 of height*width*channels bytes, row-major, top row
//           first (a spectrogram's top row is its highest mel band; columns are frames)}
//   status  {"status": "running" | "completed" | "failed" | "cancelled", "step", "error" (when failed)}
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace gt::live {

class EventHub {
 public:
  // Keeps every event except probes, of which the newest `probes_kept` stay (each is up to ~100 KB), and train rows
  // beyond `train_kept`: past that, every second row but the newest quarter goes (a long run's curve evenly thinned,
  // its recent steps whole), so the history of a run of millions of steps stays within a few tens of MB.
  explicit EventHub(size_t probes_kept = 16, size_t train_kept = 100000);

  // Adds "seq" and stores the event (URL credentials in meta, media and status events redacted, see
  // gt::redact_url_secrets); wakes the waiting streams. Never blocks on a reader: the lock is held only to
  // append (readers copy what they need under it and format outside).
  void publish(nlohmann::json event);

  // Events with seq > after, as serialised JSON text, in order (at most `max` of them).
  struct Slice {
    std::vector<std::string> events;
    uint64_t last_seq = 0;  // of the last event returned (or `after` when none)
    bool closed = false;    // close() was called and nothing newer is left
  };
  Slice since(uint64_t after, size_t max = SIZE_MAX) const;
  // As since(), waiting up to `timeout` for an event newer than `after` (or for close()).
  Slice wait_since(uint64_t after, std::chrono::milliseconds timeout) const;

  // Everything kept, as one JSON array (for /history.json).
  std::string history_json() const;
  uint64_t last_seq() const;

  // Wakes every waiting stream for good (the server is stopping).
  void close();

 private:
  struct Stored {
    uint64_t seq;
    uint64_t ordinal;  // train rows: 0, 1, 2, ... in the order published
    bool probe, train;
    std::string text;
  };
  void thin_train_rows();
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<Stored> events_;
  size_t probes_kept_, probes_ = 0, train_kept_, train_ = 0;
  uint64_t train_published_ = 0, stride_ = 1;
  uint64_t next_seq_ = 1;
  bool closed_ = false;
};

}  // namespace gt::live
