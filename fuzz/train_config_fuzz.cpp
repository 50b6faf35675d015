// YAML run configs (core/train_config.h): apply_yaml on arbitrary bytes, then validate(). A config that applies
// must survive its own round trip: to_yaml of it, applied to the defaults, gives the same YAML again (the resolved
// config.yaml of a run folder is read back this way by --resume).
#include "core/train_config.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = gt::fuzz::input_file("run.yaml", gt::fuzz::as_text(data, size));
  gt::TrainConfig cfg;
  bool applied = false;
  gt::fuzz::expect_input_errors([&] {
    gt::apply_yaml(cfg, path);
    applied = true;
    gt::validate(cfg);
  });
  if (!applied) return 0;
  const std::string yaml = gt::to_yaml(cfg);
  const std::string again_path = gt::fuzz::input_file("config.yaml", yaml);
  gt::TrainConfig again;
  try {
    gt::apply_yaml(again, again_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "to_yaml wrote a config that apply_yaml refuses: %s\n%s\n", e.what(), yaml.c_str());
    gt::fuzz::finding("to_yaml output is refused by apply_yaml");
  }
  if (gt::to_yaml(again) != yaml) {
    std::fprintf(stderr, "first:\n%s\nsecond:\n%s\n", yaml.c_str(), gt::to_yaml(again).c_str());
    gt::fuzz::finding("to_yaml -> apply_yaml -> to_yaml changed the config");
  }
  return 0;
}
