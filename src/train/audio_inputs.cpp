#include "train/audio_inputs.h"

#include <cstdio>
#include <iostream>

#include "core/error.h"
#include "core/strings.h"
#include "data/audio_tokens.h"
#include "media/audio_decode.h"
#include "media/audio_features.h"

namespace gt::train {

namespace {

// Decoded clips kept in memory between batches (a 16 kHz float clip is 64 KB per second: 256 MiB holds ~70 min).
constexpr size_t kCacheBytes = size_t{256} << 20;

}  // namespace

AudioInputs::AudioInputs(const std::string& model_dir, const io::ModelConfig& cfg, double max_duration)
    : model_dir_(model_dir), cfg_(cfg), max_duration_(max_duration) {
  if (!cfg.has_audio_config())
    fail_input(cfg.path, ": the model has no audio_config, so it cannot take audio (is it a text-only checkpoint?)");
  if (!cfg.media.audio_token_id)
    fail_input(cfg.path, ": the model config has no audio_token_id, which audio inputs need");
  features_ = std::make_unique<media::AudioFeatureConfig>(
      media::audio_feature_config(std::string(io::family_name(cfg.family)), model_dir));
  // The feature extractor keeps the first max_length samples (rounded up to pad_to_multiple_of) of a clip and drops
  // the rest: decoding more only costs memory (a 2-hour clip is 460 MB of samples) and counts audio never trained on.
  int64_t kept = features_->max_length;
  if (const int64_t m = features_->pad_to_multiple_of; m > 0 && kept % m != 0) kept = (kept / m + 1) * m;
  const double usable = static_cast<double>(kept) / features_->sampling_rate;
  if (max_duration_ > usable) {
    std::cerr << "note        --max-duration " << max_duration_ << " s is more than the model's audio feature extractor "
              << "takes (" << usable << " s, " << kept << " samples at " << features_->sampling_rate
              << " Hz): clips are cut to " << usable << " s\n";
    max_duration_ = usable;
  }
}

AudioInputs::~AudioInputs() = default;

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

std::string AudioInputs::cache_settings() const {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", max_duration_);
  return cat("audio max_duration ", buf, " sampling_rate ", features_->sampling_rate);
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

}  // namespace gt::train
