// The text normaliser (Whisper's BasicTextNormalizer, data/text_normalizer.h) and the task metrics of
// `eval --generate` (WER, CER, chrF, exact match, data/text_metrics.h).
//
// Expected values are either worked out by hand (the comment shows how) or printed by
// tools/text_metrics_reference.py, a standard-library Python script written from the published definitions
// (Python's own str.lower, re and unicodedata for the normaliser; sacrebleu's CHRF statistics; jiwer's transforms),
// independent of the C++. Run `python3 tools/text_metrics_reference.py` to see them all.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "data/text_metrics.h"
#include "data/text_normalizer.h"

using namespace gt::data;

// Readable failure messages.
namespace gt::data {
void PrintTo(const EditCounts& c, std::ostream* os) {
  *os << "{S " << c.substitutions << ", D " << c.deletions << ", I " << c.insertions << ", H " << c.hits << ", N "
      << c.reference_length << "}";
}
void PrintTo(const ChrfStatistics& s, std::ostream* os) {
  for (size_t i = 0; i < s.hypothesis.size(); ++i) {
    *os << (i ? ", " : "{") << s.hypothesis[i] << "/" << s.reference[i] << "/" << s.matched[i];
  }
  *os << "}";
}
}  // namespace gt::data

namespace {

struct Case {
  const char* input;
  const char* expected;
  const char* why;
};

}  // namespace

// ---- Normaliser ----

TEST(TextNormalizer, WhisperBasicNormalizerCases) {
  // Every expected string is Python's output (tools/text_metrics_reference.py, basic_normalize).
  const std::vector<Case> cases = {
      {"Hello, World!", "hello world", "lower-case; punctuation -> space; runs collapsed"},
      {"[NOISE] hello <unk> world (laughs) again", "hello world again", "[..], <..> and (..) removed"},
      {"a [b> c", "a c", "an opener of either kind runs to the first closer of either kind"},
      {"()abc)", "abc", "\\(([^)]+?)\\) needs a non-')' inside: nothing matches, so no text is lost"},
      {"a()b", "a b", "'()' is not removed (so 'a' and 'b' stay apart); its characters are punctuation"},
      {"a (b c", "a b c", "unclosed parenthesis: kept (then the '(' is punctuation)"},
      {"a [b c", "a b c", "unclosed bracket: kept"},
      {"a [b) c] d", "a d", "a ')' inside brackets does not end them"},
      {"a [[b]] c", "a c", "no nesting: '[[b]' goes, the last ']' is punctuation"},
      {"(a [b) c] d)", "", "brackets first ('[b) c]'), then the parenthesis '(a  d)'; the other order leaves 'c d'"},
      {"\xEF\xAC\x81ne", "fine", "NFKC: U+FB01 ligature fi"},
      {"\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\xA3\xEF\xBC\x91\xEF\xBC\x92\xEF\xBC\x93", "abc123",
       "NFKC: full-width ABC123; they are capitals only after NFKC, hence the second lower()"},
      {"x\xC2\xB2", "x2", "NFKC: superscript two"},
      {"\xE2\x84\x8C" "ello", "hello", "U+210C black-letter H: NFKC gives 'H', which the second lower() lowers"},
      {"it's $5.00 \xE2\x80\x94 100% \xC2\xAB" "ok\xC2\xBB", "it s 5 00 100 ok", "symbols (Sc, Sm) and Pd/Pi/Pf/Po"},
      {"Caf\xC3\xA9 \xC3\x91" "and\xC3\xBA", "caf\xC3\xA9 \xC3\xB1" "and\xC3\xBA", "precomposed letters keep accents"},
      {"e\xCC\x81", "\xC3\xA9", "e + U+0301 composes under NFKC to U+00E9, a letter"},
      {"q\xCC\x81", "q", "q + U+0301 has no composite: the mark (Mn) becomes a space, then stripped"},
      {"\xE4\xBB\x8A\xE5\xA4\xA9\xE5\xA4\xA9\xE6\xB0\x94\xE5\xBE\x88\xE5\xA5\xBD\xE3\x80\x82",
       "\xE4\xBB\x8A\xE5\xA4\xA9\xE5\xA4\xA9\xE6\xB0\x94\xE5\xBE\x88\xE5\xA5\xBD", "CJK kept; ideographic full stop (Po) goes"},
      {"\xC4\xB0stanbul", "i stanbul",
       "U+0130 lower-cases to i + U+0307 (no locale tailoring); the dot is a mark -> space, as in Python"},
      {"\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3 \xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3.",
       "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82 \xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82", "final sigma: word-final capital sigma -> U+03C2"},
      {"\xE1\xBA\x9E stra\xC3\x9F" "e", "\xC3\x9F stra\xC3\x9F" "e", "capital sharp s lowers to U+00DF; no folding to ss"},
      {"I \xE2\x9D\xA4\xEF\xB8\x8F you \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", "i you",
       "emoji (So), variation selector (Mn) and skin tone (Sk) all become spaces"},
      {"a\xC2\xA0" "b", "a b", "no-break space: NFKC makes it a space"},
      {"a\xE2\x80\xA8" "b", "a b", "U+2028 line separator (Zl) is kept by the MSP filter but is \\s"},
      {"a\x1F" "b", "a b", "U+001F (Cc, bidi S) is \\s in Python"},
      {"a\xC2\x85" "b", "a b", "U+0085 next line (Cc, bidi B) is \\s in Python"},
      {"a\xE2\x80\x8B" "b", "a\xE2\x80\x8B" "b", "U+200B zero width space is Cf and not \\s: kept"},
      {"  hello \t\n world  ", "hello world", "collapse and strip"},
      {"\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4", "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4", "Hangul syllables stay composed"},
      {"\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8\xE0\xA5\x8D\xE0\xA4\xA4\xE0\xA5\x87",
       "\xE0\xA4\xA8\xE0\xA4\xAE\xE0\xA4\xB8 \xE0\xA4\xA4",
       "Devanagari: virama U+094D and vowel sign U+0947 are marks -> spaces (Whisper's known behaviour)"},
      {"", "", "empty"},
      {"   ", "", "only spaces"},
      {"!!!", "", "only punctuation"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(normalize_text_basic(c.input), c.expected) << "input '" << c.input << "': " << c.why;
  }
}

TEST(TextNormalizer, NoneOnlyCollapsesWhitespace) {
  EXPECT_EQ(normalize_text_none("  Hello,\tWorld!\n"), "Hello, World!");
  EXPECT_EQ(normalize_text_none("[NOISE] \xEF\xAC\x81"), "[NOISE] \xEF\xAC\x81");  // no bracket removal, no NFKC
  EXPECT_EQ(normalize_text_none("a\x1F\xC2\xA0\xE3\x80\x80" "b"), "a b");  // U+001F, U+00A0, U+3000: one run
  EXPECT_EQ(normalize_text_none("a\xE2\x80\x8B" "b"), "a\xE2\x80\x8B" "b");  // U+200B is not whitespace
  EXPECT_EQ(normalize_text_none(""), "");
  EXPECT_EQ(normalize_text(" A.  B ", TextNormalizer::none), "A. B");
  EXPECT_EQ(normalize_text(" A.  B ", TextNormalizer::basic), "a b");
}

TEST(TextNormalizer, BadUtf8BecomesReplacementCharacter) {
  // Python: bytes.decode("utf-8", errors="replace") puts one U+FFFD per maximal ill-formed subpart.
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(normalize_text_none("caf\xC3"), "caf" + fffd);               // truncated 2-byte sequence
  EXPECT_EQ(normalize_text_none("a\xE2\x82" "b"), "a" + fffd + "b");     // truncated 3-byte: ONE U+FFFD
  EXPECT_EQ(normalize_text_none("\xC0\xAF"), fffd + fffd);               // C0 never starts a sequence
  EXPECT_EQ(normalize_text_none("a\xFF" "b"), "a" + fffd + "b");
  EXPECT_EQ(normalize_text_none("\xED\xA0\x80x"), fffd + fffd + fffd + "x");  // encoded surrogate: 3 subparts
  EXPECT_EQ(normalize_text_none("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // above U+10FFFF
  // In `basic`, U+FFFD is a symbol (So): a space, like any other symbol.
  EXPECT_EQ(normalize_text_basic("caf\xC3"), "caf");
  EXPECT_EQ(normalize_text_basic("a\xE2\x82" "b"), "a b");
  EXPECT_EQ(normalize_text_basic("\xED\xA0\x80x"), "x");
}

TEST(TextNormalizer, CodePointRoundTrip) {
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // 1-, 2-, 3- and 4-byte sequences
  const std::u32string cps = utf8_to_code_points(text);
  EXPECT_EQ(cps, (std::u32string{U'a', 0xE9, 0x20AC, 0x1F600}));
  EXPECT_EQ(code_points_to_utf8(cps), text);
}

TEST(TextNormalizer, WhitespaceIsPythonsIsspace) {
  // [c for c in range(0x110000) if chr(c).isspace()] in Python 3.11 (Unicode 14); unchanged in Unicode 15.
  const std::vector<char32_t> python = {0x9,    0xA,    0xB,    0xC,    0xD,    0x1C,   0x1D,   0x1E,
                                        0x1F,   0x20,   0x85,   0xA0,   0x1680, 0x2000, 0x2001, 0x2002,
                                        0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A,
                                        0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
  std::vector<char32_t> ours;
  for (char32_t c = 0; c <= 0x10FFFF; ++c) {
    if (is_python_whitespace(c)) ours.push_back(c);
  }
  EXPECT_EQ(ours, python);
}

TEST(TextNormalizer, Names) {
  EXPECT_EQ(text_normalizer_from_name("basic"), TextNormalizer::basic);
  EXPECT_EQ(text_normalizer_from_name("none"), TextNormalizer::none);
  EXPECT_EQ(text_normalizer_from_name("english"), std::nullopt);
  EXPECT_EQ(text_normalizer_name(TextNormalizer::basic), "basic");
  EXPECT_EQ(text_normalizer_name(TextNormalizer::none), "none");
}

// ---- Word and character error rates ----

namespace {

EditCounts counts(int64_t s, int64_t d, int64_t i, int64_t h, int64_t n) {
  EditCounts c;
  c.substitutions = s;
  c.deletions = d;
  c.insertions = i;
  c.hits = h;
  c.reference_length = n;
  return c;
}

}  // namespace

TEST(TextMetrics, WordErrorsWorkedExample) {
  // the cat sat on the mat
  // the cat sit on the        sat -> sit (S), "mat" missing (D); 4 hits; WER = 2/6.
  const EditCounts c = word_errors("the cat sat on the mat", "the cat sit on the");
  EXPECT_EQ(c, counts(1, 1, 0, 4, 6));
  EXPECT_DOUBLE_EQ(c.rate(), 2.0 / 6.0);
  EXPECT_EQ(c.errors(), 2);
}

TEST(TextMetrics, WordErrorsInsertionsAndEmptyTexts) {
  EXPECT_EQ(word_errors("a b", "a x b y"), counts(0, 0, 2, 2, 2));  // x and y inserted
  EXPECT_DOUBLE_EQ(word_errors("a b", "a x b y").rate(), 1.0);      // WER can reach and pass 1
  EXPECT_EQ(word_errors("a b", ""), counts(0, 2, 0, 0, 2));
  EXPECT_DOUBLE_EQ(word_errors("a b", "").rate(), 1.0);
  // Empty reference: rate = number of insertions (jiwer 4); 0 when the answer is empty too.
  EXPECT_EQ(word_errors("", ""), counts(0, 0, 0, 0, 0));
  EXPECT_DOUBLE_EQ(word_errors("", "").rate(), 0.0);
  EXPECT_EQ(word_errors("", "a b c"), counts(0, 0, 3, 0, 0));
  EXPECT_DOUBLE_EQ(word_errors("", "a b c").rate(), 3.0);
  // Words are split on any whitespace run; leading and trailing whitespace make no empty words.
  EXPECT_EQ(word_errors("  a \t  b \n", "a b"), counts(0, 0, 0, 2, 2));
  // CJK words with one traditional character: one substitution of two words.
  EXPECT_EQ(word_errors("\xE4\xBB\x8A\xE5\xA4\xA9 \xE5\xA4\xA9\xE6\xB0\x94",
                        "\xE4\xBB\x8A\xE5\xA4\xA9 \xE5\xA4\xA9\xE6\xB0\xA3"),
            counts(1, 0, 0, 1, 2));
}

TEST(TextMetrics, TiesBetweenMinimalAlignmentsKeepTheMostHits) {
  // "a b" vs "b c": two substitutions, or delete a, hit b, insert c. Both cost 2; the second has a hit.
  EXPECT_EQ(word_errors("a b", "b c"), counts(0, 1, 1, 1, 2));
  // "kitten" -> "sitting": k->s, e->i, insert g: 2 S, 1 I, 4 hits (k i t t e n vs s i t t i n g).
  EXPECT_EQ(char_errors("kitten", "sitting"), counts(2, 0, 1, 4, 6));
}

TEST(TextMetrics, CharErrorsCountCodePointsAndInnerSpaces) {
  // Same sentence pair as above, by characters: 22 reference characters (spaces included). 'a' -> 'i' (S) and
  // " mat" missing (4 D): CER = 5/22. It cannot be 4: 'i' is nowhere in the reference.
  EXPECT_EQ(char_errors("the cat sat on the mat", "the cat sit on the"), counts(1, 4, 0, 17, 22));
  EXPECT_DOUBLE_EQ(char_errors("the cat sat on the mat", "the cat sit on the").rate(), 5.0 / 22.0);
  // CJK: one character of three differs.
  EXPECT_EQ(char_errors("\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E", "\xE6\x97\xA5\xE6\x9C\xAC\xE4\xBA\xBA"),
            counts(1, 0, 0, 2, 3));
  // Characters are code points, not graphemes: e + U+0301 is two against the one of U+00E9.
  EXPECT_EQ(char_errors("e\xCC\x81", "\xC3\xA9"), counts(1, 1, 0, 0, 2));
  // An emoji with a skin-tone modifier is two code points; dropping the modifier is one deletion of 5.
  EXPECT_EQ(char_errors("\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD ok", "\xF0\x9F\x91\x8D ok"), counts(0, 1, 0, 4, 5));
  // jiwer's default CER transform strips both ends but does not collapse inner runs: "ab  c" has 5 characters.
  EXPECT_EQ(char_errors("ab  c", "ab c"), counts(0, 1, 0, 4, 5));
  EXPECT_EQ(char_errors(" abc ", "abc"), counts(0, 0, 0, 3, 3));
  EXPECT_EQ(char_errors("", ""), counts(0, 0, 0, 0, 0));
  EXPECT_DOUBLE_EQ(char_errors("", "abc").rate(), 3.0);
  EXPECT_DOUBLE_EQ(char_errors("abc", "").rate(), 1.0);
}

TEST(TextMetrics, BadUtf8CountsAsReplacementCharacter) {
  EXPECT_EQ(word_errors("a \xFF b", "a \xEF\xBF\xBD b"), counts(0, 0, 0, 3, 3));
  EXPECT_EQ(char_errors("a\xE2\x82" "b", "a\xEF\xBF\xBD" "b"), counts(0, 0, 0, 3, 3));  // one U+FFFD, not two
  EXPECT_NO_THROW(chrf("\xC0\xAF\xFF", "\xF4\x90\x80\x80"));
}

TEST(TextMetrics, CorpusRateSumsCountsNotRowRates) {
  // Row 1: "a" vs "b", rate 1. Row 2: ten words, all right, rate 0. Mean of rows 0.5; corpus 1 error / 11 words.
  EditCounts corpus;
  corpus += word_errors("a", "b");
  corpus += word_errors("a b c d e f g h i j", "a b c d e f g h i j");
  EXPECT_EQ(corpus, counts(1, 0, 0, 10, 11));
  EXPECT_DOUBLE_EQ(corpus.rate(), 1.0 / 11.0);
  // An empty-reference row adds its insertions to the errors and nothing to the length (jiwer 4, test_empty_ref's
  // ["hello world", ""] vs ["hello world", "done"] -> 1/2).
  EditCounts with_empty;
  with_empty += word_errors("hello world", "hello world");
  with_empty += word_errors("", "done");
  EXPECT_DOUBLE_EQ(with_empty.rate(), 0.5);
}

// ---- chrF ----

namespace {

ChrfStatistics stats(std::vector<std::array<int64_t, 3>> per_order) {  // {hypothesis, reference, matched}
  ChrfStatistics s;
  for (size_t i = 0; i < per_order.size(); ++i) {
    s.hypothesis[i] = per_order[i][0];
    s.reference[i] = per_order[i][1];
    s.matched[i] = per_order[i][2];
  }
  return s;
}

}  // namespace

TEST(TextMetrics, ChrfHandTraced) {
  // ref "abc", hyp "abd". 1-grams: 3 vs 3, a and b match (2). 2-grams: ab,bd vs ab,bc: 1. 3-grams: abd vs abc: 0.
  // Orders 4-6: the reference has none (not effective). P = R = (2/3 + 1/2 + 0) / 3 = 7/18;
  // F2 = 5PR / (4P + R) = P = 7/18.
  EXPECT_EQ(chrf_statistics("abc", "abd"), stats({{3, 3, 2}, {2, 2, 1}, {1, 1, 0}}));
  EXPECT_NEAR(chrf("abc", "abd"), 100.0 * 7.0 / 18.0, 1e-12);
  // Whitespace is removed before extracting n-grams: "a b" and "ab" are the same text.
  EXPECT_DOUBLE_EQ(chrf("a b", "ab"), 100.0);
  // ref "ab", hyp "abab". 1-grams: 4 vs 2, 2 match. 2-grams: ab,ba,ab vs ab: 1 match. 3-grams: the reference has
  // none, so the hypothesis' two are not counted (sacrebleu). P = (2/4 + 1/3) / 2 = 5/12, R = (1 + 1) / 2 = 1;
  // F2 = 5 * 5/12 / (4 * 5/12 + 1) = 25/32.
  EXPECT_EQ(chrf_statistics("ab", "abab"), stats({{4, 2, 2}, {3, 1, 1}}));
  EXPECT_NEAR(chrf("ab", "abab"), 100.0 * 25.0 / 32.0, 1e-12);
  // Nothing in common, identical texts, empty texts.
  EXPECT_DOUBLE_EQ(chrf("xyz", "abc"), 0.0);
  EXPECT_DOUBLE_EQ(chrf("abcdef", "abcdef"), 100.0);
  EXPECT_DOUBLE_EQ(chrf("abc", ""), 0.0);
  EXPECT_DOUBLE_EQ(chrf("", "abc"), 0.0);
  EXPECT_DOUBLE_EQ(chrf("", ""), 0.0);  // sacrebleu: no effective order -> 0, even for two empty strings
}

TEST(TextMetrics, ChrfMatchesReferenceScript) {
  // tools/text_metrics_reference.py (sacrebleu's definition in plain Python).
  EXPECT_EQ(chrf_statistics("the cat sat on the mat", "the cat sit on the"),
            stats({{14, 17, 13}, {13, 16, 11}, {12, 15, 9}, {11, 14, 7}, {10, 13, 5}, {9, 12, 3}}));
  EXPECT_DOUBLE_EQ(chrf("the cat sat on the mat", "the cat sit on the"), 55.351922187023206);
  // CJK, one code point per character: 今天天气很好 vs 今天天气不错.
  EXPECT_DOUBLE_EQ(chrf("\xE4\xBB\x8A\xE5\xA4\xA9\xE5\xA4\xA9\xE6\xB0\x94\xE5\xBE\x88\xE5\xA5\xBD",
                        "\xE4\xBB\x8A\xE5\xA4\xA9\xE5\xA4\xA9\xE6\xB0\x94\xE4\xB8\x8D\xE9\x94\x99"),
                   35.0);
  // Case and accents count (no lowercasing by default): "Café crème" vs "cafe creme".
  EXPECT_DOUBLE_EQ(chrf("Caf\xC3\xA9 cr\xC3\xA8me", "cafe creme"), 17.361111111111107);
}

TEST(TextMetrics, ChrfCorpusSumsStatisticsBeforeScoring) {
  // Rows ("ab", "abab") at 78.125 and ("abcdef", "abcdef") at 100: mean 89.0625. The corpus score sums the
  // statistics first (hypothesis n-grams per order: 4+6, 3+5, 0+4, 0+3, 0+2, 0+1; the first row's 3-grams do not
  // count, its reference having none) and scores once: 98.40425531914894 (reference script).
  ChrfAccumulator corpus;
  corpus.add("ab", "abab");
  corpus.add("abcdef", "abcdef");
  EXPECT_EQ(corpus.rows(), 2);
  EXPECT_EQ(corpus.statistics(), stats({{10, 8, 8}, {8, 6, 6}, {4, 4, 4}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}}));
  EXPECT_DOUBLE_EQ(corpus.score(), 98.40425531914894);
  EXPECT_GT(std::abs(corpus.score() - (chrf("ab", "abab") + chrf("abcdef", "abcdef")) / 2), 9.0);

  // Three rows, one with an empty reference (its hypothesis n-grams count nowhere).
  ChrfAccumulator mixed;
  mixed.add("the cat sat on the mat", "the cat sit on the");
  mixed.add("abc", "abd");
  mixed.add("", "abc");
  EXPECT_EQ(mixed.statistics(),
            stats({{17, 20, 15}, {15, 18, 12}, {13, 16, 9}, {11, 14, 7}, {10, 13, 5}, {9, 12, 3}}));
  EXPECT_DOUBLE_EQ(mixed.score(), 53.94675861482779);

  EXPECT_DOUBLE_EQ(ChrfAccumulator{}.score(), 0.0);
}

// ---- Exact match, and the metrics after the normaliser ----

TEST(TextMetrics, ExactMatch) {
  EXPECT_TRUE(exact_match("the cat", "the cat"));
  EXPECT_TRUE(exact_match(" the  cat\n", "the cat"));  // whitespace never decides
  EXPECT_FALSE(exact_match("the cat", "the cat."));
  EXPECT_FALSE(exact_match("the cat", "The cat"));
  EXPECT_TRUE(exact_match("", "  "));
  EXPECT_TRUE(exact_match(normalize_text_basic("The cat."), normalize_text_basic("the CAT!")));
}

TEST(TextMetrics, NormaliserBeforeMetrics) {
  // Decomposed and precomposed é differ by code points, and agree once NFKC has composed them.
  const std::string decomposed = "cafe\xCC\x81 noir", precomposed = "Caf\xC3\xA9 noir!";
  EXPECT_EQ(word_errors(decomposed, precomposed).errors(), 2);
  EXPECT_EQ(word_errors(normalize_text_basic(decomposed), normalize_text_basic(precomposed)).errors(), 0);
  EXPECT_EQ(char_errors(normalize_text_basic(decomposed), normalize_text_basic(precomposed)).errors(), 0);
  EXPECT_DOUBLE_EQ(chrf(normalize_text_basic(decomposed), normalize_text_basic(precomposed)), 100.0);
  // Annotations in brackets do not count against the answer.
  EXPECT_EQ(word_errors(normalize_text_basic("[music] Hello (applause) there."), normalize_text_basic("hello there"))
                .errors(),
            0);
}
