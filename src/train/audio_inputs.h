// The audio side of a training or eval run (--modality audio): it tells the dataset how to probe a clip and what
// text stands for it, and turns a batch's clips into the soft tokens that replace the audio placeholders in the
// text embeddings (decode -> feature extractor -> frozen audio tower + embedder -> masked scatter), the way
// Gemma3nModel / Gemma4Model merge them. Built only when the run has audio, so text runs never load the tower.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "data/batching.h"
#include "data/text_options.h"
#include "io/model_config.h"
#include "models/audio_tower.h"
#include "models/text_model.h"

namespace gt::media {
struct AudioFeatureConfig;
struct AudioFeatures;
}

namespace gt::train {

struct BatchTensors;

class AudioInputs {
 public:
  // Loads the audio tower and embedder of `model_dir` (frozen) and the feature extractor's settings
  // (preprocessor_config.json when the folder has one). max_duration: seconds kept of each clip.
  AudioInputs(const std::string& model_dir, const io::ModelConfig& cfg, at::ScalarType dtype, at::Device device,
              double max_duration);
  // With a tower already built (benchmarks, random weights); the extractor's settings are the family's defaults
  // unless model_dir has its own.
  AudioInputs(std::shared_ptr<models::AudioTower> tower, const io::ModelConfig& cfg, at::ScalarType dtype,
              at::Device device, double max_duration, const std::string& model_dir = "");
  ~AudioInputs();

  // What the dataset needs for audio rows: probe (decode once, count the clip's soft tokens) and placeholder text.
  data::AudioRowOptions row_options(const std::string& column, const std::string& prompt);

  // Sets t.inputs.inputs_embeds: the model's token embeddings with Gemma 3n's hard audio tokens and every clip's
  // soft tokens at the placeholder positions. Throws gt::InputError naming the clip when one cannot be decoded now.
  void embed(models::TextModel& model, const data::Batch& batch, BatchTensors& t);
  // The same from features already extracted (null: the batch has no clips).
  void embed_features(models::TextModel& model, const media::AudioFeatures* features, BatchTensors& t);
  // The feature extractor's output for the batch's clips, in order.
  media::AudioFeatures features(const data::Batch& batch);

  // Mono samples of `source` at the extractor's rate, cut to max_duration (decoded clips are kept in memory up to a
  // budget, so small datasets decode each clip once).
  const std::vector<float>& samples(const std::string& source);

  int64_t tower_parameters() const;

 private:
  std::string model_dir_;
  const io::ModelConfig& cfg_;
  at::ScalarType dtype_;
  at::Device device_;
  double max_duration_;
  std::unique_ptr<media::AudioFeatureConfig> features_;
  std::shared_ptr<models::AudioTower> tower_;
  int64_t hard_vocab_offset_ = -1;  // Gemma 3n: ids >= this are embedded by embed_audio
  int64_t hard_vocab_last_ = -1;
  std::unordered_map<std::string, std::vector<float>> cache_;
  std::unordered_set<std::string> cut_;  // sources longer than max_duration
  size_t cached_bytes_ = 0;
  std::vector<float> scratch_;  // a clip that did not fit in the cache
};

}  // namespace gt::train
