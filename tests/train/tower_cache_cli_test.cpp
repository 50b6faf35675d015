// `train --tower-cache DIR` end to end on a tiny random Gemma 4 (real tokenizer, CPU): two epochs of audio training
// give the same losses as without the cache; the first epoch misses every clip and stores it, the second hits
// every one; a later run with the same cache hits everything, and one whose cache lost entries computes them again
// with the same losses.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using gt::test::run_cli;

namespace {

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

std::vector<double> step_losses(const fs::path& run) {
  std::vector<double> out;
  std::ifstream in(run / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const json j = json::parse(line);
    if (j.contains("loss") && !j.contains("eval_loss")) out.push_back(j["loss"].get<double>());
  }
  return out;
}

size_t entries(const fs::path& dir) {
  size_t n = 0;
  if (!fs::exists(dir)) return 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".safetensors") ++n;
  return n;
}

void expect_same_losses(const std::vector<double>& a, const std::vector<double>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6 * std::abs(a[i])) << "step " << i + 1;
}

}  // namespace

TEST(TowerCacheCli, AudioEpochsHitTheCacheWithTheSameLosses) {
#ifndef GT_HAVE_FFMPEG
  GTEST_SKIP() << "built without FFmpeg: the sample clips cannot be decoded";
#endif
  gt::test::TempDir tmp("tower-cache-cli");
  const fs::path model = tmp / "model", data = tmp / "data", cache = tmp / "cache";
  auto r = run_cli("init-random --family gemma4 --size tiny --dtype float32 --seed 2 --out " + quote(model) +
                   " --tokenizer " + quote(gt::test::real_tokenizer_json()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path clips = gt::test::source_path("data/sample-audio/clips");
  std::string csv = "audio_path,text\n";
  const char* texts[] = {"one two three", "red green blue", "hello world", "good morning", "thank you", "see you"};
  for (int i = 0; i < 6; ++i) csv += (clips / ("00" + std::to_string(i + 1) + ".wav")).string() + "," + texts[i] + "\n";
  gt::test::write_file(data / "train.csv", csv);

  auto train = [&](const std::string& name, const std::string& extra) {
    const auto t0 = std::chrono::steady_clock::now();
    auto res = run_cli("train --model " + quote(model) + " --data " + quote(data) + " --out " + quote(tmp / "runs") +
                       " --name " + name + " --modality audio --epochs 2 --batch-size 3 --lr 1e-2 --max-seq-len 512"
                       " --max-duration 2.5 --seed 1 --save-every 0" + extra);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[tower-cache] run %s: %.2f s\n", name.c_str(), s);
    EXPECT_EQ(res.exit_code, 0) << res.err;
    return res;
  };
  auto run_dir = [&](const std::string& name) {
    for (const auto& e : fs::directory_iterator(tmp / "runs"))
      if (e.path().filename().string().find(name) != std::string::npos) return e.path();
    return fs::path();
  };

  r = train("plain", "");
  EXPECT_EQ(r.err.find("tower cache"), std::string::npos) << "off by default";
  const std::vector<double> plain = step_losses(run_dir("plain"));
  ASSERT_EQ(plain.size(), 4u);  // 2 epochs of 2 batches

  r = train("cached", " --tower-cache " + quote(cache));
  EXPECT_NE(r.err.find("tower cache 6 hits, 6 misses; 6 stored"), std::string::npos) << r.err;
  EXPECT_EQ(entries(cache), 6u);
  expect_same_losses(step_losses(run_dir("cached")), plain);

  // a later run of the same model and settings: every lookup hits
  r = train("again", " --tower-cache " + quote(cache));
  EXPECT_NE(r.err.find("tower cache 12 hits, 0 misses; 0 stored"), std::string::npos) << r.err;
  expect_same_losses(step_losses(run_dir("again")), plain);

  // entries lost (a cleaned cache): computed again, same losses
  size_t removed = 0;
  for (const auto& e : fs::recursive_directory_iterator(cache))
    if (e.is_regular_file() && removed < 3 && fs::remove(e.path())) ++removed;
  r = train("partial", " --tower-cache " + quote(cache));
  EXPECT_NE(r.err.find("3 stored"), std::string::npos) << r.err;
  EXPECT_EQ(entries(cache), 6u);
  const std::vector<double> partial = step_losses(run_dir("partial"));
  ASSERT_EQ(partial.size(), plain.size());
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_NEAR(partial[i], plain[i], 1e-5 * std::abs(plain[i]));
}
