// `gemma-tune eval`: mean cross-entropy over the supervised tokens of a whole dataset file (sum of token losses /
// number of supervised tokens), for a model alone or with a LoRA adapter (ours or one trained with PEFT).
#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <iostream>

#include "core/error.h"
#include "data/dataset_files.h"
#include "models/peft_adapter.h"
#include "train/batches_torch.h"
#include "train/commands.h"
#include "train/run_setup.h"

namespace gt::train {

void run_eval(const EvalOptions& o) {
  TrainConfig cfg = o.run;
  if (cfg.model.empty() || cfg.data.empty()) fail_input("eval: --model and --data are required");
  if (!o.adapter.empty() && !o.image_token_budget_given) {
    const models::AdapterConfig trained = models::read_adapter_config(o.adapter);
    if (trained.image_token_budget > 0) cfg.image_token_budget = trained.image_token_budget;
  }
  RunSetup setup(cfg);
  data::TextDataset ds = setup.load_dataset(data::evaluation_file(cfg.data));
  if (!o.json) std::cerr << "data     " << ds.summary.describe() << "\n";

  models::LoadedModel lm = setup.load_model();
  if (!o.adapter.empty()) {
    const size_t n = models::load_adapter(o.adapter, lm.model->text());
    if (!o.json) std::cerr << "adapter  " << o.adapter << " (" << n << " LoRA layers)\n";
  }
  EvalResult r = evaluate(*lm.model, ds.examples, cfg.batch_size, setup.pad_id, setup.device, "eval", setup.media_readers());
  if (o.json) {
    std::cout << nlohmann::json{{"loss", r.loss}, {"tokens", r.tokens}}.dump() << "\n";
  } else {
    std::cout << "loss " << r.loss << " over " << r.tokens << " supervised tokens (perplexity " << std::exp(r.loss)
              << ")\n";
  }
}

}  // namespace gt::train
