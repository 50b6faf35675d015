// data::render_example: the trained runs between marks (the shifted loss's positions: never position 0), special
// tokens kept, long runs of one special token written once with their count, other repeats written out.
// Tokenizer: tests/fixtures/data/gemma4-tiny (311 tokens, the Gemma 4 markers).
#include <gtest/gtest.h>

#include <vector>

#include "data/example_text.h"
#include "test_util.h"

using gt::data::Example;
using gt::data::kIgnoreIndex;
using gt::data::render_example;

namespace {

const gt::tok::Tokenizer& tiny() {
  static const gt::tok::Tokenizer tk =
      gt::tok::Tokenizer::from_file(gt::test::fixture("data/gemma4-tiny/tokenizer.json").string());
  return tk;
}

// `untrained` then `trained` text, tokenized apart, labels = ids on the trained part.
Example example(const std::string& untrained, const std::string& trained) {
  Example ex;
  ex.input_ids = tiny().encode(untrained);
  ex.labels.assign(ex.input_ids.size(), kIgnoreIndex);
  for (int32_t id : tiny().encode(trained)) {
    ex.input_ids.push_back(id);
    ex.labels.push_back(id);
  }
  return ex;
}

}  // namespace

TEST(ExampleText, MarksTheTrainedRuns) {
  Example ex = example("<bos><|turn>user\nhi<turn|>\n<|turn>model\n", "hello<turn|>\n");
  EXPECT_EQ(render_example(ex, tiny()), "<bos><|turn>user\nhi<turn|>\n<|turn>model\n⟦hello<turn|>\n⟧");
  EXPECT_EQ(render_example(ex, tiny(), {"[", "]"}), "<bos><|turn>user\nhi<turn|>\n<|turn>model\n[hello<turn|>\n]");
  EXPECT_EQ(render_example(ex, tiny(), gt::data::ansi_trained_marks()),
            "<bos><|turn>user\nhi<turn|>\n<|turn>model\n\x1b[1;32mhello<turn|>\n\x1b[0m");
  // Two trained turns are two marked runs.
  Example two = example("<bos>a", "b");
  const Example more = example("c", "d");
  two.input_ids.insert(two.input_ids.end(), more.input_ids.begin(), more.input_ids.end());
  two.labels.insert(two.labels.end(), more.labels.begin(), more.labels.end());
  EXPECT_EQ(render_example(two, tiny()), "<bos>a⟦b⟧c⟦d⟧");
}

TEST(ExampleText, PositionZeroIsNeverTrained) {
  // Completion rows label every position, <bos> included; the loss never scores position 0.
  Example ex = example("", "<bos>the cat");
  EXPECT_EQ(render_example(ex, tiny()), "<bos>⟦the cat⟧");
}

TEST(ExampleText, LongRunsOfASpecialTokenShowTheirCount) {
  Example ex = example("<bos><pad><pad><pad><pad><pad><pad>\n\n\n\n\n<pad><pad><pad>x", "y");
  EXPECT_EQ(render_example(ex, tiny()), "<bos><pad>×6\n\n\n\n\n<pad><pad><pad>x⟦y⟧")
      << "six placeholders collapse; three do not; repeated newlines (not special) are text";
}

TEST(ExampleText, LongExamplesShowTheirStartAndEnd) {
  Example ex = example("<bos>a b c d", "e f g h<turn|>");
  const std::string whole = render_example(ex, tiny());
  EXPECT_EQ(render_example(ex, tiny(), {}, ex.input_ids.size()), whole) << "not longer than the limit: whole";
  // 4 tokens: the first two and the last two, marks closed before the gap and opened after it.
  const std::string cut = render_example(ex, tiny(), {}, 4);
  const size_t gap = ex.input_ids.size() - 4;
  EXPECT_EQ(cut, tiny().decode(std::vector<int32_t>(ex.input_ids.begin(), ex.input_ids.begin() + 2)) + "…(" +
                     std::to_string(gap) + " tokens)…⟦" +
                     tiny().decode(std::vector<int32_t>(ex.input_ids.end() - 2, ex.input_ids.end())) + "⟧");
}
