#include "train/audio_inputs.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/strings.h"
#include "data/audio_tokens.h"
#include "media/audio_decode.h"
#include "media/audio_features.h"
#include "train/batches_torch.h"

namespace gt::train {

namespace {

// Decoded clips kept in memory between batches (a 16 kHz float clip is 64 KB per second: 256 MiB holds ~70 min).
constexpr size_t kCacheBytes = size_t{256} << 20;

}  // namespace

AudioInputs::AudioInputs(const std::string& model_dir, const io::ModelConfig& cfg, at::ScalarType dtype,
                         at::Device device, double max_duration)
    : AudioInputs(models::load_audio_tower(model_dir, cfg, dtype, device), cfg, dtype, device, max_duration,
                  model_dir) {}

AudioInputs::AudioInputs(std::shared_ptr<models::AudioTower> tower, const io::ModelConfig& cfg, at::ScalarType dtype,
                         at::Device device, double max_duration, const std::string& model_dir)
    : model_dir_(model_dir), cfg_(cfg), dtype_(dtype), device_(device), max_duration_(max_duration),
      tower_(std::move(tower)) {
  if (!cfg.has_audio_config())
    fail_input(cfg.path, ": the model has no audio_config, so it cannot take audio (is it a text-only checkpoint?)");
  if (!cfg.media.audio_token_id)
    fail_input(cfg.path, ": the model config has no audio_token_id, which audio inputs need");
  features_ = std::make_unique<media::AudioFeatureConfig>(
      media::audio_feature_config(std::string(io::family_name(cfg.family)), model_dir));
  if (cfg.family == io::Family::Gemma3n) {
    const nlohmann::json a = nlohmann::json::parse(cfg.audio_config_json);
    hard_vocab_offset_ = a.value("vocab_offset", int64_t{262272});
    hard_vocab_last_ = hard_vocab_offset_ + a.value("vocab_size", int64_t{128}) - 1;
  }
}

AudioInputs::~AudioInputs() = default;

int64_t AudioInputs::tower_parameters() const {
  int64_t n = 0;
  for (const auto& p : tower_->module().parameters()) n += p.numel();
  return n;
}

data::AudioRowOptions AudioInputs::row_options(const std::string& column, const std::string& prompt) {
  data::AudioRowOptions o;
  o.column = column;
  o.prompt = prompt;
  const auto rule = std::make_shared<data::AudioTokenRule>(data::audio_token_rule(cfg_, model_dir_));
  o.probe = [this, rule](const std::string& source) -> data::RowResult<data::AudioRef> {
    using R = data::RowResult<data::AudioRef>;
    try {
      const std::vector<float>& s = samples(source);
      if (s.empty()) return R::fail(data::skip_kind::kEmptyAudio, cat(source, ": the clip has no samples"));
      data::AudioRef ref;
      ref.source = source;
      ref.samples = static_cast<int64_t>(s.size());
      ref.seconds = static_cast<double>(s.size()) / static_cast<double>(features_->sampling_rate);
      ref.cut = cut_.count(source) > 0;
      ref.soft_tokens = data::audio_soft_token_count(*rule, ref.samples);
      // Shorter than one analysis frame (32 ms for 3n, 20 ms for Gemma 4): the extractor would give no frame.
      if (ref.soft_tokens == 0 || ref.samples < features_->frame_length())
        return R::fail(data::skip_kind::kEmptyAudio,
                       cat(source, ": ", ref.samples, " samples is too short for one audio frame"));
      return R::ok(std::move(ref));
    } catch (const InputError& e) {
      return R::fail(data::skip_kind::kBadAudio, e.what());
    }
  };
  o.placeholder_text = [rule](const data::AudioRef& ref) { return data::audio_prompt_text(*rule, ref.samples); };
  o.placeholder_id = static_cast<int32_t>(*cfg_.media.audio_token_id);
  return o;
}

const std::vector<float>& AudioInputs::samples(const std::string& source) {
  if (auto it = cache_.find(source); it != cache_.end()) return it->second;
  media::AudioClip clip = media::decode_audio(source, static_cast<int>(features_->sampling_rate), max_duration_);
  if (clip.truncated) cut_.insert(source);
  const size_t bytes = clip.samples.size() * sizeof(float);
  if (cached_bytes_ + bytes > kCacheBytes) {
    scratch_ = std::move(clip.samples);
    return scratch_;
  }
  cached_bytes_ += bytes;
  return cache_.emplace(source, std::move(clip.samples)).first->second;
}

media::AudioFeatures AudioInputs::features(const data::Batch& batch) {
  std::vector<std::vector<float>> clips;
  clips.reserve(batch.audio.size());
  for (const data::AudioRef& ref : batch.audio) {
    clips.push_back(samples(ref.source));
    if (static_cast<int64_t>(clips.back().size()) != ref.samples)
      fail_input(ref.source, ": decodes to ", clips.back().size(), " samples now, ", ref.samples,
                 " when the dataset was read; did the file change during the run?");
  }
  return media::extract_audio_features(*features_, clips);
}

void AudioInputs::embed(models::TextModel& model, const data::Batch& batch, BatchTensors& t) {
  if (batch.audio.empty()) return embed_features(model, nullptr, t);
  const media::AudioFeatures f = features(batch);
  embed_features(model, &f, t);
}

void AudioInputs::embed_features(models::TextModel& model, const media::AudioFeatures* f, BatchTensors& t) {
  torch::NoGradGuard no_grad;
  const at::Tensor& ids = t.inputs.input_ids;
  at::Tensor x = model.embed(ids);
  // Gemma 3n embeds ids from the audio vocabulary (>= vocab_offset, e.g. <end_of_audio>) with embed_audio.
  if (hard_vocab_offset_ >= 0) {
    const at::Tensor hard = ids >= hard_vocab_offset_;
    // other positions look up the last audio id, as Gemma3nModel does, and are then discarded
    const at::Tensor h = tower_->embed_hard_tokens(at::where(hard, ids, at::scalar_tensor(hard_vocab_last_, ids.options())));
    if (h.defined()) x = at::where(hard.unsqueeze(-1), h.to(x.scalar_type()), x);
  }
  if (f) {
    const models::AudioSoftTokens soft = tower_->encode(f->features.to(device_, dtype_), f->mask.to(device_));
    const at::Tensor slots = (ids == *cfg_.media.audio_token_id).unsqueeze(-1);
    const int64_t n_slots = slots.sum().item<int64_t>();
    if (n_slots != soft.embeddings.size(0))
      fail_input("the batch has ", n_slots, " audio placeholder tokens but its ", f->features.size(0),
                 " clip(s) gave ", soft.embeddings.size(0), " soft tokens");
    x = x.masked_scatter(slots, soft.embeddings.to(x.scalar_type()));
  }
  t.inputs.inputs_embeds = x;
}

}  // namespace gt::train
