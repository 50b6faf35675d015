#include "io/bigquery.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "core/error.h"

namespace gt::io {

using nlohmann::json;
using nlohmann::ordered_json;

namespace {

constexpr const char* kPublicBase = "https://bigquery.googleapis.com/bigquery/v2";
// Integers beyond this magnitude lose precision as JSON numbers in most readers; TO_JSON_STRING writes them as
// strings.
constexpr int64_t kMaxExactInt = int64_t(1) << 53;

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  return s;
}

// Percent-encoding for a path segment or a query value: every byte but A-Z a-z 0-9 - . _ ~ (and ':' in path
// segments, where domain-scoped project ids such as example.com:proj keep it, as Google's clients send them).
std::string encode(std::string_view s, bool keep_colon = false) { return percent_encode(s, keep_colon ? ":" : ""); }

// The query as messages show it: its first 80 characters, runs of white space as one space.
std::string query_excerpt(std::string_view sql) {
  std::string out;
  bool space = false;
  size_t chars = 0;
  for (const char c : sql) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) {
      out += ' ';
      ++chars;
      space = false;
    }
    if (chars >= 80) return out + "...";
    out += c;
    // Count characters, not UTF-8 continuation bytes.
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++chars;
  }
  return out;
}

std::string job_name(const BqPosition& p) {
  return p.job_project + ":" + (p.location.empty() ? std::string() : p.location + ".") + p.job_id;
}

std::string query_where(const BqPosition& p) {
  std::string w = p.query.empty() ? std::string("query") : "query '" + query_excerpt(p.query) + "'";
  if (!p.job_id.empty()) w += " (job " + job_name(p) + ")";
  return w;
}

// A Google API error reply's message ({"error":{"code":400,"message":"...","errors":[{"reason":"invalidQuery"}]}})
// with its reason, else the start of the body.
std::string api_message(const std::string& body) {
  try {
    const json j = json::parse(body);
    if (j.is_object() && j.contains("error")) {
      const json& e = j["error"];
      if (e.is_string()) return e.get<std::string>();
      if (e.is_object() && e.contains("message") && e["message"].is_string()) {
        std::string m = e["message"].get<std::string>();
        if (const auto it = e.find("errors"); it != e.end() && it->is_array() && !it->empty()) {
          const json& first = (*it)[0];
          if (first.is_object() && first.contains("reason") && first["reason"].is_string())
            m += " (" + first["reason"].get<std::string>() + ")";
        }
        return m;
      }
    }
  } catch (const json::exception&) {
  }
  std::string s = body.substr(0, 300);
  if (s.empty()) s = "(empty reply)";
  return s;
}

// An ErrorProto ({"reason","message","location"}) as text.
std::string error_proto(const json& e) {
  if (!e.is_object()) return e.dump();
  std::string m = e.value("message", std::string());
  if (m.empty()) m = e.dump();
  if (e.contains("reason") && e["reason"].is_string()) m += " (" + e["reason"].get<std::string>() + ")";
  return m;
}

std::string str_field(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// An int64 count the API sends as a JSON string ("numRows", "totalRows"); nullopt when absent.
std::optional<uint64_t> count_field(const json& j, const char* key, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  const std::string s = it->is_string() ? it->get<std::string>() : it->dump();
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size())
    fail_input(where, ": the reply's '", key, "' is not a non-negative integer: ", s);
  return v;
}

BqField field_from_json(const json& j, const std::string& where, const std::string& parent) {
  if (!j.is_object()) fail_input(where, ": a schema field is not a JSON object: ", j.dump().substr(0, 200));
  BqField f;
  f.name = str_field(j, "name");
  if (f.name.empty()) fail_input(where, ": a schema field", parent.empty() ? "" : " of '" + parent + "'", " has no name");
  const std::string path = parent.empty() ? f.name : parent + "." + f.name;
  f.type = upper(str_field(j, "type"));
  if (f.type.empty()) fail_input(where, ": schema field '", path, "' has no type");
  const std::string mode = upper(str_field(j, "mode"));
  if (!mode.empty()) f.mode = mode;
  if (f.mode != "NULLABLE" && f.mode != "REQUIRED" && f.mode != "REPEATED")
    fail_input(where, ": schema field '", path, "' has the mode '", f.mode, "'; expected NULLABLE, REQUIRED or REPEATED");
  if (f.record()) {
    const auto it = j.find("fields");
    if (it == j.end() || !it->is_array() || it->empty())
      fail_input(where, ": schema field '", path, "' is a ", f.type, " without fields");
    for (const json& sub : *it) f.fields.push_back(field_from_json(sub, where, path));
  }
  return f;
}

BqSchema schema_from_json(const json& j, const std::string& where) {
  if (!j.is_object()) fail_input(where, ": the schema is not a JSON object: ", j.dump().substr(0, 200));
  BqSchema s;
  const auto it = j.find("fields");
  if (it == j.end()) return s;  // a table without columns
  if (!it->is_array()) fail_input(where, ": the schema's 'fields' is not an array");
  for (const json& f : *it) s.fields.push_back(field_from_json(f, where, ""));
  return s;
}

[[noreturn]] void bad_value(const std::string& where, const std::string& column, const char* expected,
                            const json& found) {
  fail_input(where, ": column '", column, "': expected ", expected, ", found ", found.dump().substr(0, 200));
}

// A scalar as the API sends it: a JSON string (an emulator may send a number or a boolean; taken as its text).
std::string scalar_text(const json& v, const std::string& where, const std::string& column) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number()) return v.dump();
  bad_value(where, column, "a value as a JSON string", v);
}

bool bool_value(const std::string& s, const std::string& where, const std::string& column) {
  const std::string u = upper(s);
  if (u == "TRUE") return true;
  if (u == "FALSE") return false;
  bad_value(where, column, "a BOOL (\"true\" or \"false\")", json(s));
}

// The {"v":[...]} elements of a REPEATED field as a JSON array.
ordered_json member_value(const BqField& f, const json& v, const std::string& where, const std::string& column);

ordered_json repeated_value(const BqField& f, const json& v, const std::string& where, const std::string& column) {
  ordered_json out = ordered_json::array();
  if (v.is_null()) return out;
  if (!v.is_array()) bad_value(where, column, "a REPEATED value (a JSON array of {\"v\": ...})", v);
  size_t i = 0;
  for (const json& e : v) {
    const std::string at = column + "[" + std::to_string(i++) + "]";
    if (!e.is_object() || !e.contains("v")) bad_value(where, at, "an array element {\"v\": ...}", e);
    out.push_back(member_value(f, e["v"], where, at));
  }
  return out;
}

ordered_json record_value(const BqField& f, const json& v, const std::string& where, const std::string& column) {
  if (!v.is_object() || !v.contains("f") || !v["f"].is_array())
    bad_value(where, column, "a RECORD value {\"f\": [...]}", v);
  const json& cells = v["f"];
  if (cells.size() != f.fields.size())
    fail_input(where, ": column '", column, "': the RECORD has ", cells.size(), " fields, the schema ", f.fields.size());
  ordered_json out = ordered_json::object();
  for (size_t i = 0; i < cells.size(); ++i) {
    const BqField& sub = f.fields[i];
    const std::string at = column + "." + sub.name;
    if (!cells[i].is_object() || !cells[i].contains("v")) bad_value(where, at, "a cell {\"v\": ...}", cells[i]);
    const json& cv = cells[i]["v"];
    out[sub.name] = sub.repeated() ? repeated_value(sub, cv, where, at) : member_value(sub, cv, where, at);
  }
  return out;
}

// One value inside an array or a record, typed as TO_JSON_STRING types it (see bigquery.h).
ordered_json member_value(const BqField& f, const json& v, const std::string& where, const std::string& column) {
  if (v.is_null()) return nullptr;
  if (f.record()) return record_value(f, v, where, column);
  const std::string s = scalar_text(v, where, column);
  const std::string& t = f.type;
  if (t == "INTEGER" || t == "INT64") {
    int64_t n = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || end != s.data() + s.size()) bad_value(where, column, "an INT64", json(s));
    if (n >= -kMaxExactInt && n <= kMaxExactInt) return n;
    return s;
  }
  if (t == "FLOAT" || t == "FLOAT64") {
    if (s == "NaN" || s == "Infinity" || s == "-Infinity") return s;
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(d)) bad_value(where, column, "a FLOAT64", json(s));
    return d;
  }
  if (t == "BOOLEAN" || t == "BOOL") return bool_value(s, where, column);
  if (t == "JSON") {
    try {
      return ordered_json::parse(s);
    } catch (const json::exception&) {
      return s;  // not JSON after all: keep the text
    }
  }
  return s;
}

BqValue top_value(const BqField& f, const json& v, const std::string& where) {
  if (v.is_null()) return std::nullopt;
  if (f.repeated()) return repeated_value(f, v, where, f.name).dump();
  if (f.record()) return record_value(f, v, where, f.name).dump();
  std::string s = scalar_text(v, where, f.name);
  if (f.type == "BOOLEAN" || f.type == "BOOL") return bool_value(s, where, f.name) ? "true" : "false";
  return s;
}

BqRow row_from_json(const BqSchema& schema, const json& row, const std::string& where) {
  if (!row.is_object() || !row.contains("f") || !row["f"].is_array())
    fail_input(where, ": expected a row {\"f\": [{\"v\": ...}, ...]}, found ", row.dump().substr(0, 200));
  const json& cells = row["f"];
  if (cells.size() != schema.fields.size())
    fail_input(where, ": a row has ", cells.size(), " values, the schema ", schema.fields.size(), " columns");
  BqRow out;
  out.reserve(cells.size());
  for (size_t i = 0; i < cells.size(); ++i) {
    if (!cells[i].is_object() || !cells[i].contains("v"))
      bad_value(where, schema.fields[i].name, "a cell {\"v\": ...}", cells[i]);
    out.push_back(top_value(schema.fields[i], cells[i]["v"], where));
  }
  return out;
}

std::string new_request_id() {
  std::random_device rd;
  std::mt19937_64 rng((uint64_t(rd()) << 32) ^ rd() ^
                      uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()));
  unsigned char b[16];
  for (int i = 0; i < 16; i += 8) {
    const uint64_t x = rng();
    for (int k = 0; k < 8; ++k) b[i + k] = static_cast<unsigned char>(x >> (8 * k));
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);  // version 4 (random)
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  static const char* const kHex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 15];
  }
  return out;
}

bool dataset_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

}  // namespace

struct BigQueryClient::Reply {
  json body;
};

// ---------------------------------------------------------------------------------------------------------------

BigQueryEndpoint bigquery_endpoint_from(std::string_view value, std::string_view from) {
  std::string v(value);
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.pop_back();
  while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.erase(0, 1);
  const size_t sep = v.find("://");
  if (sep == std::string::npos) {
    v = "http://" + v;  // "localhost:9050": an emulator speaks plain HTTP
  } else {
    const std::string scheme = upper(v.substr(0, sep));
    if (scheme != "HTTP" && scheme != "HTTPS")
      fail_input(from, "='", value, "': expected an address such as localhost:9050 or https://host/bigquery/v2, "
                 "found the scheme '", v.substr(0, sep), "'");
  }
  const size_t host = v.find("://") + 3;
  while (v.size() > host && v.back() == '/') v.pop_back();
  if (host >= v.size() || v[host] == '/')
    fail_input(from, "='", value, "': expected an address such as localhost:9050 or https://host/bigquery/v2, "
               "found no host");
  return BigQueryEndpoint{v, true, std::string(from)};
}

BigQueryEndpoint resolve_bigquery_endpoint() {
  const char* v = std::getenv("BIGQUERY_EMULATOR_HOST");
  if (v && *v) return bigquery_endpoint_from(v, "BIGQUERY_EMULATOR_HOST");
  return BigQueryEndpoint{kPublicBase, false, ""};
}

BqTable parse_bq_url(std::string_view url) {
  const std::string u(url);
  constexpr const char* kForm = "expected bq://project.dataset.table (or bq://project:dataset.table)";
  if (u.rfind("bq://", 0) != 0) fail_input("'", u, "' is not a BigQuery table URL; ", kForm);
  const std::string rest = u.substr(5);
  const size_t dot = rest.rfind('.');
  if (dot == std::string::npos) fail_input(u, ": no dataset and table; ", kForm);
  BqTable t;
  t.table = rest.substr(dot + 1);
  const std::string head = rest.substr(0, dot);
  const size_t sep = head.find_last_of(".:");
  if (sep == std::string::npos) fail_input(u, ": no project (or no dataset); ", kForm);
  t.project = head.substr(0, sep);
  t.dataset = head.substr(sep + 1);
  if (t.project.empty()) fail_input(u, ": the project is empty; ", kForm);
  if (t.dataset.empty()) fail_input(u, ": the dataset is empty; ", kForm);
  if (t.table.empty()) fail_input(u, ": the table is empty; ", kForm);
  for (const char c : t.project)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == ':'))
      fail_input(u, ": '", t.project, "' is not a project id (letters, digits, '-', and 'domain:' for a "
                 "domain-scoped project); ", kForm);
  // A '.' belongs only to the domain of a domain-scoped project ("example.com:proj").
  const size_t colon = t.project.rfind(':');
  if (t.project.find('.') != std::string::npos && (colon == std::string::npos || t.project.find('.', colon) != std::string::npos))
    fail_input(u, ": '", t.project, "' is not a project id (a '.' is allowed only in the domain of a domain-scoped "
               "project, e.g. example.com:proj); ", kForm);
  if (!std::all_of(t.dataset.begin(), t.dataset.end(), dataset_char))
    fail_input(u, ": '", t.dataset, "' is not a dataset name (letters, digits and '_'); ", kForm);
  for (const char c : t.table)
    if (c == ':' || c == '/' || c == '`' || static_cast<unsigned char>(c) < 0x20)
      fail_input(u, ": '", t.table, "' is not a table name (it may not contain ':', '/', '`' or control "
                 "characters); ", kForm);
  return t;
}

int BqSchema::index_of(std::string_view name) const {
  const std::string want = upper(std::string(name));
  for (size_t i = 0; i < fields.size(); ++i)
    if (upper(fields[i].name) == want) return int(i);
  return -1;
}

std::vector<std::string> BqSchema::names() const {
  std::vector<std::string> out;
  for (const BqField& f : fields) out.push_back(f.name);
  return out;
}

BqSchema parse_bq_schema(std::string_view schema_json, const std::string& where) {
  json j;
  try {
    j = json::parse(schema_json);
  } catch (const json::exception& e) {
    fail_input(where, ": the schema is not JSON (", e.what(), ")");
  }
  return schema_from_json(j, where);
}

BqRow convert_bq_row(const BqSchema& schema, std::string_view row_json, const std::string& where) {
  json j;
  try {
    j = json::parse(row_json);
  } catch (const json::exception& e) {
    fail_input(where, ": the row is not JSON (", e.what(), ")");
  }
  return row_from_json(schema, j, where);
}

std::string BqPosition::describe() const {
  if (is_query()) return "query job " + job_name(*this) + " at row " + std::to_string(row);
  return table.url() + " at row " + std::to_string(row);
}

std::string BqPosition::to_json() const {
  ordered_json j;
  if (is_query()) {
    j["job"] = {{"project", job_project}, {"id", job_id}, {"location", location}};
    j["query"] = query;
  } else {
    j["table"] = table.url();
  }
  j["row"] = row;
  return j.dump();
}

BqPosition BqPosition::from_json(std::string_view text, const std::string& where) {
  constexpr const char* kForm =
      "expected {\"table\":\"bq://p.d.t\",\"row\":N} or {\"job\":{\"project\",\"id\",\"location\"},\"row\":N}";
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    fail_input(where, ": a BigQuery position is not JSON (", e.what(), "); ", kForm);
  }
  if (!j.is_object() || !j.contains("row") || !j["row"].is_number_unsigned())
    fail_input(where, ": not a BigQuery position (no non-negative 'row'); ", kForm, ", found ", j.dump().substr(0, 200));
  BqPosition p;
  p.row = j["row"].get<uint64_t>();
  if (j.contains("table") && j["table"].is_string()) {
    p.table = parse_bq_url(j["table"].get<std::string>());
    return p;
  }
  if (j.contains("job") && j["job"].is_object()) {
    const json& job = j["job"];
    p.job_project = str_field(job, "project");
    p.job_id = str_field(job, "id");
    p.location = str_field(job, "location");
    p.query = str_field(j, "query");
    if (p.job_project.empty() || p.job_id.empty())
      fail_input(where, ": the BigQuery position's job has no project or id; ", kForm);
    return p;
  }
  fail_input(where, ": a BigQuery position names neither a table nor a job; ", kForm, ", found ",
             j.dump().substr(0, 200));
}

// ---------------------------------------------------------------------------------------------------------------

BigQueryClient::BigQueryClient(HttpClient& http, BigQueryEndpoint endpoint, std::function<std::string()> access_token)
    : BigQueryClient(http, std::move(endpoint), std::move(access_token), Options{}) {}

BigQueryClient::BigQueryClient(HttpClient& http, BigQueryEndpoint endpoint, std::function<std::string()> access_token,
                               Options options)
    : http_(http), endpoint_(std::move(endpoint)), access_token_(std::move(access_token)), options_(std::move(options)) {
  if (options_.page_size < 1) options_.page_size = 1;
  if (options_.server_wait_ms < 0) options_.server_wait_ms = 0;
  if (options_.poll_interval_s < 0) options_.poll_interval_s = 0;
}

HttpHeaders BigQueryClient::headers(bool json_body) const {
  HttpHeaders h;
  if (access_token_) {
    const std::string token = access_token_();
    if (!token.empty()) h.emplace_back("Authorization", "Bearer " + token);
  }
  if (!options_.user_project.empty()) h.emplace_back("x-goog-user-project", options_.user_project);
  if (json_body) h.emplace_back("Content-Type", "application/json");
  return h;
}

std::string BigQueryClient::table_path(const BqTable& t) const {
  return endpoint_.base + "/projects/" + encode(t.project, true) + "/datasets/" + encode(t.dataset) + "/tables/" +
         encode(t.table);
}

BigQueryClient::Reply BigQueryClient::call(const HttpRequest& req, const std::string& where, const std::string& what,
                                           const std::string& hint_404) {
  HttpResponse r;
  try {
    r = http_.request(req);
    if (r.status == 401 && options_.token_refused && access_token_) {
      HttpRequest again = req;
      for (auto& [name, value] : again.headers)
        if (name == "Authorization" && value.rfind("Bearer ", 0) == 0) {
          options_.token_refused(value.substr(7));
          value = "Bearer " + access_token_();
        }
      r = http_.request(again);
    }
  } catch (const InputError& e) {
    fail_input(where, ": ", what, " failed: ", e.what());
  }
  if (r.status < 200 || r.status > 299) {
    std::string hint;
    if (r.status == 401 || r.status == 403)
      hint = "; check the credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud auth application-default login) and "
             "their BigQuery permissions";
    if (r.status == 404) hint = hint_404;
    fail_input(where, ": ", what, " failed with HTTP ", r.status, " (", req.method, " ", redact_url(req.url), "): ",
               api_message(r.body), hint);
  }
  Reply out;
  try {
    out.body = json::parse(r.body);
  } catch (const json::exception& e) {
    fail_input(where, ": ", what, ": the reply of ", req.method, " ", redact_url(req.url), " is not JSON (", e.what(),
               "): ", r.body.substr(0, 200));
  }
  const json& j = out.body;
  if (!j.is_object())
    fail_input(where, ": ", what, ": the reply is not a JSON object: ", r.body.substr(0, 200));
  if (j.contains("error") && !j["error"].is_null())
    fail_input(where, ": ", what, " failed: ", api_message(r.body));
  if (const auto st = j.find("status"); st != j.end() && st->is_object() && st->contains("errorResult"))
    fail_input(where, ": ", what, " failed: ", error_proto((*st)["errorResult"]));
  return out;
}

BqTableInfo BigQueryClient::get_table(const BqTable& table) {
  const std::string where = table.url();
  HttpRequest req{"GET", table_path(table), headers(false), ""};
  const Reply r = call(req, where, "reading the table's schema (tables.get)");
  BqTableInfo info;
  info.table = table;
  const auto s = r.body.find("schema");
  if (s == r.body.end()) fail_input(where, ": the table's metadata has no schema");
  info.schema = schema_from_json(*s, where);
  info.num_rows = count_field(r.body, "numRows", where).value_or(0);
  return info;
}

BqCursor BigQueryClient::open_table(const BqTable& table, uint64_t start_row) {
  BqTableInfo info = get_table(table);
  BqCursor c;
  c.schema_ = std::move(info.schema);
  c.total_rows_ = info.num_rows;
  c.position_.table = table;
  c.position_.row = start_row;
  c.where_ = table.url();
  return c;
}

namespace {

// A page of a tabledata.list or getQueryResults reply into the cursor's fields.
void take_page(const json& j, const BqSchema& schema, const std::string& where, const std::string& sent_token,
               std::vector<BqRow>& pending, std::string& page_token, bool& done, std::optional<uint64_t>& total) {
  if (const auto t = count_field(j, "totalRows", where)) total = t;
  if (const auto it = j.find("rows"); it != j.end() && !it->is_null()) {
    if (!it->is_array()) fail_input(where, ": the reply's 'rows' is not an array");
    for (const json& row : *it) pending.push_back(row_from_json(schema, row, where));
  }
  const std::string next = str_field(j, "pageToken");
  if (!next.empty() && next == sent_token)
    fail_input(where, ": the server returned the same pageToken twice ('", next, "'); reading would not end");
  page_token = next;
  done = next.empty();
}

}  // namespace

void BigQueryClient::fetch_table_page(BqCursor& c) {
  const BqTable& t = c.position_.table;
  std::string url = table_path(t) + "/data?maxResults=" + std::to_string(options_.page_size) +
                    "&formatOptions.useInt64Timestamp=true";
  // The first request of a cursor starts at its row; later ones follow the page token (which knows the row).
  if (c.page_token_.empty())
    url += "&startIndex=" + std::to_string(c.position_.row);
  else
    url += "&pageToken=" + encode(c.page_token_);
  const Reply r = call({"GET", url, headers(false), ""}, c.where_,
                       "reading rows from row " + std::to_string(c.position_.row) + " (tabledata.list)");
  const std::string sent = c.page_token_;
  take_page(r.body, c.schema_, c.where_, sent, c.pending_, c.page_token_, c.done_, c.total_rows_);
}

void BigQueryClient::fetch_query_page(BqCursor& c) {
  const BqPosition& p = c.position_;
  const auto started = std::chrono::steady_clock::now();
  double slept = 0;
  for (int polls = 0;; ++polls) {
    std::string url = endpoint_.base + "/projects/" + encode(p.job_project, true) + "/queries/" + encode(p.job_id) +
                      "?maxResults=" + std::to_string(options_.page_size) +
                      "&timeoutMs=" + std::to_string(options_.server_wait_ms) + "&formatOptions.useInt64Timestamp=true";
    if (!p.location.empty()) url += "&location=" + encode(p.location);
    if (c.page_token_.empty())
      url += "&startIndex=" + std::to_string(p.row);
    else
      url += "&pageToken=" + encode(c.page_token_);
    // A job that is gone (results expire after about a day) cannot be read again: say what to do.
    const Reply r = call({"GET", url, headers(false), ""}, c.where_,
                         "reading the query's results from row " + std::to_string(p.row) + " (jobs.getQueryResults)",
                         "; BigQuery keeps a query job's results for about 24 hours, so a read resumed later must run "
                         "the query again from the start (its rows may then come in another order unless it has "
                         "ORDER BY)");
    const json& j = r.body;
    const auto complete = j.find("jobComplete");
    if (complete != j.end() && complete->is_boolean() && !complete->get<bool>()) {
      const double waited =
          std::max(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(), slept);
      if (options_.query_timeout_s > 0 && waited + options_.poll_interval_s > options_.query_timeout_s)
        fail_input(c.where_, ": the query job did not complete within ", options_.query_timeout_s, " s (", polls + 1,
                   " polls); it may still be running: resume from ", p.describe(),
                   " later, or allow a longer query timeout");
      if (options_.poll_interval_s > 0) {
        if (options_.sleep)
          options_.sleep(options_.poll_interval_s);
        else
          std::this_thread::sleep_for(std::chrono::duration<double>(options_.poll_interval_s));
      }
      slept += options_.poll_interval_s;
      continue;
    }
    // A complete job that failed: BigQuery answers its errors (a successful one always reports totalRows).
    if (const auto errs = j.find("errors");
        errs != j.end() && errs->is_array() && !errs->empty() && !j.contains("totalRows"))
      fail_input(c.where_, ": the query failed (jobs.getQueryResults): ", error_proto((*errs)[0]));
    if (c.schema_.fields.empty()) {
      const auto s = j.find("schema");
      if (s != j.end()) c.schema_ = schema_from_json(*s, c.where_);
    }
    if (c.schema_.fields.empty() && j.contains("rows") && j["rows"].is_array() && !j["rows"].empty())
      fail_input(c.where_, ": the query's results have rows but no schema");
    const std::string sent = c.page_token_;
    take_page(j, c.schema_, c.where_, sent, c.pending_, c.page_token_, c.done_, c.total_rows_);
    return;
  }
}

BqCursor BigQueryClient::open_query(const std::string& sql, const std::string& project) {
  BqCursor c;
  c.position_.query = sql;
  c.where_ = query_where(c.position_);
  if (project.empty()) fail_input(c.where_, ": no project to run the query in; expected a Google Cloud project id");
  if (sql.find_first_not_of(" \t\r\n") == std::string::npos) fail_input("BigQuery: the query is empty");
  ordered_json body = {{"query", sql},
                       {"useLegacySql", false},
                       {"maxResults", options_.page_size},
                       {"timeoutMs", options_.server_wait_ms},
                       {"formatOptions", {{"useInt64Timestamp", true}}},
                       {"requestId", new_request_id()}};
  if (!options_.location.empty()) body["location"] = options_.location;
  const std::string url = endpoint_.base + "/projects/" + encode(project, true) + "/queries";
  const Reply r = call({"POST", url, headers(true), body.dump()}, c.where_, "running the query (jobs.query)");
  const json& j = r.body;
  // A complete job that failed: BigQuery answers its errors (a successful one always reports totalRows).
  if (const auto errs = j.find("errors"); errs != j.end() && errs->is_array() && !errs->empty() &&
                                          j.value("jobComplete", false) && !j.contains("totalRows"))
    fail_input(c.where_, ": running the query (jobs.query) failed: ", error_proto((*errs)[0]));
  const auto ref = j.find("jobReference");
  if (ref == j.end() || !ref->is_object() || str_field(*ref, "jobId").empty())
    fail_input(c.where_, ": the reply of jobs.query has no jobReference.jobId (needed to page and resume): ",
               r.body.dump().substr(0, 200));
  c.position_.job_project = str_field(*ref, "projectId");
  if (c.position_.job_project.empty()) c.position_.job_project = project;
  c.position_.job_id = str_field(*ref, "jobId");
  c.position_.location = str_field(*ref, "location");
  if (c.position_.location.empty()) c.position_.location = options_.location;
  c.where_ = query_where(c.position_);
  const auto complete = j.find("jobComplete");
  if (complete != j.end() && complete->is_boolean() && complete->get<bool>()) {
    // The reply holds the first page already (the same shape as getQueryResults).
    if (const auto s = j.find("schema"); s != j.end()) c.schema_ = schema_from_json(*s, c.where_);
    if (c.schema_.fields.empty() && j.contains("rows") && j["rows"].is_array() && !j["rows"].empty())
      fail_input(c.where_, ": the query's results have rows but no schema");
    take_page(j, c.schema_, c.where_, "", c.pending_, c.page_token_, c.done_, c.total_rows_);
  } else {
    fetch_query_page(c);  // polls until the job is complete, then takes the first page
  }
  return c;
}

BqCursor BigQueryClient::resume(const BqPosition& position) {
  if (position.is_query()) {
    BqCursor c;
    c.position_ = position;
    c.where_ = query_where(position);
    fetch_query_page(c);
    return c;
  }
  if (position.table.table.empty())
    fail_input("BigQuery: a position to resume from names neither a table nor a query job");
  return open_table(position.table, position.row);
}

bool BigQueryClient::next_page(BqCursor& c, std::vector<BqRow>& out) {
  out.clear();
  for (;;) {
    if (!c.pending_.empty()) {
      out.swap(c.pending_);
      c.pending_.clear();
      c.position_.row += out.size();
      return true;
    }
    if (c.done_) return false;
    if (c.position_.is_query())
      fetch_query_page(c);
    else
      fetch_table_page(c);
  }
}

}  // namespace gt::io
