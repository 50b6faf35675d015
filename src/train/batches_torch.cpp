#include "train/batches_torch.h"

#include "core/error.h"
#include "core/progress.h"
#include "models/common/loss.h"
#include "media/audio_features.h"
#include "train/audio_inputs.h"
#include "train/image_inputs.h"

namespace gt::train {

BatchTensors to_tensors(const data::Batch& b, const at::Device& device, const MediaReaders& readers) {
  const auto opts = at::TensorOptions().dtype(at::kLong);
  auto host = [&](const std::vector<int64_t>& v) {
    return torch::from_blob(const_cast<int64_t*>(v.data()), {b.batch_size, b.seq_len}, opts).clone();
  };
  auto make = [&](const std::vector<int64_t>& v) { return host(v).to(device); };
  BatchTensors t;
  t.inputs.input_ids_host = host(b.input_ids);
  t.inputs.input_ids = t.inputs.input_ids_host.to(device);
  if (b.real_tokens != b.batch_size * b.seq_len) t.inputs.attention_mask = make(b.attention_mask);
  t.labels = make(b.labels);
  t.media = media_inputs(b, readers);
  return t;
}

models::MediaInputs media_inputs(const data::Batch& b, const MediaReaders& readers) {
  models::MediaInputs media;
  if (readers.images) readers.images->add_to(media, b);
  if (readers.audio && !b.audio.empty()) {
    media::AudioFeatures f = readers.audio->features(b);
    media.audio_features = std::move(f.features);
    media.audio_mask = std::move(f.mask);
  }
  return media;
}

at::ScalarType resolve_dtype(const std::string& requested, const std::string& device) {
  if (requested == "float32") return at::kFloat;
  if (requested == "bfloat16") return at::kBFloat16;
  if (requested == "auto" || requested.empty()) return device == "cpu" ? at::kFloat : at::kBFloat16;
  fail_input("--dtype is \"", requested, "\", expected auto, float32 or bfloat16");
}

EvalResult evaluate(models::Model& model, const std::vector<data::Example>& examples, int64_t batch_size,
                    int64_t pad_id, const at::Device& device, const std::string& label, const MediaReaders& readers) {
  torch::NoGradGuard no_grad;
  torch::nn::Module& module = model.text().module();
  const bool was_training = module.is_training();
  module.eval();
  std::vector<int64_t> order(examples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int64_t>(i);
  double sum = 0;
  int64_t tokens = 0;
  Progress bar(label, static_cast<int64_t>(examples.size()), 30.0);
  for (size_t s = 0; s < order.size(); s += static_cast<size_t>(batch_size)) {
    const size_t e = std::min(order.size(), s + static_cast<size_t>(batch_size));
    data::Batch b = data::collate(examples, std::span<const int64_t>(order.data() + s, e - s), pad_id);
    BatchTensors t = to_tensors(b, device, readers);
    at::Tensor h = model.forward(t.inputs, t.media);
    models::LossSum ls =
        models::causal_lm_loss(h, t.labels, model.text().lm_head_weight(), model.text().final_logit_softcapping());
    sum += ls.sum.item<double>();
    tokens += ls.tokens;
    bar.update(static_cast<int64_t>(e), tokens ? cat("loss ", sum / static_cast<double>(tokens)) : "");
  }
  bar.finish();
  if (was_training) module.train();
  return {tokens ? sum / static_cast<double>(tokens) : 0.0, tokens};
}

}  // namespace gt::train
