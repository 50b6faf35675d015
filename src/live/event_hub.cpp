#include "live/event_hub.h"

namespace gt::live {

EventHub::EventHub(size_t probes_kept) : probes_kept_(probes_kept) {}

void EventHub::publish(nlohmann::json event) {
  const bool probe = event.value("type", "") == "probe";
  std::unique_lock lock(mu_);
  const uint64_t seq = next_seq_++;
  event["seq"] = seq;
  // Serialising under the lock keeps seq order equal to storage order; events are small (a probe is ~100 KB at most).
  events_.push_back({seq, probe, event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
  if (probe && ++probes_ > probes_kept_) {
    for (auto it = events_.begin(); it != events_.end(); ++it)
      if (it->probe) {
        events_.erase(it);
        --probes_;
        break;
      }
  }
  lock.unlock();
  cv_.notify_all();
}

EventHub::Slice EventHub::since(uint64_t after, size_t max) const {
  std::lock_guard lock(mu_);
  Slice s;
  s.last_seq = after;
  // Events are in seq order; skip those already seen from the back (the common case is a reader one event behind).
  auto it = events_.end();
  while (it != events_.begin() && std::prev(it)->seq > after) --it;
  for (; it != events_.end() && s.events.size() < max; ++it) {
    s.events.push_back(it->text);
    s.last_seq = it->seq;
  }
  s.closed = closed_ && it == events_.end();
  return s;
}

EventHub::Slice EventHub::wait_since(uint64_t after, std::chrono::milliseconds timeout) const {
  {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return closed_ || next_seq_ - 1 > after; });
  }
  return since(after, 256);
}

std::string EventHub::history_json() const {
  std::lock_guard lock(mu_);
  std::string out = "[";
  for (const Stored& e : events_) {
    if (out.size() > 1) out += ',';
    out += e.text;
  }
  out += ']';
  return out;
}

uint64_t EventHub::last_seq() const {
  std::lock_guard lock(mu_);
  return next_seq_ - 1;
}

void EventHub::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

}  // namespace gt::live
