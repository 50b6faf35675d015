#include "live/event_hub.h"

#include "core/strings.h"

namespace gt::live {

namespace {
// Credentials in the URLs of a run's settings or media (user:pass@, ?token=, signed-URL parameters) never reach a page.
void redact_strings(nlohmann::json& j) {
  if (j.is_string()) {
    j = redact_url_secrets(j.get_ref<const std::string&>());
  } else if (j.is_structured()) {
    for (auto& v : j) redact_strings(v);
  }
}
}  // namespace

EventHub::EventHub(size_t probes_kept, size_t train_kept) : probes_kept_(probes_kept), train_kept_(train_kept) {}

void EventHub::thin_train_rows() {
  // All but the newest quarter of the train rows are held to one stride (in rows published), doubled only while they
  // are still too many: the curve's older part stays evenly spaced, its recent steps whole.
  auto hold_to_stride = [&] {
    const size_t older = train_ - train_kept_ / 4;
    std::deque<Stored> kept;
    size_t seen = 0;
    for (Stored& e : events_) {
      if (e.train && seen++ < older && e.ordinal % stride_ != 0) {
        --train_;
        continue;
      }
      kept.push_back(std::move(e));
    }
    events_.swap(kept);
  };
  hold_to_stride();
  while (train_ > train_kept_ * 3 / 4) {
    stride_ *= 2;
    hold_to_stride();
  }
}

void EventHub::publish(nlohmann::json event) {
  const std::string type = event.value("type", "");
  const bool probe = type == "probe", train = type == "train";
  if (type == "meta" || type == "media" || type == "status") redact_strings(event);
  std::unique_lock lock(mu_);
  const uint64_t seq = next_seq_++;
  event["seq"] = seq;
  // Serialising under the lock keeps seq order equal to storage order; events are small (a probe is ~100 KB at most).
  events_.push_back({seq, train ? train_published_++ : 0, probe, train,
                     event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
  if (train && ++train_ > train_kept_) thin_train_rows();
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
