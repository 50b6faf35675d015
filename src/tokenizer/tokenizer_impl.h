// The parts of a loaded tokenizer, shared by tokenizer_load.cpp (which builds them from tokenizer.json) and
// tokenizer.cpp (which encodes and decodes with them). Internal to src/tokenizer/. Torch-free.
#pragma once

#include <string>
#include <vector>

#include "tokenizer/added_tokens.h"  // defines: gt::tok::AddedTokenMatcher
#include "tokenizer/bpe.h"           // defines: gt::tok::BpeModel
#include "tokenizer/decoder.h"       // defines: gt::tok::DecoderStep
#include "tokenizer/normalizer.h"    // defines: gt::tok::Normalizer, gt::tok::SplitPreTokenizer
#include "tokenizer/tokenizer.h"     // defines: gt::tok::Tokenizer
#include "tokenizer/vocabulary.h"    // defines: gt::tok::Vocabulary

namespace gt::tok {

// Free helpers in the .cpp files take TokenizerParts, since Tokenizer::Impl itself is private to Tokenizer.
struct TokenizerParts {
  std::string path;  // the tokenizer.json it came from, for messages
  Vocabulary vocab;
  // Added tokens with "normalized": false, matched on the raw text; those with true, matched on the normalized
  // text of what remains (their patterns are normalized too), as Hugging Face's AddedVocabulary does.
  AddedTokenMatcher raw_added;
  AddedTokenMatcher normalized_added;
  Normalizer normalizer;
  SplitPreTokenizer pre_tokenizer;
  BpeModel bpe;
  bool ignore_merges = false;  // a word that is a whole vocabulary token skips the merges
  std::vector<DecoderStep> decoder;
};

struct Tokenizer::Impl : TokenizerParts {};

}  // namespace gt::tok
