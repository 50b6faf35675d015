#include "data/text_normalizer.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "core/error.h"  // defines: GT_CHECK, gt::cat

namespace gt::data {

namespace {

icu::UnicodeString to_icu(std::u32string_view s) {
  GT_CHECK(s.size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max() / 2), "text of ", s.size(),
           " code points is too long for ICU");
  return icu::UnicodeString::fromUTF32(reinterpret_cast<const UChar32*>(s.data()), static_cast<int32_t>(s.size()));
}

std::u32string from_icu(const icu::UnicodeString& s) {
  std::u32string out;
  out.reserve(static_cast<size_t>(s.length()));
  for (int32_t i = 0; i < s.length();) {
    const UChar32 c = s.char32At(i);
    out.push_back(static_cast<char32_t>(c));
    i += U16_LENGTH(c);
  }
  return out;
}

// Python's str.lower(): full case mapping (SpecialCasing's unconditional entries and Final_Sigma), no language
// tailoring, which is ICU's root locale (a null locale would mean the process's default, e.g. Turkish).
std::u32string lower_full(std::u32string_view s) {
  icu::UnicodeString u = to_icu(s);
  u.toLower(icu::Locale::getRoot());
  return from_icu(u);
}

std::u32string nfkc(std::u32string_view s) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = icu::Normalizer2::getNFKCInstance(status);
  GT_CHECK(U_SUCCESS(status), "ICU NFKC data unavailable: ", u_errorName(status));
  const icu::UnicodeString out = normalizer->normalize(to_icu(s), status);
  GT_CHECK(U_SUCCESS(status), "ICU NFKC failed: ", u_errorName(status));
  return from_icu(out);
}

// Whisper's re.sub(r"[<\[][^>\]]*[>\]]", "", s): an opener, any run without a closer, the first closer. The class
// [^>\]] cannot step over a closer, so the match always ends at the first closer after the opener; with no closer
// after an opener there is none after any later opener either, and the rest is kept as it is.
std::u32string remove_bracketed(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s[i] == U'<' || s[i] == U'[') {
      const size_t close = s.find_first_of(U">]", i + 1);
      if (close == std::u32string_view::npos) {
        out.append(s.substr(i));
        break;
      }
      i = close + 1;
      continue;
    }
    out.push_back(s[i++]);
  }
  return out;
}

// Whisper's re.sub(r"\(([^)]+?)\)", "", s): "(", at least one non-")" (lazy, but it cannot pass a ")" either, so
// lazy and greedy agree), then the first ")". "()" does not match: its "(" is kept and the scan moves on.
std::u32string remove_parenthesized(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (s[i] == U'(') {
      const size_t close = s.find(U')', i + 1);
      if (close == std::u32string_view::npos) {
        out.append(s.substr(i));
        break;
      }
      if (close > i + 1) {
        i = close + 1;
        continue;
      }
    }
    out.push_back(s[i++]);
  }
  return out;
}

// Whisper's remove_symbols after its NFKC: unicodedata.category(c)[0] in "MSP" -> " ".
std::u32string marks_symbols_punctuation_to_space(std::u32string s) {
  constexpr uint32_t kMsp = U_GC_M_MASK | U_GC_S_MASK | U_GC_P_MASK;
  for (char32_t& c : s) {
    if (U_GET_GC_MASK(static_cast<UChar32>(c)) & kMsp) c = U' ';
  }
  return s;
}

// re.sub(r"\s+", " ", s), then strip.
std::string collapse_whitespace_and_strip(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  bool pending_space = false;
  for (char32_t c : s) {
    if (is_python_whitespace(c)) {
      pending_space = !out.empty();  // leading whitespace is dropped
      continue;
    }
    if (pending_space) out.push_back(U' ');
    pending_space = false;
    out.push_back(c);
  }
  return code_points_to_utf8(out);  // trailing whitespace was never written
}

}  // namespace

std::u32string utf8_to_code_points(std::string_view utf8) {
  std::u32string out;
  out.reserve(utf8.size());
  const auto* p = reinterpret_cast<const uint8_t*>(utf8.data());
  // U8_NEXT_OR_FFFD indexes with int32_t: walk long inputs in chunks cut at a lead byte.
  size_t begin = 0;
  while (begin < utf8.size()) {
    size_t end = std::min(utf8.size(), begin + (size_t{1} << 30));
    while (end < utf8.size() && (p[end] & 0xC0) == 0x80 && end > begin + 1) --end;
    const int32_t length = static_cast<int32_t>(end - begin);
    for (int32_t i = 0; i < length;) {
      UChar32 c = 0;
      U8_NEXT_OR_FFFD(p + begin, i, length, c);  // one U+FFFD per maximal ill-formed subpart (ICU >= 60)
      out.push_back(static_cast<char32_t>(c));
    }
    begin = end;
  }
  return out;
}

std::string code_points_to_utf8(std::u32string_view code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (char32_t c : code_points) {
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = 0xFFFD;
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

bool is_python_whitespace(char32_t c) {
  // CPython's _PyUnicode_IsWhitespace: general category Zs, or bidirectional class WS, B or S.
  if (c == U' ' || (c >= U'\t' && c <= U'\r')) return true;
  if (c < 0x1C) return false;
  const auto ch = static_cast<UChar32>(c);
  if (u_charType(ch) == U_SPACE_SEPARATOR) return true;
  const UCharDirection dir = u_charDirection(ch);
  return dir == U_WHITE_SPACE_NEUTRAL || dir == U_BLOCK_SEPARATOR || dir == U_SEGMENT_SEPARATOR;
}

std::string normalize_text_basic(std::string_view utf8) {
  std::u32string s = lower_full(utf8_to_code_points(utf8));
  s = remove_bracketed(s);
  s = remove_parenthesized(s);
  s = marks_symbols_punctuation_to_space(nfkc(s));
  s = lower_full(s);
  return collapse_whitespace_and_strip(s);
}

std::string normalize_text_none(std::string_view utf8) {
  return collapse_whitespace_and_strip(utf8_to_code_points(utf8));
}

std::string normalize_text(std::string_view utf8, TextNormalizer which) {
  switch (which) {
    case TextNormalizer::basic:
      return normalize_text_basic(utf8);
    case TextNormalizer::none:
      return normalize_text_none(utf8);
  }
  throw std::logic_error(cat("unknown TextNormalizer ", static_cast<int>(which)));
}

std::optional<TextNormalizer> text_normalizer_from_name(std::string_view name) {
  if (name == "basic") return TextNormalizer::basic;
  if (name == "none") return TextNormalizer::none;
  return std::nullopt;
}

std::string_view text_normalizer_name(TextNormalizer which) {
  return which == TextNormalizer::basic ? "basic" : "none";
}

}  // namespace gt::data
