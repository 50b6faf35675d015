#include "data/shuffle_buffer.h"

#include <sstream>

#include "core/error.h"

namespace gt::data {

ShuffleBuffer::ShuffleBuffer(size_t capacity, uint64_t seed, int64_t epoch)
    : capacity_(capacity), rng_(seed ^ (static_cast<uint64_t>(epoch) * 0x9E3779B97F4A7C15ull)) {}

size_t ShuffleBuffer::draw(size_t n) { return static_cast<size_t>(rng_() % n); }

std::optional<BufferedRow> ShuffleBuffer::push(BufferedRow row) {
  if (capacity_ <= 1) return row;
  bytes_ += row.text.size();
  if (rows_.size() < capacity_) {
    rows_.push_back(std::move(row));
    return std::nullopt;
  }
  const size_t i = draw(rows_.size());
  BufferedRow out = std::move(rows_[i]);
  rows_[i] = std::move(row);
  bytes_ -= out.text.size();
  return out;
}

std::optional<BufferedRow> ShuffleBuffer::drain() {
  if (rows_.empty()) return std::nullopt;
  const size_t i = draw(rows_.size());
  std::swap(rows_[i], rows_.back());
  BufferedRow out = std::move(rows_.back());
  rows_.pop_back();
  bytes_ -= out.text.size();
  return out;
}

nlohmann::json buffered_row_json(const BufferedRow& r) {
  nlohmann::json j = {{"shard", r.shard}, {"row", r.row}, {"line", r.line}, {"text", r.text}};
  if (!r.error.empty()) j["error"] = r.error;
  return j;
}

BufferedRow buffered_row_from_json(const nlohmann::json& r) {
  return BufferedRow{r.at("shard").get<int64_t>(), r.at("row").get<int64_t>(), r.at("line").get<int64_t>(),
                     r.at("text").get<std::string>(), r.value("error", std::string())};
}

nlohmann::json ShuffleBuffer::to_json() const {
  std::ostringstream rng;
  rng << rng_;  // the text form of a Mersenne Twister's state is fixed by the C++ standard
  nlohmann::json rows = nlohmann::json::array();
  for (const BufferedRow& r : rows_) rows.push_back(buffered_row_json(r));
  return {{"capacity", capacity_}, {"rng", rng.str()}, {"rows", std::move(rows)}};
}

ShuffleBuffer ShuffleBuffer::from_json(const nlohmann::json& j, const std::string& where) {
  ShuffleBuffer b(0, 0, 0);
  try {
    b.capacity_ = j.at("capacity").get<size_t>();
    std::istringstream rng(j.at("rng").get<std::string>());
    rng >> b.rng_;
    if (rng.fail()) fail_input(where, ": the shuffle buffer's generator state cannot be read");
    for (const nlohmann::json& r : j.at("rows")) {
      BufferedRow row = buffered_row_from_json(r);
      b.bytes_ += row.text.size();
      b.rows_.push_back(std::move(row));
    }
  } catch (const nlohmann::json::exception& e) {
    fail_input(where, ": the shuffle buffer's state is incomplete (", e.what(), ")");
  }
  if (b.rows_.size() > std::max<size_t>(b.capacity_, 1))
    fail_input(where, ": the shuffle buffer holds ", b.rows_.size(), " rows, more than its capacity ", b.capacity_);
  return b;
}

}  // namespace gt::data
