// Dataset bytes wherever they live (issue #10): a local file, an http(s) URL or a Cloud Storage object, listed from
// what the user typed and read by byte range. Torch-free. The shard reader (data/shard_stream.h) reads every shard
// through this, so local and remote data take one code path.
//
//   gt::io::ObjectReader reader(options);                      // one per thread: it owns its HTTP connection
//   for (const ObjectRef& o : reader.expand("gs://bkt/train-*.jsonl.zst"))
//     reader.read(o, 0, std::nullopt, [&](std::string_view chunk) { feed(chunk); return true; });
//
// What expand() accepts:
//   gs://bucket/name, gs://bucket/prefix*.jsonl, gs://bucket/folder/   Cloud Storage (GcsClient::expand: listed,
//                                                     sorted by name, each object pinned to its listed generation)
//   http://... https://...                            one object; a HEAD asks for its size and ETag (a server that
//                                                     refuses HEAD gives neither: the read is then not pinned)
//   bq://project.dataset.table                        a BigQuery table, read as rows (tabledata.list), each row a
//                                                     JSON object {column: value as text, or null}
//   anything else                                     one local file (it must exist)
// run_query() makes a BigQuery query's results (one job, run once) an object the same way.
// Versions: a Cloud Storage object is read at its listed generation and an http(s) object with its ETag pinned, so
// an object replaced between listing and reading, or between two reads (a resumed run), is an error naming it,
// never a mix of two versions. A local file is checked against the size and modification time listed.
// Caching: with ObjectReaderOptions::cache, remote objects read whole are kept on disk at their version and read from
// there later (later epochs, media used again), byte-identical; BigQuery rows and local files are never cached.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/bigquery.h"
#include "io/gcs.h"
#include "io/http_client.h"

namespace gt::io {

class ObjectCache;  // io/object_cache.h

enum class ObjectKind { Local, Http, Gcs, BigQuery };

struct ObjectRef {
  ObjectKind kind = ObjectKind::Local;
  std::string url;                // as shown in messages: the path, the URL, gs://bucket/name
  std::optional<uint64_t> size;   // unknown for an http object whose server gives no length
  std::string version;            // generation (Cloud Storage), ETag (http, "" = none given), mtime (local)
  GcsObject gcs;                  // kind == Gcs
  std::string bq_position;        // kind == BigQuery: BqPosition::to_json() of its first row (table or query job)
};

// "gs://", "bq://", "http://" or "https://" (case-insensitive scheme): a dataset or medium not on this disk.
bool is_remote_url(std::string_view spec);

struct ObjectReaderOptions {
  HttpOptions http;
  // Cloud Storage: where the JSON API is (resolve_gcs_endpoint() by default: the emulator variables or the public
  // endpoint), a token function (thread-safe; empty = anonymous, as with emulators and public buckets) and the
  // project billed for requester-pays buckets.
  GcsEndpoint gcs_endpoint = resolve_gcs_endpoint();
  std::function<std::string()> access_token;
  // Told which token a 401 refused, so that access_token() gives a new one (AccessTokenSource::invalidate).
  std::function<void(const std::string& refused_token)> token_refused;
  std::string user_project;
  // BigQuery: resolve_bigquery_endpoint() by default (BIGQUERY_EMULATOR_HOST or the public endpoint); the same
  // token function and user project.
  BigQueryEndpoint bq_endpoint = resolve_bigquery_endpoint();
  // Whole Cloud Storage and http(s) objects kept on disk (--cache-dir; shared by every reader of the run): a read of an
  // object cached at its version comes from the disk; a whole read of one that is not stores it on the way. Only
  // objects of known size and pinned version (generation, ETag) are cached. Null: none.
  std::shared_ptr<ObjectCache> cache;
};

class ObjectReader {
 public:
  explicit ObjectReader(ObjectReaderOptions options = {});
  ~ObjectReader();
  ObjectReader(const ObjectReader&) = delete;
  ObjectReader& operator=(const ObjectReader&) = delete;

  // The objects `spec` names (see above). Throws gt::InputError naming the spec when nothing matches.
  std::vector<ObjectRef> expand(const std::string& spec);
  // The one object `url` names exactly (no pattern, no folder): a Cloud Storage stat, an http HEAD, a local file.
  ObjectRef object(const std::string& url);
  // Streams bytes [begin, end) of `object` to `sink` (end nullopt: to its end), resuming interrupted transfers, the
  // version pinned. Throws gt::InputError naming the object.
  DownloadResult read(const ObjectRef& object, uint64_t begin, std::optional<uint64_t> end, const ChunkSink& sink);
  // Runs `sql` in `project` as one BigQuery job (waiting until it completes) and returns its results as an object
  // (url "bq://<project>/jobs/<job id>", version the job id). Reading it again later, e.g. in a resumed run, reads
  // the same job's results (BigQuery keeps them about 24 hours); the query is not run again.
  ObjectRef run_query(const std::string& sql, const std::string& project);
  // A BigQuery object's rows from row `start_row` on, a page at a time, each row as a JSON object text; `page`
  // returns false to stop. Throws gt::InputError naming the table or job.
  using RowPageSink = std::function<bool(std::vector<std::string>& rows)>;
  void read_rows(const ObjectRef& object, uint64_t start_row, const RowPageSink& page);

  const ObjectReaderOptions& options() const { return options_; }

 private:
  ObjectReaderOptions options_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<GcsClient> gcs_;
  std::unique_ptr<BigQueryClient> bq_;

  DownloadResult read_remote(const ObjectRef& object, uint64_t begin, std::optional<uint64_t> end,
                             const ChunkSink& sink);
};

}  // namespace gt::io
