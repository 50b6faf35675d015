#include "train/run_setup.h"

#include "core/device.h"
#include "core/error.h"
#include "train/batches_torch.h"

namespace gt::train {

namespace {

const TrainConfig& checked(const TrainConfig& cfg) {
  validate(cfg);
  const std::string& m = cfg.modality;
  auto modes = [&](std::initializer_list<const char*> allowed, const char* what) {
    for (const char* a : allowed)
      if (cfg.mode == a) return;
    std::string list;
    for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
    fail_input("--modality ", m, " trains ", what, ": --mode ", list, ", not ", cfg.mode);
  };
  if (m == "text") modes({"instruction", "completion"}, "conversations or plain text");
  if (m == "audio") modes({"instruction"}, "transcriptions and audio conversations");
  if (m == "image") modes({"instruction", "caption", "vqa"}, "captions, visual questions and image conversations");
  if (m == "audiovisual") modes({"instruction", "caption"}, "captions of an image and a clip");
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
  if (!cfg.exclude.empty()) excluded_ids = data::read_excluded_ids(cfg.exclude);
  data::TextDatasetOptions& o = dataset_options;
  o.mode = cfg.mode == "completion" ? data::TextMode::Completion : data::TextMode::Instruction;  // caption, vqa: rows
  o.max_seq_len = cfg.max_seq_len;
  o.prompt_column = cfg.prompt_column;
  o.response_column = cfg.response_column;
  o.text_column = cfg.text_column;
  o.system_prompt = cfg.system_prompt;
  if (cfg.modality == "audio" || cfg.modality == "audiovisual") {
    audio = std::make_unique<AudioInputs>(cfg.model, model_config, cfg.max_duration);
    o.audio = audio->row_options(cfg.audio_column, cfg.audio_prompt);
  }
  if (cfg.modality == "image" || cfg.modality == "audiovisual") {
    images = std::make_unique<ImageInputs>(cfg.model, model_config, cfg.image_token_budget);
    o.image = images->row_options(cfg);
    o.image_rows = cfg.mode == "vqa" ? data::ImageRowKind::Vqa
                   : cfg.mode == "caption" ? data::ImageRowKind::Caption
                                           : data::ImageRowKind::Auto;
    o.audiovisual_prompt = cfg.audiovisual_prompt;
  }
}

data::TextDataset RunSetup::load_dataset(const std::string& file) const {
  data::TextDataset ds = data::load_text_dataset(file, dataset_options, tokenizer, model_config.family);
  data::exclude_rows(ds, excluded_ids);
  if (ds.examples.empty()) fail_input(file, ": every usable row is listed in --exclude ", cfg_.exclude);
  return ds;
}

models::LoadedModel RunSetup::load_model() const {
  return models::load_model(cfg_.model, {.audio = audio != nullptr, .vision = images != nullptr}, dtype, device);
}

}  // namespace gt::train
