// UTF-8 checks used by the data pipeline.
#include <gtest/gtest.h>

#include "data/utf8_text.h"

using namespace gt::data;

TEST(DataUtf8, FindsTheFirstInvalidByte) {
  EXPECT_EQ(find_invalid_utf8("plain \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), std::string_view::npos);
  EXPECT_EQ(find_invalid_utf8("ab\xC3("), 2u);           // truncated sequence
  EXPECT_EQ(find_invalid_utf8("a\x80"), 1u);             // stray continuation byte
  EXPECT_EQ(find_invalid_utf8("\xC0\xAF"), 0u);          // overlong
  EXPECT_EQ(find_invalid_utf8("x\xED\xA0\x80"), 1u);     // surrogate U+D800
  EXPECT_EQ(find_invalid_utf8("\xF4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(find_invalid_utf8("\xE0\x80\xAF"), 0u);      // overlong 3-byte form
}

TEST(DataUtf8, BoundariesAndSanitize) {
  EXPECT_EQ(utf8_boundaries("a\xC3\xA9\xE2\x82\xAC"), (std::vector<size_t>{0, 1, 3, 6}));
  EXPECT_EQ(utf8_boundaries(""), (std::vector<size_t>{0}));
  EXPECT_EQ(utf8_sanitize("a\xFF" "b\xC3\xA9"), "a\xEF\xBF\xBD" "b\xC3\xA9");
}
