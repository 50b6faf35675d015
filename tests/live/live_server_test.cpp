// The live page's event history and its HTTP server (issue #12): what a page opened late reads, what an open page is
// streamed, who may read, and that publishing never waits for a reader.
#include <gtest/gtest.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

#include "core/error.h"
#include "live/event_hub.h"
#include "live/live_assets.h"
#include "live/live_server.h"

namespace gt::live {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

json train_row(int step) { return {{"type", "train"}, {"step", step}, {"loss", 1.0 / step}}; }

TEST(LiveEvents, NumbersEventsInOrderAndKeepsThem) {
  EventHub hub;
  for (int i = 1; i <= 5; ++i) hub.publish(train_row(i));
  EXPECT_EQ(hub.last_seq(), 5u);
  const json all = json::parse(hub.history_json());
  ASSERT_EQ(all.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(all[i]["seq"], i + 1);
    EXPECT_EQ(all[i]["step"], i + 1);
  }
  const EventHub::Slice s = hub.since(3);
  ASSERT_EQ(s.events.size(), 2u);
  EXPECT_EQ(json::parse(s.events[0])["step"], 4);
  EXPECT_EQ(s.last_seq, 5u);
  EXPECT_TRUE(hub.since(5).events.empty());
  EXPECT_EQ(hub.since(0, 2).events.size(), 2u);
}

TEST(LiveEvents, KeepsOnlyTheNewestProbes) {
  EventHub hub(/*probes_kept=*/2);
  hub.publish({{"type", "meta"}});
  for (int i = 1; i <= 4; ++i) {
    hub.publish({{"type", "probe"}, {"step", i}});
    hub.publish(train_row(i));
  }
  const json all = json::parse(hub.history_json());
  int probes = 0, rows = 0;
  for (const json& e : all) {
    if (e["type"] == "probe") {
      ++probes;
      EXPECT_GE(e["step"].get<int>(), 3);
    }
    rows += e["type"] == "train";
  }
  EXPECT_EQ(probes, 2);
  EXPECT_EQ(rows, 4);
  EXPECT_EQ(all[0]["type"], "meta");
}

TEST(LiveEvents, ThinsTheOlderTrainRowsOfALongRun) {
  EventHub hub(/*probes_kept=*/16, /*train_kept=*/100);
  hub.publish({{"type", "meta"}});
  for (int i = 1; i <= 1000; ++i) {
    hub.publish(train_row(i));
    if (i % 100 == 0) hub.publish({{"type", "eval"}, {"step", i}});
  }
  const json all = json::parse(hub.history_json());
  std::vector<int> steps;
  int evals = 0;
  for (const json& e : all) {
    if (e["type"] == "train") steps.push_back(e["step"]);
    evals += e["type"] == "eval";
  }
  EXPECT_LE(steps.size(), 100u);
  EXPECT_GE(steps.size(), 50u);
  EXPECT_EQ(evals, 10);  // only train rows are thinned
  EXPECT_EQ(all[0]["type"], "meta");
  EXPECT_EQ(steps.back(), 1000);
  EXPECT_EQ(steps[steps.size() - 2], 999);  // the newest steps stay whole
  EXPECT_TRUE(std::is_sorted(steps.begin(), steps.end()));
  EXPECT_LT(steps[1] - steps[0], 100);      // the start of the curve is still there, thinned
  EXPECT_EQ(steps[0], 1);                   // the first step always stays
  for (size_t i = 1; i + 50 < steps.size(); ++i)  // evenly spaced but for the newest (at most half the cap)
    EXPECT_EQ(steps[i] - steps[i - 1], steps[1] - steps[0]) << "at " << steps[i];
}

TEST(LiveEvents, UrlCredentialsNeverReachAPage) {
  EventHub hub;
  hub.publish({{"type", "meta"},
               {"config", {{"data", "https://alice:hunter2@example.com/train.jsonl?token=s3cr3t&part=1"}}},
               {"run", {{"data_source", "gs://bucket/x?X-Goog-Signature=abcdef0123"}}}});
  hub.publish({{"type", "media"}, {"source", "https://example.com/a.png?access_token=tok123"}});
  hub.publish({{"type", "status"}, {"status", "failed"}, {"error", "could not read https://bob:pw9@h/x"}});
  const std::string all = hub.history_json();
  for (const char* secret : {"hunter2", "s3cr3t", "abcdef0123", "tok123", "pw9"})
    EXPECT_EQ(all.find(secret), std::string::npos) << secret << " in " << all;
  EXPECT_NE(all.find("example.com/train.jsonl"), std::string::npos);  // the rest stays readable
  EXPECT_NE(all.find("part=1"), std::string::npos);
}

TEST(LiveEvents, WaitWakesOnPublishAndOnClose) {
  EventHub hub;
  std::thread later([&] {
    std::this_thread::sleep_for(50ms);
    hub.publish(train_row(1));
  });
  const auto t0 = std::chrono::steady_clock::now();
  EventHub::Slice s = hub.wait_since(0, 5000ms);
  later.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2000ms);
  ASSERT_EQ(s.events.size(), 1u);
  EXPECT_FALSE(s.closed);
  std::thread closer([&] {
    std::this_thread::sleep_for(50ms);
    hub.close();
  });
  s = hub.wait_since(1, 5000ms);
  closer.join();
  EXPECT_TRUE(s.closed);
  EXPECT_TRUE(s.events.empty());
}

TEST(LiveEvents, TextWithNewlinesStaysOneLine) {
  EventHub hub;
  hub.publish({{"type", "meta"}, {"note", "two\nlines \xff"}});  // and invalid UTF-8, replaced
  const std::string text = hub.since(0).events.at(0);
  EXPECT_EQ(text.find('\n'), std::string::npos);
  EXPECT_EQ(json::parse(text)["note"].get<std::string>().substr(0, 9), "two\nlines");
}

// Reads /events?after=N until `count` events arrived or the stream ended; returns them parsed. `error` (when given)
// says how the request ended: Success only for a complete response.
std::vector<json> read_stream(int port, const std::string& query, size_t count,
                              const httplib::Headers& headers = {}, httplib::Error* error = nullptr) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(10, 0);
  std::vector<json> got;
  std::string buffer;
  auto result = cli.Get(("/events" + query).c_str(), headers, [&](const char* data, size_t n) {
    buffer.append(data, n);
    size_t end;
    while ((end = buffer.find("\n\n")) != std::string::npos) {
      const std::string block = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      if (block.rfind("data: ", 0) == 0) got.push_back(json::parse(block.substr(6)));
    }
    return got.size() < count;  // false ends the request
  });
  if (error) *error = result.error();
  return got;
}

TEST(LiveServer, ServesHistoryPageAndLiveEvents) {
  EventHub hub;
  hub.publish({{"type", "meta"}, {"run", {{"name", "demo"}}}});
  hub.publish(train_row(1));
  LiveServer server(hub, {"127.0.0.1", 0});
  ASSERT_GT(server.port(), 0);
  EXPECT_EQ(server.url(), "http://127.0.0.1:" + std::to_string(server.port()) + "/");

  httplib::Client cli("127.0.0.1", server.port());
  auto history = cli.Get("/history.json");
  ASSERT_TRUE(history);
  EXPECT_EQ(history->status, 200);
  const json h = json::parse(history->body);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[1]["loss"], 1.0);

  auto page = cli.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_EQ(page->body, std::string(find_asset("/")->body));
  auto missing = cli.Get("/nothing-here.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);

  // A page that read the history up to seq 2 is streamed what follows, as it is published.
  std::thread producer([&] {
    for (int i = 2; i <= 4; ++i) {
      std::this_thread::sleep_for(20ms);
      hub.publish(train_row(i));
    }
  });
  const std::vector<json> streamed = read_stream(server.port(), "?after=2", 3);
  producer.join();
  ASSERT_EQ(streamed.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(streamed[i]["seq"], i + 3);
    EXPECT_EQ(streamed[i]["step"], i + 2);
  }
  // A reconnecting EventSource says where it stopped with Last-Event-ID.
  const std::vector<json> resumed = read_stream(server.port(), "", 1, {{"Last-Event-ID", "4"}});
  ASSERT_EQ(resumed.size(), 1u);
  EXPECT_EQ(resumed[0]["seq"], 5);
  auto bad = cli.Get("/events?after=yesterday");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

TEST(LiveServer, StreamEndsWhenTheServerStops) {
  EventHub hub;
  hub.publish(train_row(1));
  auto server = std::make_unique<LiveServer>(hub, LiveOptions{"127.0.0.1", 0});
  const int port = server->port();
  std::thread reader([&] { read_stream(port, "?after=1", 100); });
  for (int i = 0; i < 100 && server->streams() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server->streams(), 1);
  const auto t0 = std::chrono::steady_clock::now();
  server.reset();  // must not wait for the keep-alive interval or for the reader
  reader.join();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3000ms);
}

TEST(LiveServer, StoppingSendsEveryEventAndEndsTheStreamCleanly) {
  // A run that ends publishes its last events and stops the server at once: an open page still gets all of them and
  // a complete response (a stream cut mid-response is an error in the browser's console).
  for (int round = 0; round < 5; ++round) {
    EventHub hub;
    auto server = std::make_unique<LiveServer>(hub, LiveOptions{"127.0.0.1", 0});
    httplib::Error error = httplib::Error::Unknown;
    std::vector<json> got;
    std::thread reader([&] { got = read_stream(server->port(), "", SIZE_MAX, {}, &error); });
    for (int i = 0; i < 200 && server->streams() == 0; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(server->streams(), 1);
    for (int i = 1; i <= 3000; ++i) hub.publish(train_row(i));  // more than one write's worth (256 events)
    server.reset();
    reader.join();
    ASSERT_EQ(got.size(), 3000u) << "round " << round;
    EXPECT_EQ(got.back()["step"], 3000);
    EXPECT_EQ(error, httplib::Error::Success) << "round " << round << ": " << httplib::to_string(error);
  }
}

TEST(LiveServer, PublishingNeverWaitsForAStalledPage) {
  EventHub hub;
  LiveServer server(hub, {"127.0.0.1", 0});
  // A client that opens the stream and never reads: its socket buffer fills, the server's writer blocks, training
  // must not.
  httplib::Client cli("127.0.0.1", server.port());
  std::thread stalled([&] {
    cli.set_read_timeout(3, 0);
    cli.Get("/events", [&](const char*, size_t) {
      std::this_thread::sleep_for(3000ms);
      return false;
    });
  });
  for (int i = 0; i < 100 && server.streams() == 0; ++i) std::this_thread::sleep_for(10ms);
  const std::string big(20000, 'x');
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 2000; ++i) hub.publish({{"type", "train"}, {"step", i}, {"note", big}});  // 40 MB
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2000ms);
  EXPECT_EQ(hub.last_seq(), 2000u);
  stalled.join();
}

TEST(LiveServer, TakenPortMovesToTheNextOrFailsClearly) {
  EventHub hub;
  LiveServer first(hub, {"127.0.0.1", 0});
  LiveServer second(hub, {"127.0.0.1", first.port()});
  EXPECT_GT(second.port(), first.port());
  try {
    LiveServer third(hub, {"127.0.0.1", first.port(), /*next_free_port=*/false});
    FAIL() << "bound a taken port";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(first.port())), std::string::npos) << e.what();
  }
  EXPECT_THROW(LiveServer(hub, {"203.0.113.7", 0}), InputError);  // not an address of this machine
}

TEST(LiveServer, BeyondLoopbackNeedsTheToken) {
  EventHub hub;
  hub.publish(train_row(1));
  LiveServer server(hub, {"0.0.0.0", 0});
  const std::string url = server.url();
  const size_t at = url.find("?token=");
  ASSERT_NE(at, std::string::npos) << url;
  const std::string token = url.substr(at + 7);
  EXPECT_EQ(token.size(), 32u);
  httplib::Client cli("127.0.0.1", server.port());
  auto without = cli.Get("/history.json");
  ASSERT_TRUE(without);
  EXPECT_EQ(without->status, 403);
  auto wrong = cli.Get("/history.json?token=0123");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 403);
  auto with = cli.Get(("/history.json?token=" + token).c_str());
  ASSERT_TRUE(with);
  EXPECT_EQ(with->status, 200);
  EXPECT_EQ(json::parse(with->body).size(), 1u);
  // Two servers never share a token.
  LiveServer other(hub, {"0.0.0.0", 0});
  EXPECT_NE(other.url().substr(other.url().find("?token=")), url.substr(at));
}

TEST(LiveServer, LoopbackRefusesOtherHostNames) {
  EventHub hub;
  LiveServer server(hub, {"127.0.0.1", 0});
  httplib::Client cli("127.0.0.1", server.port());
  auto rebound = cli.Get("/history.json", {{"Host", "attacker.example:80"}});
  ASSERT_TRUE(rebound);
  EXPECT_EQ(rebound->status, 403);
  auto local = cli.Get("/history.json", {{"Host", "localhost:" + std::to_string(server.port())}});
  ASSERT_TRUE(local);
  EXPECT_EQ(local->status, 200);
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("192.168.1.2"));
}

}  // namespace
}  // namespace gt::live
