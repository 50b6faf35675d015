// `gemma-tune wizard` driven through its standard input on a tiny checkpoint and dataset (tests/cli/tiny_setup.h):
// the YAML it writes is what `train --config` reads, with the answers given and the defaults taken on empty lines;
// refused answers are asked again with the reason; the dataset's skipped rows are counted by reason and its first
// rows shown with the trained part marked; the input ending early writes nothing; "start now" trains a run.
#include <gtest/gtest.h>

#include <filesystem>
#include <initializer_list>
#include <regex>
#include <string>

#include "cli/tiny_setup.h"
#include "core/train_config.h"
#include "test_util.h"

namespace fs = std::filesystem;
using gt::test::quote;
using gt::test::read_file;
using gt::test::run_cli;
using gt::test::TinySetup;

namespace {

// One answer a line.
std::string lines(std::initializer_list<std::string> answers) {
  std::string s;
  for (const std::string& a : answers) s += a + "\n";
  return s;
}

// The run config without the wizard's two comment lines at the top: what to_yaml wrote.
std::string yaml_body(const fs::path& p) {
  const std::string text = read_file(p);
  EXPECT_EQ(text.rfind("# gemma-tune run config written by `gemma-tune wizard`", 0), 0u) << text;
  const size_t second = text.find("\n# Train with: gemma-tune train --config ");
  EXPECT_NE(second, std::string::npos) << text;
  return second == std::string::npos ? text : text.substr(text.find('\n', second + 1) + 1);
}

// The answers from the runs folder on, after an Enter for the live page question (off) when this build's option
// table has `live` (train --live).
std::string from_runs(std::initializer_list<std::string> answers) {
  bool live = false;
  for (const gt::ConfigField& f : gt::train_config_fields()) live |= f.key == "live";
  return (live ? "\n" : "") + lines(answers);
}

// The answers up to the dataset for a text instruction run: task 1, the two columns kept.
std::string up_to_dataset(const TinySetup& s, const fs::path& data) {
  return lines({"1", "", "", s.model.string(), data.string()});
}

}  // namespace

TEST(WizardCli, WritesTheAnswersAsAConfigThatTrainReadsBack) {
  TinySetup s;
  const fs::path cfg = s.tmp / "cfg/run.yaml";
  // max_steps, lr, lora_r, batch_size, max_seq_len, gradient_checkpointing, quantize, device; runs folder, name.
  auto r = run_cli("wizard --no-start --config-out " + quote(cfg),
                   up_to_dataset(s, s.data) +
                       lines({"2", "0.01", "4", "2", "64", "yes", "int8", "cpu"}) + from_runs({s.runs.string(), "wiz"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "gemma-tune train --config " + cfg.string() + "\n") << "stdout holds the command alone";
  gt::TrainConfig expected;
  expected.model = s.model.string();
  expected.data = s.data.string();
  expected.out = s.runs.string();
  expected.name = "wiz";
  expected.max_steps = 2;
  expected.lr = 0.01;
  expected.lora_r = 4;
  expected.batch_size = 2;
  expected.max_seq_len = 64;
  expected.gradient_checkpointing = true;
  expected.quantize = "int8";
  expected.device = "cpu";
  EXPECT_EQ(yaml_body(cfg), gt::to_yaml(expected));
  EXPECT_FALSE(fs::exists(s.runs)) << "--no-start trains nothing";

  auto train = run_cli("train --config " + quote(cfg));
  ASSERT_EQ(train.exit_code, 0) << train.err;
  const fs::path run = gt::test::run_named(s.runs, "wiz");
  ASSERT_FALSE(run.empty());
  EXPECT_EQ(read_file(run / "config.yaml"), gt::to_yaml(expected)) << "train read back exactly what was written";
  EXPECT_EQ(gt::test::step_losses(run).size(), 2u);
}

TEST(WizardCli, EmptyLinesTakeTheDefaults) {
  TinySetup s;
  // Every question but the model and the dataset answered with Enter, in a folder of its own: the default run config
  // file is ./<model folder>-<task>.yaml there, the default runs folder "runs".
  const fs::path here = s.tmp / "here";
  fs::create_directories(here);
  auto r = gt::test::run_shell("cd " + quote(here) + " && '" + gt::test::cli_path() + "' wizard --no-start",
                               lines({"", "", "", s.model.string(), s.data.string(), "", "", "", "", "", "", "", "",
                                      ""}) + from_runs({"", "", ""}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "gemma-tune train --config ./model-instruction.yaml\n");
  gt::TrainConfig expected;
  expected.model = s.model.string();
  expected.data = s.data.string();
  expected.name = "model-instruction";
  EXPECT_EQ(yaml_body(here / "model-instruction.yaml"), gt::to_yaml(expected));
  EXPECT_NE(r.err.find("task (1-6) [1]: "), std::string::npos) << "the default is shown in brackets: " << r.err;
  EXPECT_NE(r.err.find("lr [2e-04]: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Peak learning rate"), std::string::npos) << "each setting is explained: " << r.err;
}

TEST(WizardCli, RefusedAnswersAreAskedAgainWithTheReason) {
  TinySetup s;
  fs::create_directories(s.tmp / "empty");
  const fs::path cfg = s.tmp / "run.yaml";
  auto r = run_cli("wizard --no-start --config-out " + quote(cfg),
                   lines({"9", "1", "", "", (s.tmp / "missing").string(), (s.tmp / "empty").string(),
                          s.model.string(), (s.tmp / "nodata").string(), s.data.string(), "-3", "2", "", "", "", "",
                          "", "", ""}) + from_runs({s.runs.string(), ""}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("not accepted: \"9\" is not one of 1-6"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not accepted: " + (s.tmp / "missing").string() + " has the problems listed above"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("not accepted: " + (s.tmp / "empty").string() + " has the problems listed above"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("problem: "), std::string::npos) << "doctor's problems are shown: " << r.err;
  EXPECT_NE(r.err.find("nodata: no such file or folder"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not accepted: --max-steps is -3, expected a value >= 0"), std::string::npos) << r.err;
  EXPECT_NE(read_file(cfg).find("max_steps: 2\n"), std::string::npos);

  // Five refusals of one question end the wizard with the last reason, and nothing is written.
  const fs::path cfg2 = s.tmp / "run2.yaml";
  auto stubborn = run_cli("wizard --no-start --config-out " + quote(cfg2), lines({"0", "x", "7", "1.5", "abc", "1"}));
  EXPECT_EQ(stubborn.exit_code, 1);
  EXPECT_NE(stubborn.err.find("error: wizard: no acceptable answer to \"task (1-6)\" after 5 tries"), std::string::npos)
      << stubborn.err;
  EXPECT_FALSE(fs::exists(cfg2));
}

TEST(WizardCli, AModelWithoutTheTowerTheTaskNeedsIsRefused) {
  TinySetup s;
  // The same checkpoint with its config.json stripped of the audio tower's section.
  const fs::path deaf = s.tmp / "deaf";
  fs::copy(s.model, deaf, fs::copy_options::recursive);
  nlohmann::json config = gt::test::read_json(deaf / "config.json");
  ASSERT_TRUE(config.contains("audio_config"));
  config.erase("audio_config");
  gt::test::write_file(deaf / "config.json", config.dump(2));
  // Speech recognition (5): the audio and text columns kept, the deaf model refused, the whole one taken; then the
  // input ends at the dataset.
  auto r = run_cli("wizard --no-start --config-out " + quote(s.tmp / "run.yaml"),
                   lines({"5", "", "", deaf.string(), s.model.string()}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not accepted: " + deaf.string() + " has no audio tower, which speech recognition needs"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("before an answer to \"dataset\""), std::string::npos) << "the whole model was taken: " << r.err;
  EXPECT_FALSE(fs::exists(s.tmp / "run.yaml"));
}

TEST(WizardCli, ShowsTheRowsThatWouldBeSkippedByReason) {
  TinySetup s;
  std::string rows;
  for (const char* row : gt::test::kRows) rows += std::string(row) + "\n";
  rows += "not json\n{\"prompt\": \"x\", \"response\": \"  \"}\n{\"prompt\": \"y\"}\n{\"oops\": 1\n";
  gt::test::write_file(s.tmp / "bad.jsonl", rows);
  auto r = run_cli("wizard --no-start --config-out " + quote(s.tmp / "run.yaml"),
                   up_to_dataset(s, s.tmp / "bad.jsonl") + lines({"", "", "", "", "", "", "", "", ""}) + from_runs({s.runs.string(), ""}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("skipped     4 of 12 rows would be left out of training, by reason: bad_json 2 empty_answer 1 "
                       "missing_column 1"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("bad.jsonl row 9: "), std::string::npos) << "the first skipped rows with their reasons: " << r.err;
  EXPECT_NE(r.err.find("train       bad.jsonl: 12 rows, 8 examples, 4 skipped"), std::string::npos) << r.err;

  // A max_seq_len too small for some rows reads the data again: they are too_long now.
  auto shorter = run_cli("wizard --no-start --config-out " + quote(s.tmp / "run2.yaml"),
                         up_to_dataset(s, s.data) + lines({"", "", "", "", "", "12", "", "", ""}) + from_runs({s.runs.string(), ""}));
  ASSERT_EQ(shorter.exit_code, 0) << shorter.err;
  EXPECT_NE(shorter.err.find("too_long"), std::string::npos) << shorter.err;
}

TEST(WizardCli, MarksTheTrainedPartOfTheFirstRows) {
  TinySetup s;
  auto r = run_cli("wizard --no-start --config-out " + quote(s.tmp / "run.yaml"),
                   up_to_dataset(s, s.data) + lines({"", "", "", "", "", "", "", "", ""}) + from_runs({s.runs.string(), ""}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("the trained part between ⟦ and ⟧"), std::string::npos) << r.err;
  // The prompt is not trained; the answer with its end-of-turn marker and newline is.
  EXPECT_NE(r.err.find("  train.jsonl:1\n    <bos><|turn>user\n    What colour is the sky?<turn|>\n    <|turn>model\n"
                       "    ⟦Blue.<turn|>\n    ⟧\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("  train.jsonl:3\n"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("  train.jsonl:4\n"), std::string::npos) << "three rows shown: " << r.err;

  // Completion rows: every token but <bos> is trained.
  gt::test::write_file(s.tmp / "text.jsonl", "{\"text\": \"the cat sat\"}\n");
  auto completion = run_cli("wizard --no-start --config-out " + quote(s.tmp / "run2.yaml"),
                            lines({"2", "", s.model.string(), (s.tmp / "text.jsonl").string(), "", "", "", "", "", "",
                                   "", "", ""}) + from_runs({s.runs.string(), ""}));
  ASSERT_EQ(completion.exit_code, 0) << completion.err;
  EXPECT_NE(completion.err.find("    <bos>⟦the cat sat⟧\n"), std::string::npos) << completion.err;
}

TEST(WizardCli, EstimatesMemoryAndTimeAndSaysWhatItAssumes) {
  TinySetup s;
  auto r = run_cli("wizard --no-start --config-out " + quote(s.tmp / "run.yaml"),
                   up_to_dataset(s, s.data) + lines({"", "", "", "", "", "", "", "", ""}) + from_runs({s.runs.string(), ""}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("device      cpu"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("memory      about "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("time        about "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("assumes     a rough estimate, not a measurement"), std::string::npos) << r.err;
}

TEST(WizardCli, TheInputEndingEarlyWritesNothing) {
  TinySetup s;
  const fs::path cfg = s.tmp / "run.yaml";
  auto r = run_cli("wizard --config-out " + quote(cfg), up_to_dataset(s, s.data) + lines({"2", "0.01"}));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("error: wizard: the input ended before an answer to \"lora_r\"; nothing was written"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(cfg));
  EXPECT_FALSE(fs::exists(s.runs));
  EXPECT_TRUE(r.out.empty()) << r.out;
  // Even at the last question (start now?), nothing is written before it is answered.
  auto last = run_cli("wizard --config-out " + quote(cfg),
                      up_to_dataset(s, s.data) + lines({"", "", "", "", "", "", "", "", ""}) + from_runs({s.runs.string(), ""}));
  EXPECT_EQ(last.exit_code, 1);
  EXPECT_NE(last.err.find("before an answer to \"start training now?\""), std::string::npos) << last.err;
  EXPECT_FALSE(fs::exists(cfg));
}

TEST(WizardCli, AnExistingConfigIsOverwrittenOnlyAfterAYes) {
  TinySetup s;
  const fs::path cfg = s.tmp / "run.yaml";
  gt::test::write_file(cfg, "keep: me\n");
  const std::string answers =
      up_to_dataset(s, s.data) + lines({"", "", "", "", "", "", "", "", ""}) + from_runs({s.runs.string(), ""});
  auto no = run_cli("wizard --no-start --config-out " + quote(cfg), answers + "n\n");
  EXPECT_EQ(no.exit_code, 1);
  EXPECT_NE(no.err.find("exists and was not overwritten"), std::string::npos) << no.err;
  EXPECT_EQ(read_file(cfg), "keep: me\n");
  auto yes = run_cli("wizard --no-start --config-out " + quote(cfg), answers + "y\n");
  ASSERT_EQ(yes.exit_code, 0) << yes.err;
  EXPECT_NE(read_file(cfg).find("model: "), std::string::npos);
}

TEST(WizardCli, RemoteDatasetsAreAcceptedWithoutReadingThem) {
  TinySetup s;
  const fs::path cfg = s.tmp / "run.yaml";
  // No network here: gs:// is taken as given; a streamed run must name its steps.
  auto r = run_cli("wizard --no-start --config-out " + quote(cfg),
                   lines({"1", "", "", s.model.string(), "gs://no-such-bucket/train-*.jsonl", "", "5", "", "", "", "",
                          "", "", ""}) + from_runs({s.runs.string(), ""}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("is not read now"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not accepted: an answer is needed"), std::string::npos) << "max_steps has no default" << r.err;
  const std::string yaml = read_file(cfg);
  EXPECT_NE(yaml.find("data: \"gs://no-such-bucket/train-*.jsonl\""), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("max_steps: 5\n"), std::string::npos) << yaml;
}

TEST(WizardCli, StartingNowTrainsARun) {
  TinySetup s;
  const fs::path cfg = s.tmp / "run.yaml";
  // max_steps 2, lr 0.01, batch_size 2, max_seq_len 64, device cpu; Enter at "start training now? [Y/n]".
  auto r = run_cli("wizard --config-out " + quote(cfg),
                   up_to_dataset(s, s.data) +
                       lines({"2", "0.01", "", "2", "64", "", "", "cpu"}) + from_runs({s.runs.string(), "now", ""}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << "no command to print: it ran; " << r.out;
  EXPECT_NE(r.err.find("starting    gemma-tune train --config " + cfg.string()), std::string::npos) << r.err;
  const fs::path run = gt::test::run_named(s.runs, "now");
  ASSERT_FALSE(run.empty()) << r.err;
  EXPECT_EQ(gt::test::read_json(run / "metadata.json")["status"], "completed");
  EXPECT_TRUE(fs::exists(run / "adapter/adapter_model.safetensors"));
  EXPECT_EQ(gt::test::step_losses(run).size(), 2u);
  EXPECT_EQ(read_file(run / "config.yaml"), yaml_body(cfg));
  // The estimate counted the LoRA parameters and the weights that the run then had.
  std::smatch estimated, trained;
  ASSERT_TRUE(std::regex_search(r.err, estimated, std::regex(R"(\((\d+) parameters x 16 bytes\))"))) << r.err;
  ASSERT_TRUE(std::regex_search(r.err, trained, std::regex(R"(\((\d+) trainable of )"))) << r.err;
  EXPECT_EQ(estimated[1], trained[1]);
  ASSERT_TRUE(std::regex_search(r.err, estimated, std::regex(R"(: weights ([0-9.]+ \w+) \+)"))) << r.err;
  ASSERT_TRUE(std::regex_search(r.err, trained, std::regex(R"(layers, ([0-9.]+ \w+) of weights on cpu)"))) << r.err;
  EXPECT_EQ(estimated[1], trained[1]);
}
