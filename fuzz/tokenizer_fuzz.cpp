// tokenizer.json (tokenizer/tokenizer.h): Tokenizer::from_file on arbitrary bytes. A tokenizer that loads must
// encode and decode: a fixed text with spaces, an added token, multi-byte and invalid UTF-8, then every id it gave.
#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = gt::fuzz::input_file("tokenizer.json", gt::fuzz::as_text(data, size));
  gt::fuzz::expect_input_errors([&] {
    const gt::tok::Tokenizer tok = gt::tok::Tokenizer::from_file(path);
    const std::vector<int32_t> ids = tok.encode("Hello  world <bos>\n\xc3\xa9\xe2\x96\x81 \xff\xfe end");
    for (int32_t id : ids)
      if (id < 0 || size_t(id) >= tok.vocab_size()) gt::fuzz::finding("encode gave an id outside the vocabulary");
    (void)tok.decode(ids);
    (void)tok.decode(ids, /*skip_special=*/true);
    for (int32_t id = 0; id < int32_t(std::min<size_t>(tok.vocab_size(), 64)); ++id) {
      (void)tok.token(id);
      (void)tok.is_special(id);
    }
  });
  return 0;
}
