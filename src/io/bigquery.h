// BigQuery through its REST API v2 (issue #10): a table's rows or a query's results, streamed a page at a time and
// resumable from a row index, over HttpClient (libcurl). Torch-free.
//
//   gt::io::HttpClient http;
//   gt::io::BigQueryClient bq(http, gt::io::resolve_bigquery_endpoint(), token_fn);   // token_fn empty: anonymous
//   gt::io::BqCursor c = bq.open_table(gt::io::parse_bq_url("bq://proj.ds.train"));  // or bq.open_query(sql, "proj")
//   const int prompt = c.schema().index_of("prompt");
//   std::vector<gt::io::BqRow> page;
//   while (bq.next_page(c, page))
//     for (const gt::io::BqRow& row : page) use(row[prompt]);       // std::optional<std::string>; nullopt = NULL
//   save(c.position().to_json());                                    // later: bq.resume(BqPosition::from_json(..))
//
// Wire format (checked against what Google's Node client @google-cloud/bigquery 9.3.0 sends and accepts; see
// tools/npm/bigquery-client-check.mjs):
//   table schema  GET  {base}/projects/{p}/datasets/{d}/tables/{t}                    -> schema.fields, numRows
//   table rows    GET  {base}/projects/{p}/datasets/{d}/tables/{t}/data?maxResults=N&formatOptions.useInt64Timestamp=true
//                      [&startIndex=R on a cursor's first request | &pageToken=T after it]   -> rows, pageToken
//   query         POST {base}/projects/{p}/queries   {"query","useLegacySql":false,"maxResults","timeoutMs",
//                      "formatOptions":{"useInt64Timestamp":true},"requestId":<uuid4>[,"location"]}
//                      -> jobReference{projectId,jobId,location}, jobComplete, schema, rows, totalRows, pageToken
//   query results GET  {base}/projects/{p}/queries/{jobId}?maxResults=N&timeoutMs=W&formatOptions.useInt64Timestamp=true
//                      [&location=L][&startIndex=R | &pageToken=T]    polled while jobComplete is false
// base is https://bigquery.googleapis.com/bigquery/v2, or BIGQUERY_EMULATOR_HOST used verbatim (no /bigquery/v2
// added, as the Node client does). requestId makes jobs.query idempotent, so a POST retried after a lost reply
// finds the job the first attempt started instead of running the query twice.
//
// Streaming and resuming: a BqCursor holds one page token, the schema and the index of the next row, never the
// rows already delivered. next_page() fetches one page (maxResults = Options::page_size; BigQuery also cuts pages at
// about 10 MB). BqCursor::position() names the data and the next row: the table, or the query's JOB (project, id,
// location) -- so resume() reads the same result table again with startIndex and never re-runs the query (an
// unordered query run twice may return rows in another order). A job's results are kept by BigQuery for about 24
// hours; after that resume() fails with a message saying so. A table read is resumed by startIndex on the live
// table: rows inserted or deleted in between shift the positions (BigQuery offers no generation pin here; read a
// snapshot, e.g. a query with FOR SYSTEM_TIME AS OF, when the table may change).
//
// Values, as the text a CSV column would hold (the training data reader maps columns by name):
//   STRING, BYTES (base64), INTEGER/INT64, FLOAT/FLOAT64, NUMERIC, BIGNUMERIC, DATE, TIME, DATETIME, TIMESTAMP
//   (int64 microseconds since the epoch, formatOptions.useInt64Timestamp), JSON, GEOGRAPHY (WKT), INTERVAL, RANGE:
//   the API's string as given. BOOLEAN/BOOL: "true" or "false". NULL: std::nullopt.
//   REPEATED (array) and RECORD/STRUCT: compact JSON text, an array or an object keyed by field name in schema
//   order, whose members follow BigQuery's TO_JSON_STRING: INT64 a JSON number when |v| <= 2^53 else a string,
//   FLOAT64 a number (NaN, Infinity, -Infinity as strings), BOOL true/false, JSON embedded as JSON, NULL null,
//   everything else (NUMERIC and BIGNUMERIC too, to stay exact) a JSON string.
//   e.g. ["a.png","b.png"]   {"a":"x","n":3,"flags":[true,false],"inner":{"x":1.5}}
//
// Errors are gt::InputError naming the table (bq://p.d.t) or the query (its first 80 characters and, once known,
// its job), the HTTP status and the server's message (error.message and its reason), e.g. a failed job's "Query
// error: ...". Retries (408, 429, 5xx, connection errors) are HttpClient's. The access token is sent as
// `Authorization: Bearer <token>` only when a token function is given, and never appears in a message; a quota
// (billing) project is sent as x-goog-user-project.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/http_client.h"

namespace gt::io {

// Where the REST API lives: requests go to base + "/projects/...".
struct BigQueryEndpoint {
  std::string base = "https://bigquery.googleapis.com/bigquery/v2";  // no trailing slash
  bool emulator = false;
  std::string from;  // the environment variable it came from ("" for the public endpoint), for messages
};

// BIGQUERY_EMULATOR_HOST when set and non-empty (see bigquery_endpoint_from), else the public endpoint.
BigQueryEndpoint resolve_bigquery_endpoint();
// An emulator endpoint from a variable's value, used as Google's Node client uses it: verbatim as the base, with no
// /bigquery/v2 added (emulators serve /projects/... at their root; a value that ends in /bigquery/v2 keeps it).
// http:// is added when the value has no scheme; trailing '/' are dropped. `from` names the variable in messages.
// Throws gt::InputError for an empty host or a scheme other than http/https.
BigQueryEndpoint bigquery_endpoint_from(std::string_view value, std::string_view from);

struct BqTable {
  std::string project, dataset, table;

  std::string url() const { return "bq://" + project + "." + dataset + "." + table; }
};

// "bq://project.dataset.table" (the form Vertex AI uses for BigQuery sources), and also
// "bq://project:dataset.table" (the bq tool's and Dataflow's legacy form). The table and dataset are the last two
// names, so a domain-scoped project keeps its own '.' and ':' ("bq://example.com:proj.ds.t"). Throws gt::InputError
// naming the URL and the expected form when the scheme is not bq://, a part is empty, the dataset is not letters,
// digits and '_', or the table contains '.', ':', '/' or '`'.
BqTable parse_bq_url(std::string_view url);

struct BqField {
  std::string name;
  std::string type;             // as the API names it: STRING, INTEGER, FLOAT, BOOLEAN, RECORD, ... (or INT64, ...)
  std::string mode = "NULLABLE";  // NULLABLE, REQUIRED or REPEATED
  std::vector<BqField> fields;  // a RECORD's

  bool repeated() const { return mode == "REPEATED"; }
  bool record() const { return type == "RECORD" || type == "STRUCT"; }
};

struct BqSchema {
  std::vector<BqField> fields;

  // The index of the top-level column `name` (compared without case, as BigQuery does), or -1.
  int index_of(std::string_view name) const;
  std::vector<std::string> names() const;
};

using BqValue = std::optional<std::string>;  // nullopt = NULL
using BqRow = std::vector<BqValue>;          // one value per top-level column, in schema order

// The schema object of a reply ({"fields":[{"name","type","mode","fields"}]}) as JSON text. `where` names the
// source in errors.
BqSchema parse_bq_schema(std::string_view schema_json, const std::string& where);
// One row of a reply ({"f":[{"v":...}, ...]}) as JSON text, converted as described above. Throws gt::InputError
// naming `where` and the column when the row does not fit the schema.
BqRow convert_bq_row(const BqSchema& schema, std::string_view row_json, const std::string& where);

struct BqTableInfo {
  BqTable table;
  BqSchema schema;
  uint64_t num_rows = 0;  // numRows (rows in the streaming buffer not counted)
};

// Where a read stands: the data (a table, or a query's job) and the next row to read.
struct BqPosition {
  BqTable table;                                // a table read (table.table non-empty) ...
  std::string job_project, job_id, location;    // ... or a query job's results (job_id non-empty)
  std::string query;                            // the query's text, for messages only (may be empty)
  uint64_t row = 0;                             // index of the next row; rows before it were delivered

  bool is_query() const { return !job_id.empty(); }
  // "bq://p.d.t at row 12" / "query job p:US.job_x at row 12", for logs and messages.
  std::string describe() const;
  // A one-line JSON object for checkpoints: {"table":"bq://p.d.t","row":12} or
  // {"job":{"project":"p","id":"job_x","location":"US"},"query":"SELECT ...","row":12}.
  std::string to_json() const;
  // Reads to_json()'s text back; throws gt::InputError naming `where` when it is not one.
  static BqPosition from_json(std::string_view json, const std::string& where);
};

// A read in progress. Copyable plain data: keep it between next_page() calls; position() saves where it stands.
class BqCursor {
 public:
  const BqSchema& schema() const { return schema_; }
  // numRows of a table / totalRows of a query's results, when the server said.
  std::optional<uint64_t> total_rows() const { return total_rows_; }
  // The index of the next row next_page() will deliver.
  uint64_t row() const { return position_.row; }
  BqPosition position() const { return position_; }
  // True once the last page was delivered (next_page() returns false from then on).
  bool done() const { return done_ && pending_.empty(); }
  // "bq://p.d.t" or "query 'SELECT ...' (job p:US.job_x)", as messages name it.
  const std::string& where() const { return where_; }

 private:
  friend class BigQueryClient;
  BqSchema schema_;
  std::optional<uint64_t> total_rows_;
  BqPosition position_;
  std::string where_;
  std::string page_token_;     // the next page's token ("" = the next request starts at position_.row)
  bool done_ = false;
  std::vector<BqRow> pending_; // a page fetched while opening (the first page of a query's reply)
};

class BigQueryClient {
 public:
  struct Options {
    int page_size = 10000;          // maxResults of every page request
    std::string user_project;       // quota / billing project, sent as x-goog-user-project; "" = none
    std::string location;           // where queries run ("US", "EU", "us-central1"); "" = BigQuery decides
    double poll_interval_s = 1;     // wait between getQueryResults calls that answer jobComplete:false
    int server_wait_ms = 10000;     // timeoutMs: how long the server may hold one jobs.query/getQueryResults call
    double query_timeout_s = 6 * 3600;  // a job still not complete after this long is an error (0 = no limit)
    std::function<void(double seconds)> sleep;  // performs the poll waits; empty = sleep for real (tests inject)
    // Called with the token a 401 reply refused (revoked or expired early); the call is then sent once more with
    // access_token()'s next answer (a jobs.query keeps its requestId, so it cannot run twice). Empty: 401 is final.
    std::function<void(const std::string& refused_token)> token_refused;
  };

  // `access_token` is called before each request (it may refresh and cache); empty = no Authorization header
  // (emulators).
  BigQueryClient(HttpClient& http, BigQueryEndpoint endpoint, std::function<std::string()> access_token = {});
  BigQueryClient(HttpClient& http, BigQueryEndpoint endpoint, std::function<std::string()> access_token,
                 Options options);

  // tables.get: the schema and row count. A missing table, dataset or project is an error naming it.
  BqTableInfo get_table(const BqTable& table);
  // A read of `table`'s rows from row `start_row` on (tables.get now; rows on the first next_page()).
  BqCursor open_table(const BqTable& table, uint64_t start_row = 0);
  // Runs `sql` (GoogleSQL) as a job in `project` (jobs.query) and waits, polling, until it is complete; the
  // cursor then holds the first page. A query BigQuery rejects, or whose job fails, is an error naming the query
  // and the server's message.
  BqCursor open_query(const std::string& sql, const std::string& project);
  // Continues a read from a saved position: a table from its row, a query from its job's results at that row
  // (the query is not run again).
  BqCursor resume(const BqPosition& position);
  // Replaces `out` with the next page of rows and advances the cursor; false (and `out` empty) when no rows
  // remain. Pages that come back empty with a page token are followed until rows or the end come.
  bool next_page(BqCursor& cursor, std::vector<BqRow>& out);

  const BigQueryEndpoint& endpoint() const { return endpoint_; }
  const Options& options() const { return options_; }

 private:
  struct Reply;
  HttpHeaders headers(bool json_body) const;
  // One request; gt::InputError naming `where`, `what` and the server's message unless the reply is a 2xx JSON
  // object without an error. `hint_404` is appended to the message of a 404.
  Reply call(const HttpRequest& req, const std::string& where, const std::string& what,
             const std::string& hint_404 = "");
  std::string table_path(const BqTable& t) const;
  // getQueryResults for the cursor's job at its page token (or, without one, its row), polling while jobComplete is
  // false; fills the cursor's schema (when unknown), total, pending rows, page token and done flag.
  void fetch_query_page(BqCursor& c);
  // tabledata.list likewise.
  void fetch_table_page(BqCursor& c);

  HttpClient& http_;
  BigQueryEndpoint endpoint_;
  std::function<std::string()> access_token_;
  Options options_;
};

}  // namespace gt::io
