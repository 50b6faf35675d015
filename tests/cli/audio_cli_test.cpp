// Audio end to end through the command line, on tiny random checkpoints of both families (real tokenizer, CPU):
// `train --modality audio` on clips of the bundled sample set (the loss falls, eval with the adapter is lower than
// without it), bad and long clips (skipped.jsonl, the cut count), and `prepare` (decode, resample, rewrite, report)
// followed by training on the prepared folder.
#include <cmath>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using gt::test::run_cli;
using gt::test::run_shell;

namespace {

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

bool have_program(const std::string& name) { return run_shell("command -v " + name).exit_code == 0; }

double eval_loss(const fs::path& model, const fs::path& data, const std::string& adapter = "") {
  auto r = run_cli("eval --model " + quote(model) + " --data " + quote(data) + " --modality audio --json" +
                   (adapter.empty() ? "" : " --adapter " + quote(adapter)));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? json::parse(r.out).at("loss").get<double>() : 0.0;
}

// A tiny checkpoint of `family` and a dataset folder with 6 clips of data/sample-audio (absolute paths), one clip
// that does not exist and one longer than --max-duration.
struct AudioSetup {
  gt::test::TempDir tmp{"audio-cli"};
  fs::path model = tmp / "model";
  fs::path data = tmp / "data";
  fs::path runs = tmp / "runs";
  explicit AudioSetup(const std::string& family) {
    auto r = run_cli("init-random --family " + family + " --size tiny --dtype float32 --seed 2 --out " + quote(model) +
                     " --tokenizer " + quote(gt::test::real_tokenizer_json()));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const fs::path clips = gt::test::source_path("data/sample-audio/clips");
    std::string csv = "audio_path,text\n";
    const char* texts[] = {"one two three", "red green blue", "hello world", "good morning", "thank you", "see you"};
    for (int i = 0; i < 6; ++i)
      csv += (clips / ("00" + std::to_string(i + 1) + ".wav")).string() + "," + texts[i] + "\n";
    csv += "no_such_clip.wav,missing\n";
    gt::test::write_file(data / "train.csv", csv);
  }
};

void trains_and_learns(const std::string& family) {
  AudioSetup s(family);
  const double before = eval_loss(s.model, s.data);
  auto r = run_cli("train --model " + quote(s.model) + " --data " + quote(s.data) + " --out " + quote(s.runs) +
                   " --modality audio --max-steps 8 --batch-size 3 --lr 1e-2 --max-seq-len 512 --max-duration 2.5"
                   " --seed 1 --save-every 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("7 rows, 6 examples"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cut to max_duration"), std::string::npos) << r.err;  // some clips are longer than 2.5 s
  EXPECT_NE(r.err.find("frozen audio tower"), std::string::npos) << r.err;
  fs::path run;
  for (const auto& e : fs::directory_iterator(s.runs)) run = e.path();
  ASSERT_TRUE(fs::exists(run / "adapter" / "adapter_model.safetensors"));
  const std::string skipped = gt::test::read_file(run / "skipped.jsonl");
  EXPECT_NE(skipped.find("\"kind\":\"bad_audio\""), std::string::npos) << skipped;
  EXPECT_NE(skipped.find("no_such_clip.wav"), std::string::npos) << skipped;
  const double after = eval_loss(s.model, s.data, (run / "adapter").string());
  std::printf("[audio-cli] %s eval loss %.4f -> %.4f\n", family.c_str(), before, after);
  EXPECT_LT(after, before - 0.5);
}

}  // namespace

TEST(AudioCli, Gemma4TrainsOnAudio) { trains_and_learns("gemma4"); }
TEST(AudioCli, Gemma3nTrainsOnAudio) { trains_and_learns("gemma3n"); }

TEST(AudioCli, TextModalityRefusesAudioRowsAndAudioNeedsInstructionMode) {
  AudioSetup s("gemma4");
  auto r = run_cli("train --model " + quote(s.model) + " --data " + quote(s.data) + " --out " + quote(s.runs) +
                   " --modality audio --mode completion --max-steps 1");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--mode instruction"), std::string::npos) << r.err;
  r = run_cli("train --model " + quote(s.model) + " --data " + quote(s.data) + " --out " + quote(s.runs) +
              " --max-steps 1");
  EXPECT_EQ(r.exit_code, 1);  // a text run reads the CSV for prompt/response columns
  EXPECT_NE(r.err.find("prompt"), std::string::npos) << r.err;
}

TEST(AudioCli, PrepareDecodesReportsAndTrainsFromTheResult) {
  if (!have_program("ffmpeg")) GTEST_SKIP() << "ffmpeg is not installed (`make deps` installs it)";
  gt::test::TempDir tmp("prepare");
  const fs::path src = tmp / "src", out = tmp / "prepared";
  fs::create_directories(src / "audio");
  const fs::path clip = gt::test::source_path("data/sample-audio/clips/003.wav");
  // a stereo 44.1 kHz mp3 and a 48 kHz flac from a bundled clip
  ASSERT_EQ(run_shell("ffmpeg -hide_banner -loglevel error -nostdin -y -i " + quote(clip) +
                      " -ac 2 -ar 44100 " + quote(src / "audio/a.mp3")).exit_code, 0);
  ASSERT_EQ(run_shell("ffmpeg -hide_banner -loglevel error -nostdin -y -i " + quote(clip) + " -ar 48000 " +
                      quote(src / "audio/b.flac")).exit_code, 0);
  gt::test::write_file(src / "audio/broken.wav", "not audio");
  gt::test::write_file(src / "train.csv",
                       "id,audio_path,text\n1,audio/a.mp3,\"hello, there\"\n2,audio/broken.wav,x\n3,,y\n");
  gt::test::write_file(src / "validation.jsonl",
                       R"({"messages":[{"role":"user","content":[{"type":"audio","path":"audio/b.flac"},{"type":"text","text":"What is said?"}]},{"role":"assistant","content":"hello"}]})"
                       "\n");
  auto r = run_cli("prepare --data " + quote(src) + " --out " + quote(out) + " --max-duration 1.0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("train.csv: 3 rows, 1 prepared, 2 skipped"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("cut to max_duration"), std::string::npos) << r.err;

  const std::string csv = gt::test::read_file(out / "train.csv");
  EXPECT_EQ(csv, "id,audio_path,text\n1,clips/train-1.wav,\"hello, there\"\n");
  EXPECT_TRUE(fs::exists(out / "clips/train-1.wav"));
  const json val = json::parse(gt::test::read_file(out / "validation.jsonl"));
  EXPECT_EQ(val["messages"][0]["content"][0]["path"], "clips/validation-1-0.wav");
  const json report = json::parse(gt::test::read_file(out / "prepare.json"));
  EXPECT_EQ(report["train"]["prepared"], 1);
  EXPECT_EQ(report["train"]["cut_to_max_duration"], 1);
  EXPECT_NEAR(report["train"]["seconds"]["max"].get<double>(), 1.0, 1e-3);
  const std::string skipped = gt::test::read_file(out / "skipped.jsonl");
  EXPECT_NE(skipped.find("bad_audio"), std::string::npos) << skipped;
  EXPECT_NE(skipped.find("missing_column"), std::string::npos) << skipped;
  // a 16 kHz mono 16-bit wav of 1.0 s: 44-byte header + 32000 bytes
  EXPECT_EQ(fs::file_size(out / "clips/train-1.wav"), 44u + 32000u);

  // preparing into a folder that already holds a dataset is refused
  r = run_cli("prepare --data " + quote(src) + " --out " + quote(out));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("exists"), std::string::npos) << r.err;

  // the prepared folder trains like any dataset
  const fs::path model = tmp / "model";
  ASSERT_EQ(run_cli("init-random --family gemma4 --size tiny --dtype float32 --out " + quote(model) + " --tokenizer " +
                    quote(gt::test::real_tokenizer_json())).exit_code, 0);
  r = run_cli("train --model " + quote(model) + " --data " + quote(out) + " --out " + quote(tmp / "runs") +
              " --modality audio --max-steps 1 --batch-size 1 --max-seq-len 256");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

namespace {

// A 16-bit PCM mono wav of `seconds` of a 440 Hz tone at 16 kHz.
void write_tone_wav(const fs::path& path, double seconds) {
  const uint32_t rate = 16000, n = static_cast<uint32_t>(seconds * rate), bytes = n * 2;
  std::string w;
  auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) w += static_cast<char>((v >> (8 * i)) & 0xff); };
  auto u16 = [&](uint16_t v) { w += static_cast<char>(v & 0xff); w += static_cast<char>(v >> 8); };
  w += "RIFF"; u32(36 + bytes); w += "WAVEfmt "; u32(16); u16(1); u16(1); u32(rate); u32(rate * 2); u16(2); u16(16);
  w += "data"; u32(bytes);
  for (uint32_t i = 0; i < n; ++i) u16(static_cast<uint16_t>(static_cast<int16_t>(8000 * std::sin(6.2831853 * 440 * i / rate))));
  gt::test::write_file(path, w);
}

}  // namespace

// Issue #13: a --max-duration beyond what the audio feature extractor keeps (30 s) decodes no more than that: a
// 40-second clip is cut to 30 s and counted as cut, with a note that names the limit.
TEST(AudioCli, MaxDurationBeyondTheExtractorsLimitIsCutToIt) {
  AudioSetup s("gemma4");
  write_tone_wav(s.tmp / "long.wav", 40.0);
  gt::test::write_file(s.data / "train.csv", "audio_path,text\n" + (s.tmp / "long.wav").string() + ",a long tone\n" +
                                                 gt::test::source_path("data/sample-audio/clips/001.wav").string() +
                                                 ",one two three\n");
  auto r = run_cli("train --model " + quote(s.model) + " --data " + quote(s.data) + " --out " + quote(s.runs) +
                   " --modality audio --max-steps 1 --batch-size 2 --max-seq-len 1024 --max-duration 8000 --save-every 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("--max-duration 8000 s is more than the model's audio feature extractor takes (30 s"),
            std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1 cut to max_duration"), std::string::npos) << r.err;
}
