// The audio side of a training or eval run's data (--modality audio): it tells the dataset how to probe a clip and
// what text stands for it, and turns a batch's clips into the feature extractor's output (decode -> features), which
// the model's audio tower turns into soft tokens (models/model.h). Decoded clips are kept in memory up to a budget,
// so small datasets decode each clip once.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "data/batching.h"
#include "data/text_options.h"
#include "io/model_config.h"

namespace gt::media {
struct AudioFeatureConfig;
struct AudioFeatures;
}

namespace gt::train {

class AudioInputs {
 public:
  // The feature extractor's settings from `model_dir`'s preprocessor_config.json when it has one, else the family's
  // defaults. max_duration: seconds kept of each clip.
  AudioInputs(const std::string& model_dir, const io::ModelConfig& cfg, double max_duration);
  ~AudioInputs();

  // What the dataset needs for audio rows: probe (decode once, count the clip's soft tokens) and placeholder text.
  data::AudioRowOptions row_options(const std::string& column, const std::string& prompt);

  // The feature extractor's output for the batch's clips, in order. Throws gt::InputError naming the clip when one
  // cannot be decoded now or decodes to another length than when the dataset was read.
  media::AudioFeatures features(const data::Batch& batch);

  // Mono samples of `source` at the extractor's rate, cut to max_duration.
  const std::vector<float>& samples(const std::string& source);

  // What besides the clip's bytes and the checkpoint decides its soft tokens (max_duration), for --tower-cache keys.
  std::string cache_settings() const;

 private:
  std::string model_dir_;
  const io::ModelConfig& cfg_;
  double max_duration_;
  std::unique_ptr<media::AudioFeatureConfig> features_;
  std::unordered_map<std::string, std::vector<float>> cache_;
  std::unordered_set<std::string> cut_;  // sources longer than max_duration
  size_t cached_bytes_ = 0;
  std::vector<float> scratch_;  // a clip that did not fit in the cache
};

}  // namespace gt::train
