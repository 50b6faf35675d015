// BigQuery over the REST API v2 against a local stand-in (tests/io/bigquery_standin.h): bq:// URL parsing and its
// errors, endpoint resolution from BIGQUERY_EMULATOR_HOST, a table read over several pages, a query polled until
// its job completes and then paged, resuming a table and a query from a saved row index (same rows, none twice,
// none lost, the query not run again), every value type as CSV text (tests/fixtures/io/bigquery/typed_table.json),
// retries through 503/429 bursts, dropped and slow replies, server errors named in messages, the Authorization
// and x-goog-user-project headers. Sleeps are no-ops, so each test runs in well under 2 s.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>

#include "io/bigquery.h"
#include "io/bigquery_standin.h"
#include "test_util.h"

using gt::io::BigQueryClient;
using gt::io::BigQueryEndpoint;
using gt::io::BqCursor;
using gt::io::BqPosition;
using gt::io::BqRow;
using gt::io::BqTable;
using gt::io::HttpClient;
using gt::io::HttpOptions;
using gt::test::BigQueryStandin;
using nlohmann::json;

namespace {

HttpOptions fast_options(int max_attempts = 8) {
  HttpOptions o;
  o.retry.seed = 42;
  o.retry.max_attempts = max_attempts;
  o.retry.sleep = [](double) {};
  return o;
}

BigQueryEndpoint endpoint_of(const BigQueryStandin& s, const std::string& suffix = "") {
  return BigQueryEndpoint{s.base() + suffix, true, "test"};
}

BigQueryClient::Options fast_bq(int page_size = 10000) {
  BigQueryClient::Options o;
  o.page_size = page_size;
  o.sleep = [](double) {};
  return o;
}

// A table "proj.ds.<name>" of n rows (id INTEGER, text STRING): row i = {"i", "row i"}.
void add_numbered_table(BigQueryStandin& s, const std::string& name, int n) {
  const json fields = json::parse(R"([{"name":"id","type":"INTEGER","mode":"REQUIRED"},{"name":"text","type":"STRING"}])");
  std::vector<json> rows;
  for (int i = 0; i < n; ++i) rows.push_back(BigQueryStandin::row({std::to_string(i), "row " + std::to_string(i)}));
  s.add_table("proj.ds." + name, fields, rows);
}

// Every row left in the cursor, page by page; `pages` counts them.
std::vector<BqRow> drain(BigQueryClient& bq, BqCursor& c, int* pages = nullptr, int max_pages = 1 << 30) {
  std::vector<BqRow> all, page;
  int n = 0;
  while (n < max_pages && bq.next_page(c, page)) {
    ++n;
    all.insert(all.end(), page.begin(), page.end());
  }
  if (pages) *pages = n;
  return all;
}

// The ids of rows from add_numbered_table.
std::vector<int> ids(const std::vector<BqRow>& rows) {
  std::vector<int> out;
  for (const BqRow& r : rows) out.push_back(r.at(0) ? std::stoi(*r.at(0)) : -1);
  return out;
}

std::vector<int> range(int a, int b) {
  std::vector<int> out;
  for (int i = a; i < b; ++i) out.push_back(i);
  return out;
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

using gt::test::ScopedEnv;

}  // namespace

TEST(BigQueryUrl, ParsesDotAndColonFormsAndNamesWhatIsWrong) {
  BqTable t = gt::io::parse_bq_url("bq://my-proj.my_ds.train_rows");
  EXPECT_EQ(t.project, "my-proj");
  EXPECT_EQ(t.dataset, "my_ds");
  EXPECT_EQ(t.table, "train_rows");
  EXPECT_EQ(t.url(), "bq://my-proj.my_ds.train_rows");
  t = gt::io::parse_bq_url("bq://my-proj:my_ds.t");  // the bq tool's form
  EXPECT_EQ(t.project, "my-proj");
  EXPECT_EQ(t.dataset, "my_ds");
  EXPECT_EQ(t.table, "t");
  t = gt::io::parse_bq_url("bq://example.com:proj.ds.t");  // a domain-scoped project keeps its '.' and ':'
  EXPECT_EQ(t.project, "example.com:proj");
  EXPECT_EQ(t.dataset, "ds");
  t = gt::io::parse_bq_url("bq://example.com:proj:ds.t$20240101");  // a partition decorator is part of the table
  EXPECT_EQ(t.project, "example.com:proj");
  EXPECT_EQ(t.table, "t$20240101");

  const auto err = [](const char* u) { return gt::test::error_of([&] { gt::io::parse_bq_url(u); }); };
  const std::string form = "expected bq://project.dataset.table (or bq://project:dataset.table)";
  EXPECT_TRUE(has(err("gs://b/x"), "'gs://b/x' is not a BigQuery table URL; " + form)) << err("gs://b/x");
  EXPECT_TRUE(has(err("bq://proj"), "bq://proj: no dataset and table; " + form)) << err("bq://proj");
  EXPECT_TRUE(has(err("bq://ds.t"), "bq://ds.t: no project (or no dataset)")) << err("bq://ds.t");
  EXPECT_TRUE(has(err("bq://p.ds."), "bq://p.ds.: the table is empty")) << err("bq://p.ds.");
  EXPECT_TRUE(has(err("bq://p..t"), "bq://p..t: the dataset is empty")) << err("bq://p..t");
  EXPECT_TRUE(has(err("bq://.ds.t"), "bq://.ds.t: the project is empty")) << err("bq://.ds.t");
  EXPECT_TRUE(has(err("bq://p.d-s.t"), "'d-s' is not a dataset name")) << err("bq://p.d-s.t");
  EXPECT_TRUE(has(err("bq://a.b.c.d"), "bq://a.b.c.d: 'a.b' is not a project id")) << err("bq://a.b.c.d");
  EXPECT_TRUE(has(err("bq://p.ds.t/x"), "'t/x' is not a table name")) << err("bq://p.ds.t/x");
  EXPECT_TRUE(has(err("bq://p r.ds.t"), "'p r' is not a project id")) << err("bq://p r.ds.t");
}

TEST(BigQueryEndpoint, TheEmulatorVariableIsUsedVerbatim) {
  {
    ScopedEnv a("BIGQUERY_EMULATOR_HOST", std::nullopt);
    const BigQueryEndpoint e = gt::io::resolve_bigquery_endpoint();
    EXPECT_EQ(e.base, "https://bigquery.googleapis.com/bigquery/v2");
    EXPECT_FALSE(e.emulator);
  }
  {
    ScopedEnv a("BIGQUERY_EMULATOR_HOST", "localhost:9050");
    const BigQueryEndpoint e = gt::io::resolve_bigquery_endpoint();
    EXPECT_EQ(e.base, "http://localhost:9050");  // no scheme: http; no /bigquery/v2 added
    EXPECT_TRUE(e.emulator);
    EXPECT_EQ(e.from, "BIGQUERY_EMULATOR_HOST");
  }
  {
    ScopedEnv a("BIGQUERY_EMULATOR_HOST", "https://emu.test:9050/bigquery/v2/");
    EXPECT_EQ(gt::io::resolve_bigquery_endpoint().base, "https://emu.test:9050/bigquery/v2");  // kept as given
  }
  {
    ScopedEnv a("BIGQUERY_EMULATOR_HOST", "");
    EXPECT_FALSE(gt::io::resolve_bigquery_endpoint().emulator);
  }
  {
    ScopedEnv a("BIGQUERY_EMULATOR_HOST", "grpc://h:1");
    const std::string err = gt::test::error_of([] { gt::io::resolve_bigquery_endpoint(); });
    EXPECT_TRUE(has(err, "BIGQUERY_EMULATOR_HOST='grpc://h:1'")) << err;
    EXPECT_TRUE(has(err, "scheme 'grpc'")) << err;
  }
  EXPECT_TRUE(has(gt::test::error_of([] { gt::io::bigquery_endpoint_from("http:///x", "X"); }), "X='http:///x'"));
}

TEST(BigQueryClient, ReadsATableOverSeveralPages) {
  for (const std::string prefix : {"", "/bigquery/v2"}) {
    SCOPED_TRACE("endpoint suffix '" + prefix + "'");
    BigQueryStandin server;
    add_numbered_table(server, "t", 23);
    HttpClient http(fast_options());
    BigQueryClient bq(http, endpoint_of(server, prefix), {}, fast_bq(5));
    BqCursor c = bq.open_table(gt::io::parse_bq_url("bq://proj.ds.t"));
    EXPECT_EQ(c.schema().names(), (std::vector<std::string>{"id", "text"}));
    EXPECT_EQ(c.schema().fields[0].type, "INTEGER");
    EXPECT_EQ(c.schema().fields[0].mode, "REQUIRED");
    EXPECT_EQ(c.schema().fields[1].mode, "NULLABLE");
    EXPECT_EQ(c.schema().index_of("TEXT"), 1);  // column names compare without case
    EXPECT_EQ(c.schema().index_of("nope"), -1);
    ASSERT_TRUE(c.total_rows());
    EXPECT_EQ(*c.total_rows(), 23u);
    EXPECT_EQ(c.where(), "bq://proj.ds.t");
    int pages = 0;
    const auto rows = drain(bq, c, &pages);
    EXPECT_EQ(pages, 5);
    EXPECT_EQ(ids(rows), range(0, 23));
    EXPECT_EQ(*rows[22][1], "row 22");
    EXPECT_TRUE(c.done());
    EXPECT_EQ(c.row(), 23u);
    std::vector<BqRow> page;
    EXPECT_FALSE(bq.next_page(c, page));
    EXPECT_TRUE(page.empty());
    const auto log = server.requests();
    ASSERT_EQ(log.size(), 6u);  // tables.get + 5 pages, nothing after the end
    EXPECT_EQ(log[0].target, prefix + "/projects/proj/datasets/ds/tables/t");
    EXPECT_EQ(log[1].target,
              prefix + "/projects/proj/datasets/ds/tables/t/data?maxResults=5&formatOptions.useInt64Timestamp=true&startIndex=0");
    for (size_t i = 2; i < log.size(); ++i) {
      EXPECT_TRUE(has(log[i].target, "&pageToken=tok")) << log[i].target;
      EXPECT_FALSE(has(log[i].target, "startIndex")) << log[i].target;
    }
  }
}

TEST(BigQueryClient, RunsAQueryPollingUntilItsJobCompletesThenPages) {
  BigQueryStandin server;
  add_numbered_table(server, "t", 12);
  const std::string sql = "SELECT id, text FROM ds.t";
  server.add_query(sql, "proj.ds.t");
  server.set_pending_polls(3);
  HttpClient http(fast_options());
  std::vector<double> waits;
  BigQueryClient::Options o = fast_bq(5);
  o.location = "EU";
  o.poll_interval_s = 2;
  o.server_wait_ms = 1234;
  o.sleep = [&](double s) { waits.push_back(s); };
  BigQueryClient bq(http, endpoint_of(server), {}, o);
  BqCursor c = bq.open_query(sql, "proj");
  EXPECT_EQ(waits, (std::vector<double>{2, 2, 2}));  // three polls said jobComplete:false
  EXPECT_EQ(c.schema().names(), (std::vector<std::string>{"id", "text"}));
  EXPECT_EQ(c.position().job_id, "job_1");
  EXPECT_EQ(c.position().job_project, "proj");
  EXPECT_EQ(c.position().location, "EU");
  EXPECT_EQ(c.where(), "query 'SELECT id, text FROM ds.t' (job proj:EU.job_1)");
  int pages = 0;
  EXPECT_EQ(ids(drain(bq, c, &pages)), range(0, 12));
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(*c.total_rows(), 12u);
  const auto log = server.requests();
  ASSERT_EQ(log.size(), 7u);  // jobs.query, 4 getQueryResults for the first page (3 pending), 2 more pages
  EXPECT_EQ(log[0].method, "POST");
  EXPECT_EQ(log[0].target, "/projects/proj/queries");
  const json body = json::parse(log[0].body);
  EXPECT_EQ(body["query"], sql);
  EXPECT_EQ(body["useLegacySql"], false);
  EXPECT_EQ(body["maxResults"], 5);
  EXPECT_EQ(body["timeoutMs"], 1234);
  EXPECT_EQ(body["location"], "EU");
  EXPECT_EQ(body["formatOptions"], json::parse(R"({"useInt64Timestamp":true})"));
  EXPECT_TRUE(std::regex_match(body["requestId"].get<std::string>(),
                               std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << body["requestId"];
  EXPECT_EQ(log[0].headers.find("Content-Type")->second, "application/json");
  for (size_t i = 1; i <= 4; ++i)
    EXPECT_EQ(log[i].target, "/projects/proj/queries/job_1?maxResults=5&timeoutMs=1234&formatOptions.useInt64Timestamp=true"
                             "&location=EU&startIndex=0");
  EXPECT_TRUE(has(log[5].target, "&location=EU&pageToken=tok")) << log[5].target;
  EXPECT_TRUE(has(log[6].target, "&pageToken=tok")) << log[6].target;
  // Every jobs.query gets a request id of its own.
  bq.open_query(sql, "proj");
  EXPECT_EQ(server.requests()[7].method, "POST");
  EXPECT_NE(json::parse(server.requests()[7].body)["requestId"], body["requestId"]);
  EXPECT_EQ(server.jobs_created(), 2);
}

TEST(BigQueryClient, AQueryAnsweredAtOnceNeedsNoPoll) {
  BigQueryStandin server;
  add_numbered_table(server, "t", 4);
  HttpClient http(fast_options());
  BigQueryClient bq(http, endpoint_of(server), {}, fast_bq(10));
  BqCursor c = bq.open_query("SELECT * FROM `proj.ds.t`", "proj");
  EXPECT_EQ(server.request_count(), 1u);  // the reply of jobs.query carried the rows
  EXPECT_EQ(ids(drain(bq, c)), range(0, 4));
  EXPECT_EQ(server.request_count(), 1u);
  EXPECT_EQ(c.position().location, "US");  // from the jobReference
  // An empty result.
  add_numbered_table(server, "empty", 0);
  BqCursor e = bq.open_query("SELECT * FROM `proj.ds.empty`", "proj");
  std::vector<BqRow> page;
  EXPECT_FALSE(bq.next_page(e, page));
  EXPECT_TRUE(e.done());
  EXPECT_EQ(*e.total_rows(), 0u);
}

TEST(BigQueryClient, ResumesATableFromASavedRowWithNoRowLostOrRepeated) {
  BigQueryStandin server;
  add_numbered_table(server, "t", 23);
  HttpClient http(fast_options());
  BigQueryClient bq(http, endpoint_of(server), {}, fast_bq(5));
  BqCursor c = bq.open_table(gt::io::parse_bq_url("bq://proj.ds.t"));
  std::vector<BqRow> first = drain(bq, c, nullptr, 2);
  EXPECT_EQ(ids(first), range(0, 10));
  const std::string saved = c.position().to_json();
  EXPECT_EQ(saved, R"({"table":"bq://proj.ds.t","row":10})");
  EXPECT_EQ(c.position().describe(), "bq://proj.ds.t at row 10");
  // Another process, another client: picks up at row 10.
  HttpClient http2(fast_options());
  BigQueryClient bq2(http2, endpoint_of(server), {}, fast_bq(5));
  const size_t before = server.request_count();
  BqCursor r = bq2.resume(BqPosition::from_json(saved, "checkpoint"));
  std::vector<BqRow> rest = drain(bq2, r);
  first.insert(first.end(), rest.begin(), rest.end());
  EXPECT_EQ(ids(first), range(0, 23));
  EXPECT_TRUE(has(server.requests()[before + 1].target, "&startIndex=10")) << server.requests()[before + 1].target;
  // open_table at a row; and at the end.
  BqCursor mid = bq.open_table(gt::io::parse_bq_url("bq://proj.ds.t"), 21);
  EXPECT_EQ(ids(drain(bq, mid)), range(21, 23));
  BqCursor end = bq.open_table(gt::io::parse_bq_url("bq://proj.ds.t"), 23);
  std::vector<BqRow> page;
  EXPECT_FALSE(bq.next_page(end, page));
  EXPECT_EQ(end.row(), 23u);
  // Broken positions are named.
  std::string err = gt::test::error_of([] { BqPosition::from_json("{\"row\":-1}", "ckpt.json"); });
  EXPECT_TRUE(has(err, "ckpt.json: not a BigQuery position")) << err;
  err = gt::test::error_of([] { BqPosition::from_json("{\"row\":3}", "ckpt.json"); });
  EXPECT_TRUE(has(err, "ckpt.json: a BigQuery position names neither a table nor a job")) << err;
  err = gt::test::error_of([] { BqPosition::from_json("{\"table\":\"bq://x\",\"row\":3}", "ckpt.json"); });
  EXPECT_TRUE(has(err, "bq://x: no dataset and table")) << err;
}

TEST(BigQueryClient, ResumesAQueryFromItsJobWithoutRunningItAgain) {
  BigQueryStandin server;
  add_numbered_table(server, "t", 17);
  const std::string sql = "SELECT id, text FROM ds.t  -- unordered";
  server.add_query(sql, "proj.ds.t");
  HttpClient http(fast_options());
  BigQueryClient bq(http, endpoint_of(server), {}, fast_bq(4));
  BqCursor c = bq.open_query(sql, "proj");
  std::vector<BqRow> first = drain(bq, c, nullptr, 3);
  EXPECT_EQ(ids(first), range(0, 12));
  const BqPosition pos = c.position();
  const std::string saved = pos.to_json();
  EXPECT_EQ(saved, R"({"job":{"project":"proj","id":"job_1","location":"US"},"query":")" + sql + R"(","row":12})");
  EXPECT_EQ(pos.describe(), "query job proj:US.job_1 at row 12");
  // The table changes after the query ran; the job's results do not.
  add_numbered_table(server, "t", 3);
  HttpClient http2(fast_options());
  BigQueryClient bq2(http2, endpoint_of(server), {}, fast_bq(4));
  const size_t before = server.request_count();
  BqCursor r = bq2.resume(BqPosition::from_json(saved, "checkpoint"));
  EXPECT_EQ(r.schema().names(), (std::vector<std::string>{"id", "text"}));
  EXPECT_EQ(r.where(), "query 'SELECT id, text FROM ds.t -- unordered' (job proj:US.job_1)");
  std::vector<BqRow> rest = drain(bq2, r);
  first.insert(first.end(), rest.begin(), rest.end());
  EXPECT_EQ(ids(first), range(0, 17));
  EXPECT_EQ(server.jobs_created(), 1);  // not run again
  const auto log = server.requests();
  EXPECT_EQ(log[before].target,
            "/projects/proj/queries/job_1?maxResults=4&timeoutMs=10000&formatOptions.useInt64Timestamp=true"
            "&location=US&startIndex=12");
  for (size_t i = before; i < log.size(); ++i) EXPECT_EQ(log[i].method, "GET");
  // Once BigQuery has dropped the job, resuming says what happened and what to do.
  server.expire_jobs();
  const std::string err = gt::test::error_of([&] { bq2.resume(pos); });
  EXPECT_TRUE(has(err, "query 'SELECT id, text FROM ds.t -- unordered' (job proj:US.job_1): reading the query's results "
                       "from row 12 (jobs.getQueryResults) failed with HTTP 404"))
      << err;
  EXPECT_TRUE(has(err, "Not found: Job proj:US.job_1")) << err;
  EXPECT_TRUE(has(err, "about 24 hours")) << err;
}

TEST(BigQueryClient, TypedValuesBecomeCsvText) {
  const json doc = json::parse(gt::test::read_file(gt::test::fixture("io/bigquery/typed_table.json")));
  BigQueryStandin server;
  server.add_table("proj.ds.typed", doc["schema"]["fields"], doc["rows"].get<std::vector<json>>());
  server.add_query(doc["queries"][0], "proj.ds.typed");
  HttpClient http(fast_options());
  BigQueryClient bq(http, endpoint_of(server), {}, fast_bq(2));
  BqCursor t = bq.open_table(gt::io::parse_bq_url("bq://proj.ds.typed"));
  BqCursor q = bq.open_query(doc["queries"][0], "proj");
  const std::vector<BqRow> from_table = drain(bq, t), from_query = drain(bq, q);
  const json& want = doc["text"];
  ASSERT_EQ(from_table.size(), want.size());
  ASSERT_EQ(from_query.size(), want.size());
  const auto names = t.schema().names();
  EXPECT_EQ(q.schema().names(), names);
  for (size_t r = 0; r < want.size(); ++r) {
    ASSERT_EQ(from_table[r].size(), names.size());
    for (size_t c = 0; c < names.size(); ++c) {
      SCOPED_TRACE("row " + std::to_string(r) + " column " + names[c]);
      const std::optional<std::string> expected =
          want[r][c].is_null() ? std::nullopt : std::optional<std::string>(want[r][c].get<std::string>());
      EXPECT_EQ(from_table[r][c], expected);
      EXPECT_EQ(from_query[r][c], expected);
    }
  }
  // Nested schema as parsed.
  const auto& rec = t.schema().fields[t.schema().index_of("rec")];
  EXPECT_TRUE(rec.record());
  ASSERT_EQ(rec.fields.size(), 4u);
  EXPECT_TRUE(rec.fields[2].repeated());
  EXPECT_EQ(rec.fields[3].fields[1].type, "JSON");

  // Rows that do not fit their schema are named.
  const gt::io::BqSchema s = gt::io::parse_bq_schema(
      R"({"fields":[{"name":"n","type":"INTEGER","mode":"REPEATED"},{"name":"ok","type":"BOOLEAN"}]})", "bq://p.d.t");
  EXPECT_EQ(gt::io::convert_bq_row(s, R"({"f":[{"v":[{"v":"5"}]},{"v":"false"}]})", "x"),
            (BqRow{"[5]", "false"}));
  std::string err = gt::test::error_of([&] { gt::io::convert_bq_row(s, R"({"f":[{"v":[]}]})", "bq://p.d.t"); });
  EXPECT_TRUE(has(err, "bq://p.d.t: a row has 1 values, the schema 2 columns")) << err;
  err = gt::test::error_of([&] { gt::io::convert_bq_row(s, R"({"f":[{"v":[{"v":"5x"}]},{"v":null}]})", "bq://p.d.t"); });
  EXPECT_TRUE(has(err, "bq://p.d.t: column 'n[0]': expected an INT64, found \"5x\"")) << err;
  err = gt::test::error_of([&] { gt::io::convert_bq_row(s, R"({"f":[{"v":[]},{"v":"yes"}]})", "bq://p.d.t"); });
  EXPECT_TRUE(has(err, "column 'ok': expected a BOOL (\"true\" or \"false\"), found \"yes\"")) << err;
  err = gt::test::error_of([&] { gt::io::convert_bq_row(s, R"({"f":[{"v":"7"},{"v":null}]})", "bq://p.d.t"); });
  EXPECT_TRUE(has(err, "column 'n': expected a REPEATED value")) << err;
  err = gt::test::error_of([] { gt::io::parse_bq_schema(R"({"fields":[{"name":"r","type":"RECORD"}]})", "bq://p.d.t"); });
  EXPECT_TRUE(has(err, "bq://p.d.t: schema field 'r' is a RECORD without fields")) << err;
}

TEST(BigQueryClient, RetriesThrough503And429BurstsAndDroppedReplies) {
  BigQueryStandin server;
  add_numbered_table(server, "t", 9);
  HttpClient http(fast_options());
  BigQueryClient bq(http, endpoint_of(server), {}, fast_bq(4));
  server.set_faults([](BigQueryStandin::Faults& f) { f.fail_next = 2; });  // 503 twice on tables.get
  BqCursor c = bq.open_table(gt::io::parse_bq_url("bq://proj.ds.t"));
  EXPECT_EQ(server.request_count(), 3u);
  server.set_faults([](BigQueryStandin::Faults& f) {
    f.fail_next = 3;
    f.fail_status = 429;
    f.fail_body = R"({"error":{"code":429,"message":"Exceeded rate limits","errors":[{"reason":"rateLimitExceeded"}]}})";
    f.drop_next = 1;  // then one reply cut off halfway
  });
  EXPECT_EQ(ids(drain(bq, c)), range(0, 9));
  EXPECT_EQ(server.request_count(), 3u + 4 + 3);  // 3 pages, 4 failed attempts

  // A dropped jobs.query reply is retried with the same requestId: the job runs once.
  server.set_pending_polls(1);
  server.set_faults([](BigQueryStandin::Faults& f) {
    f.fail_next = 0;
    f.drop_next = 2;  // jobs.query's reply, then getQueryResults' reply
  });
  const size_t before = server.request_count();
  BqCursor q = bq.open_query("SELECT * FROM `proj.ds.t`", "proj");
  EXPECT_EQ(ids(drain(bq, q)), range(0, 9));
  EXPECT_EQ(server.jobs_created(), 1);
  const auto log = server.requests();
  ASSERT_GT(log.size(), before + 1);
  EXPECT_EQ(log[before].body, log[before + 1].body);  // the same request, the same requestId
}

TEST(BigQueryClient, AQueryWhoseReplyCameTooLateRunsOnce) {
  BigQueryStandin server;
  add_numbered_table(server, "t", 3);
  HttpOptions ho = fast_options();
  ho.request_timeout_s = 1;
  HttpClient http(ho);
  BigQueryClient bq(http, endpoint_of(server), {}, fast_bq());
  server.set_faults([](BigQueryStandin::Faults& f) {
    f.slow_next = 1;
    f.slow_s = 1.4;
  });
  BqCursor q = bq.open_query("SELECT * FROM `proj.ds.t`", "proj");
  EXPECT_EQ(ids(drain(bq, q)), range(0, 3));
  EXPECT_EQ(server.request_count(), 2u);  // timed out once, asked again
  EXPECT_EQ(server.jobs_created(), 1);
}

TEST(BigQueryClient, ServerErrorsAreNamedInMessages) {
  BigQueryStandin server;
  add_numbered_table(server, "t", 3);
  HttpClient http(fast_options(3));
  BigQueryClient::Options o = fast_bq();
  o.poll_interval_s = 1;
  o.query_timeout_s = 5;
  BigQueryClient bq(http, endpoint_of(server), {}, o);
  std::string err = gt::test::error_of([&] { bq.open_table(gt::io::parse_bq_url("bq://proj.ds.nope")); });
  EXPECT_TRUE(has(err, "bq://proj.ds.nope: reading the table's schema (tables.get) failed with HTTP 404 (GET "
                       "http://127.0.0.1:" + std::to_string(server.port()) + "/projects/proj/datasets/ds/tables/nope): "
                       "Not found: Table proj:ds.nope was not found in location US (notFound)"))
      << err;
  err = gt::test::error_of([&] { bq.get_table(gt::io::parse_bq_url("bq://proj.nods.t")); });
  EXPECT_TRUE(has(err, "bq://proj.nods.t: ") && has(err, "Not found: Dataset proj:nods")) << err;

  // A query BigQuery rejects: named by its first 80 characters.
  const std::string long_sql = "SELECT prompt, answer, media FROM `proj.ds.t` WHERE split = 'train' AND length(prompt) > 0 "
                               "AND 1 = 1";
  server.add_failing_query(long_sql, "Syntax error: Unexpected keyword AND at [1:95]");
  err = gt::test::error_of([&] { bq.open_query(long_sql, "proj"); });
  EXPECT_TRUE(has(err, "query 'SELECT prompt, answer, media FROM `proj.ds.t` WHERE split = 'train' AND length(p...': "
                       "running the query (jobs.query) failed with HTTP 400"))
      << err;
  EXPECT_TRUE(has(err, "Syntax error: Unexpected keyword AND at [1:95] (invalidQuery)")) << err;
  EXPECT_FALSE(has(err, "AND 1 = 1")) << err;
  // A job that fails while it runs.
  server.add_failing_query("SELECT 1/0", "Query error: division by zero: 1 / 0 at [1:8]", true);
  err = gt::test::error_of([&] { bq.open_query("SELECT 1/0", "proj"); });
  EXPECT_TRUE(has(err, "query 'SELECT 1/0' (job proj:US.job_1): reading the query's results from row 0 "
                       "(jobs.getQueryResults) failed with HTTP 400"))
      << err;
  EXPECT_TRUE(has(err, "Query error: division by zero")) << err;
  // A job that does not complete in time.
  server.set_pending_polls(1000);
  err = gt::test::error_of([&] { bq.open_query("SELECT * FROM `proj.ds.t`", "proj"); });
  EXPECT_TRUE(has(err, "query 'SELECT * FROM `proj.ds.t`' (job proj:US.job_2): the query job did not complete within "
                       "5 s (6 polls); it may still be running: resume from query job proj:US.job_2 at row 0 later"))
      << err;
  server.set_pending_polls(0);
  // Retries that run out name the status and the server's message.
  server.set_faults([](BigQueryStandin::Faults& f) { f.fail_next = 3; });
  err = gt::test::error_of([&] { bq.get_table(gt::io::parse_bq_url("bq://proj.ds.t")); });
  EXPECT_TRUE(has(err, "bq://proj.ds.t: reading the table's schema (tables.get) failed: GET")) << err;
  EXPECT_TRUE(has(err, "failed with HTTP 503 after 3 attempt(s)")) << err;
  EXPECT_TRUE(has(err, "Retrying may solve the problem.")) << err;
  // 200 replies carrying a failed job's errors (jobs.query, then getQueryResults), or no job.
  server.set_faults([](BigQueryStandin::Faults& f) {
    f.fail_next = 1;
    f.fail_status = 200;
    f.fail_body = R"({"kind":"bigquery#queryResponse","jobComplete":true,"errors":[{"reason":"invalidQuery","message":"Unrecognized name: promt"}]})";
  });
  err = gt::test::error_of([&] { bq.open_query("SELECT promt FROM `proj.ds.t`", "proj"); });
  EXPECT_TRUE(has(err, "query 'SELECT promt FROM `proj.ds.t`': running the query (jobs.query) failed: Unrecognized "
                       "name: promt (invalidQuery)"))
      << err;
  server.set_pending_polls(1);
  server.set_faults([](BigQueryStandin::Faults& f) {
    f.fail_next = 1;
    f.fail_only = "/queries/";
    f.fail_status = 200;
    f.fail_body = R"({"jobReference":{"projectId":"proj","jobId":"job_3"},"jobComplete":true,"errors":[{"reason":"invalidQuery","message":"Unrecognized name: promt"}]})";
  });
  err = gt::test::error_of([&] { bq.open_query("SELECT * FROM `proj.ds.t`", "proj"); });
  EXPECT_TRUE(has(err, "query 'SELECT * FROM `proj.ds.t`' (job proj:US.job_3): the query failed "
                       "(jobs.getQueryResults): Unrecognized name: promt (invalidQuery)"))
      << err;
  server.set_pending_polls(0);
  server.set_faults([](BigQueryStandin::Faults& f) {
    f.fail_next = 1;
    f.fail_only = "";
    f.fail_status = 200;
    f.fail_body = R"({"kind":"bigquery#queryResponse","jobComplete":false})";
  });
  err = gt::test::error_of([&] { bq.open_query("SELECT * FROM `proj.ds.t`", "proj"); });
  EXPECT_TRUE(has(err, "the reply of jobs.query has no jobReference.jobId")) << err;
  // A job resource's status.errorResult, and an error object in a 200 reply.
  server.set_faults([](BigQueryStandin::Faults& f) {
    f.fail_next = 1;
    f.fail_status = 200;
    f.fail_body = R"({"jobReference":{"projectId":"proj","jobId":"j8"},"status":{"state":"DONE","errorResult":{"reason":"accessDenied","message":"Access Denied: Table proj:ds.t"}}})";
  });
  err = gt::test::error_of([&] { bq.open_query("SELECT * FROM `proj.ds.t`", "proj"); });
  EXPECT_TRUE(has(err, "query 'SELECT * FROM `proj.ds.t`': running the query (jobs.query) failed: Access Denied: Table "
                       "proj:ds.t (accessDenied)"))
      << err;
  server.set_faults([](BigQueryStandin::Faults& f) {
    f.fail_next = 1;
    f.fail_status = 200;
    f.fail_body = R"({"error":{"code":403,"message":"Billing has not been enabled for this project.","errors":[{"reason":"billingNotEnabled"}]}})";
  });
  err = gt::test::error_of([&] { bq.get_table(gt::io::parse_bq_url("bq://proj.ds.t")); });
  EXPECT_TRUE(has(err, "bq://proj.ds.t: reading the table's schema (tables.get) failed: Billing has not been enabled for "
                       "this project. (billingNotEnabled)"))
      << err;
  err = gt::test::error_of([&] { bq.open_query("SELECT 1", ""); });
  EXPECT_TRUE(has(err, "query 'SELECT 1': no project to run the query in")) << err;
}

TEST(BigQueryClient, ARefusedTokenIsRenewedOnceAndTheQueryRunsOnce) {
  BigQueryStandin server;
  add_numbered_table(server, "t", 7);
  HttpClient http(fast_options());
  int current = 1;
  std::vector<std::string> refused;
  BigQueryClient::Options o = fast_bq();
  o.page_size = 3;
  o.token_refused = [&](const std::string& t) {
    refused.push_back(t);
    ++current;
  };
  BigQueryClient bq(http, endpoint_of(server), [&] { return "t" + std::to_string(current); }, o);
  server.require_token("t2");  // "t1" is refused at the first call
  BqCursor q = bq.open_query("SELECT * FROM `proj.ds.t`", "proj");
  std::vector<BqRow> page;
  ASSERT_TRUE(bq.next_page(q, page));
  server.require_token("t3");  // revoked in the middle of the paging
  std::vector<BqRow> all = page;
  while (bq.next_page(q, page)) all.insert(all.end(), page.begin(), page.end());
  EXPECT_EQ(all.size(), 7u);
  EXPECT_EQ(refused, (std::vector<std::string>{"t1", "t2"}));
  EXPECT_EQ(server.jobs_created(), 1) << "the repeated jobs.query kept its requestId";
  // A second refusal in a row is final, with the credentials hint.
  server.require_token("never");
  const std::string err = gt::test::error_of([&] { bq.open_table(gt::io::parse_bq_url("bq://proj.ds.t")); });
  EXPECT_TRUE(has(err, "failed with HTTP 401")) << err;
}

TEST(BigQueryClient, SendsABearerTokenOnlyWhenGivenAndNeverShowsIt) {
  BigQueryStandin server;
  add_numbered_table(server, "t", 3);
  server.require_token("ya29.secret");
  HttpClient http(fast_options());
  int calls = 0;
  BigQueryClient::Options o = fast_bq();
  o.user_project = "billing-proj";
  BigQueryClient authed(http, endpoint_of(server), [&] {
    ++calls;
    return std::string("ya29.secret");
  }, o);
  BqCursor c = authed.open_table(gt::io::parse_bq_url("bq://proj.ds.t"));
  EXPECT_EQ(drain(authed, c).size(), 3u);
  BqCursor q = authed.open_query("SELECT * FROM `proj.ds.t`", "proj");
  EXPECT_EQ(drain(authed, q).size(), 3u);
  EXPECT_EQ(calls, 3);
  for (const auto& r : server.requests()) {
    EXPECT_EQ(r.headers.find("Authorization")->second, "Bearer ya29.secret");
    EXPECT_EQ(r.headers.find("x-goog-user-project")->second, "billing-proj");
  }
  BigQueryClient anonymous(http, endpoint_of(server), {}, fast_bq());
  std::string err = gt::test::error_of([&] { anonymous.open_table(gt::io::parse_bq_url("bq://proj.ds.t")); });
  EXPECT_TRUE(has(err, "failed with HTTP 401")) << err;
  EXPECT_TRUE(has(err, "Request had invalid authentication credentials")) << err;
  EXPECT_TRUE(has(err, "check the credentials")) << err;
  EXPECT_EQ(server.requests().back().headers.count("Authorization"), 0u);
  EXPECT_EQ(server.requests().back().headers.count("x-goog-user-project"), 0u);
  BigQueryClient empty_token(http, endpoint_of(server), [] { return std::string(); }, fast_bq());
  gt::test::error_of([&] { empty_token.open_table(gt::io::parse_bq_url("bq://proj.ds.t")); });
  EXPECT_EQ(server.requests().back().headers.count("Authorization"), 0u);
  BigQueryClient wrong(http, endpoint_of(server), [] { return std::string("ya29.stale"); }, fast_bq());
  err = gt::test::error_of([&] { wrong.open_query("SELECT * FROM `proj.ds.t`", "proj"); });
  EXPECT_TRUE(has(err, "HTTP 401")) << err;
  EXPECT_FALSE(has(err, "ya29")) << err;
}
