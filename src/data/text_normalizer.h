// Text normalisation applied to references and generated answers before `eval --generate` scores them (WER, CER,
// chrF, exact match: data/text_metrics.h). Torch-free; Unicode data comes from ICU.
//
// `--normalizer basic` (the default) is Whisper's multilingual BasicTextNormalizer, as transformers ships it
// (transformers.models.whisper.english_normalizer.BasicTextNormalizer with its defaults remove_diacritics=False,
// split_letters=False). It is the normaliser transformers' Whisper fine-tuning examples and most published ASR
// evaluations use, so our WER can be compared with theirs; and it is language-independent, unlike Whisper's
// EnglishTextNormalizer, which also spells numbers and British/American variants the English way. Its steps, in
// this order (the order matters: each regex runs on the output of the previous step):
//   1. lower-case with full Unicode case mapping, as Python's str.lower ("İ" -> "i" + U+0307, final sigma -> "ς";
//      no locale tailoring: ICU's root locale);
//   2. delete every "<" or "[" up to the first following ">" or "]" (regex [<\[][^>\]]*[>\]], so "[noise]",
//      "<unk>" and even "[a>" go; an opener with no closer after it stays);
//   3. delete every "(" with at least one character up to the first following ")" (regex \(([^)]+?)\), so "()"
//      stays and "((a))" leaves the last ")");
//   4. NFKC ("ﬁ" -> "fi", full-width "Ａ" -> "A", "²" -> "2");
//   5. replace every code point whose general category starts with M (marks), S (symbols) or P (punctuation) by a
//      space. Marks go too, so scripts that spell with combining marks (Devanagari vowel signs, Thai, pointed
//      Hebrew and Arabic) are split inside words: the reference and the answer are split alike, which is what the
//      comparable published numbers do as well;
//   6. lower-case again (NFKC can make capitals: "ℌ" -> "H");
//   7. replace each run of whitespace (Python's str.isspace: Unicode category Zs or bidirectional class WS, B or
//      S, which includes U+001C..U+001F and U+0085) by one space.
// Then, unlike the Python class, the result is stripped: the metrics ignore leading and trailing whitespace anyway
// (jiwer strips both sides), and exact match should too.
//
// `--normalizer none` only collapses whitespace runs and strips (steps 7 and the strip), for tasks where case and
// punctuation are part of the answer.
//
// Both accept any bytes: an ill-formed UTF-8 sequence becomes U+FFFD (one per maximal ill-formed subpart, like
// Python's bytes.decode(errors="replace")), so the output is always valid UTF-8. In `basic`, U+FFFD is a symbol
// (So) and so becomes a space.
//
// Unicode tables are ICU's (Debian 12: ICU 72, Unicode 15.0); Python's unicodedata may be one version older, which
// matters only for characters assigned in between.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace gt::data {

enum class TextNormalizer { basic, none };

// Whisper's BasicTextNormalizer (steps 1-7 above), then strip.
std::string normalize_text_basic(std::string_view utf8);

// Whitespace runs -> one space, then strip.
std::string normalize_text_none(std::string_view utf8);

std::string normalize_text(std::string_view utf8, TextNormalizer which);

// "basic" / "none" (the --normalizer values); nullopt for anything else.
std::optional<TextNormalizer> text_normalizer_from_name(std::string_view name);
std::string_view text_normalizer_name(TextNormalizer which);

// ---- Code-point helpers, shared with data/text_metrics ----

// Code points of `utf8`; each maximal ill-formed subpart becomes U+FFFD.
std::u32string utf8_to_code_points(std::string_view utf8);
std::string code_points_to_utf8(std::u32string_view code_points);

// Python's str.isspace for one code point (what re's \s, str.split() and str.strip() use).
bool is_python_whitespace(char32_t c);

}  // namespace gt::data
