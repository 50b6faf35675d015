#include "data/streaming_batches.h"

#include <numeric>
#include <set>

#include "core/error.h"
#include "core/strings.h"
#include "data/csv_reader.h"
#include "data/jsonl_reader.h"
#include "io/remote_media.h"

namespace gt::data {
namespace {

constexpr const char* kStateFormat = "gemma-tune stream v1";

std::string last_segment(const std::string& url) {
  std::string s = url.substr(0, url.find_first_of("?#", url.find("://") == std::string::npos ? 0 : url.find("://")));
  const size_t slash = s.find_last_of('/');
  return slash == std::string::npos ? s : s.substr(slash + 1);
}

nlohmann::json position_json(const StreamPosition& p) {
  return {{"shard", p.shard}, {"offset", p.offset}, {"line", p.line}, {"row", p.row}};
}

}  // namespace

StreamingBatches::StreamingBatches(std::vector<io::ObjectRef> shards, const ExampleMaker& maker,
                                   StreamingOptions options, ShardStream::ReaderFactory make_reader,
                                   const nlohmann::json& state)
    : shards_(std::move(shards)), maker_(maker), options_(std::move(options)), make_reader_(std::move(make_reader)) {
  if (shards_.empty()) fail_input("a streamed dataset needs at least one shard");
  if (options_.batch_size < 1) fail_input("batch_size is ", options_.batch_size, "; expected at least 1");
  if (state.is_null()) {
    start_epoch(nullptr);
    return;
  }
  const std::string where = "the checkpoint's data position";
  try {
    if (state.at("format").get<std::string>() != kStateFormat)
      fail_input(where, " is of format ", quote(state.at("format").get<std::string>()), ", not ", quote(kStateFormat));
    const nlohmann::json& saved = state.at("shards");
    if (saved.size() != shards_.size())
      fail_input("the streamed dataset changed since the checkpoint: it had ", saved.size(), " shard(s), it has ",
                 shards_.size(), " now; resume with the same data, or start a new run");
    for (size_t i = 0; i < shards_.size(); ++i) {
      const std::string url = saved[i].at("url").get<std::string>(), version = saved[i].at("version").get<std::string>();
      // Checkpoints hold URLs without their credentials (state()).
      if (url != redact_url_secrets(shards_[i].url) || version != shards_[i].version)
        fail_input("the streamed dataset changed since the checkpoint: shard ", i, " was ", url, " (version ", version,
                   "), it is ", shards_[i].url, " (version ", shards_[i].version, ") now; resume with the same data, "
                   "or start a new run");
    }
  } catch (const nlohmann::json::exception& e) {
    fail_input(where, " is incomplete (", e.what(), ")");
  }
  start_epoch(&state);
}

StreamingBatches::~StreamingBatches() = default;

void StreamingBatches::start_epoch(const nlohmann::json* state) {
  const std::string where = "the checkpoint's data position";
  StreamPosition pos;
  if (stream_) bytes_before_ += stream_->stats().bytes_read;
  stream_.reset();
  headers_.clear();
  ahead_.clear();
  counters_.rows = counters_.examples = counters_.skipped = counters_.excluded = 0;
  counters_.skipped_by_kind.clear();
  counters_.stream = {};
  if (state) {
    try {
      epoch_ = (*state).at("epoch").get<int64_t>();
      const nlohmann::json& p = state->at("position");
      pos = {p.at("shard").get<int64_t>(), p.at("offset").get<uint64_t>(), p.at("line").get<int64_t>(),
             p.at("row").get<int64_t>()};
      stream_done_ = state->at("stream_done").get<bool>();
      buffer_ = std::make_unique<ShuffleBuffer>(ShuffleBuffer::from_json(state->at("buffer"), where));
      if (state->contains("ahead"))
        for (const nlohmann::json& r : state->at("ahead")) ahead_.push_back(buffered_row_from_json(r));
      for (const auto& [shard, header] : state->at("headers").items())
        headers_[std::stoll(shard)] = std::make_shared<const std::vector<std::string>>(
            header.get<std::vector<std::string>>());
      counters_.rows = state->at("rows").get<int64_t>();
      counters_.examples = state->at("examples").get<int64_t>();
      counters_.skipped = state->at("skipped").get<int64_t>();
    } catch (const nlohmann::json::exception& e) {
      fail_input(where, " is incomplete (", e.what(), ")");
    } catch (const std::logic_error& e) {  // std::stoll
      fail_input(where, " is malformed (", e.what(), ")");
    }
  } else {
    buffer_ = std::make_unique<ShuffleBuffer>(options_.shuffle ? options_.shuffle_buffer : 0, options_.seed, epoch_);
    stream_done_ = false;
  }
  counters_.epoch = epoch_;
  const int64_t n = static_cast<int64_t>(shards_.size());
  order_ = epoch_order(n, options_.seed, epoch_, options_.shuffle);
  std::vector<io::ObjectRef> ordered;
  for (int64_t k : order_) ordered.push_back(shards_[static_cast<size_t>(k)]);
  if (stream_done_) pos = {n, 0, 1, 0};
  stream_ = std::make_unique<ShardStream>(std::move(ordered), options_.stream, pos, make_reader_);
}

std::unique_ptr<Example> StreamingBatches::make(const BufferedRow& row) {
  const io::ObjectRef& shard = shards_[static_cast<size_t>(row.shard)];
  ++counters_.rows;
  ++counters_.total_rows;
  SplitRecord rec;
  rec.line = row.line;
  rec.text = row.text;
  rec.error = row.error;
  SkippedRow skipped;
  RowResult<Example> built;
  std::string row_id;
  int64_t number = row.row;
  if (shard_format(shard.url) == RecordFormat::Csv) {
    const auto header = headers_.find(row.shard);
    GT_CHECK(header != headers_.end(), "a CSV row arrived before its shard's header");
    std::optional<CsvRow> csv = make_csv_row(*header->second, rec, row.row, shard.url, &skipped);
    if (csv) {
      built = maker_.from_csv(csv->fields);
      const auto id = csv->fields.find("id");
      if (id != csv->fields.end()) row_id = id->second;
    }
  } else {
    number = row.line;  // JSONL rows are named by their line, as whole-file loading names them
    std::optional<JsonlRow> j = make_jsonl_row(rec, shard.url, &skipped);
    if (j) {
      built = maker_.from_json(j->value);
      row_id = json_row_id(j->value);
    }
  }
  if (built.value) {
    auto ex = std::make_unique<Example>(std::move(*built.value));
    ex->source = cat(last_segment(shard.url), ":", number);
    ex->row_id = std::move(row_id);
    if (options_.exclude.count(ex->source) || (!ex->row_id.empty() && options_.exclude.count(ex->row_id))) {
      ++counters_.excluded;
      return nullptr;
    }
    return ex;
  }
  if (skipped.kind.empty()) skipped = SkippedRow{shard.url, number, built.error.kind, built.error.reason};
  ++counters_.skipped;
  ++counters_.skipped_by_kind[skipped.kind];
  if (!options_.skipped_log.empty()) append_skipped_rows(options_.skipped_log, std::span<const SkippedRow>(&skipped, 1));
  return nullptr;
}

std::optional<BufferedRow> StreamingBatches::next_row() {
  while (!stream_done_) {
    std::optional<StreamRecord> rec = stream_->next();
    if (!rec) {
      stream_done_ = true;
      break;
    }
    const int64_t shard = order_[static_cast<size_t>(rec->shard)];
    if (rec->header && !headers_.count(shard)) {
      require_columns(*rec->header, maker_.options(), shards_[static_cast<size_t>(shard)].url);
      headers_[shard] = rec->header;
    }
    std::optional<BufferedRow> out = buffer_->push(BufferedRow{shard, rec->row, rec->record.line,
                                                                std::move(rec->record.text), std::move(rec->record.error)});
    if (out) return out;
  }
  return buffer_->drain();
}

void StreamingBatches::fetch_media_ahead(const BufferedRow& row) const {
  if (!row.error.empty()) return;
  const io::ObjectRef& shard = shards_[static_cast<size_t>(row.shard)];
  SplitRecord rec;
  rec.line = row.line;
  rec.text = row.text;
  std::vector<std::string> urls;
  SkippedRow ignored;  // make() records it when the row is used
  if (shard_format(shard.url) == RecordFormat::Csv) {
    const auto header = headers_.find(row.shard);
    if (header == headers_.end()) return;
    if (std::optional<CsvRow> csv = make_csv_row(*header->second, rec, row.row, shard.url, &ignored))
      urls = maker_.remote_media_of(csv->fields);
  } else if (std::optional<JsonlRow> j = make_jsonl_row(rec, shard.url, &ignored)) {
    urls = maker_.remote_media_of(j->value);
  }
  for (const std::string& url : urls) io::prefetch_remote_media(url);
}

std::unique_ptr<Example> StreamingBatches::next_example() {
  const size_t depth = maker_.takes_media() ? static_cast<size_t>(std::max<int64_t>(options_.media_ahead, 0)) + 1 : 1;
  while (true) {
    while (ahead_.size() < depth) {
      std::optional<BufferedRow> row = next_row();
      if (!row) break;
      if (depth > 1) fetch_media_ahead(*row);
      ahead_.push_back(std::move(*row));
    }
    if (ahead_.empty()) return nullptr;
    const BufferedRow row = std::move(ahead_.front());
    ahead_.pop_front();
    if (auto ex = make(row)) return ex;
  }
}

Batch StreamingBatches::next() {
  std::vector<Example> batch;
  while (true) {
    while (static_cast<int64_t>(batch.size()) < options_.batch_size) {
      std::unique_ptr<Example> ex = next_example();
      if (!ex) break;
      batch.push_back(std::move(*ex));
      ++counters_.examples;
    }
    if (!batch.empty()) break;
    // The epoch is over and left nothing for this batch.
    if (counters_.examples == 0)
      fail_input("epoch ", epoch_, " of the streamed dataset (", shards_.size(), " shard(s), first ", shards_[0].url,
                 ") gave no usable example: ", counters_.rows, " row(s) read, ", counters_.skipped, " skipped",
                 options_.skipped_log.empty() ? std::string() : cat(" (listed in ", options_.skipped_log, ")"));
    ++epoch_;
    start_epoch(nullptr);
  }
  std::vector<int64_t> idx(batch.size());
  std::iota(idx.begin(), idx.end(), int64_t{0});
  Batch b = collate(batch, idx, options_.pad_id, options_.pad_to_multiple_of);
  counters_.stream = stream_->stats();
  return b;
}

nlohmann::json StreamingBatches::state() const {
  nlohmann::json shards = nlohmann::json::array();
  for (const io::ObjectRef& o : shards_) {
    nlohmann::json j = {{"url", redact_url_secrets(o.url)}, {"version", o.version}};
    if (!o.bq_position.empty()) j["bq_position"] = o.bq_position;
    shards.push_back(std::move(j));
  }
  nlohmann::json buffer = buffer_->to_json();
  nlohmann::json ahead = nlohmann::json::array();
  std::set<int64_t> needed;
  for (const nlohmann::json& r : buffer.at("rows")) needed.insert(r.at("shard").get<int64_t>());
  for (const BufferedRow& r : ahead_) {
    ahead.push_back(buffered_row_json(r));
    needed.insert(r.shard);
  }
  nlohmann::json headers = nlohmann::json::object();
  for (int64_t k : needed)
    if (const auto h = headers_.find(k); h != headers_.end()) headers[std::to_string(k)] = *h->second;
  return {{"format", kStateFormat},
          {"epoch", epoch_},
          {"shards", std::move(shards)},
          {"position", position_json(stream_->position())},
          {"stream_done", stream_done_},
          {"buffer", std::move(buffer)},
          {"ahead", std::move(ahead)},
          {"headers", std::move(headers)},
          {"rows", counters_.rows},
          {"examples", counters_.examples},
          {"skipped", counters_.skipped}};
}

StreamingCounters StreamingBatches::counters() const {
  StreamingCounters c = counters_;
  if (stream_) c.stream = stream_->stats();
  c.total_bytes = bytes_before_ + c.stream.bytes_read;
  return c;
}

std::vector<io::ObjectRef> saved_shards(const nlohmann::json& state) {
  std::vector<io::ObjectRef> out;
  try {
    for (const nlohmann::json& j : state.at("shards")) {
      io::ObjectRef o;
      o.url = j.at("url").get<std::string>();
      o.version = j.at("version").get<std::string>();
      if (!j.contains("bq_position")) fail_input("the checkpoint's shard ", o.url, " is not a BigQuery result");
      o.kind = io::ObjectKind::BigQuery;
      o.bq_position = j.at("bq_position").get<std::string>();
      out.push_back(std::move(o));
    }
  } catch (const nlohmann::json::exception& e) {
    fail_input("the checkpoint's data position is incomplete (", e.what(), ")");
  }
  if (out.empty()) fail_input("the checkpoint's data position names no shard");
  return out;
}

TextDataset read_streamed_dataset(std::vector<io::ObjectRef> shards, const ExampleMaker& maker,
                                  ShardStream::ReaderFactory make_reader, const std::string& skipped_log,
                                  const std::string& where) {
  StreamingOptions o;
  o.shuffle = false;
  o.skipped_log = skipped_log;
  StreamingBatches stream(std::move(shards), maker, o, std::move(make_reader));
  TextDataset ds;
  ds.summary.file = where;
  while (std::unique_ptr<Example> ex = stream.next_example()) {
    ds.summary.count(*ex);
    ds.examples.push_back(std::move(*ex));
  }
  const StreamingCounters c = stream.counters();
  ds.summary.rows_read = c.rows;
  ds.summary.skipped = c.skipped;
  ds.summary.skipped_by_kind = c.skipped_by_kind;
  if (ds.examples.empty())
    fail_input(where, ": no usable row; ", c.rows, " read, ", c.skipped, " skipped",
               skipped_log.empty() ? std::string() : cat(" (every skipped row is listed in ", skipped_log, ")"));
  return ds;
}

}  // namespace gt::data
