// Exactness of gt::tok::Tokenizer on the real Gemma tokenizer against an independent implementation, string by
// string, over tests/fixtures/tokenizer/corpus.jsonl (made by tools/make-tokenizer-corpus.py).
//
// The reference is tools/npm/reference-ids.js: @lenml/tokenizers (a port of transformers.js) with the same
// tokenizer.json, run with node from the source folder (`make deps` installs both). On a mismatch the test
// prints the string and both id lists with their token pieces, like llama.cpp's test-tokenizer-0.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/strings.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

using gt::tok::Tokenizer;
using Ids = std::vector<int32_t>;

namespace {

std::vector<std::string> read_corpus() {
  std::ifstream f(gt::test::fixture("tokenizer/corpus.jsonl"));
  std::vector<std::string> texts;
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
  return texts;
}

// "[9259 'Hello', 1902 '▁world']"
std::string describe(const Tokenizer& tk, const Ids& ids) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) os << ", ";
    os << ids[i] << " ";
    if (ids[i] >= 0 && size_t(ids[i]) < tk.vocab_size())
      os << gt::quote(tk.token(ids[i]), 120);
    else
      os << "(no such id)";
  }
  os << "]";
  return os.str();
}

}  // namespace

TEST(TokenizerCorpus, CorpusIsLargeAndVaried) {
  const std::vector<std::string> texts = read_corpus();
  EXPECT_GE(texts.size(), 2500u);
}

TEST(TokenizerCorpus, IdsMatchReferenceImplementation) {
  const std::string src = gt::test::source_path("").string();
  ASSERT_EQ(std::system("node --version > /dev/null 2>&1"), 0)
      << "node is needed for the reference tokenizer; run `make deps` (it installs node and tools/npm)";
  const std::vector<std::string> texts = read_corpus();
  gt::test::TempDir dir("tokenizer-corpus");
  const std::string ref_path = (dir / "ref.jsonl").string();
  const std::string cmd = "cd '" + src + "' && node tools/npm/reference-ids.js tests/fixtures/tokenizer/corpus.jsonl '" +
                          ref_path + "' > '" + (dir / "node.log").string() + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "the reference failed:\n" << gt::test::read_file(dir / "node.log")
                                         << "\nhint: run `make deps` to install tools/npm/node_modules";

  std::ifstream ref(ref_path);
  std::vector<Ids> expected;
  std::string line;
  while (std::getline(ref, line))
    if (!line.empty()) expected.push_back(nlohmann::json::parse(line).get<Ids>());
  ASSERT_EQ(expected.size(), texts.size()) << "the reference wrote a different number of lines";

  const Tokenizer tk = Tokenizer::from_file(gt::test::real_tokenizer_json().string());
  size_t mismatches = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const Ids actual = tk.encode(texts[i]);
    if (actual == expected[i]) continue;
    if (++mismatches <= 20)
      ADD_FAILURE() << "corpus line " << (i + 1) << ": " << gt::quote(texts[i], 300) << "\n  expected "
                    << describe(tk, expected[i]) << "\n  actual   " << describe(tk, actual);
  }
  EXPECT_EQ(mismatches, 0u) << "of " << texts.size() << " strings";
  std::cout << "[ corpus   ] " << (texts.size() - mismatches) << " of " << texts.size()
            << " strings match the reference\n";
}

// decode(encode(s)) == s for every corpus string without "▁". Gemma's normalizer turns " " into "▁" and the
// decoder turns "▁" back into " ", so a literal "▁" in the input comes back as a space: for those strings the
// round trip gives s with every "▁" replaced by " ".
TEST(TokenizerCorpus, DecodeOfEncodeRoundTrips) {
  const Tokenizer tk = Tokenizer::from_file(gt::test::real_tokenizer_json().string());
  const std::string metaspace = "\xE2\x96\x81";
  size_t plain = 0, with_metaspace = 0;
  for (const std::string& text : read_corpus()) {
    std::string want = text;
    const bool has_metaspace = text.find(metaspace) != std::string::npos;
    for (size_t at = want.find(metaspace); at != std::string::npos; at = want.find(metaspace, at + 1))
      want.replace(at, metaspace.size(), " ");
    EXPECT_EQ(tk.decode(tk.encode(text)), want) << gt::quote(text, 300);
    ++(has_metaspace ? with_metaspace : plain);
  }
  EXPECT_GT(plain, 2000u);
  EXPECT_GT(with_metaspace, 10u);
}
