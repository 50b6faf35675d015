#include "data/example.h"

#include <nlohmann/json.hpp>

#include <fstream>

#include "core/error.h"
#include "core/strings.h"
#include "data/utf8_text.h"

namespace gt::data {

int64_t Example::supervised_tokens() const {
  int64_t n = 0;
  for (size_t i = 1; i < labels.size(); ++i) n += labels[i] != kIgnoreIndex;
  return n;
}

void append_skipped_rows(const std::string& path, std::span<const SkippedRow> rows) {
  if (rows.empty()) return;
  std::ofstream out(path, std::ios::binary | std::ios::app);
  if (!out) fail_input("cannot open ", path, " to record skipped rows");
  for (const SkippedRow& r : rows) {
    nlohmann::json line = {{"file", utf8_sanitize(redact_url_secrets(r.file))},
                           {"row", r.row},
                           {"kind", r.kind},
                           {"reason", utf8_sanitize(redact_url_secrets(r.reason))}};
    out << line.dump() << '\n';
  }
  out.flush();
  if (!out) fail_input("cannot write skipped rows to ", path);
}

}  // namespace gt::data
