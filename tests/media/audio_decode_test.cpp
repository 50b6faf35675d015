// gt::media::decode_audio on files made at test time by the espeak-ng and ffmpeg programs: every common container
// and sample format, other rates and channel counts, the content after mixdown and resampling (tones keep their
// frequency and amplitude), clamping, max_seconds, every error, and http URLs served by an in-test server.
// Tests that need a missing program are skipped with the reason; nothing here is hand-crafted audio except what
// write_wav writes.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <thread>

#include "core/error.h"
#include "data/csv_reader.h"     // defines: read_csv_file
#include "data/dataset_files.h"  // defines: find_dataset_files
#include "media/audio_decode.h"  // defines: AudioClip, decode_audio, write_wav, is_url, resolve_audio_source
#include "test_util.h"
#include "tiny_http_server.h"

namespace fs = std::filesystem;
using gt::media::AudioClip;
using gt::media::decode_audio;
using gt::test::run_shell;
using gt::test::TempDir;
using gt::test::TinyHttpServer;
using gt::test::closed_port;

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr const char* kSentence = "The quick brown fox jumps over the lazy dog.";

// ---------------------------------------------------------------------------------------------------------------
// Making inputs with the command-line tools.

bool have_program(const std::string& name) { return run_shell("command -v " + name).exit_code == 0; }

#define REQUIRE_PROGRAM(name)                                                                              \
  do {                                                                                                     \
    if (!have_program(name)) GTEST_SKIP() << name " is not installed (`make deps` installs it)"; \
  } while (0)

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

// Runs ffmpeg with `args` (inputs, filters, output) and fails the test when it fails.
void ffmpeg(const std::string& args) {
  auto r = run_shell("ffmpeg -hide_banner -loglevel error -nostdin -y " + args);
  ASSERT_EQ(r.exit_code, 0) << "ffmpeg " << args << "\n" << r.err;
}

// A tone file from FFmpeg's aevalsrc: one expression per channel ("0.5*sin(2*PI*440*t)|..."), `rate` Hz.
void make_tone(const fs::path& out, const std::string& exprs, int rate, double seconds, const std::string& codec) {
  ffmpeg("-f lavfi -i 'aevalsrc=" + exprs + ":s=" + std::to_string(rate) + ":d=" + std::to_string(seconds) +
         "' -c:a " + codec + " " + quote(out));
}

// espeak-ng's own output: 22050 Hz, 16-bit, mono.
void make_speech(const fs::path& out) {
  auto r = run_shell("espeak-ng -v en-us -s 150 -w " + quote(out) + " '" + kSentence + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

// ---------------------------------------------------------------------------------------------------------------
// Measuring what came out.

// Amplitude of the `freq` Hz component of x[skip, size - skip), Hann-windowed so that other tones do not leak in.
double tone_amplitude(const std::vector<float>& x, int rate, double freq, size_t skip = 800) {
  double re = 0, im = 0, wsum = 0;
  const size_t n = x.size() - 2 * skip;
  for (size_t i = 0; i < n; ++i) {
    const double w = 0.5 - 0.5 * std::cos(2 * kPi * i / (n - 1));
    const double t = double(i + skip) / rate;
    re += w * x[i + skip] * std::cos(2 * kPi * freq * t);
    im += w * x[i + skip] * std::sin(2 * kPi * freq * t);
    wsum += w;
  }
  return 2 * std::hypot(re, im) / wsum;
}

// Frequency from the upward zero crossings between the first and the last one.
double zero_crossing_frequency(const std::vector<float>& x, int rate) {
  std::vector<double> ups;
  for (size_t i = 1; i < x.size(); ++i)
    if (x[i - 1] < 0 && x[i] >= 0) ups.push_back(i - 1 + x[i - 1] / (x[i - 1] - x[i]));
  if (ups.size() < 2) return 0;
  return (ups.size() - 1) * rate / (ups.back() - ups.front());
}

double rms(const std::vector<float>& x) {
  double s = 0;
  for (float v : x) s += double(v) * v;
  return x.empty() ? 0 : std::sqrt(s / x.size());
}

// Normalised correlation of a and b over their common length (1 = same shape).
double correlation(const std::vector<float>& a, const std::vector<float>& b) {
  const size_t n = std::min(a.size(), b.size());
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < n; ++i) {
    ab += double(a[i]) * b[i];
    aa += double(a[i]) * a[i];
    bb += double(b[i]) * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
  return m;
}

// The float samples of a pcm_f32le wav as written (no decoding through the code under test).
std::vector<float> raw_f32_wav(const fs::path& p) {
  const std::string bytes = gt::test::read_file(p);
  const size_t data = bytes.find("data");
  EXPECT_NE(data, std::string::npos) << p;
  std::vector<float> out((bytes.size() - data - 8) / 4);
  std::memcpy(out.data(), bytes.data() + data + 8, out.size() * 4);
  return out;
}

// The message of the gt::InputError that decode_audio(source) throws; fails the test when it throws nothing.
std::string decode_error(const std::string& source, double max_seconds = 0) {
  try {
    decode_audio(source, 16000, max_seconds);
  } catch (const gt::InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "decode_audio(" << source << ") did not throw";
  return "";
}


}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Formats: one espeak-ng sentence converted by ffmpeg into every container and sample format. Each decode must give
// 16 kHz mono of the right length with the same content as the original, exactly so for lossless formats at the
// original rate.

struct FormatCase {
  std::string name;       // output file name
  std::string ffmpeg;     // ffmpeg output options
  std::string codec;      // what AudioClip::codec must say
  int source_rate;        // rate of the converted file
  int source_channels;
  double max_diff;        // largest sample difference to the original's decode
  double min_correlation;
  double length_slack_s;  // allowed length difference (codec padding, rate rounding)
};

TEST(AudioDecode, SpeechInEveryFormatDecodesToTheSameSixteenKilohertzMono) {
  REQUIRE_PROGRAM("espeak-ng");
  REQUIRE_PROGRAM("ffmpeg");
  TempDir tmp("audio");
  const fs::path original = tmp / "speech.wav";
  make_speech(original);
  const AudioClip ref = decode_audio(original.string());
  ASSERT_EQ(ref.codec, "pcm_s16le");
  ASSERT_EQ(ref.source_rate, 22050);
  ASSERT_EQ(ref.source_channels, 1);
  ASSERT_EQ(ref.sample_rate, 16000);
  EXPECT_GT(rms(ref.samples), 0.02) << "espeak-ng wrote silence?";
  // The length follows from the file: data bytes / 2 samples at 22050 Hz, 44-byte header.
  const double original_seconds = double(fs::file_size(original) - 44) / 2 / 22050;
  EXPECT_NEAR(ref.source_seconds, original_seconds, 1e-3);
  EXPECT_NEAR(ref.samples.size(), original_seconds * 16000, 2);
  EXPECT_FALSE(ref.truncated);

  // Lossy codecs may add up to one frame of padding at the end (AAC: 1024 samples, 46 ms at 22050 Hz).
  // "pan" copies the mono channel into both with gain 1 (ffmpeg's -ac 2 would scale each by 1/sqrt(2)).
  const std::string both = "-af 'pan=stereo|c0=c0|c1=c0' ";
  const std::vector<FormatCase> cases = {
      {"u8.wav", "-c:a pcm_u8", "pcm_u8", 22050, 1, 0.02, 0.998, 0.001},
      {"s24.wav", "-c:a pcm_s24le", "pcm_s24le", 22050, 1, 1e-6, 0.999999, 0.001},
      {"s32.wav", "-c:a pcm_s32le", "pcm_s32le", 22050, 1, 1e-6, 0.999999, 0.001},
      {"f32.wav", "-c:a pcm_f32le", "pcm_f32le", 22050, 1, 1e-6, 0.999999, 0.001},
      {"speech.flac", "-c:a flac", "flac", 22050, 1, 1e-6, 0.999999, 0.001},
      {"speech.mp3", "-c:a libmp3lame -b:a 96k", "mp3", 22050, 1, 0.15, 0.995, 0.06},
      {"speech.opus.ogg", "-c:a libopus -b:a 48k", "opus", 48000, 1, 0.3, 0.97, 0.06},
      {"speech.vorbis.ogg", "-c:a libvorbis -q:a 4", "vorbis", 22050, 1, 0.2, 0.98, 0.06},
      {"speech.m4a", "-c:a aac -b:a 96k", "aac", 22050, 1, 0.15, 0.995, 0.06},
      {"stereo-44k.wav", both + "-ar 44100 -c:a pcm_s16le", "pcm_s16le", 44100, 2, 0.01, 0.9999, 0.001},
      {"stereo-48k.flac", both + "-ar 48000 -c:a flac", "flac", 48000, 2, 0.01, 0.9999, 0.001},
      {"mono-8k.wav", "-ar 8000 -c:a pcm_s16le", "pcm_s16le", 8000, 1, 0.4, 0.97, 0.001},
  };
  for (const FormatCase& c : cases) {
    SCOPED_TRACE(c.name);
    const fs::path file = tmp / c.name;
    ffmpeg("-i " + quote(original) + " " + c.ffmpeg + " " + quote(file));
    const AudioClip clip = decode_audio(file.string());
    EXPECT_EQ(clip.codec, c.codec);
    EXPECT_EQ(clip.source_rate, c.source_rate);
    EXPECT_EQ(clip.source_channels, c.source_channels);
    EXPECT_EQ(clip.sample_rate, 16000);
    EXPECT_FALSE(clip.truncated);
    EXPECT_NEAR(clip.seconds(), ref.seconds(), c.length_slack_s);
    EXPECT_NEAR(clip.source_seconds, original_seconds, c.length_slack_s);
    const double corr = correlation(clip.samples, ref.samples);
    const double diff = max_abs_diff(clip.samples, ref.samples);
    EXPECT_GE(corr, c.min_correlation) << "max diff " << diff;
    if (std::getenv("GT_AUDIO_TEST_VERBOSE"))
      std::cout << c.name << ": correlation " << corr << ", max diff " << diff << ", length "
                << clip.seconds() - ref.seconds() << " s\n";
    EXPECT_LE(diff, c.max_diff) << "correlation " << corr;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Content: mixdown is the channels' mean, resampling keeps frequency and amplitude.

TEST(AudioDecode, StereoSineAt44kKeepsFrequencyAndAmplitudeAfterMixdownAndResampling) {
  REQUIRE_PROGRAM("ffmpeg");
  TempDir tmp("audio");
  const fs::path file = tmp / "tones.wav";
  // Left 440 Hz at 0.5, right 1000 Hz at 0.25: the mean holds 440 Hz at 0.25 and 1000 Hz at 0.125.
  make_tone(file, "0.5*sin(2*PI*440*t)|0.25*sin(2*PI*1000*t)", 44100, 2.0, "pcm_f32le");
  const AudioClip clip = decode_audio(file.string());
  EXPECT_EQ(clip.source_rate, 44100);
  EXPECT_EQ(clip.source_channels, 2);
  EXPECT_NEAR(double(clip.samples.size()), 32000, 2);
  EXPECT_NEAR(clip.source_seconds, 2.0, 1e-4);
  EXPECT_NEAR(tone_amplitude(clip.samples, 16000, 440), 0.25, 0.0025);
  EXPECT_NEAR(tone_amplitude(clip.samples, 16000, 1000), 0.125, 0.00125);
  EXPECT_LT(tone_amplitude(clip.samples, 16000, 700), 0.001);
}

TEST(AudioDecode, MixdownIsTheMeanOfTheChannels) {
  REQUIRE_PROGRAM("ffmpeg");
  TempDir tmp("audio");
  // In phase, 0.6 and 0.2: the mean is 0.4 (left alone would give 0.6; FFmpeg's default downmix, 0.57).
  const fs::path stereo = tmp / "stereo.wav";
  make_tone(stereo, "0.6*sin(2*PI*300*t)|0.2*sin(2*PI*300*t)", 16000, 1.0, "pcm_f32le");
  const AudioClip two = decode_audio(stereo.string());
  EXPECT_EQ(two.source_channels, 2);
  EXPECT_NEAR(tone_amplitude(two.samples, 16000, 300), 0.4, 1e-4);

  // Opposite phases cancel.
  const fs::path opposite = tmp / "opposite.wav";
  make_tone(opposite, "0.5*sin(2*PI*300*t)|-0.5*sin(2*PI*300*t)", 16000, 1.0, "pcm_f32le");
  EXPECT_LT(rms(decode_audio(opposite.string()).samples), 1e-6);

  // Six channels at 48 kHz, 0.1 to 0.6: the mean is 0.35.
  const fs::path six = tmp / "six.wav";
  std::string exprs;
  for (int k = 1; k <= 6; ++k) exprs += (k > 1 ? "|" : "") + std::to_string(0.1 * k) + "*sin(2*PI*500*t)";
  make_tone(six, exprs, 48000, 1.0, "pcm_f32le");
  const AudioClip many = decode_audio(six.string());
  EXPECT_EQ(many.source_channels, 6);
  EXPECT_EQ(many.source_rate, 48000);
  EXPECT_NEAR(tone_amplitude(many.samples, 16000, 500), 0.35, 0.0035);
}

TEST(AudioDecode, UpsamplingFrom8kKeepsTheTone) {
  REQUIRE_PROGRAM("ffmpeg");
  TempDir tmp("audio");
  const fs::path file = tmp / "tone-8k.wav";
  make_tone(file, "0.5*sin(2*PI*1000*t)", 8000, 1.5, "pcm_s16le");
  const AudioClip clip = decode_audio(file.string());
  EXPECT_EQ(clip.source_rate, 8000);
  EXPECT_NEAR(double(clip.samples.size()), 24000, 2);
  EXPECT_NEAR(zero_crossing_frequency(clip.samples, 16000), 1000, 0.5);
  EXPECT_NEAR(tone_amplitude(clip.samples, 16000, 1000), 0.5, 0.005);
}

TEST(AudioDecode, OtherRatesAreHonoured) {
  REQUIRE_PROGRAM("ffmpeg");
  TempDir tmp("audio");
  const fs::path file = tmp / "tone.flac";
  make_tone(file, "0.5*sin(2*PI*1000*t)", 44100, 1.0, "flac");
  const AudioClip clip = decode_audio(file.string(), 24000);
  EXPECT_EQ(clip.sample_rate, 24000);
  EXPECT_NEAR(double(clip.samples.size()), 24000, 2);
  EXPECT_NEAR(zero_crossing_frequency(clip.samples, 24000), 1000, 0.5);
}

// ---------------------------------------------------------------------------------------------------------------
// Clamping and max_seconds.

TEST(AudioDecode, SamplesBeyondOneAreClamped) {
  REQUIRE_PROGRAM("ffmpeg");
  TempDir tmp("audio");
  const fs::path file = tmp / "loud.wav";
  make_tone(file, "1.5*sin(2*PI*100*t)", 16000, 1.0, "pcm_f32le");
  const std::vector<float> raw = raw_f32_wav(file);
  ASSERT_GT(*std::max_element(raw.begin(), raw.end()), 1.4f) << "the input must exceed 1 for this test to mean anything";

  const AudioClip clip = decode_audio(file.string());
  ASSERT_EQ(clip.samples.size(), raw.size());
  EXPECT_EQ(*std::max_element(clip.samples.begin(), clip.samples.end()), 1.0f);
  EXPECT_EQ(*std::min_element(clip.samples.begin(), clip.samples.end()), -1.0f);
  size_t at_bound = 0;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (std::fabs(raw[i]) >= 1) {
      ++at_bound;
      EXPECT_EQ(clip.samples[i], raw[i] > 0 ? 1.0f : -1.0f) << i;
    } else {
      EXPECT_NEAR(clip.samples[i], raw[i], 1e-6) << i;
    }
  }
  // |1.5 sin| >= 1 for 1 - 2 asin(2/3) / pi = 53.5% of the time.
  EXPECT_NEAR(double(at_bound) / raw.size(), 0.535, 0.01);
}

TEST(AudioDecode, MaxSecondsCutsLongerClipsAndSaysSo) {
  REQUIRE_PROGRAM("ffmpeg");
  TempDir tmp("audio");
  const fs::path wav = tmp / "three-seconds.wav";
  make_tone(wav, "0.5*sin(2*PI*440*t)", 22050, 3.0, "pcm_s16le");
  const AudioClip full = decode_audio(wav.string());

  const AudioClip cut = decode_audio(wav.string(), 16000, 1.0);
  EXPECT_TRUE(cut.truncated);
  EXPECT_EQ(cut.samples.size(), 16000u);
  EXPECT_NEAR(cut.source_seconds, 3.0, 1e-3);  // the container knows the full length
  EXPECT_LT(max_abs_diff(cut.samples, full.samples), 1e-6) << "the cut clip is the start of the full one";

  const AudioClip roomy = decode_audio(wav.string(), 16000, 5.0);
  EXPECT_FALSE(roomy.truncated);
  EXPECT_EQ(roomy.samples.size(), full.samples.size());
  EXPECT_NEAR(roomy.source_seconds, 3.0, 1e-3);

  const AudioClip exact = decode_audio(wav.string(), 16000, 3.0);
  EXPECT_FALSE(exact.truncated) << "a clip exactly max_seconds long is not cut";
  EXPECT_NEAR(double(exact.samples.size()), 48000, 2);

  // A compressed stream: the cut happens after decoding enough packets, and the length comes from the container.
  const fs::path mp3 = tmp / "three-seconds.mp3";
  ffmpeg("-i " + quote(wav) + " -c:a libmp3lame " + quote(mp3));
  const AudioClip cut_mp3 = decode_audio(mp3.string(), 16000, 0.5);
  EXPECT_TRUE(cut_mp3.truncated);
  EXPECT_EQ(cut_mp3.samples.size(), 8000u);
  EXPECT_NEAR(cut_mp3.source_seconds, 3.0, 0.1);
}

// ---------------------------------------------------------------------------------------------------------------
// Errors: each names the source and what is wrong.

TEST(AudioDecode, MissingFileIsReported) {
  TempDir tmp("audio");
  const std::string path = (tmp / "nowhere.wav").string();
  const std::string msg = decode_error(path);
  EXPECT_NE(msg.find(path), std::string::npos) << msg;
  EXPECT_NE(msg.find("not found"), std::string::npos) << msg;
}

TEST(AudioDecode, FolderIsReported) {
  TempDir tmp("audio");
  const std::string msg = decode_error(tmp.path().string());
  EXPECT_NE(msg.find(tmp.path().string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("is a folder"), std::string::npos) << msg;
}

TEST(AudioDecode, EmptyFileIsReported) {
  TempDir tmp("audio");
  const fs::path path = tmp / "empty.wav";
  gt::test::write_file(path, "");
  const std::string msg = decode_error(path.string());
  EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("empty (0 bytes)"), std::string::npos) << msg;
}

TEST(AudioDecode, TextFileIsNotAudio) {
  TempDir tmp("audio");
  for (const std::string name : {"notes.csv", "notes.wav", "notes"}) {
    SCOPED_TRACE(name);
    const fs::path path = tmp / name;
    gt::test::write_file(path, "audio_path,text\nclips/001.wav,hello there\n");
    const std::string msg = decode_error(path.string());
    EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
    EXPECT_NE(msg.find("not an audio file FFmpeg can read, or a damaged one"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Invalid data found"), std::string::npos) << "FFmpeg's reason is kept: " << msg;
  }
}

TEST(AudioDecode, ZeroLengthWavIsReported) {
  TempDir tmp("audio");
  const fs::path path = tmp / "zero.wav";
  gt::media::write_wav(path.string(), {}, 16000);
  ASSERT_EQ(fs::file_size(path), 44u);
  const std::string msg = decode_error(path.string());
  EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("no audio samples"), std::string::npos) << msg;
}

// A header claiming a sample rate no recording has is refused before libswresample sets up for it: from
// 1,358,970,496 Hz to 16 kHz it took 14 s and 1.7 GB (fuzz/corpus/audio_decode/finding-rate-1358970496hz.wav). The
// highest real rates still decode.
TEST(AudioDecode, AbsurdSampleRateIsRefusedAndHighRealRatesDecode) {
  TempDir tmp("audio");
  const std::vector<float> samples(48000, 0.25f);
  const fs::path absurd = tmp / "absurd.wav";
  gt::media::write_wav(absurd.string(), samples, 1358970496);
  const std::string msg = decode_error(absurd.string());
  EXPECT_NE(msg.find(absurd.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("sample rate 1358970496 Hz"), std::string::npos) << msg;

  for (const int rate : {768000, 2822400}) {
    const fs::path high = tmp / ("high" + std::to_string(rate) + ".wav");
    gt::media::write_wav(high.string(), samples, rate);
    const AudioClip clip = decode_audio(high.string());
    EXPECT_EQ(clip.source_rate, rate);
    EXPECT_NEAR(double(clip.samples.size()), 48000.0 * 16000 / rate, 2.0) << rate;
  }
}

TEST(AudioDecode, ImageHasNoAudioStream) {
  REQUIRE_PROGRAM("ffmpeg");
  TempDir tmp("audio");
  const fs::path path = tmp / "picture.png";
  ffmpeg("-f lavfi -i color=c=red:s=32x32 -frames:v 1 " + quote(path));
  const std::string msg = decode_error(path.string());
  EXPECT_NE(msg.find(path.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("has no audio stream"), std::string::npos) << msg;
}

TEST(AudioDecode, DamagedFilesFailWithFfmpegsReasonOrDecodeWhatIsThere) {
  REQUIRE_PROGRAM("ffmpeg");
  TempDir tmp("audio");
  const fs::path m4a = tmp / "tone.m4a";
  make_tone(m4a, "0.5*sin(2*PI*440*t)", 16000, 2.0, "aac");
  const std::string bytes = gt::test::read_file(m4a);

  // The index of an m4a ('moov') is written at its end; without it nothing can be decoded.
  const fs::path headless = tmp / "cut.m4a";
  gt::test::write_file(headless, bytes.substr(0, bytes.size() / 2));
  const std::string msg = decode_error(headless.string());
  EXPECT_NE(msg.find(headless.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("moov atom not found"), std::string::npos) << msg;

  // A wav cut in the middle of its data decodes what is there, as FFmpeg's own tools do.
  const fs::path wav = tmp / "tone.wav";
  make_tone(wav, "0.5*sin(2*PI*440*t)", 16000, 2.0, "pcm_s16le");
  const std::string wav_bytes = gt::test::read_file(wav);
  const size_t data_start = wav_bytes.find("data") + 8;  // ffmpeg's header is longer than 44 bytes (LIST chunk)
  const fs::path half = tmp / "half.wav";
  gt::test::write_file(half, wav_bytes.substr(0, data_start + 16000 * 2));
  const AudioClip clip = decode_audio(half.string());
  EXPECT_EQ(clip.samples.size(), 16000u);

  // Random bytes named .mp3: an error, never a crash.
  std::string noise(20000, '\0');
  uint32_t state = 12345;
  for (char& c : noise) c = char((state = state * 1664525u + 1013904223u) >> 24);
  const fs::path fake = tmp / "noise.mp3";
  gt::test::write_file(fake, noise);
  EXPECT_THROW(decode_audio(fake.string()), gt::InputError);
}

// ---------------------------------------------------------------------------------------------------------------
// URLs.

TEST(AudioDecode, HttpUrlDecodesLikeTheLocalFile) {
  REQUIRE_PROGRAM("espeak-ng");
  TempDir tmp("audio");
  const fs::path wav = tmp / "speech.wav";
  make_speech(wav);
  const AudioClip local = decode_audio(wav.string());

  TinyHttpServer server({{"/clips/speech.wav", gt::test::read_file(wav)}});
  const std::string url = server.url("/clips/speech.wav");
  const AudioClip remote = decode_audio(url);
  EXPECT_GE(server.requests(), 1);
  EXPECT_EQ(remote.codec, "pcm_s16le");
  EXPECT_EQ(remote.source_rate, 22050);
  ASSERT_EQ(remote.samples.size(), local.samples.size());
  EXPECT_EQ(max_abs_diff(remote.samples, local.samples), 0.0);

  const std::string missing = server.url("/clips/missing.wav");
  const std::string msg = decode_error(missing);
  EXPECT_NE(msg.find(missing), std::string::npos) << msg;
  EXPECT_NE(msg.find("404"), std::string::npos) << msg;
}

TEST(AudioDecode, UnreachableUrlIsReported) {
  const gt::test::OneAttemptMediaFetches one_attempt;
  const std::string url = "http://127.0.0.1:" + std::to_string(closed_port()) + "/speech.wav";
  const std::string msg = decode_error(url);
  EXPECT_NE(msg.find(url), std::string::npos) << msg;
  EXPECT_NE(msg.find("connect"), std::string::npos) << msg;  // libcurl: "Couldn't connect to server"
}

TEST(AudioDecode, SourcesResolveAgainstTheDatasetFolder) {
  using gt::media::is_url;
  using gt::media::resolve_audio_source;
  EXPECT_TRUE(is_url("http://example.com/a.wav"));
  EXPECT_TRUE(is_url("HTTPS://example.com/a.wav"));
  EXPECT_FALSE(is_url("clips/http.wav"));
  EXPECT_FALSE(is_url("gs://bucket/a.wav"));
  EXPECT_EQ(resolve_audio_source("clips/001.wav", "/data/set"), "/data/set/clips/001.wav");
  EXPECT_EQ(resolve_audio_source("/abs/001.wav", "/data/set"), "/abs/001.wav");
  EXPECT_EQ(resolve_audio_source("https://host/001.wav", "/data/set"), "https://host/001.wav");
  EXPECT_EQ(resolve_audio_source("clips/001.wav", ""), "clips/001.wav");
}

// ---------------------------------------------------------------------------------------------------------------
// write_wav.

TEST(AudioDecode, WriteWavRoundTripsThroughTheDecoder) {
  TempDir tmp("audio");
  std::vector<float> samples;
  for (int i = 0; i < 8000; ++i) samples.push_back(float(0.8 * std::sin(2 * kPi * 250 * i / 8000.0)));
  samples[10] = 1.5f;
  samples[11] = -2.0f;
  samples[12] = NAN;
  const fs::path path = tmp / "out.wav";
  gt::media::write_wav(path.string(), samples, 8000);
  EXPECT_EQ(fs::file_size(path), 44u + 2 * samples.size());
  EXPECT_FALSE(fs::exists(path.string() + ".tmp"));

  const AudioClip clip = decode_audio(path.string(), 8000);
  EXPECT_EQ(clip.codec, "pcm_s16le");
  EXPECT_EQ(clip.source_rate, 8000);
  EXPECT_EQ(clip.source_channels, 1);
  ASSERT_EQ(clip.samples.size(), samples.size());
  EXPECT_NEAR(clip.samples[10], 32767 / 32768.0, 1e-6);
  EXPECT_NEAR(clip.samples[11], -32767 / 32768.0, 1e-6);
  EXPECT_EQ(clip.samples[12], 0.0f);
  for (size_t i = 13; i < samples.size(); ++i) ASSERT_NEAR(clip.samples[i], samples[i], 2.0 / 32768) << i;
}

TEST(AudioDecode, WriteWavIntoAMissingFolderNamesThePath) {
  TempDir tmp("audio");
  const std::string path = (tmp / "no" / "such" / "folder.wav").string();
  try {
    gt::media::write_wav(path, {0.1f}, 16000);
    FAIL() << "write_wav did not throw";
  } catch (const gt::InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The bundled data/sample-audio set (tools/make_sample_audio.sh): every row names a clip that decodes to 1-6 s of
// 16 kHz mono speech, with a sentence for its text; 20 training rows, 5 validation rows, no clip in both.

TEST(AudioDecode, BundledSampleAudioSetIsComplete) {
  const fs::path folder = gt::test::source_path("data/sample-audio");
  const auto files = gt::data::find_dataset_files(folder.string());
  std::map<std::string, std::string> seen;  // clip -> split
  struct Split {
    std::string name, path;
    size_t rows;
  };
  for (const Split& split : {Split{"train", files.train, 20}, Split{"validation", files.validation, 5}}) {
    SCOPED_TRACE(split.name);
    const gt::data::CsvFile csv = gt::data::read_csv_file(split.path);
    EXPECT_EQ(csv.header, (std::vector<std::string>{"audio_path", "text"}));
    EXPECT_TRUE(csv.skipped.empty());
    EXPECT_EQ(csv.rows.size(), split.rows);
    for (const auto& row : csv.rows) {
      const std::string& clip_path = row.fields.at("audio_path");
      SCOPED_TRACE(clip_path);
      EXPECT_TRUE(seen.emplace(clip_path, split.name).second) << "listed twice";
      EXPECT_GT(row.fields.at("text").size(), 10u);
      const AudioClip clip = decode_audio(gt::media::resolve_audio_source(clip_path, folder.string()));
      EXPECT_EQ(clip.codec, "pcm_s16le");
      EXPECT_EQ(clip.source_rate, 16000);
      EXPECT_EQ(clip.source_channels, 1);
      EXPECT_GE(clip.seconds(), 1.0);
      EXPECT_LE(clip.seconds(), 6.0);
      EXPECT_GT(rms(clip.samples), 0.02) << "silent clip";
    }
  }
}
