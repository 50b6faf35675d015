#include "train/run_setup.h"

#include "core/device.h"
#include "core/error.h"
#include "train/batches_torch.h"

namespace gt::train {

namespace {

const TrainConfig& checked(const TrainConfig& cfg) {
  validate(cfg);
  if (cfg.modality != "text" && cfg.modality != "audio")
    fail_input("--modality ", cfg.modality, " is not available yet: images and audiovisual rows arrive with the vision issue");
  if (cfg.mode != "instruction" && cfg.mode != "completion")
    fail_input("--mode ", cfg.mode, " needs --modality image (not available yet)");
  if (cfg.modality == "audio" && cfg.mode != "instruction")
    fail_input("--modality audio trains transcriptions and audio conversations (--mode instruction), not --mode ", cfg.mode);
  return cfg;
}

}  // namespace

RunSetup::RunSetup(const TrainConfig& cfg)
    : device_name(resolve_device(checked(cfg).device)),
      device(device_name),
      dtype(resolve_dtype(cfg.dtype, device_name)),
      tokenizer(tok::Tokenizer::from_model_dir(cfg.model)),
      model_config(io::load_model_config(cfg.model)),
      pad_id(tokenizer.require_id("<pad>")),
      cfg_(cfg) {
  data::TextDatasetOptions& o = dataset_options;
  o.mode = cfg.mode == "completion" ? data::TextMode::Completion : data::TextMode::Instruction;
  o.max_seq_len = cfg.max_seq_len;
  o.prompt_column = cfg.prompt_column;
  o.response_column = cfg.response_column;
  o.text_column = cfg.text_column;
  o.system_prompt = cfg.system_prompt;
  if (cfg.modality == "audio") {
    audio = std::make_unique<AudioInputs>(cfg.model, model_config, cfg.max_duration);
    o.audio = audio->row_options(cfg.audio_column, cfg.audio_prompt);
  }
}

data::TextDataset RunSetup::load_dataset(const std::string& file) const {
  return data::load_text_dataset(file, dataset_options, tokenizer, model_config.family);
}

models::LoadedModel RunSetup::load_model() const {
  return models::load_model(cfg_.model, {.audio = audio != nullptr}, dtype, device);
}

}  // namespace gt::train
