// Cuts a JSONL or CSV byte stream into records as its chunks arrive (streamed dataset shards, issue #10), without
// holding the whole file. Torch-free.
//
// The rules are those of the whole-file readers, which are built on this class (parse_jsonl, parse_csv), so a file
// split here in chunks of any size gives the records, line numbers and skipped rows that reading it whole gives:
//   - a record ends at LF or CRLF (the last one may lack it; a CR that ends the stream is dropped like a CRLF's);
//     its text excludes that line break. A CR elsewhere is an ordinary byte.
//   - blank lines are not records but count as lines. JSONL: a line of only spaces, tabs, CR, FF, VT is blank.
//     CSV: only an empty line is blank (csv_reader reads "  " as a record of one field, as Python's csv does).
//   - JSONL: one line = one record.
//   - CSV: a line break inside a double-quoted field does not end the record; quoting follows RFC 4180 as
//     csv_reader.h describes (a quote inside an unquoted field is a character; "" inside quotes is one quote).
//   - a UTF-8 byte order mark is skipped when it opens the stream (start_offset 0 only).
// Malformed records come back with SplitRecord::error set, text = the record's first line (at most
// max_record_bytes of it), end = just past that first line; splitting goes on from the next line, as csv_reader
// recovers, so one stray quote costs one record:
//   - CSV: a quoted field never closed before the stream ends ("quoted field opened on line N is never closed");
//   - CSV: text between a closing quote and the next comma or line end ("text after the closing quote on line N");
//   - any record whose text is longer than max_record_bytes (too_long set). For CSV this is usually a quote that is
//     never closed, seen before the stream ends. The whole-file readers pass kNoLimit.
// The outcome depends on the bytes only, never on how they were cut into chunks (for each record the decision is
// taken within its first max_record_bytes + 2 bytes, plus at most 20 bytes of look-ahead for a message).
// Memory: O(max_record_bytes + largest chunk): an unfinished record is held in full up to the limit; past it,
// only the first max_record_bytes + 22 bytes of its first line are kept while the rest of that line is skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

namespace gt::data {

enum class RecordFormat { Jsonl, Csv };

struct SplitRecord {
  uint64_t offset = 0;   // byte offset in the stream of the record's first byte
  uint64_t end = 0;      // offset one past its terminating line break (or the stream end): where the next read resumes
  int64_t line = 0;      // 1-based line on which the record starts
  std::string text;      // the record without its terminating LF / CRLF (CSV: quoted fields may hold line breaks)
  std::string error;     // non-empty: a malformed record; text then holds its first line (see above)
  int64_t end_line = 0;  // line number at `end`: the start_line for a splitter that resumes at `end`
  bool too_long = false; // the error is max_record_bytes (not the quoting)
};

class RecordSplitter {
 public:
  // No limit on a record's length (whole-file reading: the text is in memory already).
  static constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();

  // start_offset/start_line: where the bytes fed first sit in the stream (resuming mid-file at a record boundary
  // that a previous SplitRecord::end / end_line gave). A UTF-8 BOM is skipped only at offset 0.
  explicit RecordSplitter(RecordFormat format, uint64_t start_offset = 0, int64_t start_line = 1,
                          size_t max_record_bytes = size_t(64) << 20);
  void feed(std::string_view bytes, std::vector<SplitRecord>& out);  // appends every record completed by `bytes`
  void finish(std::vector<SplitRecord>& out);                         // end of stream: a last record without line break
  // Stream offset of the first byte not yet accounted for: bytes before it were returned as records (or error
  // records), or were blank lines or the BOM. Resuming a fresh splitter at offset()/line() continues identically.
  uint64_t offset() const { return offset_; }
  int64_t line() const { return line_; }      // line number at offset()
  size_t buffered() const { return buf_.size(); }  // bytes held for an incomplete record
  bool finished() const { return finished_; }

 private:
  enum class CsvState : uint8_t { FieldStart, Unquoted, Quoted, AfterQuote, AfterQuoteCr };

  // Splits `v` (the bytes from the current record's start on); returns how many bytes of it were used up.
  size_t process(std::string_view v, bool eof, std::vector<SplitRecord>& out);
  // Scans the record `r` from scan_ on; returns the position of its terminating LF, or npos (then error_ may be set).
  size_t scan_csv(std::string_view r, size_t limit);
  void set_error(std::string message, size_t snippet_at, bool too_long);
  bool error_ready(std::string_view r, bool eof) const;
  void emit_record(std::string_view r, size_t text_len, size_t consumed, int64_t end_line, std::vector<SplitRecord>& out);
  size_t emit_error(std::string_view r, std::vector<SplitRecord>& out);  // returns the bytes of r used up
  void reset_record();
  void keep_leftover(std::string_view rest);

  RecordFormat format_;
  size_t max_;        // max_record_bytes
  size_t window_;     // max_ + 2: a record is decided within these bytes (text plus CRLF)
  size_t keep_cap_;   // max_ + 22: bytes of an over-long first line kept (text + 20 bytes of message context)
  bool bom_pending_;  // still at offset 0, not yet seen 3 bytes
  bool finished_ = false;

  std::string buf_;   // the current record's bytes (from offset_), held between feeds
  uint64_t offset_;   // stream offset of the current record's first byte
  int64_t line_;      // its line

  // Scan state of the current record; positions are relative to its first byte.
  size_t scan_ = 0;                      // next byte to look at
  size_t first_lf_ = std::string::npos;  // its first LF (CSV: inside quotes, or the terminator)
  CsvState csv_ = CsvState::FieldStart;
  int64_t cur_line_ = 0;                 // line at scan_
  int64_t quote_line_ = 0;               // line of the last opening quote
  size_t after_quote_ = 0;               // position just past the last closing quote

  // A malformed record waiting for its first line's end (and the message's look-ahead).
  bool error_ = false;
  bool error_too_long_ = false;
  std::string error_message_;            // complete, or the part before the snippet (snippet_at_ != npos)
  size_t snippet_at_ = std::string::npos;
  bool skipping_ = false;                // its first line is not finished: looking for the LF, dropping bytes
  uint64_t dropped_ = 0;                 // bytes dropped between buf_[keep_cap_ - 1] and buf_[keep_cap_]
  bool skip_blank_ = true;               // JSONL: the over-long line is whitespace so far (then it is blank)
};

// Cuts a whole text into records (no length limit), handing each to `each` in order. The text is fed in 1 MiB slices,
// so the record texts are never all held beside it.
void split_text(RecordFormat format, std::string_view text, const std::function<void(const SplitRecord&)>& each);

}  // namespace gt::data
