// config.json of a checkpoint (io/model_config.h): parse_model_config on arbitrary text. A config that parses must
// have resolved every per-layer list to num_hidden_layers entries, as the model code indexes them without checks.
#include "fuzz_util.h"
#include "io/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(gt::fuzz::as_text(data, size));
  gt::fuzz::expect_input_errors([&] {
    const gt::io::ModelConfig c = gt::io::parse_model_config(text, "fuzz/config.json");
    const auto layers = size_t(c.text.num_hidden_layers);
    if (c.text.layer_types.size() != layers || c.text.layer_head_dim.size() != layers ||
        c.text.layer_num_kv_heads.size() != layers || c.text.layer_intermediate_size.size() != layers ||
        c.text.kv_source_layer.size() != layers)
      gt::fuzz::finding("a per-layer list does not have num_hidden_layers entries");
    for (int64_t l = 0; l < c.text.num_hidden_layers; ++l) {
      const int64_t src = c.text.kv_source_layer[size_t(l)];
      if (src < 0 || src > l) gt::fuzz::finding("kv_source_layer outside [0, layer]");
      (void)c.text.rope(l);
    }
  });
  return 0;
}
