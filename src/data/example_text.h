// A training example shown as text with its trained part marked, so a person can check what a row becomes before
// a run (`gemma-tune wizard`). Torch-free.
//
// The ids are decoded in runs of trained and untrained positions; a trained position is one the shifted loss scores
// (t >= 1 and labels[t] != kIgnoreIndex, as Example::supervised_tokens counts them), and each trained run is put
// between the two marks. Special tokens are kept, so the chat markers show. Long runs of one repeated special token
// (the image and audio placeholders: 256 x <image_soft_token>) are written once with their count,
// "<image_soft_token>x256", which is how many soft tokens the medium takes.
#pragma once

#include <string>

#include "data/example.h"
#include "tokenizer/tokenizer.h"

namespace gt::data {

struct TrainedMarks {
  std::string open = "⟦";
  std::string close = "⟧";
};

// Marks for a terminal: the trained text in bold green (ANSI SGR codes, ECMA-48).
TrainedMarks ansi_trained_marks();

// The example's text with each trained run between marks.open and marks.close. A longer example than `max_tokens`
// (0: no limit) shows its first and last max_tokens / 2 tokens around "…(N tokens)…", each part with its own marks.
// Throws gt::InputError for an id outside the tokenizer's vocabulary.
std::string render_example(const Example& ex, const tok::Tokenizer& tokenizer, const TrainedMarks& marks = {},
                           size_t max_tokens = 0);

}  // namespace gt::data
