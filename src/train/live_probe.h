// The live page's look inside the model (issue #12): every few steps one fixed row of the data (the probe) goes
// through the model without gradients, and the page is sent the attention of one decoder layer (head-averaged) and
// the model's five most likely next tokens at a few of the row's trained positions; once, the row's image or audio
// spectrogram. Event formats: live/event_hub.h.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "data/example.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"
#include "train/batches_torch.h"

namespace gt::train {

class LiveProbe {
 public:
  // layer < 0: the middle decoder layer. max_bins: the attention map's side at most (longer rows are binned).
  LiveProbe(const data::Example& row, const tok::Tokenizer& tok, const MediaReaders& readers,
            const at::Device& device, int64_t layers, int64_t layer = -1, int64_t max_bins = 96);

  // The "probe" event at `step`: one forward of the row in eval mode (dropout off; the previous mode is restored).
  nlohmann::json run(models::Model& model, int64_t step);

  // The row's "media" event (its first image, or its first clip's log-mel features), or null when it has none.
  nlohmann::json media_event() const;

  int64_t layer() const { return layer_; }

 private:
  data::Example row_;
  const tok::Tokenizer& tok_;
  BatchTensors tensors_;
  ImageInputs* images_;
  int64_t layers_, layer_, max_bins_;
  std::vector<int64_t> predicted_;  // positions whose next-token prediction the page shows
};

// The [T, S] probabilities of a layer binned to at most max_bins a side (queries averaged, keys summed) as
// round(255 * sqrt(p)) bytes, with the bin width: {"size", "bin", "values" (base64)}. Public for the tests.
nlohmann::json attention_map(const at::Tensor& probs, int64_t max_bins);

}  // namespace gt::train
