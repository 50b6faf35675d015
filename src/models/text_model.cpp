#include "models/text_model.h"

#include "models/gemma3n/text.h"
#include "models/gemma4/text.h"
#include "models/common/lora_linear.h"
#include "models/common/weights.h"
#include "io/safetensors.h"

namespace gt::models {

std::shared_ptr<TextModel> make_text_model(const io::ModelConfig& cfg, at::ScalarType dtype, at::Device device,
                                           TablePlacement per_layer_table, QuantMode quantize) {
  StageBaseWeightsOnHost stage(quantize != QuantMode::None);
  const auto opts = at::TensorOptions().dtype(dtype).device(device);
  const auto table_opts = per_layer_table == TablePlacement::Host ? opts.device(at::kCPU) : opts;
  if (cfg.family == io::Family::Gemma3n) return std::make_shared<gemma3n::TextModelImpl>(cfg, opts, table_opts);
  return std::make_shared<gemma4::TextModelImpl>(cfg, opts, table_opts);
}

LoadedTextModel load_text_model(const std::string& model_dir, at::ScalarType dtype, at::Device device) {
  LoadedTextModel out;
  out.config = io::load_model_config(model_dir);
  io::Checkpoint ckpt = io::Checkpoint::open(model_dir);
  out.model = make_text_model(out.config, dtype, device);
  LoadReport r = load_weights(out.model->module(), ckpt, out.config.text_prefix);
  out.tensors = r.loaded;
  out.bytes = r.bytes;
  return out;
}

}  // namespace gt::models
