#include "train/live_probe.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/error.h"
#include "data/batching.h"
#include "io/crc32c.h"
#include "models/common/attention.h"
#include "models/common/loss.h"
#include "train/image_inputs.h"

namespace gt::train {

using nlohmann::json;

namespace {

std::string base64_of(const at::Tensor& bytes) {
  const at::Tensor b = bytes.contiguous();
  return io::base64_encode(b.data_ptr<uint8_t>(), static_cast<size_t>(b.numel()));
}

// Up to `n` positions spread evenly over the trained ones (t >= 1 with a label), whose token the model predicts
// from position t - 1.
std::vector<int64_t> spread_targets(const data::Example& row, size_t n) {
  std::vector<int64_t> trained;
  for (size_t t = 1; t < row.labels.size(); ++t)
    if (row.labels[t] != data::kIgnoreIndex) trained.push_back(static_cast<int64_t>(t));
  if (trained.size() <= n) return trained;
  std::vector<int64_t> picked;
  for (size_t i = 0; i < n; ++i) picked.push_back(trained[i * (trained.size() - 1) / (n - 1)]);
  return picked;
}

// A token's text for the page; ids past the tokenizer's (a checkpoint's embedding may have more rows than the
// tokenizer has tokens, e.g. Gemma 3n's 262,400 against 262,145) show as their number.
std::string token_text(const tok::Tokenizer& tok, int32_t id) {
  if (id < 0 || static_cast<size_t>(id) >= tok.vocab_size()) return cat("<id ", id, ">");
  return tok.decode(std::span<const int32_t>(&id, 1));
}

}  // namespace

json attention_map(const at::Tensor& probs, int64_t max_bins) {
  GT_CHECK(probs.dim() == 2, "attention probabilities of shape ", probs.sizes());
  const int64_t T = probs.size(0), S = probs.size(1);
  const int64_t side = std::max(T, S);
  const int64_t bin = (side + max_bins - 1) / max_bins;
  const int64_t n = (side + bin - 1) / bin;
  at::Tensor p = torch::zeros({n * bin, n * bin}, at::kFloat);
  p.slice(0, 0, T).slice(1, 0, S).copy_(probs.to(at::kFloat));
  at::Tensor rows = torch::zeros({n * bin}, at::kFloat);
  rows.slice(0, 0, T).fill_(1);
  const at::Tensor counts = rows.view({n, bin}).sum(1).clamp_min(1).view({n, 1});
  const at::Tensor binned = p.view({n, bin, n, bin}).sum(3).sum(1) / counts;  // queries averaged, keys summed
  const at::Tensor bytes = (binned.clamp(0, 1).sqrt() * 255).round().to(at::kByte);
  return {{"size", n}, {"bin", bin}, {"values", base64_of(bytes)}};
}

LiveProbe::LiveProbe(const data::Example& row, const tok::Tokenizer& tok, const MediaReaders& readers,
                     const at::Device& device, int64_t layers, int64_t layer, int64_t max_bins)
    : row_(row), tok_(tok), images_(readers.images), layers_(layers), max_bins_(max_bins) {
  layer_ = layer < 0 ? layers / 2 : layer;
  if (layer_ >= layers) fail_input("--live-layer ", layer, ": the model has decoder layers 0 to ", layers - 1);
  const std::vector<int64_t> one{0};
  std::vector<data::Example> rows{row_};
  tensors_ = to_tensors(data::collate(rows, one, /*pad_id=*/0), device, readers);
  predicted_ = spread_targets(row_, 6);
}

json LiveProbe::run(models::Model& model, int64_t step) {
  const auto t0 = std::chrono::steady_clock::now();
  torch::nn::Module& module = model.text().module();
  const bool was_training = module.is_training();
  module.eval();
  json predictions = json::array();
  at::Tensor probs;
  {
    at::NoGradGuard no_grad;
    models::AttentionCapture capture(layer_);
    const at::Tensor h = model.forward(tensors_.inputs, tensors_.media);  // [1, T, D]
    probs = capture.probs();
    if (!predicted_.empty()) {
      const at::Tensor from = torch::tensor(predicted_, at::kLong).sub(1).to(h.device());
      const at::Tensor logits = models::lm_logits(h.index_select(1, from), model.text().lm_head_weight(),
                                                  model.text().final_logit_softcapping());  // [1, P, V]
      const auto [p, ids] = at::softmax(logits[0].to(at::kFloat), -1).topk(5, -1);
      const at::Tensor pc = p.cpu(), ic = ids.cpu();
      for (size_t i = 0; i < predicted_.size(); ++i) {
        const int64_t t = predicted_[i];
        json top = json::array();
        for (int64_t k = 0; k < 5 && k < ic.size(1); ++k) {
          const int32_t id = static_cast<int32_t>(ic[i][k].item<int64_t>());
          top.push_back({{"token", token_text(tok_, id)}, {"id", id},
                         {"p", pc[i][k].item<float>()}});
        }
        const int32_t target = row_.labels[t];
        predictions.push_back(
            {{"position", t}, {"target", token_text(tok_, target)}, {"top", top}});
      }
    }
  }
  if (was_training) module.train();
  json tokens = json::array();
  for (int32_t id : row_.input_ids) tokens.push_back(token_text(tok_, id));
  json event = {{"type", "probe"},  {"step", step},          {"layer", layer_},         {"layers", layers_},
                {"source", row_.source}, {"tokens", tokens}, {"predictions", predictions}};
  event["attention"] = probs.defined() ? attention_map(probs, max_bins_) : json(nullptr);
  event["cost_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return event;
}

json LiveProbe::media_event() const {
  const models::MediaInputs& m = tensors_.media;
  if (!row_.images.empty() && images_) {
    at::Tensor img = images_->preview(row_.images[0]);  // [3, H, W] uint8, as the processor resizes it
    const int64_t H = img.size(1), W = img.size(2), longest = std::max(H, W);
    if (longest > 256) {  // the page shows it small; the probe's exact pixels are not the point
      const double s = 256.0 / static_cast<double>(longest);
      const std::vector<int64_t> size{std::max<int64_t>(1, std::lround(H * s)), std::max<int64_t>(1, std::lround(W * s))};
      img = torch::nn::functional::interpolate(
                img.unsqueeze(0).to(at::kFloat),
                torch::nn::functional::InterpolateFuncOptions().size(size).mode(torch::kArea))
                .squeeze(0)
                .round()
                .clamp(0, 255)
                .to(at::kByte);
    }
    return {{"type", "media"}, {"kind", "image"},  {"source", row_.images[0].source}, {"width", img.size(2)},
            {"height", img.size(1)}, {"channels", 3}, {"pixels", base64_of(img.permute({1, 2, 0}))}};
  }
  if (m.audio_features.defined() && m.audio_features.size(0) > 0) {
    at::Tensor f = m.audio_features[0].to(at::kFloat).cpu();  // [frames, mel]
    if (m.audio_mask.defined()) f = f.slice(0, 0, std::max<int64_t>(1, m.audio_mask[0].sum().item<int64_t>()));
    const int64_t stride = (f.size(0) + 1199) / 1200;  // at most 1200 columns
    if (stride > 1) f = f.slice(0, 0, f.size(0), stride);
    const float lo = f.min().item<float>(), hi = f.max().item<float>();
    const at::Tensor bytes = ((f - lo) / std::max(hi - lo, 1e-6f) * 255).round().to(at::kByte).t().flip(0);
    return {{"type", "media"},       {"kind", "spectrogram"},     {"source", row_.audio[0].source},
            {"width", bytes.size(1)}, {"height", bytes.size(0)}, {"channels", 1},
            {"pixels", base64_of(bytes)}};
  }
  return nullptr;
}

}  // namespace gt::train
