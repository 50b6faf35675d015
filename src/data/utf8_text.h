// UTF-8 checks the data pipeline needs: validating text fields, finding character boundaries (truncation cuts
// prompts and answers only between characters), and making arbitrary bytes safe to print in a message.
// Torch-free. The tokenizer has its own decoder (tokenizer/utf8.h); this one is kept apart so that data/ does not
// depend on the tokenizer's internals.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace gt::data {

// Byte offset of the first byte that does not start a valid UTF-8 sequence (RFC 3629: no overlong forms,
// surrogates or code points above U+10FFFF), or std::string_view::npos when `s` is valid.
size_t find_invalid_utf8(std::string_view s);

// Offsets at which each character of valid UTF-8 `s` starts, followed by s.size(): cutting `s` at any of them
// keeps both halves valid.
std::vector<size_t> utf8_boundaries(std::string_view s);

// `s` with every invalid byte replaced by U+FFFD, for messages and JSON output.
std::string utf8_sanitize(std::string_view s);

}  // namespace gt::data
