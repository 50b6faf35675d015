// Helpers shared by the data tests: the tokenizers they use, and ids/labels written out piece by piece.
// Torch-free.
//
// Two tokenizers:
//   real_gemma3n_tokenizer()  the real 262k Gemma tokenizer (.cache/gemma3-tokenizer, Gemma 3 layout: it has
//                             <start_of_turn>/<end_of_turn>), loaded once per test binary;
//   tiny_gemma4_tokenizer()   tests/fixtures/data/gemma4-tiny: a hand-designed Gemma-4-layout tokenizer
//                             (<|turn>/<turn|>, "\n" as an added token like the real ones, 311 ids) whose ids
//                             can be worked out on paper (see that folder's README.md).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/example.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace gt::test {

inline const tok::Tokenizer& real_gemma3n_tokenizer() {
  static const tok::Tokenizer t = tok::Tokenizer::from_file(real_tokenizer_json().string());
  return t;
}

inline std::string tiny_gemma4_tokenizer_path() { return fixture("data/gemma4-tiny/tokenizer.json").string(); }

inline const tok::Tokenizer& tiny_gemma4_tokenizer() {
  static const tok::Tokenizer t = tok::Tokenizer::from_file(tiny_gemma4_tokenizer_path());
  return t;
}

// Expected ids and labels, appended piece by piece: `trained` pieces get labels equal to their ids.
struct ExpectedTokens {
  std::vector<int32_t> ids, labels;
  ExpectedTokens& add(const std::vector<int32_t>& piece, bool trained) {
    for (int32_t id : piece) {
      ids.push_back(id);
      labels.push_back(trained ? id : data::kIgnoreIndex);
    }
    return *this;
  }
  ExpectedTokens& add(int32_t id, bool trained) { return add(std::vector<int32_t>{id}, trained); }
};

// Runs `f` and checks that it throws gt::InputError whose message contains every one of `parts`.
template <typename F>
void expect_input_error_with(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected gt::InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

}  // namespace gt::test
