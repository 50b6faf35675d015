// Bad numbers and unwritable folders through the binary (issue #13): each is a clear error naming the option or
// the folder, exit 1 (gt::InputError) or 2 (usage), never exit 3 with a library's exception.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace {

struct BadOption {
  std::string args;
  int exit_code;
  std::string names;  // what the message must contain: the option
  std::string range;  // ... and the allowed range
};

// The shared options (eval takes train's flags and checks) need no model: they are checked before anything loads.
TEST(OptionChecksCli, NumericOptionsOutOfRangeAreClearErrors) {
  const std::string eval = "eval --model /nonexistent-model --data /nonexistent-data ";
  const std::vector<BadOption> cases = {
      {eval + "--batch-size 0", 1, "--batch-size is 0", "expected a positive value"},
      {eval + "--batch-size -2", 1, "--batch-size is -2", "expected a positive value"},
      {eval + "--max-duration -1", 1, "--max-duration is -1", "expected a positive value"},
      {eval + "--max-duration 0", 1, "--max-duration is 0", "expected a positive value"},
      {eval + "--max-seq-len 3", 1, "--max-seq-len is 3", "at least 8"},
      {eval + "--generate --max-new-tokens 0", 2, "--max-new-tokens", "expected a number > 0"},
      {eval + "--generate --max-rows -1", 2, "--max-rows", "expected a number >= 0"},
      {"generate --model /nonexistent-model --prompt hi --batch-size 0", 2, "--batch-size", "expected a number > 0"},
      {"generate --model /nonexistent-model --prompt hi --max-duration -1", 2, "--max-duration", "expected a number > 0"},
      {"generate --model /nonexistent-model --prompt hi --temperature -1", 2, "--temperature", "expected a number >= 0"},
      {"generate --model /nonexistent-model --prompt hi --top-k -3", 2, "--top-k", "expected a number >= 0"},
      {"prepare --data /nonexistent-data --out /nonexistent-out --max-duration 0", 2, "--max-duration", "expected a number > 0"},
      {"prepare --data /nonexistent-data --out /nonexistent-out --min-duration -1", 2, "--min-duration",
       "expected a number >= 0"},
      {"blacklist --model /m --data /d --max-new-tokens -5", 2, "--max-new-tokens", "expected a number > 0"},
      {"init-random --family gemma4 --size tiny --out /nonexistent-out --vocab-size -5", 2, "--vocab-size",
       "expected a number >= 1"},
      {"init-random --family gemma4 --size tiny --out /nonexistent-out --vocab-size 0", 2, "--vocab-size",
       "expected a number >= 1"},
      {"export --adapter /a --model /m --out /o --max-shard-size -3", 2, "--max-shard-size", "expected a number >= 1"},
      {"export --adapter /a --model /m --out /o --max-shard-size 0", 2, "--max-shard-size", "expected a number >= 1"},
  };
  for (const BadOption& c : cases) {
    const auto r = gt::test::run_cli(c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.names), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_NE(r.err.find(c.range), std::string::npos) << c.args << "\n" << r.err;
    EXPECT_EQ(r.err.find("internal error"), std::string::npos) << c.args << "\n" << r.err;
  }
}

// 2^32 + 20 would wrap to id 20 ("hello" in the tiny tokenizer); it, negative ids and ids past the vocabulary are
// bad lines naming the id and the range.
TEST(OptionChecksCli, DecodeRefusesIdsOutOfRangeInsteadOfWrapping) {
  const std::string tiny = gt::test::fixture("tokenizer/tiny/tokenizer.json").string();
  const auto r = gt::test::run_cli("tokenize --tokenizer '" + tiny + "' --decode",
                                   "[4294967316]\n[-1]\n[18446744073709551615]\n[-9223372036854775808]\n[20]\n");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "null\nnull\nnull\nnull\n{\"text\":\"hello\"}\n");
  EXPECT_NE(r.err.find("token id 4294967316 is out of the tokenizer's range (ids 0.."), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("token id -1 is out"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("token id 18446744073709551615 is out"), std::string::npos) << r.err;
}

// An output folder that cannot be made (here a file stands where a parent folder should be, which fails even for
// root; a read-only folder takes the same path) is named in a clear error, exit 1.
TEST(OptionChecksCli, UnwritableOutputFolderIsAClearError) {
  gt::test::TempDir dir("option-checks");
  gt::test::write_file(dir / "a-file", "x");
  const std::string out = (dir / "a-file" / "sub").string();
  const auto init = gt::test::run_cli("init-random --config-only --out '" + out + "'");
  EXPECT_EQ(init.exit_code, 1) << init.err;
  EXPECT_NE(init.err.find("init-random: --out: cannot create or write the folder"), std::string::npos) << init.err;
  EXPECT_NE(init.err.find(out), std::string::npos) << init.err;

  gt::test::write_file(dir / "train.csv", "audio_path,text\nclip.wav,hello\n");
  const auto prep = gt::test::run_cli("prepare --data '" + (dir / "train.csv").string() + "' --out '" + out + "'");
  EXPECT_EQ(prep.exit_code, 1) << prep.err;
  EXPECT_NE(prep.err.find("prepare: --out: cannot create or write the folder"), std::string::npos) << prep.err;
  EXPECT_NE(prep.err.find(out), std::string::npos) << prep.err;
}

}  // namespace
