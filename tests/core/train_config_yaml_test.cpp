// YAML run configs (core/train_config.h): refusals of malformed files that fuzzing found (fuzz/train_config_fuzz.cpp).
#include <gtest/gtest.h>

#include "core/error.h"
#include "core/train_config.h"
#include "test_util.h"

// A key that is a list ("? [a, b]") made yaml-cpp's as<std::string>() throw its own exception, which is no InputError.
TEST(TrainConfigYaml, ListOrMapAsKeyIsRefusedNamingTheLine) {
  gt::test::TempDir tmp("yaml");
  for (const std::string text : {"lr: 1e-4\n? [a, b]\n: 1\n", "lr: 1e-4\n{x: 1}: 2\n"}) {
    const auto path = tmp / "run.yaml";
    gt::test::write_file(path, text);
    gt::TrainConfig cfg;
    const std::string m = gt::test::error_of([&] { gt::apply_yaml(cfg, path.string()); });
    EXPECT_NE(m.find(path.string() + ": line 2: an option name must be a single word"), std::string::npos) << m;
  }
}

// The options' text reads the same from YAML after the key check: words, numbers and booleans.
TEST(TrainConfigYaml, ScalarKeysStillApply) {
  gt::test::TempDir tmp("yaml");
  const auto path = tmp / "run.yaml";
  gt::test::write_file(path, "lr: 1e-4\ngradient_checkpointing: YES\nlora_r: 8\n");
  gt::TrainConfig cfg;
  EXPECT_EQ(gt::apply_yaml(cfg, path.string()), (std::vector<std::string>{"lr", "gradient_checkpointing", "lora_r"}));
  EXPECT_DOUBLE_EQ(cfg.lr, 1e-4);
  EXPECT_TRUE(cfg.gradient_checkpointing);
  EXPECT_EQ(cfg.lora_r, 8);
  gt::test::write_file(path, "gradient_checkpointing: \xc3\xa9\n");
  EXPECT_NE(gt::test::error_of([&] { gt::apply_yaml(cfg, path.string()); }).find("expected true or false"),
            std::string::npos);
}

// "nan" and "inf" read as numbers (strtod) and reach the numeric options as doubles: each is refused by name, never
// trained with (YAML's own .nan / .inf are not numbers to the reader and are refused before).
TEST(TrainConfigYaml, NanAndInfinityAreRefusedForEveryCheckedNumber) {
  gt::test::TempDir tmp("yaml");
  const auto path = tmp / "run.yaml";
  const std::pair<const char*, const char*> cases[] = {
      {"max_grad_norm: nan\n", "--max-grad-norm is nan"}, {"lora_dropout: nan\n", "--lora-dropout is nan"},
      {"adam_beta1: nan\n", "--adam-beta1 is nan"},       {"adam_beta2: NaN\n", "--adam-beta2 is nan"},
      {"lr: inf\n", "--lr is inf"},                        {"weight_decay: inf\n", "--weight-decay is inf"},
      {"max_grad_norm: .nan\n", "max_grad_norm is \".nan\", expected a number"},
  };
  for (const auto& [text, expected] : cases) {
    gt::test::write_file(path, text);
    gt::TrainConfig cfg;
    cfg.model = "m";
    cfg.data = "d";
    const std::string m = gt::test::error_of([&] {
      gt::apply_yaml(cfg, path.string());
      gt::validate(cfg);
    });
    EXPECT_NE(m.find(expected), std::string::npos) << text << m;
  }
}
