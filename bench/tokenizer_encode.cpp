// Benchmark: gt::tok::Tokenizer load time and single-thread encode throughput on English-like and multilingual
// text (a few MB each). Prints one JSON line, then one line for people.
//
//   bench_tokenizer_encode [TOKENIZER_JSON [CORPUS_JSONL]]
//     TOKENIZER_JSON  default .cache/gemma3-tokenizer/tokenizer.json (run from the repository root)
//     CORPUS_JSONL    default tests/fixtures/tokenizer/corpus.jsonl: its strings, repeated, are the multilingual
//                     text (every script, emoji, code, whitespace runs, long words); when it is missing, the
//                     multilingual text is built from a few built-in sentences instead
//
// The English-like text is generated (fixed seed) from common English words with punctuation, in paragraphs of
// 3-8 sentences separated by blank lines, like prose in a training set. Each text is encoded two ways:
//   document  the whole text in one encode() call (a long document; the per-call word cache warms up)
//   lines     one call per line (~100-1000 bytes each, like short training rows; every call starts cold)
// Each figure is the median of kReps runs.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"           // defines: gt::InputError
#include "tokenizer/tokenizer.h"  // defines: gt::tok::Tokenizer

namespace {

constexpr int kReps = 7;
constexpr size_t kTextBytes = 4 << 20;  // size of each text

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// A small deterministic generator (no dependence on the standard library's distributions).
struct Lcg {
  uint64_t s;
  uint32_t next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return uint32_t(s >> 33);
  }
  size_t below(size_t n) { return next() % n; }
};

std::string english_text(size_t bytes) {
  static const char* kWords[] = {
      "the", "of", "and", "to", "in", "is", "was", "that", "for", "it", "with", "as", "his", "on", "be", "at", "by",
      "had", "are", "but", "from", "or", "have", "an", "they", "which", "one", "you", "were", "her", "all", "she",
      "there", "would", "their", "we", "him", "been", "has", "when", "who", "will", "more", "no", "if", "out", "so",
      "said", "what", "up", "its", "about", "into", "than", "them", "can", "only", "other", "new", "some", "could",
      "time", "these", "two", "may", "then", "do", "first", "any", "my", "now", "such", "like", "our", "over", "man",
      "me", "even", "most", "made", "after", "also", "did", "many", "before", "must", "through", "back", "years",
      "where", "much", "your", "way", "well", "down", "should", "because", "each", "just", "those", "people", "how",
      "too", "little", "state", "good", "very", "make", "world", "still", "own", "see", "men", "work", "long", "get",
      "here", "between", "both", "life", "being", "under", "never", "day", "same", "another", "know", "while",
      "last", "might", "us", "great", "old", "year", "off", "come", "since", "against", "go", "came", "right",
      "used", "take", "three", "government", "question", "development", "information", "understanding",
      "experience", "community", "important", "different", "following", "children", "political", "university",
      "international", "particularly", "environment", "relationship", "significant", "approximately", "however",
      "therefore", "tokenizer", "training", "language", "model", "results", "system", "process", "research"};
  const size_t n_words = sizeof(kWords) / sizeof(kWords[0]);
  Lcg rng{42};
  std::string out;
  out.reserve(bytes + 1024);
  while (out.size() < bytes) {
    const size_t sentences = 3 + rng.below(6);
    for (size_t s = 0; s < sentences; ++s) {
      const size_t words = 6 + rng.below(20);
      for (size_t w = 0; w < words; ++w) {
        std::string word = kWords[rng.below(n_words)];
        if (w == 0) word[0] = char(word[0] - 'a' + 'A');
        if (rng.below(40) == 0) word = std::to_string(rng.below(2025));
        out += word;
        if (w + 1 < words) out += rng.below(12) == 0 ? ", " : " ";
      }
      static const char* kEnds[] = {".", ".", ".", ".", "?", "!"};
      out += kEnds[rng.below(6)];
      if (s + 1 < sentences) out += ' ';
    }
    out += "\n\n";
  }
  return out;
}

std::string multilingual_text(const std::string& corpus_path, size_t bytes) {
  std::vector<std::string> pieces;
  std::ifstream f(corpus_path);
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) pieces.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
  if (pieces.empty()) {
    std::cerr << "note: " << corpus_path << " not found; using built-in multilingual sentences\n";
    pieces = {"The quick brown fox jumps over the lazy dog.", "Съешь же ещё этих мягких французских булок.",
              "你好，世界！今天天气很好。", "こんにちは世界！お元気ですか？", "مرحبا بالعالم! كيف حالك؟",
              "नमस्ते दुनिया! आप कैसे हैं?", "안녕하세요 세계! 잘 지내세요?", "Γειά σου κόσμε!", "😀👍🏽🇺🇸 👨‍👩‍👧‍👦",
              "def f(x):\n    return x * 2\n", "สวัสดีชาวโลก! คุณสบายดีไหม?"};
  }
  std::string out;
  out.reserve(bytes + 65536);
  for (size_t i = 0; out.size() < bytes; i = (i + 1) % pieces.size()) {
    out += pieces[i];
    out += '\n';
  }
  return out;
}

struct Result {
  size_t bytes = 0;
  size_t tokens = 0;
  double seconds = 0;  // median
};

// Encodes `text` in one call, or line by line when `by_line`.
Result run(const gt::tok::Tokenizer& tk, const std::string& text, bool by_line) {
  std::vector<std::string_view> lines;
  if (by_line) {
    for (size_t begin = 0; begin < text.size();) {
      size_t end = text.find('\n', begin);
      end = end == std::string::npos ? text.size() : end + 1;
      lines.push_back(std::string_view(text).substr(begin, end - begin));
      begin = end;
    }
  } else {
    lines.push_back(text);
  }
  Result r;
  r.bytes = text.size();
  std::vector<double> times;
  for (int i = 0; i < kReps; ++i) {
    size_t tokens = 0;
    const auto t0 = Clock::now();
    for (std::string_view line : lines) tokens += tk.encode(line).size();
    times.push_back(seconds_since(t0));
    r.tokens = tokens;
  }
  std::sort(times.begin(), times.end());
  r.seconds = times[times.size() / 2];
  return r;
}

nlohmann::json to_json(const Result& r) {
  return {{"bytes", r.bytes},
          {"tokens", r.tokens},
          {"seconds", r.seconds},
          {"tokens_per_s", double(r.tokens) / r.seconds},
          {"mb_per_s", double(r.bytes) / 1e6 / r.seconds},
          {"bytes_per_token", double(r.bytes) / double(r.tokens)}};
}

}  // namespace

int main(int argc, char** argv) {
  const std::string tokenizer_path = argc > 1 ? argv[1] : ".cache/gemma3-tokenizer/tokenizer.json";
  const std::string corpus_path = argc > 2 ? argv[2] : "tests/fixtures/tokenizer/corpus.jsonl";
  try {
    const auto t0 = Clock::now();
    const gt::tok::Tokenizer tk = gt::tok::Tokenizer::from_file(tokenizer_path);
    const double load_s = seconds_since(t0);

    const std::string english = english_text(kTextBytes);
    const std::string multi = multilingual_text(corpus_path, kTextBytes);
    const Result english_doc = run(tk, english, false), english_lines = run(tk, english, true);
    const Result multi_doc = run(tk, multi, false), multi_lines = run(tk, multi, true);

    const nlohmann::json j = {
        {"bench", "tokenizer_encode"},
        {"tokenizer", tokenizer_path},
        {"vocab_size", tk.vocab_size()},
        {"load_s", load_s},
        {"reps", kReps},
        {"english", {{"document", to_json(english_doc)}, {"lines", to_json(english_lines)}}},
        {"multilingual", {{"document", to_json(multi_doc)}, {"lines", to_json(multi_lines)}}}};
    std::cout << j.dump() << "\n";
    auto human = [](const Result& r) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "%.2f M tokens/s (%.1f MB/s)", r.tokens / r.seconds / 1e6,
                    r.bytes / 1e6 / r.seconds);
      return std::string(buf);
    };
    std::printf("tokenizer: load %.2f s; encode on one thread, median of %d runs of %.1f MB each:\n"
                "  English       document %s, lines %s\n  multilingual  document %s, lines %s\n",
                load_s, kReps, english.size() / 1e6, human(english_doc).c_str(), human(english_lines).c_str(),
                human(multi_doc).c_str(), human(multi_lines).c_str());
  } catch (const gt::InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
