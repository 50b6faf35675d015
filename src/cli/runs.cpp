// `gemma-tune runs`: the run folders under a parent folder (train's --out, `runs` by default).
//   runs list   one line per run, newest first (or --json: one array)
//   runs show   everything about one run: metadata, resolved config, metrics, checkpoints, adapter, integrity, skips
//   runs clean  removes failed and cancelled runs (--include-incomplete: also runs without adapter and process),
//               after listing them with their sizes and asking on standard input (--yes skips, --dry-run only lists)
// The reading is io/run_index; this file only prints and asks.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <iostream>
#include <thread>
#include <memory>
#include <string>

#include "cli/commands.h"
#include "core/error.h"
#include "core/strings.h"    // defines: format_bytes, trim
#include "io/run_index.h"    // defines: list_runs, read_run_details, clean_candidates, delete_run, ...
#include "live/live_server.h"
#include "live/run_events.h"

namespace gt::cli {

namespace {

struct RunsOptions {
  std::string dir = "runs";
  std::string run;
  bool json = false;
  bool include_incomplete = false;
  bool dry_run = false;
  bool yes = false;
  std::string live, live_host = "127.0.0.1";
  bool live_given = false;
};

std::atomic<bool> g_stop{false};
void on_stop(int) { g_stop = true; }

// `runs show RUN --live`: the run's page from its folder, following it while it is still running, until Ctrl-C.
void serve_run(const std::string& dir, const RunsOptions& o) {
  live::EventHub hub;
  live::RunFolderEvents events(dir, hub);
  bool running = events.poll();
  live::LiveServer server(hub, live::live_options(o.live, o.live_host));
  std::cerr << "live        " << server.url() << (running ? " (following the run)" : "")
            << "\n            Ctrl-C to stop\n";
  auto old_int = std::signal(SIGINT, on_stop);
  auto old_term = std::signal(SIGTERM, on_stop);
  while (!g_stop) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if (running) running = events.poll();
  }
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);
}

void runs_list(const RunsOptions& o) {
  const std::vector<io::RunInfo> runs = io::list_runs(o.dir);
  if (o.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const io::RunInfo& r : runs) arr.push_back(io::run_to_json(r));
    std::cout << arr.dump(2) << "\n";
    return;
  }
  if (runs.empty()) {
    std::cout << "no runs under " << o.dir << "\n";
    return;
  }
  std::cout << io::format_runs_table(runs);
  size_t bad = 0;
  for (const io::RunInfo& r : runs) bad += r.problems.empty() ? 0 : 1;
  if (bad) std::cout << bad << " run folder(s) have problems; `gemma-tune runs show RUN` says which\n";
}

void runs_show(const RunsOptions& o) {
  const std::string dir = io::resolve_run(o.dir, o.run);
  const io::RunDetails d = io::read_run_details(dir);
  if (o.json)
    std::cout << io::details_to_json(d).dump(2) << "\n";
  else
    std::cout << io::format_run_details(d);
  std::cout << std::flush;
  if (o.live_given) serve_run(dir, o);
}

void runs_clean(const RunsOptions& o) {
  const std::vector<io::CleanItem> items = io::clean_candidates(io::list_runs(o.dir), o.include_incomplete);
  if (items.empty()) {
    std::cout << "nothing to clean under " << o.dir
              << (o.include_incomplete ? "" : " (--include-incomplete also removes runs without an adapter)") << "\n";
    return;
  }
  uint64_t total = 0;
  size_t name_w = 0, reason_w = 0;
  for (const io::CleanItem& it : items) {
    name_w = std::max(name_w, it.run.name.size());
    reason_w = std::max(reason_w, it.reason.size());
  }
  for (const io::CleanItem& it : items) {
    std::cout << "  " << it.run.name << std::string(name_w - it.run.name.size() + 2, ' ') << it.reason
              << std::string(reason_w - it.reason.size() + 2, ' ') << format_bytes(static_cast<double>(it.bytes)) << "\n";
    total += it.bytes;
  }
  const std::string summary = cat(items.size(), " run folder(s), ", format_bytes(static_cast<double>(total)));
  if (o.dry_run) {
    std::cout << "would delete " << summary << " (--dry-run: nothing deleted)\n";
    return;
  }
  if (!o.yes) {
    std::cout << "delete " << summary << "? [y/N] " << std::flush;
    std::string answer;
    if (!std::getline(std::cin, answer))
      fail_input("runs clean: no answer on standard input; nothing deleted (--yes deletes without asking)");
    answer = trim(answer);
    if (answer != "y" && answer != "Y" && answer != "yes" && answer != "YES" && answer != "Yes") {
      std::cout << "nothing deleted\n";
      return;
    }
  }
  size_t deleted = 0;
  std::string failures;
  for (const io::CleanItem& it : items) {
    try {
      io::delete_run(o.dir, it.run);
      ++deleted;
    } catch (const InputError& e) {
      failures += cat("\n  ", e.what());
    }
  }
  std::cout << "deleted " << deleted << " of " << items.size() << " run folder(s)\n";
  if (!failures.empty()) fail_input("runs clean: some run folders were not deleted:", failures);
}

}  // namespace

void add_runs(CLI::App& app) {
  auto opts = std::make_shared<RunsOptions>();
  CLI::App* runs = app.add_subcommand("runs", "List, inspect and clean the run folders that train writes.");
  runs->require_subcommand(1);
  auto add_dir = [&](CLI::App* sub) {
    sub->add_option("--dir", opts->dir, "Parent folder of the run folders (train's --out)")->capture_default_str();
  };

  CLI::App* list = runs->add_subcommand(
      "list", "One line per run, newest first: status, model, data, modality, steps done/planned, best eval loss, "
              "wall time. A run marked running whose process cannot be checked shows as running?.");
  add_dir(list);
  list->add_flag("--json", opts->json, "Print one JSON array instead of the table");
  list->callback([opts] { runs_list(*opts); });

  CLI::App* show = runs->add_subcommand(
      "show", "Everything about one run: metadata, resolved config, last train metrics, eval history, checkpoints, "
              "adapter, integrity check, skipped rows.");
  add_dir(show);
  show->add_option("run", opts->run, "Run folder name under --dir, a path to a run folder, or a unique part of a name")
      ->required();
  show->add_flag("--json", opts->json, "Print one JSON object instead of text");
  CLI::Option* live = show->add_option(
      "--live", opts->live,
      "Then serve the run's live page (train --live's page, from the folder's files; a run still going is "
                   "followed) until Ctrl-C: alone = http://127.0.0.1:8080 or the next free port, PORT = that port "
                   "(0: any free one)")
      ->expected(0, 1);
  show->add_option("--live-host", opts->live_host,
                   "Address the page listens on; beyond loopback it serves only with the token in the printed URL")
      ->capture_default_str();
  show->callback([opts, live] {
    opts->live_given = live->count() > 0;
    runs_show(*opts);
  });

  CLI::App* clean = runs->add_subcommand(
      "clean", "Delete failed and cancelled runs (listed with their sizes first; asks unless --yes). Only folders "
               "with metadata.json directly under --dir are ever deleted.");
  add_dir(clean);
  clean->add_flag("--include-incomplete", opts->include_incomplete,
                  "Also delete runs without an adapter whose trainer is known to be gone (died, malformed)");
  clean->add_flag("--dry-run", opts->dry_run, "Only list what would be deleted");
  clean->add_flag("--yes,-y", opts->yes, "Delete without asking");
  clean->callback([opts] { runs_clean(*opts); });
}

}  // namespace gt::cli
