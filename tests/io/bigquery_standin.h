// A stand-in for the BigQuery REST API v2 (issue #10): cpp-httplib on 127.0.0.1 at a free port, holding tables
// (schema + rows in the wire shape) and answering queries from them, run in a thread, stopped by the destructor.
// Built like gcs_standin.h.
//
//   gt::test::BigQueryStandin bq;
//   bq.add_table("proj.ds.t", {{{"name", "text"}, {"type", "STRING"}}}, {BigQueryStandin::row({"a"})});
//   bq.add_query("SELECT text FROM ds.t", "proj.ds.t");   // answered from that table (also: SELECT * FROM `p.d.t`)
//   bq.set_pending_polls(2);                               // new jobs report jobComplete:false twice
//   bq.set_faults([](auto& f) { f.fail_next = 2; });       // 503 bursts, dropped replies, slow replies
//   BigQueryClient(http, BigQueryEndpoint{bq.base(), true}).open_table(...);
//
// Served under "" and "/bigquery/v2" (Google's Node client appends its paths to BIGQUERY_EMULATOR_HOST verbatim;
// the public endpoint has the prefix):
//   GET  /projects/{p}/datasets/{d}/tables/{t}          tables.get: tableReference, schema, numRows (a string), ...
//   GET  /projects/{p}/datasets/{d}/tables/{t}/data     tabledata.list: maxResults, startIndex, pageToken (which wins
//                                                        over startIndex, as Node sends both on later pages)
//   POST /projects/{p}/queries                          jobs.query: {"query","useLegacySql":false,"maxResults",
//                                                        "requestId","location"}; a requestId seen before gets the
//                                                        same job (BigQuery's idempotency)
//   GET  /projects/{p}/queries/{jobId}                  jobs.getQueryResults: location, maxResults, startIndex,
//                                                        pageToken, timeoutMs (ignored)
// Replies have BigQuery's shape: counts as JSON strings, rows {"f":[{"v":...}]} as stored, "rows" left out of an
// empty page, pageToken only while rows remain, jobReference {projectId, jobId, location}. Errors are
// {"error":{"code","message","errors":[{"reason","message","domain"}],"status"}}: 404 "Not found: Table p:d.t",
// "Not found: Dataset p:d", "Not found: Job p:LOC.id"; 400 invalidQuery for SQL the stand-in does not know.
// A job reads a snapshot of its table taken when it was created.
#pragma once

#include "io/local_server.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace gt::test {

class BigQueryStandin {
 public:
  struct Faults {
    int fail_next = 0;  // the next N requests (matching fail_only) are answered fail_status with fail_body
    int fail_status = 503;
    std::string fail_only;  // "" = any request; else only requests whose path contains it ("/data", "/queries")
    std::string fail_body =
        "{\"error\":{\"code\":503,\"message\":\"Error encountered during execution. Retrying may solve the "
        "problem.\",\"errors\":[{\"message\":\"Error encountered during execution. Retrying may solve the "
        "problem.\",\"domain\":\"global\",\"reason\":\"backendError\"}],\"status\":\"UNAVAILABLE\"}}";
    int drop_next = 0;   // the next N replies close the connection halfway through their body
    int slow_next = 0;   // the next N replies are sent after slow_s seconds (the request is served first)
    double slow_s = 1.5;
  };
  struct Recorded {
    std::string method, target, path, body;  // target: path and query as sent; path: its path (percent-encoded)
    httplib::Headers headers;
  };

  BigQueryStandin()
      : server_("BigQueryStandin", [this](httplib::Server& s) {
          s.Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) { serve(req, res); });
          s.Post(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) { serve(req, res); });
        }) {}
  BigQueryStandin(const BigQueryStandin&) = delete;
  BigQueryStandin& operator=(const BigQueryStandin&) = delete;

  int port() const { return server_.port(); }
  // The emulator address, as BIGQUERY_EMULATOR_HOST would hold it.
  std::string base() const { return server_.base(); }

  // A row in the wire shape: {"f":[{"v":v0},{"v":v1},...]}. Values: strings, null, {"f":[...]} records, arrays of
  // {"v":...} for REPEATED fields (see cell()).
  static nlohmann::json row(const std::vector<nlohmann::json>& values) {
    nlohmann::json f = nlohmann::json::array();
    for (const auto& v : values) f.push_back({{"v", v}});
    return {{"f", f}};
  }
  // A REPEATED value: [{"v":e0},{"v":e1},...].
  static nlohmann::json repeated(const std::vector<nlohmann::json>& elements) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& e : elements) a.push_back({{"v", e}});
    return a;
  }
  // A RECORD value: {"f":[{"v":...},...]}.
  static nlohmann::json record(const std::vector<nlohmann::json>& values) { return row(values); }

  // Creates or replaces table "project.dataset.table" (creating its dataset). `fields` is the schema's "fields"
  // array as the API gives it; rows are in the wire shape.
  void add_table(const std::string& dotted, nlohmann::json fields, std::vector<nlohmann::json> rows) {
    const Name n = split(dotted);
    auto t = std::make_shared<Table>();
    t->fields = std::move(fields);
    t->rows = std::move(rows);
    std::lock_guard<std::mutex> lock(mu_);
    datasets_[n.project + ":" + n.dataset];
    tables_[n.key()] = std::move(t);
  }
  // `sql` (exact text) is answered from table "project.dataset.table".
  void add_query(const std::string& sql, const std::string& dotted) {
    std::lock_guard<std::mutex> lock(mu_);
    queries_[sql] = split(dotted).key();
  }
  // `sql` fails with `message` (reason invalidQuery): at once from jobs.query (HTTP 400, as a syntax error does), or,
  // with at_poll, when its results are read (HTTP 400 from getQueryResults, as a job failing at run time does).
  void add_failing_query(const std::string& sql, const std::string& message, bool at_poll = false) {
    std::lock_guard<std::mutex> lock(mu_);
    failing_[sql] = {message, at_poll};
  }
  // Jobs created from now on answer jobComplete:false to jobs.query and to their first n getQueryResults calls.
  void set_pending_polls(int n) {
    std::lock_guard<std::mutex> lock(mu_);
    pending_polls_ = std::max(0, n);
  }
  // Forgets every job (as BigQuery does after about a day): reading one is then 404.
  void expire_jobs() {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_.clear();
    requests_.clear();
  }
  // maxResults when a request gives none; small values make clients page.
  void set_default_page_size(size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    default_page_size_ = std::max<size_t>(1, n);
  }
  // Requests must carry "Authorization: Bearer <token>" (else 401); "" = no check.
  void require_token(std::string token) {
    std::lock_guard<std::mutex> lock(mu_);
    token_ = std::move(token);
    token_ok_ = nullptr;
  }
  // Requests must carry a bearer token `ok` accepts (else 401), e.g. one not yet revoked; called under the lock.
  void require_token_if(std::function<bool(const std::string& token)> ok) {
    std::lock_guard<std::mutex> lock(mu_);
    token_.clear();
    token_ok_ = std::move(ok);
  }
  void set_faults(const std::function<void(Faults&)>& edit) {
    std::lock_guard<std::mutex> lock(mu_);
    edit(faults_);
  }
  // Called with each request's method and target as it arrives (the stand-in program logs with it).
  void on_request(std::function<void(const std::string&, const std::string&)> fn) {
    std::lock_guard<std::mutex> lock(mu_);
    on_request_ = std::move(fn);
  }
  std::vector<Recorded> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_;
  }
  size_t request_count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return log_.size();
  }
  // Jobs created by jobs.query (a retried request with the same requestId creates none).
  int jobs_created() const {
    std::lock_guard<std::mutex> lock(mu_);
    return next_job_;
  }

 private:
  struct Table {
    nlohmann::json fields = nlohmann::json::array();
    std::vector<nlohmann::json> rows;
  };
  struct Name {
    std::string project, dataset, table;
    std::string key() const { return project + ":" + dataset + "." + table; }
  };
  struct Job {
    std::string project, id, location;
    std::shared_ptr<const Table> table;
    int polls_left = 0;
    std::string fail_message;  // non-empty: reading the results fails with it
  };
  struct Failing {
    std::string message;
    bool at_poll = false;
  };

  static Name split(const std::string& dotted) {
    const size_t a = dotted.find('.'), b = dotted.rfind('.');
    if (a == std::string::npos || a == b) throw std::logic_error("BigQueryStandin: expected project.dataset.table, got " + dotted);
    return {dotted.substr(0, a), dotted.substr(a + 1, b - a - 1), dotted.substr(b + 1)};
  }

  static std::vector<std::string> segments(const std::string& path) {
    std::vector<std::string> out;
    size_t i = 1;
    while (i <= path.size()) {
      const size_t j = path.find('/', i);
      out.push_back(percent_decode(path.substr(i, j == std::string::npos ? std::string::npos : j - i)));
      if (j == std::string::npos) break;
      i = j + 1;
    }
    return out;
  }

  static std::string error_body(int status, const std::string& message, const std::string& reason) {
    const char* st = status == 404 ? "NOT_FOUND" : status == 401 ? "UNAUTHENTICATED" : "INVALID_ARGUMENT";
    nlohmann::json j = {{"error",
                         {{"code", status},
                          {"message", message},
                          {"errors", {{{"message", message}, {"domain", "global"}, {"reason", reason}}}},
                          {"status", st}}}};
    return j.dump();
  }

  // "tok" + the row offset: opaque to clients, as BigQuery's are.
  static std::string token_for(size_t offset) { return "tok" + std::to_string(offset * 7919 + 13); }
  static bool offset_of(const std::string& token, size_t& offset) {
    if (token.rfind("tok", 0) != 0) return false;
    try {
      const size_t v = std::stoul(token.substr(3));
      if (v < 13 || (v - 13) % 7919) return false;
      offset = (v - 13) / 7919;
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }

  // The page of `t` a request asks for (maxResults, startIndex, pageToken), into `j`; false: a bad token.
  bool page(const httplib::Request& req, const Table& t, size_t default_max, nlohmann::json& j) const {
    size_t max_results = default_max, start = 0;
    if (req.has_param("maxResults")) max_results = std::max<size_t>(1, std::stoul(req.get_param_value("maxResults")));
    if (req.has_param("startIndex")) start = std::stoul(req.get_param_value("startIndex"));
    const std::string token = req.get_param_value("pageToken");
    if (!token.empty() && !offset_of(token, start)) return false;
    return fill(t, start, max_results, j);
  }
  static bool fill(const Table& t, size_t start, size_t max_results, nlohmann::json& j) {
    j["totalRows"] = std::to_string(t.rows.size());
    nlohmann::json rows = nlohmann::json::array();
    size_t i = start;
    for (; i < t.rows.size() && rows.size() < max_results; ++i) rows.push_back(t.rows[i]);
    if (!rows.empty()) j["rows"] = rows;
    if (i < t.rows.size()) j["pageToken"] = token_for(i);
    return true;
  }

  static nlohmann::json job_ref(const Job& job) {
    return {{"projectId", job.project}, {"jobId", job.id}, {"location", job.location}};
  }

  // Answers a request; returns the reply's status and body.
  std::pair<int, std::string> answer(const httplib::Request& req, const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string auth = req.get_header_value("Authorization");
    const bool authorized = token_ok_ ? auth.rfind("Bearer ", 0) == 0 && token_ok_(auth.substr(7))
                                      : token_.empty() || auth == "Bearer " + token_;
    if (!authorized)
      return {401, error_body(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                                   "login cookie or other valid authentication credential.",
                              "unauthorized")};
    const std::vector<std::string> s = segments(path);
    const auto not_found = [&] { return std::make_pair(404, error_body(404, "Not found: URL " + path, "notFound")); };
    if (s.size() < 3 || s[0] != "projects") return not_found();
    const std::string& project = s[1];
    // tables.get / tabledata.list
    if (req.method == "GET" && (s.size() == 6 || s.size() == 7) && s[2] == "datasets" && s[4] == "tables" &&
        (s.size() == 6 || s[6] == "data")) {
      const Name n{project, s[3], s[5]};
      if (!datasets_.count(project + ":" + n.dataset))
        return {404, error_body(404, "Not found: Dataset " + project + ":" + n.dataset, "notFound")};
      const auto it = tables_.find(n.key());
      if (it == tables_.end())
        return {404, error_body(404, "Not found: Table " + n.key() + " was not found in location US", "notFound")};
      const Table& t = *it->second;
      nlohmann::json j;
      if (s.size() == 6) {
        j = {{"kind", "bigquery#table"},
             {"etag", "e" + std::to_string(t.rows.size())},
             {"id", n.key()},
             {"selfLink", base() + path},
             {"tableReference", {{"projectId", project}, {"datasetId", n.dataset}, {"tableId", n.table}}},
             {"schema", {{"fields", t.fields}}},
             {"numBytes", "0"},
             {"numLongTermBytes", "0"},
             {"numRows", std::to_string(t.rows.size())},
             {"creationTime", "1767225600000"},
             {"lastModifiedTime", "1767225600000"},
             {"type", "TABLE"},
             {"location", "US"}};
      } else {
        j = {{"kind", "bigquery#tableDataList"}, {"etag", "e" + std::to_string(t.rows.size())}};
        if (!page(req, t, default_page_size_, j)) return {400, error_body(400, "Invalid page token", "invalid")};
      }
      return {200, j.dump()};
    }
    // jobs.query
    if (req.method == "POST" && s.size() == 3 && s[2] == "queries") {
      nlohmann::json body;
      try {
        body = nlohmann::json::parse(req.body);
      } catch (const nlohmann::json::exception&) {
        return {400, error_body(400, "Invalid JSON payload received.", "invalid")};
      }
      if (!body.is_object() || !body.contains("query") || !body["query"].is_string())
        return {400, error_body(400, "Required parameter is missing: query", "required")};
      // jobs.query defaults to legacy SQL; the stand-in speaks only GoogleSQL, so clients must say so.
      if (!body.contains("useLegacySql") || body["useLegacySql"] != false)
        return {400, error_body(400, "The stand-in answers GoogleSQL only; send useLegacySql: false", "invalid")};
      const std::string sql = body["query"].get<std::string>();
      const std::string request_id = body.value("requestId", std::string());
      std::shared_ptr<Job> job;
      if (!request_id.empty() && requests_.count(request_id)) {
        job = jobs_.at(requests_.at(request_id));
      } else {
        const auto f = failing_.find(sql);
        if (f != failing_.end() && !f->second.at_poll) return {400, error_body(400, f->second.message, "invalidQuery")};
        std::string key;
        if (const auto q = queries_.find(sql); q != queries_.end()) {
          key = q->second;
        } else if (f == failing_.end()) {
          key = select_star(sql);
          if (key.empty())
            return {400, error_body(400, "Syntax error: the stand-in knows no query \"" + sql.substr(0, 100) + "\"",
                                    "invalidQuery")};
        }
        job = std::make_shared<Job>();
        job->project = project;
        job->id = "job_" + std::to_string(++next_job_);
        job->location = body.value("location", std::string("US"));
        job->polls_left = pending_polls_;
        if (f != failing_.end()) {
          job->fail_message = f->second.message;
          job->table = std::make_shared<Table>();
        } else {
          const auto t = tables_.find(key);
          if (t == tables_.end())
            return {404, error_body(404, "Not found: Table " + key + " was not found in location US", "notFound")};
          job->table = t->second;
        }
        jobs_[job->id] = job;
        if (!request_id.empty()) requests_[request_id] = job->id;
      }
      nlohmann::json j = {{"kind", "bigquery#queryResponse"}, {"jobReference", job_ref(*job)}};
      if (job->polls_left > 0 || !job->fail_message.empty()) {
        j["jobComplete"] = false;
        return {200, j.dump()};
      }
      j["schema"] = {{"fields", job->table->fields}};
      j["jobComplete"] = true;
      j["totalBytesProcessed"] = "0";
      j["cacheHit"] = false;
      size_t max_results = default_page_size_;
      if (body.contains("maxResults") && body["maxResults"].is_number_unsigned())
        max_results = std::max<size_t>(1, body["maxResults"].get<size_t>());
      fill(*job->table, 0, max_results, j);
      return {200, j.dump()};
    }
    // jobs.getQueryResults
    if (req.method == "GET" && s.size() == 4 && s[2] == "queries") {
      const auto it = jobs_.find(s[3]);
      const std::string location = req.get_param_value("location");
      if (it == jobs_.end() || it->second->project != project ||
          (!location.empty() && location != it->second->location))
        return {404, error_body(404, "Not found: Job " + project + ":" + (location.empty() ? "US" : location) + "." + s[3],
                                "notFound")};
      Job& job = *it->second;
      nlohmann::json j = {{"kind", "bigquery#getQueryResultsResponse"}, {"jobReference", job_ref(job)}};
      if (job.polls_left > 0) {
        --job.polls_left;
        j["jobComplete"] = false;
        return {200, j.dump()};
      }
      if (!job.fail_message.empty()) return {400, error_body(400, job.fail_message, "invalidQuery")};
      j["schema"] = {{"fields", job.table->fields}};
      j["jobComplete"] = true;
      j["totalBytesProcessed"] = "0";
      j["cacheHit"] = false;
      j["etag"] = "q" + job.id;
      if (!page(req, *job.table, default_page_size_, j)) return {400, error_body(400, "Invalid page token", "invalid")};
      return {200, j.dump()};
    }
    return not_found();
  }

  // "SELECT * FROM `p.d.t`" (any case, optional ';') -> "p:d.t", else "".
  static std::string select_star(std::string sql) {
    while (!sql.empty() && (sql.back() == ';' || std::isspace(static_cast<unsigned char>(sql.back())))) sql.pop_back();
    std::string head = sql.substr(0, std::min<size_t>(sql.size(), 15));
    std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return char(std::toupper(c)); });
    if (head != "SELECT * FROM `" || sql.size() < 17 || sql.back() != '`') return "";
    const std::string name = sql.substr(15, sql.size() - 16);
    const size_t a = name.find('.'), b = name.rfind('.');
    if (a == std::string::npos || a == b) return "";
    return split(name).key();
  }

  void serve(const httplib::Request& req, httplib::Response& res) {
    const std::string raw_path = req.target.substr(0, req.target.find('?'));
    std::string path = raw_path;
    if (path.rfind("/bigquery/v2/", 0) == 0) path = path.substr(12);
    bool fail = false, drop = false, slow = false;
    Faults f;
    std::function<void(const std::string&, const std::string&)> notify;
    {
      std::lock_guard<std::mutex> lock(mu_);
      log_.push_back({req.method, req.target, raw_path, req.body, req.headers});
      notify = on_request_;
      if (faults_.fail_next > 0 && (faults_.fail_only.empty() || path.find(faults_.fail_only) != std::string::npos)) {
        --faults_.fail_next;
        fail = true;
      } else if (faults_.drop_next > 0) {
        --faults_.drop_next;
        drop = true;
      } else if (faults_.slow_next > 0) {
        --faults_.slow_next;
        slow = true;
      }
      f = faults_;
    }
    if (notify) notify(req.method, req.target);
    if (fail) {
      res.status = f.fail_status;
      res.set_content(f.fail_body, "application/json; charset=UTF-8");
      return;
    }
    auto [status, body] = answer(req, path);
    if (slow) {
      const auto t0 = std::chrono::steady_clock::now();
      while (!server_.stopping() && std::chrono::steady_clock::now() - t0 < std::chrono::duration<double>(f.slow_s))
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    res.status = status;
    if (!drop) {
      res.set_content(body, "application/json; charset=UTF-8");
      return;
    }
    // Half the body, then the connection closes (the declared length is never reached).
    auto content = std::make_shared<std::string>(std::move(body));
    res.set_content_provider(content->size(), "application/json; charset=UTF-8",
                             [content](size_t offset, size_t, httplib::DataSink& sink) {
                               const size_t half = content->size() / 2;
                               if (offset >= half) return false;
                               return sink.write(content->data() + offset, half - offset);
                             });
  }

  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<const Table>> tables_;  // "p:d.t"
  std::map<std::string, bool> datasets_;                        // "p:d"
  std::map<std::string, std::string> queries_;                  // sql -> "p:d.t"
  std::map<std::string, Failing> failing_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;
  std::map<std::string, std::string> requests_;  // requestId -> job id
  int next_job_ = 0;
  int pending_polls_ = 0;
  size_t default_page_size_ = 100000;
  std::string token_;
  std::function<bool(const std::string&)> token_ok_;
  Faults faults_;
  std::vector<Recorded> log_;
  std::function<void(const std::string&, const std::string&)> on_request_;
  LocalServer server_;  // last: started after the state above exists, stopped before it goes
};

}  // namespace gt::test
