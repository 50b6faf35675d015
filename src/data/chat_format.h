// The chat formats of Gemma 3n and Gemma 4, and labels from one tokenization of the rendered string.
// Torch-free.
//
// Rendered strings (then tokenized as ONE string, so the markers become their added tokens):
//   Gemma 3n  <bos><start_of_turn>user\n{prompt}<end_of_turn>\n<start_of_turn>model\n{answer}<end_of_turn>\n...
//             a system message has no turn of its own: it is prepended to the first user turn as
//             "{system}\n\n{prompt}" (what the Hugging Face chat template of Gemma 3/3n does).
//   Gemma 4   <bos><|turn>user\n{prompt}<turn|>\n<|turn>model\n{answer}<turn|>\n...
//             a system message is its own turn first: <|turn>system\n{system}<turn|>\n
// Media (images, audio clips) of a user turn sit where the row put them among its text parts, as the text the
// processor puts in place of each (e.g. <start_of_turn>user\n{image}{audio}{prompt}<end_of_turn>\n for the
// reference's "image + audio + prompt" turn); after a Gemma 3n system message.
// Markers are looked up in the tokenizer by their strings, never by id.
//
// Labels: the trained span of each model turn is its content, its end-of-turn marker and the "\n" after it;
// everything else is kIgnoreIndex. Every model turn of a multi-turn conversation is trained. There are no
// character offsets in our tokenizer, so spans are mapped to tokens by tokenizing the string on both sides of
// each span boundary: because boundaries sit right after "model\n" and right after the "\n" that follows an end
// marker ("\n" is an added token in Gemma's tokenizers), the ids of the part before followed by the ids of the
// part after must be exactly the ids of the whole string; then the boundary falls between two tokens and the
// number of ids before it is exact. That is checked, and a row where it fails is skipped (kLabelBoundary), never
// mislabelled. Cost: two extra tokenizations per boundary, O(turns x length): fine for training data.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "data/example.h"       // RowResult, kIgnoreIndex
#include "io/model_config.h"    // io::Family
#include "tokenizer/tokenizer.h"

namespace gt::data {

enum class Role { System, User, Model };
std::string_view role_name(Role r);  // "system", "user", "model"

// The placeholder text of one image or clip, inserted into a user turn's content before byte `offset`. Media at the
// same offset keep their order. Never cut when an example is shortened.
struct InlineMedia {
  size_t offset = 0;
  std::string text;
};

struct Turn {
  Role role = Role::User;
  std::string content;  // used as given: callers trim it
  std::vector<InlineMedia> media = {};  // user turns: sorted by offset

  // content with the media text inserted.
  std::string rendered_content() const;
};

// A conversation rendered as the string that is tokenized, with the byte ranges that are trained.
struct RenderedChat {
  std::string text;
  std::vector<std::pair<size_t, size_t>> trained_spans;  // [begin, end) byte offsets into text
};

struct LabeledIds {
  std::vector<int32_t> input_ids;
  std::vector<int32_t> labels;
};

// Id of `token` in `tokenizer`, which must encode the string as that single token (an added token), so that the
// rendered string tokenizes to it. Throws gt::InputError naming the token, the tokenizer file and `needed_for`.
int32_t require_single_token(const tok::Tokenizer& tokenizer, std::string_view token, std::string_view needed_for);

class ChatFormat {
 public:
  // Checks that the tokenizer has the family's markers (<bos> and the turn markers) as single tokens; throws
  // gt::InputError naming the missing token and the tokenizer file (e.g. a Gemma 3n tokenizer for a Gemma 4 model).
  ChatFormat(io::Family family, tok::Tokenizer tokenizer);

  // Renders turns in the order [system] user model (user model)... . The order is the caller's to check
  // (text_rows.cpp does); a system turn anywhere but first, or not followed by a user turn, is a logic_error.
  RenderedChat render(std::span<const Turn> turns) const;
  // Tokens of the rendered conversation (what max_seq_len is compared with).
  size_t count_tokens(std::span<const Turn> turns) const;
  // Ids and labels of a rendered conversation. Fails with kLabelBoundary when a span boundary falls inside a
  // token (the check above).
  RowResult<LabeledIds> tokenize(const RenderedChat& chat) const;

  io::Family family() const { return family_; }
  const tok::Tokenizer& tokenizer() const { return tokenizer_; }
  int32_t bos_id() const { return bos_id_; }

 private:
  io::Family family_;
  tok::Tokenizer tokenizer_;
  std::string turn_start_, turn_end_;  // "<start_of_turn>" "<end_of_turn>" or "<|turn>" "<turn|>"
  int32_t bos_id_ = 0;
};

}  // namespace gt::data
