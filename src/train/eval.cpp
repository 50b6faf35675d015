// `gemma-tune eval`: mean cross-entropy over the supervised tokens of a whole dataset file (sum of token losses /
// number of supervised tokens), for a model alone or with a LoRA adapter (ours or one trained with PEFT).
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <iostream>

#include "core/device.h"
#include "core/error.h"
#include "data/dataset_files.h"
#include "data/text_dataset.h"
#include "models/peft_adapter.h"
#include "models/text_model.h"
#include "tokenizer/tokenizer.h"
#include "train/audio_inputs.h"
#include "train/batches_torch.h"
#include "train/commands.h"

namespace fs = std::filesystem;

namespace gt::train {

void run_eval(const EvalOptions& o) {
  if (o.model.empty() || o.data.empty()) fail_input("eval: --model and --data are required");
  if (o.mode != "instruction" && o.mode != "completion") fail_input("eval: --mode is \"", o.mode, "\", expected instruction or completion");
  const std::string device_name = resolve_device(o.device);
  const at::Device device(device_name);
  const at::ScalarType dtype = resolve_dtype(o.dtype, device_name);
  const tok::Tokenizer tokenizer = tok::Tokenizer::from_model_dir(o.model);
  const io::ModelConfig mcfg = io::load_model_config(o.model);

  // A folder is evaluated on its validation split when it has one, else on its train split.
  std::string file = o.data;
  if (fs::is_directory(o.data)) {
    data::DatasetFiles f = data::find_dataset_files(o.data);
    file = f.validation.empty() ? f.train : f.validation;
  }
  data::TextDatasetOptions dopts = o.dataset;
  dopts.mode = o.mode == "completion" ? data::TextMode::Completion : data::TextMode::Instruction;
  std::unique_ptr<AudioInputs> audio;
  if (o.modality == "audio") {
    audio = std::make_unique<AudioInputs>(o.model, mcfg, dtype, device, o.max_duration);
    dopts.audio = audio->row_options(o.audio_column, o.audio_prompt);
  } else if (o.modality != "text") {
    fail_input("eval: --modality is \"", o.modality, "\", expected text or audio");
  }
  data::TextDataset ds = data::load_text_dataset(file, dopts, tokenizer, mcfg.family);
  if (!o.json) std::cerr << "data     " << ds.summary.describe() << "\n";

  models::LoadedTextModel lm = models::load_text_model(o.model, dtype, device);
  if (!o.adapter.empty()) {
    const size_t n = models::load_adapter(o.adapter, *lm.model);
    if (!o.json) std::cerr << "adapter  " << o.adapter << " (" << n << " LoRA layers)\n";
  }
  EvalResult r = evaluate(*lm.model, ds.examples, o.batch_size, tokenizer.require_id("<pad>"), device, "eval",
                          audio.get());
  if (o.json) {
    std::cout << nlohmann::json{{"loss", r.loss}, {"tokens", r.tokens}}.dump() << "\n";
  } else {
    std::cout << "loss " << r.loss << " over " << r.tokens << " supervised tokens (perplexity " << std::exp(r.loss)
              << ")\n";
  }
}

}  // namespace gt::train
