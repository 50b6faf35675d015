#include "io/run_index.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/files.h"    // defines: remove_tree
#include "core/strings.h"  // defines: format_bytes, format_duration, trim
#include "io/integrity.h"  // defines: verify_integrity_manifest

namespace fs = std::filesystem;
using nlohmann::json;

namespace gt::io {

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Small readers that never throw

std::optional<std::string> read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

bool is_regular(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec);
}

bool is_dir(const fs::path& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

std::optional<std::time_t> mtime_of(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return std::nullopt;
  return st.st_mtime;
}

std::string string_at(const json& j, const char* key) {
  if (!j.is_object()) return "";
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::optional<int64_t> int_at(const json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

std::optional<double> number_at(const json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  const double v = it->get<double>();
  return std::isfinite(v) ? std::optional<double>(v) : std::nullopt;
}

// The last component of a path, ignoring trailing slashes ("~/models/gemma-4-E2B-it/" -> "gemma-4-E2B-it").
std::string base_name(const std::string& path) {
  fs::path p(path);
  while (!p.empty() && p.filename().empty() && p.has_parent_path() && p.parent_path() != p) p = p.parent_path();
  const std::string name = p.filename().string();
  return name.empty() ? path : name;
}

// YAML -> JSON for config.yaml: quoted scalars stay strings (to_yaml quotes every string), plain ones become numbers
// or booleans when they read as such.
json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json obj = json::object();
      for (const auto& kv : n) obj[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      return obj;
    }
    case YAML::NodeType::Sequence: {
      json arr = json::array();
      for (const auto& v : n) arr.push_back(yaml_to_json(v));
      return arr;
    }
    case YAML::NodeType::Scalar: {
      if (n.Tag() == "!") return n.Scalar();
      long long i = 0;
      double d = 0;
      bool b = false;
      if (YAML::convert<long long>::decode(n, i)) return static_cast<int64_t>(i);
      if (YAML::convert<double>::decode(n, d)) return std::isfinite(d) ? json(d) : json(n.Scalar());
      if (YAML::convert<bool>::decode(n, b)) return b;
      return n.Scalar();
    }
    default:
      return nullptr;
  }
}

// What metrics.jsonl holds, read once.
struct Metrics {
  bool present = false;
  std::vector<json> rows;
  json last_train = nullptr;
  json first_train = nullptr;  // the first logged train row with an epoch (exact micro-batch count, see planned_steps)
  std::vector<json> evals;
  int64_t max_step = -1;
  double train_seconds = 0;
  std::optional<double> last_loss;
  int64_t bad_lines = 0;
  int64_t first_bad_line = 0;
  bool last_line_cut = false;  // the file ends inside an unreadable line: written when the process died
};

Metrics read_metrics(const fs::path& file) {
  Metrics m;
  auto text = read_text(file);
  if (!text) return m;
  m.present = true;
  std::istringstream in(*text);
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (trim(line).empty()) continue;
    json row = json::parse(line, nullptr, false);
    if (row.is_discarded() || !row.is_object()) {
      if (m.bad_lines++ == 0) m.first_bad_line = line_no;
      m.last_line_cut = in.eof() && !text->empty() && text->back() != '\n';
      continue;
    }
    if (auto s = int_at(row, "step")) m.max_step = std::max(m.max_step, *s);
    if (row.contains("eval_loss")) {
      m.evals.push_back(row);
    } else if (row.contains("loss")) {
      m.last_train = row;
      if (m.first_train.is_null() && number_at(row, "epoch").value_or(0) > 0 && int_at(row, "step").value_or(0) > 0)
        m.first_train = row;
      if (auto l = number_at(row, "loss")) m.last_loss = l;
      m.train_seconds += number_at(row, "step_s").value_or(0);
    }
    m.rows.push_back(std::move(row));
  }
  return m;
}

// Steps the run plans: max_steps when set; else epochs x micro-batches per epoch / grad_accum (trainer.cpp's
// total_steps), the micro-batches per epoch read back from a logged row (epoch = micro-batches done / per epoch, and
// micro-batches done = step x grad_accum except on a short last step).
int64_t planned_steps(const RunInfo& r, const Metrics& m) {
  if (auto ms = int_at(r.config, "max_steps"); ms && *ms > 0) return *ms;
  if (auto ts = int_at(r.metadata, "total_steps"); ts && *ts > 0) return *ts;
  if (r.state == RunState::Completed && r.steps_done > 0) return r.steps_done;
  if (m.first_train.is_null()) return -1;
  const int64_t ga = std::max<int64_t>(1, int_at(r.config, "grad_accum").value_or(1));
  const int64_t epochs = std::max<int64_t>(1, int_at(r.config, "epochs").value_or(1));
  const double epoch = number_at(m.first_train, "epoch").value_or(0);
  const int64_t step = int_at(m.first_train, "step").value_or(0);
  const int64_t per_epoch = std::llround(static_cast<double>(step * ga) / epoch);
  if (per_epoch <= 0) return -1;
  return (epochs * per_epoch + ga - 1) / ga;
}

void set_state(RunInfo& r, bool metadata_ok) {
  const json& meta = r.metadata;
  const std::string s = r.recorded_status;
  if (!r.has_metadata) {
    r.state = RunState::Malformed;
    r.state_detail = "metadata.json is missing";
  } else if (!metadata_ok) {
    r.state = RunState::Malformed;
    r.state_detail = "metadata.json cannot be read";
  } else if (s == "completed") {
    r.state = RunState::Completed;
  } else if (s == "failed") {
    r.state = RunState::Failed;
  } else if (s == "cancelled") {
    r.state = RunState::Cancelled;
  } else if (s == "running") {
    const auto pid = int_at(meta, "pid");
    const std::string host = string_at(meta, "host");
    if (!pid || host.empty()) {
      r.state = RunState::MaybeRunning;
      r.state_detail = "no pid and host recorded: the trainer may have been killed";
    } else if (host != this_host()) {
      r.state = RunState::MaybeRunning;
      r.state_detail = cat("pid ", *pid, " on host ", host, ", which is not this host");
    } else if (process_alive(*pid)) {
      r.state = RunState::Running;
      r.state_detail = cat("pid ", *pid, " on this host");
    } else {
      r.state = RunState::Died;
      r.state_detail = cat("pid ", *pid, " is gone from this host; the trainer ended without marking the run");
    }
  } else {
    r.state = RunState::Malformed;
    r.state_detail = s.empty() ? "metadata.json has no status" : cat("metadata.json has status \"", s, "\"");
    r.problems.push_back(r.state_detail + " (expected running, completed, failed or cancelled)");
  }
}

RunInfo read_run_with(const fs::path& dir, std::time_t now, Metrics& metrics) {
  RunInfo r;
  r.path = dir.string();
  r.name = base_name(r.path);
  std::error_code ec;
  r.is_symlink = fs::is_symlink(dir, ec);

  // metadata.json
  const fs::path meta_file = dir / "metadata.json";
  r.has_metadata = fs::exists(meta_file, ec);
  bool metadata_ok = false;
  if (r.has_metadata) {
    auto text = read_text(meta_file);
    json j = text ? json::parse(*text, nullptr, false) : json(json::value_t::discarded);
    if (!text) {
      r.problems.push_back("metadata.json cannot be read");
    } else if (j.is_discarded()) {
      r.problems.push_back(trim(*text).empty() ? "metadata.json is empty" : "metadata.json is not valid JSON (half-written?)");
    } else if (!j.is_object()) {
      r.problems.push_back(cat("metadata.json holds a JSON ", j.type_name(), ", expected an object"));
    } else {
      r.metadata = std::move(j);
      metadata_ok = true;
    }
    r.recorded_status = string_at(r.metadata, "status");
  } else {
    r.problems.push_back("metadata.json is missing (the trainer stopped before writing it?)");
  }

  // config.yaml
  const fs::path config_file = dir / "config.yaml";
  if (!fs::exists(config_file, ec)) {
    r.problems.push_back("config.yaml is missing");
  } else {
    try {
      r.config_text = read_text(config_file).value_or("");
      json c = yaml_to_json(YAML::Load(r.config_text));
      if (c.is_object())
        r.config = std::move(c);
      else if (!c.is_null())
        r.problems.push_back("config.yaml is not a map of options");
      else
        r.problems.push_back("config.yaml is empty");
    } catch (const std::exception& e) {
      r.problems.push_back(cat("config.yaml cannot be read (", e.what(), ")"));
    }
  }

  // metrics.jsonl
  metrics = read_metrics(dir / "metrics.jsonl");
  if (metrics.bad_lines > 0)
    r.problems.push_back(metrics.last_line_cut && metrics.bad_lines == 1
                             ? cat("metrics.jsonl: the last line is cut short (line ", metrics.first_bad_line, ")")
                             : cat("metrics.jsonl: ", metrics.bad_lines, " unreadable line(s), the first at line ",
                                   metrics.first_bad_line));

  set_state(r, metadata_ok);

  // What and how
  r.model_path = string_at(r.config, "model");
  if (r.model_path.empty()) r.model_path = string_at(r.metadata, "model");
  r.model = r.model_path.empty() ? std::string() : base_name(r.model_path);
  r.data_path = string_at(r.config, "data");
  r.data = r.data_path.empty() ? std::string() : base_name(r.data_path);
  r.modality = string_at(r.metadata, "modality");
  if (r.modality.empty()) r.modality = string_at(r.config, "modality");
  r.error = string_at(r.metadata, "error");

  // Progress
  r.steps_done = std::max(metrics.max_step, int_at(r.metadata, "steps").value_or(-1));
  if (r.steps_done < 0 && metrics.present) r.steps_done = 0;
  r.steps_planned = planned_steps(r, metrics);
  for (const json& e : metrics.evals) {
    auto l = number_at(e, "eval_loss");
    if (l && (!r.best_eval_loss || *l < *r.best_eval_loss)) {
      r.best_eval_loss = l;
      r.best_eval_step = int_at(e, "step").value_or(-1);
    }
  }
  if (!r.best_eval_loss) {  // a run whose metrics were lost still has its last eval loss in metadata.json
    if (auto l = number_at(r.metadata, "eval_loss")) r.best_eval_loss = l;
  }
  r.last_loss = metrics.last_loss ? metrics.last_loss : number_at(r.metadata, "last_loss");

  // Times
  r.started_at = string_at(r.metadata, "started_at");
  r.resumed_at = string_at(r.metadata, "resumed_at");
  r.finished_at = string_at(r.metadata, "finished_at");
  const auto start = parse_utc_timestamp(r.started_at);
  const bool live = r.state == RunState::Running || r.state == RunState::MaybeRunning || r.state == RunState::Died;
  std::optional<std::time_t> end;
  if (r.state == RunState::Running) {
    end = now;
  } else if (live) {  // the last sign of life: a resumed run still carries the finished_at of its interruption
    end = std::max(mtime_of(meta_file).value_or(0), mtime_of(dir / "metrics.jsonl").value_or(0));
  } else {
    end = parse_utc_timestamp(r.finished_at);
  }
  if (start && end && *end >= *start) r.wall_seconds = static_cast<double>(*end - *start);
  r.sort_time = start.value_or(mtime_of(meta_file).value_or(mtime_of(dir).value_or(0)));

  // Adapter
  const bool weights = is_regular(dir / "adapter" / "adapter_model.safetensors");
  const bool adapter_config = is_regular(dir / "adapter" / "adapter_config.json");
  r.has_adapter = weights && adapter_config;
  if (is_dir(dir / "adapter") && !r.has_adapter)
    r.problems.push_back(cat("adapter/ lacks ", weights ? "adapter_config.json" : "adapter_model.safetensors"));
  else if (r.state == RunState::Completed && !r.has_adapter)
    r.problems.push_back("completed, but adapter/ is missing");
  return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------

const char* run_state_name(RunState s) {
  switch (s) {
    case RunState::Running: return "running";
    case RunState::MaybeRunning: return "running?";
    case RunState::Died: return "died";
    case RunState::Completed: return "completed";
    case RunState::Failed: return "failed";
    case RunState::Cancelled: return "cancelled";
    case RunState::Malformed: return "malformed";
  }
  return "?";
}

bool process_alive(int64_t pid) {
  if (pid <= 0 || pid > INT_MAX) return false;
  if (::kill(static_cast<pid_t>(pid), 0) == 0) return true;
  return errno == EPERM;  // exists, owned by someone else
}

std::string this_host() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

uint64_t tree_bytes(const std::string& path) {
  std::error_code ec;
  const auto st = fs::symlink_status(path, ec);
  if (ec) return 0;
  if (fs::is_regular_file(st)) return fs::file_size(path, ec);
  if (!fs::is_directory(st)) return 0;
  uint64_t total = 0;
  fs::recursive_directory_iterator it(path, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2) && !it->is_symlink(e2)) {
      const auto n = it->file_size(e2);
      if (!e2) total += n;
    }
  }
  return total;
}

std::optional<std::time_t> parse_utc_timestamp(const std::string& s) {
  std::tm tm{};
  const char* end = ::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (!end || *end != '\0') return std::nullopt;
  return ::timegm(&tm);
}

RunInfo read_run(const std::string& run_dir, std::time_t now) {
  Metrics m;
  return read_run_with(run_dir, now, m);
}

IntegrityStatus check_integrity(const std::string& dir) {
  IntegrityStatus s;
  const fs::path manifest = fs::path(dir) / ".integrity.json";
  std::error_code ec;
  if (!fs::exists(manifest, ec)) return s;
  s.has_manifest = true;
  try {
    auto text = read_text(manifest);
    json j = text ? json::parse(*text, nullptr, false) : json(json::value_t::discarded);
    if (j.is_object() && j.contains("files") && j["files"].is_object()) {
      s.files = j["files"].size();
      for (const auto& [rel, entry] : j["files"].items())
        if (!entry.is_object()) s.problems.push_back(cat("manifest entry ", rel, " is not an object"));
    } else {
      s.error = cat(manifest.string(), ": not a valid manifest (expected {\"files\": {path: {sha256, size}}})");
      return s;
    }
    if (!s.problems.empty()) return s;
    s.problems = verify_integrity_manifest(dir);
  } catch (const std::exception& e) {
    s.error = cat(manifest.string(), ": cannot be checked (", e.what(), ")");
  }
  return s;
}

RunDetails read_run_details(const std::string& run_dir, std::time_t now) {
  RunDetails d;
  Metrics m;
  d.info = read_run_with(run_dir, now, m);
  d.last_train = m.last_train;
  d.evals = m.evals;
  d.train_seconds = m.train_seconds;
  const fs::path dir(run_dir);
  std::error_code ec;

  for (fs::directory_iterator it(dir / "checkpoints", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    std::error_code e2;
    if (name.rfind("step-", 0) != 0 || !it->is_directory(e2)) continue;
    CheckpointInfo c;
    c.name = name;
    const bool tmp = name.size() > 4 && name.substr(name.size() - 4) == ".tmp";
    try {
      c.step = std::stoll(name.substr(5));
    } catch (const std::exception&) {
      c.step = -1;
    }
    c.complete = !tmp && is_regular(it->path() / "DONE");
    c.bytes = tree_bytes(it->path().string());
    d.checkpoints.push_back(c);
  }
  std::sort(d.checkpoints.begin(), d.checkpoints.end(),
            [](const CheckpointInfo& a, const CheckpointInfo& b) { return a.step != b.step ? a.step < b.step : a.name < b.name; });

  if (d.info.has_adapter) d.adapter_bytes = tree_bytes((dir / "adapter").string());
  d.integrity = check_integrity(run_dir);

  if (auto text = read_text(dir / "skipped.jsonl")) {
    d.skipped_rows = 0;
    std::istringstream in(*text);
    std::string line;
    while (std::getline(in, line)) {
      if (trim(line).empty()) continue;
      ++d.skipped_rows;
      json row = json::parse(line, nullptr, false);
      const std::string kind = row.is_discarded() ? std::string("(unreadable line)") : string_at(row, "kind");
      ++d.skipped_kinds[kind.empty() ? "(no kind)" : kind];
    }
  } else {
    d.skipped_rows = -1;
  }
  d.bytes = tree_bytes(run_dir);
  return d;
}

std::vector<RunInfo> list_runs(const std::string& parent, std::time_t now) {
  if (!is_dir(parent))
    fail_input(parent, ": no such folder (train writes its run folders under --out, runs by default; give --dir)");
  std::vector<RunInfo> runs;
  std::error_code ec;
  for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path p = it->path();
    if (!is_dir(p)) continue;
    std::error_code e2;
    if (!fs::exists(p / "metadata.json", e2) && !fs::exists(p / "config.yaml", e2)) continue;  // not a run folder
    runs.push_back(read_run(p.string(), now));
  }
  if (ec) fail_input(parent, ": cannot list the folder (", ec.message(), ")");
  std::sort(runs.begin(), runs.end(), [](const RunInfo& a, const RunInfo& b) {
    return a.sort_time != b.sort_time ? a.sort_time > b.sort_time : a.name > b.name;
  });
  return runs;
}

std::string resolve_run(const std::string& parent, const std::string& run) {
  auto is_run = [](const fs::path& p) {
    std::error_code ec;
    return is_dir(p) && (fs::exists(p / "metadata.json", ec) || fs::exists(p / "config.yaml", ec));
  };
  if (run.empty()) fail_input("runs show: give a run (a folder name under ", parent, " or a path)");
  const fs::path under = fs::path(parent) / run;
  if (is_dir(under)) {
    if (!is_run(under)) fail_input(under.string(), ": not a gemma-tune run folder (no metadata.json or config.yaml)");
    return under.string();
  }
  if (is_dir(run)) {
    if (!is_run(run)) fail_input(run, ": not a gemma-tune run folder (no metadata.json or config.yaml)");
    return run;
  }
  std::vector<std::string> matches;
  if (is_dir(parent)) {
    std::error_code ec;
    for (fs::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name.find(run) != std::string::npos && is_run(it->path())) matches.push_back(name);
    }
  }
  std::sort(matches.begin(), matches.end());
  if (matches.size() == 1) return (fs::path(parent) / matches[0]).string();
  if (matches.empty())
    fail_input("no run ", quote(run), " under ", parent, " (nor a folder at that path); `gemma-tune runs list --dir ",
               parent, "` shows the runs");
  std::string list;
  for (const auto& m : matches) list += "\n  " + m;
  fail_input(quote(run), " matches ", matches.size(), " runs under ", parent, "; give one of:", list);
}

// ---------------------------------------------------------------------------------------------------------------
// Clean

std::vector<CleanItem> clean_candidates(const std::vector<RunInfo>& runs, bool include_incomplete) {
  std::vector<CleanItem> out;
  for (const RunInfo& r : runs) {
    if (!r.has_metadata || r.is_symlink) continue;
    std::string reason;
    if (r.state == RunState::Failed || r.state == RunState::Cancelled) {
      reason = run_state_name(r.state);
    } else if (include_incomplete && !r.has_adapter &&
               (r.state == RunState::Died || r.state == RunState::Malformed || r.state == RunState::Completed)) {
      reason = cat("incomplete (", run_state_name(r.state), ", no adapter)");
    }
    if (reason.empty()) continue;
    out.push_back({r, reason, tree_bytes(r.path)});
  }
  return out;
}

void delete_run(const std::string& parent, const RunInfo& run) {
  struct stat st {};
  if (::lstat(run.path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    fail_input(run.path, ": not deleted: not a folder (or a symbolic link)");
  struct stat meta {};
  if (::lstat((fs::path(run.path) / "metadata.json").c_str(), &meta) != 0 || !S_ISREG(meta.st_mode))
    fail_input(run.path, ": not deleted: no metadata.json, so not a run folder");
  std::error_code e1, e2;
  const fs::path here = fs::canonical(fs::path(run.path), e1).parent_path();
  const fs::path top = fs::canonical(fs::path(parent), e2);
  if (e1 || e2 || here != top) fail_input(run.path, ": not deleted: not directly under ", parent);
  remove_tree(run.path);
}

// ---------------------------------------------------------------------------------------------------------------
// JSON and text

namespace {

json opt_json(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
json opt_int(int64_t v) { return v >= 0 ? json(v) : json(nullptr); }
json opt_str(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

std::string fixed(double v, int digits = 4) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string steps_text(const RunInfo& r) {
  return cat(r.steps_done >= 0 ? std::to_string(r.steps_done) : std::string("?"), "/",
             r.steps_planned >= 0 ? std::to_string(r.steps_planned) : std::string("?"));
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string json_scalar_text(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

}  // namespace

json run_to_json(const RunInfo& r) {
  json j = {{"name", r.name},
            {"path", r.path},
            {"status", run_state_name(r.state)},
            {"status_detail", opt_str(r.state_detail)},
            {"recorded_status", opt_str(r.recorded_status)},
            {"model", opt_str(r.model)},
            {"model_path", opt_str(r.model_path)},
            {"data", opt_str(r.data)},
            {"data_path", opt_str(r.data_path)},
            {"modality", opt_str(r.modality)},
            {"steps_done", opt_int(r.steps_done)},
            {"steps_planned", opt_int(r.steps_planned)},
            {"best_eval_loss", opt_json(r.best_eval_loss)},
            {"best_eval_step", opt_int(r.best_eval_step)},
            {"last_loss", opt_json(r.last_loss)},
            {"started_at", opt_str(r.started_at)},
            {"resumed_at", opt_str(r.resumed_at)},
            {"finished_at", opt_str(r.finished_at)},
            {"wall_seconds", opt_json(r.wall_seconds)},
            {"adapter", r.has_adapter},
            {"error", opt_str(r.error)},
            {"problems", r.problems}};
  if (r.is_symlink) j["symlink"] = true;
  return j;
}

json details_to_json(const RunDetails& d) {
  json j = run_to_json(d.info);
  j["metadata"] = d.info.metadata;
  j["config"] = d.info.config;
  j["last_train"] = d.last_train;
  j["evals"] = d.evals;
  json ck = json::array();
  for (const CheckpointInfo& c : d.checkpoints)
    ck.push_back({{"name", c.name}, {"step", opt_int(c.step)}, {"complete", c.complete}, {"bytes", c.bytes}});
  j["checkpoints"] = ck;
  j["adapter_bytes"] = d.adapter_bytes;
  j["integrity"] = {{"manifest", d.integrity.has_manifest},
                    {"files", d.integrity.files},
                    {"problems", d.integrity.problems},
                    {"error", opt_str(d.integrity.error)},
                    {"ok", d.integrity.ok()}};
  j["skipped_rows"] = d.skipped_rows >= 0 ? json(d.skipped_rows) : json(nullptr);
  j["skipped_kinds"] = d.skipped_kinds;
  j["train_seconds"] = d.train_seconds;
  j["bytes"] = d.bytes;
  return j;
}

std::string format_runs_table(const std::vector<RunInfo>& runs) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"RUN", "STATUS", "MODEL", "DATA", "MODALITY", "STEPS", "BEST EVAL", "WALL"});
  for (const RunInfo& r : runs)
    rows.push_back({r.name, run_state_name(r.state), or_dash(r.model), or_dash(r.data), or_dash(r.modality),
                    steps_text(r), r.best_eval_loss ? fixed(*r.best_eval_loss) : "-",
                    r.wall_seconds ? format_duration(*r.wall_seconds) : "-"});
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows)
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] - row[c].size() + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string format_run_details(const RunDetails& d) {
  const RunInfo& r = d.info;
  const json& meta = r.metadata;
  std::ostringstream os;
  auto line = [&](const std::string& label, const std::string& value) {
    os << label << std::string(label.size() < 12 ? 12 - label.size() : 1, ' ') << value << "\n";
  };
  line("run", r.name + "  (" + r.path + ")");
  line("status", cat(run_state_name(r.state), r.state_detail.empty() ? "" : " (" + r.state_detail + ")"));
  if (!r.error.empty()) line("error", r.error);
  line("model", or_dash(r.model_path));
  line("data", or_dash(r.data_path));
  line("modality", or_dash(r.modality));
  const std::string device = string_at(meta, "device"), dtype = string_at(meta, "dtype");
  if (!device.empty() || !dtype.empty()) line("device", cat(or_dash(device), ", ", or_dash(dtype)));
  const std::string version = string_at(meta, "gemma_tune_version"), libtorch = string_at(meta, "libtorch");
  if (!version.empty() || !libtorch.empty())
    line("versions", cat("gemma-tune ", or_dash(version), ", libtorch ", or_dash(libtorch)));
  if (auto b = int_at(meta, "image_token_budget")) line("image budget", cat(*b, " soft tokens per image"));
  std::string times = cat("started ", or_dash(r.started_at));
  if (!r.resumed_at.empty()) times += ", resumed " + r.resumed_at;
  if (!r.finished_at.empty()) times += ", finished " + r.finished_at;
  if (r.wall_seconds) times += cat(" (wall ", format_duration(*r.wall_seconds), ", training steps ",
                                   format_duration(d.train_seconds), ")");
  line("time", times);
  line("steps", steps_text(r));
  if (r.last_loss) line("last loss", fixed(*r.last_loss));
  if (auto peak = number_at(meta, "peak_memory_bytes"); peak && *peak > 0) line("peak memory", format_bytes(*peak));
  if (const std::string s = string_at(meta, "train_summary"); !s.empty()) line("train data", s);

  if (!d.last_train.is_null()) {
    std::string t = cat("step ", json_scalar_text(d.last_train.value("step", json(nullptr))));
    for (const char* k : {"epoch", "loss", "lr", "grad_norm", "tokens_per_s", "step_s"})
      if (auto v = number_at(d.last_train, k))
        t += cat(", ", k, " ", k == std::string("lr") ? cat(*v) : fixed(*v, k == std::string("tokens_per_s") ? 0 : 4));
    if (auto v = number_at(d.last_train, "peak_memory_bytes"); v && *v > 0) t += ", peak memory " + format_bytes(*v);
    if (d.last_train.value("skipped_update", false)) t += " (update skipped: loss not finite)";
    line("last train", t);
  } else {
    line("last train", "-");
  }
  if (d.evals.empty()) {
    line("eval", "-");
  } else {
    line("eval", cat("best ", r.best_eval_loss ? fixed(*r.best_eval_loss) : "-", " at step ", r.best_eval_step));
    for (const json& e : d.evals) {
      std::string s = cat("  step ", json_scalar_text(e.value("step", json(nullptr))), ": ");
      auto l = number_at(e, "eval_loss");
      s += l ? fixed(*l) : json_scalar_text(e.value("eval_loss", json(nullptr)));
      if (auto t = int_at(e, "eval_tokens")) s += cat(" over ", *t, " tokens");
      if (const std::string w = string_at(e, "when"); !w.empty()) s += " (" + w + ")";
      os << s << "\n";
    }
  }
  if (d.checkpoints.empty()) {
    line("checkpoints", "-");
  } else {
    std::string s;
    for (const CheckpointInfo& c : d.checkpoints)
      s += cat(s.empty() ? "" : ", ", c.name, " (", c.complete ? "" : "incomplete, ", format_bytes(static_cast<double>(c.bytes)), ")");
    line("checkpoints", s);
  }
  line("adapter", r.has_adapter ? cat("adapter/ (", format_bytes(static_cast<double>(d.adapter_bytes)), ", PEFT format)")
                                : std::string("none"));
  if (!d.integrity.has_manifest) {
    line("integrity", "no .integrity.json (written when a run completes)");
  } else if (!d.integrity.error.empty()) {
    line("integrity", d.integrity.error);
  } else if (d.integrity.problems.empty()) {
    line("integrity", cat("ok, ", d.integrity.files, " files verified"));
  } else {
    line("integrity", cat(d.integrity.problems.size(), " problem(s) against ", d.integrity.files, " files in .integrity.json"));
    for (const std::string& p : d.integrity.problems) os << "  " << p << "\n";
  }
  if (d.skipped_rows < 0) {
    line("skipped", "-");
  } else {
    std::string s = cat(d.skipped_rows, d.skipped_rows == 1 ? " row" : " rows");
    if (!d.skipped_kinds.empty()) {
      std::string kinds;
      for (const auto& [k, n] : d.skipped_kinds) kinds += cat(kinds.empty() ? "" : ", ", n, " ", k);
      s += " (" + kinds + ")";
    }
    line("skipped", s + " in skipped.jsonl");
  }
  line("size", format_bytes(static_cast<double>(d.bytes)));
  if (!r.problems.empty()) {
    line("problems", r.problems.front());
    for (size_t i = 1; i < r.problems.size(); ++i) os << std::string(12, ' ') << r.problems[i] << "\n";
  }
  if (!r.config_text.empty()) {
    os << "config (config.yaml)\n";
    std::istringstream in(r.config_text);
    std::string l;
    while (std::getline(in, l))
      if (!trim(l).empty()) os << "  " << l << "\n";
  }
  return os.str();
}

}  // namespace gt::io
