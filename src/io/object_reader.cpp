#include "io/object_reader.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/strings.h"
#include "io/object_cache.h"

namespace gt::io {
namespace {

namespace fs = std::filesystem;

std::string local_version(const fs::path& p) {
  std::error_code ec;
  const auto t = fs::last_write_time(p, ec);
  if (ec) return {};
  return std::to_string(t.time_since_epoch().count());
}

ObjectRef local_object(const std::string& spec) {
  std::error_code ec;
  const fs::path p(spec);
  if (!fs::exists(p, ec)) fail_input(spec, ": no such file");
  if (!fs::is_regular_file(p, ec)) fail_input(spec, ": not a file (a dataset shard must be a file)");
  ObjectRef o;
  o.kind = ObjectKind::Local;
  o.url = spec;
  o.size = fs::file_size(p, ec);
  if (ec) fail_input(spec, ": cannot read its size: ", ec.message());
  o.version = local_version(p);
  return o;
}

ObjectRef gcs_object_ref(GcsObject g) {
  ObjectRef o;
  o.kind = ObjectKind::Gcs;
  o.url = g.url();
  o.size = g.size;
  o.version = std::to_string(g.generation);
  o.gcs = std::move(g);
  return o;
}

// Bytes [begin, end) of the file at `path` (opened already as `in`), `size` bytes long, to `sink`.
DownloadResult read_file_range(std::ifstream& in, const std::string& name, uint64_t size, uint64_t begin,
                               std::optional<uint64_t> end, const ChunkSink& sink) {
  DownloadResult r;
  r.object_size = size;
  r.requests = 1;
  const uint64_t stop = std::min(end.value_or(size), size);
  if (begin >= stop) return r;
  in.seekg(static_cast<std::streamoff>(begin));
  std::vector<char> buf(size_t(1) << 20);
  uint64_t at = begin;
  while (at < stop) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), stop - at));
    in.read(buf.data(), static_cast<std::streamsize>(want));
    const auto got = static_cast<size_t>(in.gcount());
    if (got == 0) fail_input(name, ": read failed at byte ", at, " of ", size);
    at += got;
    r.bytes += got;
    if (!sink(std::string_view(buf.data(), got))) {
      r.stopped = true;
      break;
    }
  }
  return r;
}

DownloadResult read_local(const ObjectRef& o, uint64_t begin, std::optional<uint64_t> end, const ChunkSink& sink) {
  std::error_code ec;
  const uint64_t size = fs::file_size(o.url, ec);
  if (ec) fail_input(o.url, ": cannot be read: ", ec.message());
  if ((o.size && size != *o.size) || local_version(o.url) != o.version)
    fail_input(o.url, " changed since it was listed (size or modification time); a shard is never read from two "
               "versions, so start the run again");
  std::ifstream in(o.url, std::ios::binary);
  if (!in) fail_input(o.url, ": cannot be opened");
  return read_file_range(in, o.url, size, begin, end, sink);
}

}  // namespace

bool is_remote_url(std::string_view spec) {
  return starts_with_ci(spec, "gs://") || starts_with_ci(spec, "bq://") || starts_with_ci(spec, "http://") ||
         starts_with_ci(spec, "https://");
}

ObjectReader::ObjectReader(ObjectReaderOptions options)
    : options_(std::move(options)), http_(std::make_unique<HttpClient>(options_.http)) {
  GcsClient::Options go;
  go.user_project = options_.user_project;
  go.token_refused = options_.token_refused;
  gcs_ = std::make_unique<GcsClient>(*http_, options_.gcs_endpoint, options_.access_token, go);
  BigQueryClient::Options bo;
  bo.user_project = options_.user_project;
  bo.token_refused = options_.token_refused;
  bq_ = std::make_unique<BigQueryClient>(*http_, options_.bq_endpoint, options_.access_token, bo);
}

ObjectReader::~ObjectReader() = default;

std::vector<ObjectRef> ObjectReader::expand(const std::string& spec) {
  std::vector<ObjectRef> out;
  if (starts_with_ci(spec, "gs://")) {
    for (GcsObject& g : gcs_->expand(spec)) out.push_back(gcs_object_ref(std::move(g)));
    return out;
  }
  if (starts_with_ci(spec, "bq://")) {
    const BqTableInfo info = bq_->get_table(parse_bq_url(spec));
    ObjectRef o;
    o.kind = ObjectKind::BigQuery;
    o.url = info.table.url();
    o.size = info.num_rows;
    // Tables have no version a read can pin: the row count stands in (a changed count is caught on resume).
    o.version = "rows " + std::to_string(info.num_rows);
    BqPosition start;
    start.table = info.table;
    o.bq_position = start.to_json();
    out.push_back(std::move(o));
    return out;
  }
  if (is_remote_url(spec)) {
    ObjectRef o;
    o.kind = ObjectKind::Http;
    o.url = spec;
    // HEAD for the size and ETag; a server that refuses HEAD (405, 403 for some signed URLs) still serves GET.
    const HttpResponse head = http_->request({.method = "HEAD", .url = spec, .headers = {}, .body = {}});
    if (head.status == 404) fail_input(redact_url(spec), ": not found (HTTP 404)");
    if (head.status >= 200 && head.status < 300) {
      o.version = head.header("etag");
      const std::string len = head.header("content-length");
      if (!len.empty() && head.header("content-encoding").empty()) {
        try {
          o.size = std::stoull(len);
        } catch (const std::exception&) {
        }
      }
    }
    out.push_back(std::move(o));
    return out;
  }
  out.push_back(local_object(spec));
  return out;
}

ObjectRef ObjectReader::object(const std::string& url) {
  if (!starts_with_ci(url, "gs://")) {
    std::vector<ObjectRef> one = expand(url);
    return std::move(one.at(0));
  }
  const GsUrl g = parse_gs_url(url);
  if (g.glob || g.object.empty() || g.object.back() == '/')
    fail_input(url, ": names no single object (a pattern or a folder)");
  return gcs_object_ref(gcs_->stat(g.bucket, g.object));
}

ObjectRef ObjectReader::run_query(const std::string& sql, const std::string& project) {
  const BqCursor c = bq_->open_query(sql, project);
  ObjectRef o;
  o.kind = ObjectKind::BigQuery;
  const BqPosition p = c.position();
  o.url = "bq://" + p.job_project + "/jobs/" + p.job_id;
  o.size = c.total_rows();
  o.version = p.job_id;
  o.bq_position = p.to_json();
  return o;
}

void ObjectReader::read_rows(const ObjectRef& object, uint64_t start_row, const RowPageSink& page) {
  if (object.kind != ObjectKind::BigQuery) fail_input(object.url, ": not a BigQuery table or query");
  BqPosition p = BqPosition::from_json(object.bq_position, object.url);
  p.row = start_row;
  BqCursor c = bq_->resume(p);
  const std::vector<std::string> names = c.schema().names();
  std::vector<BqRow> rows;
  std::vector<std::string> texts;
  while (bq_->next_page(c, rows)) {
    texts.clear();
    for (const BqRow& r : rows) {
      nlohmann::json j = nlohmann::json::object();
      for (size_t i = 0; i < names.size() && i < r.size(); ++i) j[names[i]] = r[i] ? nlohmann::json(*r[i]) : nullptr;
      texts.push_back(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
    if (!page(texts)) return;
  }
}

DownloadResult ObjectReader::read(const ObjectRef& object, uint64_t begin, std::optional<uint64_t> end,
                                  const ChunkSink& sink) {
  ObjectCache* cache = options_.cache.get();
  if (!cache || (object.kind != ObjectKind::Gcs && object.kind != ObjectKind::Http) || !object.size ||
      object.version.empty())
    return read_remote(object, begin, end, sink);
  if (const std::optional<std::string> path = cache->find(object.url, object.version, *object.size)) {
    std::ifstream in(*path, std::ios::binary);
    if (in) {  // else evicted since find(): read it from the network as if it had missed
      return read_file_range(in, *path, *object.size, begin, end, sink);
    }
  }
  // Only a whole read is stored: a resumed shard's tail or a CSV header alone is not the object.
  std::unique_ptr<ObjectCache::Writer> w =
      begin == 0 && !end ? cache->store(object.url, object.version, *object.size) : nullptr;
  if (!w) return read_remote(object, begin, end, sink);
  DownloadResult r = read_remote(object, begin, end, [&](std::string_view chunk) {
    w->append(chunk);
    return sink(chunk);
  });
  // A read stopped early, or one that failed its checksum (an exception, after the bytes), leaves no entry.
  if (!r.stopped) w->commit();
  return r;
}

DownloadResult ObjectReader::read_remote(const ObjectRef& object, uint64_t begin, std::optional<uint64_t> end,
                                         const ChunkSink& sink) {
  switch (object.kind) {
    case ObjectKind::Gcs:
      return gcs_->read(object.gcs, begin, end, sink);
    case ObjectKind::Http: {
      DownloadOptions pin;
      if (!object.version.empty()) {
        pin.pin_header = "etag";
        pin.pin_value = object.version;
      }
      try {
        return http_->download(object.url, {}, begin, end, sink, pin);
      } catch (const HttpError& e) {
        if (e.changed)
          fail_input(redact_url(object.url), " changed while being read (its ETag is no longer ", object.version,
                     "); a shard is never stitched from two versions: ", e.what());
        throw;
      }
    }
    case ObjectKind::Local:
      return read_local(object, begin, end, sink);
    case ObjectKind::BigQuery:
      fail_input(object.url, ": a BigQuery object is read by rows (read_rows), not bytes");
  }
  fail_input(object.url, ": unknown kind of object");
}

}  // namespace gt::io
