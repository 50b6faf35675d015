// JSON Lines files (data/jsonl_reader.h): parse_jsonl on arbitrary text. Every line is a kept object or a skipped
// row; nothing is thrown, since a bad line never stops the file.
#include "data/jsonl_reader.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gt::fuzz::expect_input_errors([&] {
    const gt::data::JsonlFile f = gt::data::parse_jsonl(gt::fuzz::as_text(data, size), "fuzz.jsonl");
    int64_t last_row = 0;
    for (const auto& r : f.rows) {
      if (!r.value.is_object()) gt::fuzz::finding("a kept line is not a JSON object");
      if (r.row <= last_row) gt::fuzz::finding("line numbers are not increasing");
      last_row = r.row;
      (void)r.value.dump();
    }
  });
  return 0;
}
