// Decoding token strings back to text, as Hugging Face's decoders do: a chain of steps over the list of token
// strings, then the list is joined. Torch-free.
//
//   Replace       each token: every occurrence of `pattern` -> `content` (Gemma: "▁" -> " ")
//   ByteFallback  each run of consecutive byte tokens "<0xXX>" becomes the text of those bytes when they form
//                 valid UTF-8, else one U+FFFD per byte of the run (the whole run, as `tokenizers` does)
//   Fuse          all tokens joined into one
#pragma once

#include <string>
#include <vector>

namespace gt::tok {

struct DecoderStep {
  enum class Kind { kReplace, kByteFallback, kFuse };
  Kind kind;
  std::string pattern;  // kReplace only
  std::string content;  // kReplace only
};

// Runs `steps` over `tokens` and joins the result.
std::string run_decoder(const std::vector<DecoderStep>& steps, std::vector<std::string> tokens);

// The byte of a byte token "<0xXX>" (two hex digits, either case), or -1 for any other string.
int byte_token_value(const std::string& token);

}  // namespace gt::tok
