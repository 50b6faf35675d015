// UTF-8 decoding and encoding for the tokenizer, plus the one Unicode property it needs (White_Space). Torch-free.
//
// The decoder is strict (RFC 3629): overlong forms, surrogates (U+D800..U+DFFF), code points above U+10FFFF,
// truncated sequences and stray continuation bytes are all invalid. The tokenizer treats each byte that does not
// start a valid sequence as a symbol of its own (it falls back to its <0xXX> byte token), so any byte string can
// be encoded and nothing is lost.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gt::tok {

// Decodes the code point that starts at s[pos]. Returns its length in bytes (1..4) and sets `cp`; returns 0 when
// s[pos] does not start a valid sequence (then `cp` is the byte value itself).
inline size_t utf8_decode(std::string_view s, size_t pos, char32_t& cp) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data()) + pos;
  const size_t left = s.size() - pos;
  const unsigned char b0 = p[0];
  cp = b0;
  if (b0 < 0x80) return 1;
  if (b0 < 0xC2) return 0;  // continuation byte, or the lead of an overlong 2-byte form (C0, C1)
  if (b0 < 0xE0) {
    if (left < 2 || (p[1] & 0xC0) != 0x80) return 0;
    cp = (char32_t(b0 & 0x1F) << 6) | (p[1] & 0x3F);
    return 2;
  }
  if (b0 < 0xF0) {
    if (left < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
    char32_t c = (char32_t(b0 & 0x0F) << 12) | (char32_t(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    if (c < 0x800 || (c >= 0xD800 && c <= 0xDFFF)) return 0;  // overlong, or a surrogate
    cp = c;
    return 3;
  }
  if (b0 < 0xF5) {
    if (left < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
    char32_t c = (char32_t(b0 & 0x07) << 18) | (char32_t(p[1] & 0x3F) << 12) | (char32_t(p[2] & 0x3F) << 6) |
                 (p[3] & 0x3F);
    if (c < 0x10000 || c > 0x10FFFF) return 0;  // overlong, or beyond Unicode
    cp = c;
    return 4;
  }
  return 0;  // F5..FF never appear in UTF-8
}

// Appends the UTF-8 form of `cp` (which must be a Unicode scalar value).
void utf8_append(std::string& out, char32_t cp);

// True when `s` is entirely valid UTF-8.
bool utf8_valid(std::string_view s);

// Unicode White_Space (what Rust's char::is_whitespace tests; Hugging Face uses it for lstrip/rstrip).
bool is_unicode_whitespace(char32_t cp);

// Length in bytes of the run of whitespace code points that ends at s[end] (exclusive), scanning backwards but
// not before `floor`. Invalid bytes end the run.
size_t whitespace_run_before(std::string_view s, size_t floor, size_t end);
// Length in bytes of the run of whitespace code points that starts at s[begin].
size_t whitespace_run_after(std::string_view s, size_t begin);

}  // namespace gt::tok
