// `train --live` and `runs show RUN --live` end to end (issue #12): while a tiny run trains, its page's history and
// event stream carry the run's real metrics (the same numbers as metrics.jsonl), the probes and the final status;
// afterwards `runs show --live` serves the same from the run folder. The page itself is checked in a browser by
// tests/browser/live_page_check.mjs.
#include <gtest/gtest.h>

#include <httplib.h>
#include <nlohmann/json.hpp>


#include <chrono>
#include <fstream>
#include <thread>

#include "cli/tiny_setup.h"
#include "core/system_info.h"

namespace gt::test {
namespace {

using namespace std::chrono_literals;

// /history.json once the server answers (up to `wait`), else null.
json fetch_history(int port, std::chrono::seconds wait) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(1, 0);
  const auto until = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < until) {
    if (auto r = cli.Get("/history.json"); r && r->status == 200) return json::parse(r->body);
    std::this_thread::sleep_for(50ms);
  }
  return nullptr;
}

// Streams /events after `after` until a final status event arrives or the stream ends.
std::vector<json> stream_until_done(int port, uint64_t after) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(60, 0);
  std::vector<json> got;
  std::string buffer;
  bool done = false;
  cli.Get(("/events?after=" + std::to_string(after)).c_str(), [&](const char* data, size_t n) {
    buffer.append(data, n);
    for (size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
      const std::string block = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      if (block.rfind("data: ", 0) != 0) continue;
      got.push_back(json::parse(block.substr(6)));
      const json& e = got.back();
      if (e["type"] == "status" && e["status"] != "running") done = true;
    }
    return !done;
  });
  return got;
}

std::vector<json> read_jsonl(const fs::path& p) {
  std::vector<json> rows;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) rows.push_back(json::parse(line));
  return rows;
}

// Checks a page's events against the run folder: every train row's loss as in metrics.jsonl, no event twice, the
// probes and the final status.
void expect_matches_run(const std::vector<json>& events, const fs::path& run) {
  std::map<int64_t, double> losses;
  int evals = 0, probes = 0;
  uint64_t last_seq = 0;
  std::string status;
  for (const json& e : events) {
    EXPECT_GT(e["seq"].get<uint64_t>(), last_seq) << "events out of order or twice";
    last_seq = e["seq"];
    if (e["type"] == "train") {
      losses[e["step"]] = e["loss"];
      EXPECT_GT(e.value("host_rss_bytes", 0), 0) << "host memory missing at step " << e["step"];
    }
    if (e["type"] == "meta" && e.contains("data")) {
      EXPECT_EQ(e["data"]["train"]["examples"], 8);  // the rows of tiny_setup.h, with the counts, not only text
      EXPECT_EQ(e["data"]["validation"]["examples"], 3);
      EXPECT_TRUE(e["data"]["train"]["skipped"].is_object());
    }
    if (e["type"] == "eval") ++evals;
    if (e["type"] == "status") status = e["status"];
    if (e["type"] == "probe") {
      ++probes;
      EXPECT_GT(e["attention"]["size"].get<int>(), 0);
      EXPECT_FALSE(e["predictions"].empty());
      EXPECT_EQ(e["tokens"].size(), e["attention"]["size"].get<size_t>());  // short rows are not binned
    }
  }
  size_t rows = 0;
  for (const json& row : read_jsonl(run / "metrics.jsonl")) {
    if (!row.contains("loss")) continue;
    ++rows;
    ASSERT_TRUE(losses.count(row["step"])) << "step " << row["step"] << " missing from the page";
    EXPECT_EQ(losses[row["step"]], row["loss"].get<double>());
  }
  EXPECT_EQ(rows, 8u);
  EXPECT_EQ(losses.size(), rows);
  EXPECT_GE(evals, 2);   // at step 4 and the final one
  EXPECT_GE(probes, 5);  // steps 0, 2, 4, 6, 8
  EXPECT_EQ(status, "completed");
}

TEST(LiveCli, TrainServesItsRunWhileItGoes) {
  TinySetup s;
  const int port = gt::free_loopback_port();
  CommandResult train;
  std::thread trainer([&] {
    train = run_shell("GT_TEST_STEP_DELAY_MS=150 '" + cli_path() + "' " +
                      s.train_args("--max-steps 8 --eval-every 4 --live " + std::to_string(port) + " --live-every 2"));
  });
  const json history = fetch_history(port, 60s);
  std::vector<json> events;
  if (!history.is_null()) {
    for (const json& e : history) events.push_back(e);
    const uint64_t after = events.empty() ? 0 : events.back()["seq"].get<uint64_t>();
    const std::vector<json> streamed = stream_until_done(port, after);
    EXPECT_FALSE(streamed.empty()) << "nothing arrived while the run went on";
    events.insert(events.end(), streamed.begin(), streamed.end());
  }
  trainer.join();
  ASSERT_EQ(train.exit_code, 0) << train.err;
  ASSERT_FALSE(history.is_null()) << "the page never answered; trainer said:\n" << train.err;
  EXPECT_NE(train.err.find("live        http://127.0.0.1:" + std::to_string(port) + "/"), std::string::npos)
      << train.err;
  EXPECT_NE(train.err.find("live page   "), std::string::npos) << train.err;  // the probes' measured cost
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front()["type"], "meta");
  EXPECT_EQ(events.front()["config"]["lr"], 1e-2);
  const fs::path run = s.only_run();
  expect_matches_run(events, run);
  // What the page was shown inside the model stays in the run folder.
  int kept = 0;
  for (const json& e : read_jsonl(run / "probes.jsonl")) kept += e["type"] == "probe";
  EXPECT_GE(kept, 5);

  // Later, the same page from the folder.
  const int port2 = gt::free_loopback_port();
  CommandResult shown;
  std::thread server([&] {
    shown = run_shell("timeout -s INT 20 '" + cli_path() + "' runs show " + quote(run) + " --live " +
                      std::to_string(port2));
  });
  const json again = fetch_history(port2, 15s);
  // Stop it now rather than at the timeout.
  // (only the gemma-tune process: the shell and `timeout` around it would die of the signal)
  run_shell("pkill -INT -f '^" + cli_path() + " runs show .*--live " + std::to_string(port2) + "'");
  server.join();
  ASSERT_FALSE(again.is_null()) << shown.err;
  EXPECT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("completed"), std::string::npos) << shown.out;  // the usual details first
  std::vector<json> from_folder(again.begin(), again.end());
  expect_matches_run(from_folder, run);
}

TEST(LiveCli, BadPortsAreClearErrors) {
  TinySetup s;
  auto r = run_cli(s.train_args("--max-steps 1 --live 70000"));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("--live"), std::string::npos) << r.err;
  // A port asked for by number that is taken is an error naming it, before any training.
  httplib::Server taken;
  const int port = taken.bind_to_any_port("127.0.0.1");
  r = run_cli(s.train_args("--max-steps 1 --live " + std::to_string(port)));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find(std::to_string(port)), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gt::test
