// CSV files (data/csv_reader.h): parse_csv on arbitrary text. Malformed rows must come back as skipped rows, never
// as exceptions other than gt::InputError (for the header); a row that is kept has one field per header column.
#include "data/csv_reader.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  gt::fuzz::expect_input_errors([&] {
    const gt::data::CsvFile f = gt::data::parse_csv(gt::fuzz::as_text(data, size), "fuzz.csv");
    int64_t last_row = 0;
    for (const auto& r : f.rows) {
      if (r.fields.size() != f.header.size()) gt::fuzz::finding("a kept row does not have one field per column");
      if (r.row <= last_row || r.line < 1) gt::fuzz::finding("row numbers are not increasing from 1");
      last_row = r.row;
    }
  });
  return 0;
}
