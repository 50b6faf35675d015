// The run index: what `gemma-tune runs list|show|clean` knows about the run folders under a parent folder (README
// "Run folder"; written by train/run_folder and the training loop). Torch-free: it only reads files.
//
// What is read, and from where:
//   metadata.json    status, started_at / resumed_at / finished_at, steps, last_loss, eval_loss, error, device, dtype,
//                    versions, model, modality; pid and host when the trainer records them
//   config.yaml      the resolved configuration: model, data, modality, max_steps, epochs, grad_accum
//   metrics.jsonl    train rows {"step", "epoch", "loss", "lr", ...} and eval rows {"step", "eval_loss", ...}
//   skipped.jsonl    one row per skipped dataset row {"file", "row", "kind", "reason"}
//   checkpoints/step-N/DONE, adapter/adapter_model.safetensors, .integrity.json
// A folder may be half-written (killed trainer, copy in progress) or damaged: every reader here records what is wrong
// in RunInfo::problems and carries on; nothing throws for a bad run folder.
//
// "running" is what metadata.json says while the trainer lives and also after it was killed (SIGKILL, power loss).
// With a pid and host in metadata.json and the host being this one, the pid is checked: alive -> Running, gone ->
// Died. Otherwise the run may or may not be running (MaybeRunning, shown "running?").
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace gt::io {

enum class RunState {
  Running,       // metadata says running and its pid is alive on this host
  MaybeRunning,  // metadata says running; no pid/host recorded, or another host's
  Died,          // metadata says running but its pid is gone from this host
  Completed,
  Failed,
  Cancelled,
  Malformed,  // metadata.json missing, unreadable, or with a status gemma-tune never writes
};

// "running", "running?", "died", "completed", "failed", "cancelled", "malformed".
const char* run_state_name(RunState s);

struct RunInfo {
  std::string name;  // folder name
  std::string path;
  bool has_metadata = false;  // metadata.json exists: the folder is a run folder (clean deletes nothing else)
  bool is_symlink = false;    // the entry under the parent folder is a symbolic link (clean never follows one)
  RunState state = RunState::Malformed;
  std::string state_detail;     // why running/running?/died/malformed ("pid 123 on host x is gone")
  std::string recorded_status;  // metadata.json's "status" as written ("" when absent)
  nlohmann::json metadata = nlohmann::json::object();  // as read (empty when unreadable)
  nlohmann::json config = nlohmann::json::object();    // config.yaml as JSON (quoted scalars strings, plain typed)
  std::string config_text;                             // config.yaml as written (keys in table order, comments)
  std::string model_path, model;  // config/metadata "model" and its folder name
  std::string data_path, data;    // config "data" and its file or folder name
  std::string modality;
  int64_t steps_done = -1;     // -1: unknown
  int64_t steps_planned = -1;  // -1: unknown (an epoch-based run that has logged no step yet)
  std::optional<double> best_eval_loss;
  int64_t best_eval_step = -1;
  std::optional<double> last_loss;  // last finite train loss
  std::string started_at, resumed_at, finished_at;
  std::optional<double> wall_seconds;  // started_at to finished_at (now while running; last write when it died)
  std::time_t sort_time = 0;           // started_at, else metadata.json's modification time
  bool has_adapter = false;            // adapter/adapter_model.safetensors and adapter_config.json
  std::string error;                   // metadata "error"
  std::vector<std::string> problems;   // what is malformed or half-written, one line each
};

struct CheckpointInfo {
  std::string name;  // "step-8" (or "step-8.tmp" for one being written)
  int64_t step = -1;
  bool complete = false;  // DONE present
  uint64_t bytes = 0;
};

struct IntegrityStatus {
  bool has_manifest = false;
  size_t files = 0;                   // entries in the manifest
  std::vector<std::string> problems;  // verify_integrity_manifest's lines ("changed: ...")
  std::string error;                  // the manifest could not be read or checked
  bool ok() const { return has_manifest && error.empty() && problems.empty(); }
};

struct RunDetails {
  RunInfo info;
  nlohmann::json last_train = nullptr;           // last metrics row with "loss" (null when none)
  std::vector<nlohmann::json> evals;             // metrics rows with "eval_loss", in file order
  std::vector<CheckpointInfo> checkpoints;       // by step
  uint64_t adapter_bytes = 0;
  IntegrityStatus integrity;
  int64_t skipped_rows = 0;                      // rows of skipped.jsonl (-1: file absent)
  std::map<std::string, int64_t> skipped_kinds;  // "kind" -> count
  double train_seconds = 0;                      // sum of step_s over the logged train rows
  uint64_t bytes = 0;                            // the whole folder
};

// One run folder (never throws for a bad folder; `now` is used for the wall time of a live run).
RunInfo read_run(const std::string& run_dir, std::time_t now = std::time(nullptr));
RunDetails read_run_details(const std::string& run_dir, std::time_t now = std::time(nullptr));

// The run folders directly under `parent` (folders with metadata.json or config.yaml), newest first.
// Throws gt::InputError when `parent` is not a folder.
std::vector<RunInfo> list_runs(const std::string& parent, std::time_t now = std::time(nullptr));

// RUN as a folder name under `parent`, a path to a run folder, or a part of exactly one run's name under `parent`.
// Throws gt::InputError naming what was looked for (and the candidates when several match).
std::string resolve_run(const std::string& parent, const std::string& run);

// Checks <dir>/.integrity.json with verify_integrity_manifest; a missing or unreadable manifest is reported, not thrown.
IntegrityStatus check_integrity(const std::string& dir);

// ---------------------------------------------------------------------------------------------------------------
// Clean

struct CleanItem {
  RunInfo run;
  std::string reason;  // "failed", "cancelled", "incomplete (died, no adapter)", ...
  uint64_t bytes = 0;
};

// Runs that `runs clean` removes: failed and cancelled ones; with include_incomplete also those without an adapter
// whose process is known not to run (died, malformed, completed without adapter). Never a symlink, never a folder
// without metadata.json, never a run that is or may be running.
std::vector<CleanItem> clean_candidates(const std::vector<RunInfo>& runs, bool include_incomplete);

// Removes one run folder after checking again that it is a real folder directly under `parent` holding metadata.json.
// Throws gt::InputError when any check fails or the removal fails.
void delete_run(const std::string& parent, const RunInfo& run);

// ---------------------------------------------------------------------------------------------------------------
// Helpers and formatting

bool process_alive(int64_t pid);
std::string this_host();
// Total size of the regular files under `path` (symbolic links not followed; unreadable parts skipped).
uint64_t tree_bytes(const std::string& path);
// "2026-11-25T21:04:05Z" -> seconds since the epoch; nullopt when it is not in that form.
std::optional<std::time_t> parse_utc_timestamp(const std::string& s);

nlohmann::json run_to_json(const RunInfo& r);
nlohmann::json details_to_json(const RunDetails& d);
// The `runs list` table: RUN, STATUS, MODEL, DATA, MODALITY, STEPS, BEST EVAL, WALL, one line per run.
std::string format_runs_table(const std::vector<RunInfo>& runs);
std::string format_run_details(const RunDetails& d);

}  // namespace gt::io
