// Encoding arbitrary text (tokenizer/tokenizer.h) with a small real tokenizer (tests/fixtures/data/gemma4-tiny: BPE
// with byte fallback, 256 byte tokens, Gemma's added tokens). Every id must be inside the vocabulary, and decoding
// must give the text back: byte fallback covers any bytes, invalid UTF-8 excepted (the decoder writes U+FFFD for
// those), and "▁" excepted (the decoder turns it into a space, as Gemma's does).
#include <string>

#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace {

const gt::tok::Tokenizer& tokenizer() {
  static const gt::tok::Tokenizer tok =
      gt::tok::Tokenizer::from_file(GT_FUZZ_SOURCE_DIR "/tests/fixtures/data/gemma4-tiny/tokenizer.json");
  return tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = gt::fuzz::as_text(data, size);
  const gt::tok::Tokenizer& tok = tokenizer();
  gt::fuzz::expect_input_errors([&] {
    const std::vector<int32_t> ids = tok.encode(text);
    for (int32_t id : ids)
      if (id < 0 || size_t(id) >= tok.vocab_size()) gt::fuzz::finding("encode gave an id outside the vocabulary");
    const std::string back = tok.decode(ids);
    if (gt::tok::utf8_valid(text) && text.find("\xe2\x96\x81") == std::string_view::npos && back != text) {
      std::fprintf(stderr, "text %zu bytes, decoded %zu bytes\n", text.size(), back.size());
      gt::fuzz::finding("decode(encode(text)) differs from the text");
    }
  });
  return 0;
}
