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
  if (!b.segment_ids.empty()) {  // a packed batch (data::pack_examples)
    t.inputs.segment_ids = make(b.segment_ids);
    t.inputs.position_ids = make(b.position_ids);
  }
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

std::unique_ptr<CachedTowers> open_tower_cache(const std::string& dir, const std::string& model_dir,
                                               const MediaReaders& readers, models::Model& model,
                                               const at::Device& device) {
  if (dir.empty() || (!readers.audio && !readers.images)) return nullptr;
  const io::ModelConfig& cfg = model.config();
  const at::ScalarType dtype = model.text().lm_head_weight().scalar_type();
  const std::string device_type = c10::DeviceTypeName(device.type(), /*lower_case=*/true);
  auto t = std::unique_ptr<CachedTowers>(new CachedTowers{TowerCache(dir), model, {}, {}, cfg.text.hidden_size, dtype});
  if (readers.audio)
    t->audio_settings = tower_settings(model_dir, cfg, "audio", dtype, device_type, readers.audio->cache_settings());
  if (readers.images)
    t->image_settings = tower_settings(model_dir, cfg, "vision", dtype, device_type, readers.images->cache_settings());
  return t;
}

namespace {

// Looks up every item of `refs` (AudioRef or ImageRef) into found[i]; the indices of the misses into `missing`.
template <typename Ref>
void look_up(CachedTowers& towers, const std::vector<Ref>& refs, const std::string& settings,
             std::vector<at::Tensor>& found, std::vector<size_t>& missing) {
  found.assign(refs.size(), at::Tensor());
  for (size_t i = 0; i < refs.size(); ++i) {
    const std::string& key = towers.cache.key(refs[i].source, settings);
    if (auto t = towers.cache.get(key, refs[i].soft_tokens, towers.hidden, towers.dtype))
      found[i] = std::move(*t);
    else
      missing.push_back(i);
  }
}

// Stores the computed soft tokens of the missing items into found[] and the cache (an item whose count differs
// from its placeholders is not stored: the model's scatter reports it).
template <typename Ref>
void fill(CachedTowers& towers, const std::vector<Ref>& refs, const std::string& settings,
          const std::vector<size_t>& missing, const std::vector<at::Tensor>& computed, std::vector<at::Tensor>& found) {
  if (computed.size() != missing.size())
    throw std::logic_error(cat("the towers gave ", computed.size(), " items for ", missing.size(), " asked"));
  for (size_t j = 0; j < missing.size(); ++j) {
    const size_t i = missing[j];
    found[i] = computed[j];
    if (computed[j].size(0) == refs[i].soft_tokens) towers.cache.put(towers.cache.key(refs[i].source, settings), computed[j]);
  }
}

at::Tensor concat(const std::vector<at::Tensor>& items, const at::Device& device) {
  if (items.empty()) return {};
  std::vector<at::Tensor> on_device;
  on_device.reserve(items.size());
  for (const at::Tensor& t : items) on_device.push_back(t.to(device));
  return at::cat(on_device);
}

}  // namespace

BatchTensors to_tensors(const data::Batch& b, const at::Device& device, const MediaReaders& readers,
                        CachedTowers& towers) {
  BatchTensors t = to_tensors(b, device, MediaReaders{});
  const std::vector<data::AudioRef> no_audio;
  const std::vector<data::ImageRef> no_images;
  const std::vector<data::AudioRef>& audio = readers.audio ? b.audio : no_audio;
  const std::vector<data::ImageRef>& images = readers.images ? b.images : no_images;
  std::vector<at::Tensor> audio_soft, image_soft;
  std::vector<size_t> audio_missing, image_missing;
  look_up(towers, audio, towers.audio_settings, audio_soft, audio_missing);
  look_up(towers, images, towers.image_settings, image_soft, image_missing);
  if (!audio_missing.empty() || !image_missing.empty()) {
    data::Batch misses;  // the readers read only the media of a batch
    for (size_t i : audio_missing) misses.audio.push_back(audio[i]);
    for (size_t i : image_missing) misses.images.push_back(images[i]);
    const models::MediaSoftTokens computed = towers.model.media_soft_tokens(media_inputs(misses, readers));
    fill(towers, audio, towers.audio_settings, audio_missing, computed.audio, audio_soft);
    fill(towers, images, towers.image_settings, image_missing, computed.images, image_soft);
  }
  const at::Device on = towers.model.text().lm_head_weight().device();
  t.media.audio_soft_tokens = concat(audio_soft, on);
  t.media.image_soft_tokens = concat(image_soft, on);
  return t;
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
