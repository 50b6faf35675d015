// Packed rows (TextInputs::segment_ids with per-document position_ids) against each document run alone: the final
// hidden states of every document's positions are the same, in both families (float32, tiny random decoders), with a
// document longer than the sliding window, several documents a row, and padding at the end of a row.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include "io/model_presets.h"
#include "models/random_init.h"
#include "models/text_model.h"

using namespace gt;

namespace {

void packed_equals_alone(const std::string& family) {
  io::ModelConfig cfg = io::parse_model_config(io::preset_config(family, "tiny").dump(), "preset");
  std::shared_ptr<models::TextModel> model = models::make_text_model(cfg, at::kFloat, at::Device("cpu"));
  models::random_init(*model, 7);
  model->module().eval();
  const int64_t window = cfg.text.sliding_window;
  const int64_t T = window + 24;
  // Row 0: documents of window + 8, 10 and 4 tokens, then padding; row 1: one document filling the row.
  const std::vector<std::vector<int64_t>> rows = {{window + 8, 10, 4}, {T}};
  torch::manual_seed(1);
  at::Tensor ids = torch::zeros({2, T}, at::kLong), seg = torch::zeros({2, T}, at::kLong),
             pos = torch::zeros({2, T}, at::kLong);
  std::vector<std::tuple<int64_t, int64_t, at::Tensor>> docs;  // row, start, ids
  for (int64_t r = 0; r < 2; ++r) {
    int64_t at = 0, n = 0;
    for (int64_t len : rows[r]) {
      at::Tensor d = torch::randint(3, 250000, {len}, at::kLong);
      ids[r].slice(0, at, at + len).copy_(d);
      seg[r].slice(0, at, at + len).fill_(++n);
      pos[r].slice(0, at, at + len).copy_(torch::arange(len));
      docs.emplace_back(r, at, d);
      at += len;
    }
  }
  torch::NoGradGuard ng;
  models::TextInputs packed;
  packed.input_ids = ids;
  packed.attention_mask = (seg != 0).to(at::kLong);
  packed.position_ids = pos;
  packed.segment_ids = seg;
  const at::Tensor h = model->forward(packed);
  double worst = 0;
  for (const auto& [r, start, d] : docs) {
    models::TextInputs alone;
    alone.input_ids = d.unsqueeze(0);
    const at::Tensor want = model->forward(alone)[0];
    const at::Tensor got = h[r].slice(0, start, start + d.size(0));
    worst = std::max(worst, (got - want).abs().max().item<double>() / want.abs().max().item<double>());
  }
  std::printf("[packing] %s: %zu documents, worst relative difference %.3g\n", family.c_str(), docs.size(), worst);
  EXPECT_LT(worst, 1e-5) << family;
  // Without the segments the documents would see each other: the test can tell.
  packed.segment_ids = at::Tensor();
  const at::Tensor mixed = model->forward(packed);
  EXPECT_GT((mixed[0].slice(0, window + 8, window + 18) - h[0].slice(0, window + 8, window + 18)).abs().max().item<double>(),
            1e-3);
}

}  // namespace

TEST(PackedRows, EachDocumentAsIfAlone) {
  packed_equals_alone("gemma4");
  packed_equals_alone("gemma3n");
}
