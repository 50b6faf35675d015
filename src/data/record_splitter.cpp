#include "data/record_splitter.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/strings.h"

namespace gt::data {

namespace {

constexpr size_t npos = std::string::npos;
constexpr std::string_view kBom = "\xEF\xBB\xBF";

size_t saturating_add(size_t a, size_t b) { return a > std::numeric_limits<size_t>::max() - b ? std::numeric_limits<size_t>::max() : a + b; }

// jsonl_reader's blank line: nothing but spaces, tabs, CR, FF, VT.
bool is_blank(std::string_view s) { return s.find_first_not_of(" \t\r\f\v") == std::string_view::npos; }

// The text of a line ending at `end` (an LF's position or the stream end): without a CR just before it.
size_t without_cr(std::string_view r, size_t end) { return end > 0 && r[end - 1] == '\r' ? end - 1 : end; }

}  // namespace

RecordSplitter::RecordSplitter(RecordFormat format, uint64_t start_offset, int64_t start_line, size_t max_record_bytes)
    : format_(format),
      max_(max_record_bytes),
      window_(saturating_add(max_record_bytes, 2)),
      keep_cap_(saturating_add(max_record_bytes, 22)),
      bom_pending_(start_offset == 0),
      offset_(start_offset),
      line_(start_line) {
  reset_record();
}

void RecordSplitter::reset_record() {
  scan_ = 0;
  first_lf_ = npos;
  csv_ = CsvState::FieldStart;
  cur_line_ = line_;
  quote_line_ = line_;
  after_quote_ = 0;
  error_ = false;
  error_too_long_ = false;
  error_message_.clear();
  snippet_at_ = npos;
  skipping_ = false;
  dropped_ = 0;
  skip_blank_ = false;
}

void RecordSplitter::feed(std::string_view bytes, std::vector<SplitRecord>& out) {
  GT_CHECK(!finished_, "RecordSplitter::feed after finish");
  if (bytes.empty()) return;
  if (buf_.empty()) {  // split the caller's bytes in place; only an unfinished tail is copied
    keep_leftover(bytes.substr(process(bytes, false, out)));
    return;
  }
  buf_.append(bytes);
  buf_.erase(0, process(buf_, false, out));
  if (skipping_ && buf_.size() > keep_cap_) {
    dropped_ += buf_.size() - keep_cap_;
    buf_.resize(keep_cap_);
    scan_ = keep_cap_;
  }
}

void RecordSplitter::keep_leftover(std::string_view rest) {
  if (skipping_ && rest.size() > keep_cap_) {  // the rest of an over-long first line: keep its start only
    dropped_ += rest.size() - keep_cap_;
    rest = rest.substr(0, keep_cap_);
    scan_ = keep_cap_;
  }
  buf_.assign(rest);
}

void RecordSplitter::finish(std::vector<SplitRecord>& out) {
  GT_CHECK(!finished_, "RecordSplitter::finish called twice");
  finished_ = true;
  const size_t used = process(buf_, true, out);
  GT_CHECK(used == buf_.size(), "the end of the stream left ", buf_.size() - used, " bytes unsplit");
  buf_.clear();
  buf_.shrink_to_fit();
}

void RecordSplitter::set_error(std::string message, size_t snippet_at, bool too_long) {
  error_ = true;
  error_message_ = std::move(message);
  snippet_at_ = snippet_at;
  error_too_long_ = too_long;
  skipping_ = first_lf_ == npos;
}

bool RecordSplitter::error_ready(std::string_view r, bool eof) const {
  if (eof) return true;
  if (skipping_) return false;  // the first line has not ended yet
  // csv_reader quotes the 20 bytes after a closing quote (across line ends): wait for them.
  return snippet_at_ == npos || r.size() >= snippet_at_ + 20;
}

size_t RecordSplitter::emit_error(std::string_view r, std::vector<SplitRecord>& out) {
  const bool has_lf = first_lf_ != npos;
  const size_t consumed = has_lf ? first_lf_ + 1 : r.size();
  SplitRecord rec;
  rec.offset = offset_;
  rec.end = offset_ + dropped_ + consumed;
  rec.line = line_;
  rec.end_line = has_lf ? line_ + 1 : line_;
  // The first line, cut at max_record_bytes. With bytes dropped, r starts with keep_cap_ > max_ bytes of it.
  const size_t text_len = dropped_ > 0 ? max_ : std::min(without_cr(r, has_lf ? first_lf_ : r.size()), max_);
  const bool blank = format_ == RecordFormat::Jsonl && skip_blank_;  // an over-long line of spaces: not a record
  if (!blank) {
    rec.text.assign(r.substr(0, text_len));
    rec.error = error_message_;
    if (snippet_at_ != npos)
      rec.error += cat(quote(r.substr(snippet_at_, 20)), "); a quote inside a quoted field must be doubled (\"\")");
    rec.too_long = error_too_long_;
  }
  offset_ = rec.end;
  line_ = rec.end_line;
  if (!blank) out.push_back(std::move(rec));
  reset_record();
  return consumed;
}

void RecordSplitter::emit_record(std::string_view r, size_t text_len, size_t consumed, int64_t end_line,
                                 std::vector<SplitRecord>& out) {
  SplitRecord rec;
  rec.offset = offset_;
  rec.end = offset_ + consumed;
  rec.line = line_;
  rec.end_line = end_line;
  rec.text.assign(r.substr(0, text_len));
  out.push_back(std::move(rec));
}

size_t RecordSplitter::scan_csv(std::string_view r, size_t limit) {
  // One byte at a time through csv_reader's states; the position of the record's terminating LF, or npos.
  for (size_t i = scan_; i < limit; ++i) {
    const char c = r[i];
    switch (csv_) {
      case CsvState::FieldStart:
        if (c == '"') {
          csv_ = CsvState::Quoted;
          quote_line_ = cur_line_;
          break;
        }
        [[fallthrough]];
      case CsvState::Unquoted:  // a quote here is an ordinary character
        if (c == '\n') {
          scan_ = i;
          if (first_lf_ == npos) first_lf_ = i;
          return i;
        }
        csv_ = c == ',' ? CsvState::FieldStart : CsvState::Unquoted;
        break;
      case CsvState::Quoted:
        if (c == '"') {
          csv_ = CsvState::AfterQuote;
          after_quote_ = i + 1;
        } else if (c == '\n') {
          ++cur_line_;
          if (first_lf_ == npos) first_lf_ = i;
        }
        break;
      case CsvState::AfterQuote:  // "" is one quote; otherwise the field has ended
        if (c == '"') {
          csv_ = CsvState::Quoted;
        } else if (c == ',') {
          csv_ = CsvState::FieldStart;
        } else if (c == '\r') {
          csv_ = CsvState::AfterQuoteCr;
        } else if (c != '\n') {
          scan_ = i + 1;
          set_error(cat("text after the closing quote on line ", cur_line_, " ("), after_quote_, false);
          return npos;
        } else {
          scan_ = i;
          if (first_lf_ == npos) first_lf_ = i;
          return i;
        }
        break;
      case CsvState::AfterQuoteCr:  // CRLF ends the record; a CR followed by anything else is text after the quote
        if (c != '\n') {
          scan_ = i + 1;
          set_error(cat("text after the closing quote on line ", cur_line_, " ("), after_quote_, false);
          return npos;
        }
        scan_ = i;
        if (first_lf_ == npos) first_lf_ = i;
        return i;
    }
  }
  scan_ = limit;
  return npos;
}

size_t RecordSplitter::process(std::string_view v, bool eof, std::vector<SplitRecord>& out) {
  size_t head = 0;
  if (bom_pending_) {
    if (v.size() < kBom.size() && !eof && kBom.substr(0, v.size()) == v) return 0;  // could still be a BOM
    bom_pending_ = false;
    if (v.substr(0, kBom.size()) == kBom) {
      head = kBom.size();
      offset_ += kBom.size();
    }
  }
  for (;;) {
    const std::string_view r = v.substr(head);  // the current record's bytes (after any dropped ones)
    if (error_) {
      if (skipping_) {  // look for the end of the malformed record's first line
        const size_t lf = r.find('\n', scan_);
        const size_t stop = lf == npos ? r.size() : lf;
        if (skip_blank_) skip_blank_ = is_blank(r.substr(scan_, stop - scan_));
        scan_ = stop;
        if (lf != npos) {
          first_lf_ = lf;
          skipping_ = false;
        }
      }
      if (!error_ready(r, eof)) break;
      head += emit_error(r, out);
      continue;
    }
    if (r.empty()) break;

    const size_t limit = std::min(r.size(), window_);
    size_t lf = npos;
    if (format_ == RecordFormat::Csv) {
      lf = scan_csv(r, limit);
      if (error_) continue;
    } else {
      const void* p = std::memchr(r.data() + scan_, '\n', limit - scan_);
      if (p != nullptr) {
        lf = static_cast<const char*>(p) - r.data();
        first_lf_ = lf;
      }
      scan_ = lf == npos ? limit : lf;
    }

    size_t text_end = npos, consumed = 0;
    int64_t end_line = 0;
    if (lf != npos) {
      text_end = lf;
      consumed = lf + 1;
      end_line = (format_ == RecordFormat::Csv ? cur_line_ : line_) + 1;
    } else if (scan_ >= window_) {  // max_record_bytes + 2 bytes without an end: the text is too long
      if (format_ == RecordFormat::Jsonl) {
        skip_blank_ = is_blank(r.substr(0, scan_));
        set_error(cat("line ", line_, " is longer than max_record_bytes (", max_, " bytes)"), npos, true);
      } else {
        set_error(cat("the record starting on line ", line_, " is longer than max_record_bytes (", max_, " bytes)",
                      csv_ == CsvState::Quoted ? cat("; the quoted field opened on line ", quote_line_,
                                                     " may never be closed")
                                               : std::string()),
                  npos, true);
      }
      continue;
    } else if (!eof) {
      break;  // wait for more bytes
    } else if (format_ == RecordFormat::Csv && csv_ == CsvState::Quoted) {
      set_error(cat("quoted field opened on line ", quote_line_, " is never closed"), npos, false);
      continue;
    } else {  // the stream ends the record
      text_end = r.size();
      consumed = r.size();
      end_line = format_ == RecordFormat::Csv ? cur_line_ : line_;
    }

    const size_t text_len = without_cr(r, text_end);
    const bool blank = format_ == RecordFormat::Csv ? text_len == 0 : is_blank(r.substr(0, text_len));
    if (!blank && text_len > max_) {
      set_error(format_ == RecordFormat::Jsonl
                    ? cat("line ", line_, " is longer than max_record_bytes (", max_, " bytes)")
                    : cat("the record starting on line ", line_, " is longer than max_record_bytes (", max_, " bytes)"),
                npos, true);
      continue;
    }
    if (!blank) emit_record(r, text_len, consumed, end_line, out);
    offset_ += consumed;
    line_ = end_line;
    reset_record();
    head += consumed;
  }
  return head;
}

void split_text(RecordFormat format, std::string_view text, const std::function<void(const SplitRecord&)>& each) {
  RecordSplitter splitter(format, 0, 1, RecordSplitter::kNoLimit);
  std::vector<SplitRecord> records;
  auto take = [&] {
    for (const SplitRecord& r : records) each(r);
    records.clear();
  };
  constexpr size_t kSlice = size_t(1) << 20;
  for (size_t pos = 0; pos < text.size(); pos += kSlice) {
    splitter.feed(text.substr(pos, kSlice), records);
    take();
  }
  splitter.finish(records);
  take();
}

}  // namespace gt::data
