#include "tokenizer/utf8.h"

namespace gt::tok {

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

bool utf8_valid(std::string_view s) {
  char32_t cp;
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_decode(s, i, cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool is_unicode_whitespace(char32_t c) {
  // PropList.txt, White_Space (Unicode 15): the list is short and stable.
  if (c <= 0x20) return c == 0x20 || (c >= 0x09 && c <= 0x0D);
  if (c < 0x85) return false;
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}

size_t whitespace_run_before(std::string_view s, size_t floor, size_t end) {
  size_t pos = end;
  while (pos > floor) {
    // Step back to the start of the previous code point (at most 4 bytes, never below floor).
    size_t start = pos - 1;
    while (start > floor && pos - start < 4 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    char32_t cp;
    size_t n = utf8_decode(s, start, cp);
    if (n == 0 || start + n != pos || !is_unicode_whitespace(cp)) break;
    pos = start;
  }
  return end - pos;
}

size_t whitespace_run_after(std::string_view s, size_t begin) {
  size_t pos = begin;
  char32_t cp;
  while (pos < s.size()) {
    size_t n = utf8_decode(s, pos, cp);
    if (n == 0 || !is_unicode_whitespace(cp)) break;
    pos += n;
  }
  return pos - begin;
}

}  // namespace gt::tok
