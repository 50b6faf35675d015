// Generation prompts made by the dataset code, so a prompt is tokenized, its images and clips probed and expanded,
// exactly as in training: a conversation whose last turn is the model's is cut where that turn's content starts
// (after "<start_of_turn>model\n" / "<|turn>model\n", the generation prompt), and the cut-off content is the
// reference answer. eval --generate cuts dataset rows; generate gives its conversations a placeholder answer and cuts
// it off the same way.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "data/example.h"
#include "infer/generator.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"
#include "train/batches_torch.h"  // MediaReaders

namespace gt::infer {

struct PromptRow {
  std::vector<int64_t> ids;            // up to and including the generation prompt
  std::vector<data::AudioRef> audio;   // the clips and images of those ids, in text order
  std::vector<data::ImageRef> images;
  std::string reference;               // the last model turn's content (special tokens and edges trimmed)
  std::string source;                  // "file.jsonl:12"
  std::string id;                      // the row's own id when it has one, else source (what blacklists list)
  bool truncated = false;              // the example was cut to max_seq_len (the reference may be cut)
};

// The text of generated ids: special tokens left out, and ids the tokenizer does not have (a model's vocabulary
// can be larger than its tokenizer's: Gemma 3n's media ids above 262144) left out too.
std::string answer_text(const tok::Tokenizer& tokenizer, const std::vector<int64_t>& ids);

// Throws gt::InputError naming the row when the example has no trained span (a plain-text completion row).
PromptRow prompt_from_example(const data::Example& e, const tok::Tokenizer& tokenizer);

// The batch's media (rows in order) as the model takes them, through the run's readers.
models::MediaInputs prompt_media(const std::vector<const PromptRow*>& rows, const train::MediaReaders& readers);

// Generates for every row, `batch_size` rows at a time (rows of similar length batched together; results in row
// order), with a progress bar labelled `label` on standard error.
std::vector<Generation> generate_rows(models::Model& model, const std::vector<PromptRow>& rows,
                                      const train::MediaReaders& readers, const GenerationOptions& o,
                                      int64_t batch_size, const std::string& label, GenerationTimes* times = nullptr);

}  // namespace gt::infer
