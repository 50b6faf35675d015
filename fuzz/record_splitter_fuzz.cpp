// Cutting a stream into records (data/record_splitter.h), whose header promises that the records depend on the
// bytes only, never on how they were cut into chunks. Checked differentially: the first input byte picks the format,
// a chunk size and a record length limit; the rest is fed (a) whole and (b) in chunks of that size, once without a
// limit (against split_text, which the whole-file readers use) and once with the limit. Any difference is a finding.
#include <algorithm>
#include <vector>

#include "data/record_splitter.h"
#include "fuzz_util.h"

namespace {

using gt::data::RecordFormat;
using gt::data::RecordSplitter;
using gt::data::SplitRecord;

std::vector<SplitRecord> split_chunked(RecordFormat format, std::string_view text, size_t chunk, size_t limit) {
  RecordSplitter s(format, 0, 1, limit);
  std::vector<SplitRecord> out;
  for (size_t at = 0; at < text.size(); at += chunk) s.feed(text.substr(at, chunk), out);
  s.finish(out);
  if (s.offset() != text.size() && !out.empty() && out.back().end > text.size())
    gt::fuzz::finding("a record ends past the stream");
  return out;
}

bool same(const SplitRecord& a, const SplitRecord& b) {
  return a.offset == b.offset && a.end == b.end && a.line == b.line && a.text == b.text && a.error == b.error &&
         a.end_line == b.end_line && a.too_long == b.too_long;
}

void expect_same(const std::vector<SplitRecord>& a, const std::vector<SplitRecord>& b, const char* what) {
  if (a.size() != b.size()) {
    std::fprintf(stderr, "%s: %zu records against %zu\n", what, a.size(), b.size());
    gt::fuzz::finding(what);
  }
  for (size_t i = 0; i < a.size(); ++i)
    if (!same(a[i], b[i])) {
      std::fprintf(stderr, "%s: record %zu differs: offset %llu/%llu end %llu/%llu line %lld/%lld error '%s'/'%s'\n",
                   what, i, (unsigned long long)a[i].offset, (unsigned long long)b[i].offset,
                   (unsigned long long)a[i].end, (unsigned long long)b[i].end, (long long)a[i].line,
                   (long long)b[i].line, a[i].error.c_str(), b[i].error.c_str());
      gt::fuzz::finding(what);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t knob = data[0];
  const std::string_view text = gt::fuzz::as_text(data + 1, size - 1);
  const RecordFormat format = (knob & 1) ? RecordFormat::Csv : RecordFormat::Jsonl;
  const size_t chunk = 1 + ((knob >> 1) & 7);   // 1..8 bytes
  const size_t limit = 1 + ((knob >> 4) & 15);  // 1..16 bytes
  gt::fuzz::expect_input_errors([&] {
    std::vector<SplitRecord> whole;
    gt::data::split_text(format, text, [&](const SplitRecord& r) { whole.push_back(r); });
    expect_same(whole, split_chunked(format, text, chunk, RecordSplitter::kNoLimit),
                "chunked splitting without a limit differs from split_text");
    expect_same(split_chunked(format, text, std::max<size_t>(text.size(), 1), limit),
                split_chunked(format, text, chunk, limit), "chunked splitting with a limit differs from one feed");
  });
  return 0;
}
