#include "data/audio_tokens.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/json_section.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace gt::data {

namespace {

json read_json_object(const fs::path& path) {
  std::ifstream in(path);
  if (!in) fail_input(path.string(), ": cannot read the file");
  std::stringstream text;
  text << in.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  if (j.is_discarded()) fail_input(path.string(), ": not valid JSON");
  if (!j.is_object()) fail_input(path.string(), ": expected a JSON object, found ", j.type_name());
  return j;
}

// int(round(sampling_rate * ms / 1000.0)) as the extractors compute frame and hop lengths (Python's round: half to
// even, which std::nearbyint does in the default rounding mode).
int64_t samples_of_ms(int64_t sampling_rate, double ms) {
  return static_cast<int64_t>(std::nearbyint(static_cast<double>(sampling_rate) * ms / 1000.0));
}

void apply_gemma4_framing(const ProcessorConfigFiles& files, AudioTokenRule& r) {
  const json j = json::parse(files.extractor_json);
  const io::JsonSection s(j, files.extractor_file, files.extractor_key);
  const int64_t rate = s.integer("sampling_rate", 16000);
  if (rate <= 0) fail_input(s.where("sampling_rate"), " is ", rate, ", expected a positive number of samples per second");
  r.frame_length = samples_of_ms(rate, s.number("frame_length_ms", 20.0));
  r.hop_length = samples_of_ms(rate, s.number("hop_length_ms", 10.0));
  if (r.frame_length <= 0)
    fail_input(s.where("frame_length_ms"), " gives a frame of ", r.frame_length, " samples, expected at least 1");
  if (r.hop_length <= 0)
    fail_input(s.where("hop_length_ms"), " gives a hop of ", r.hop_length, " samples, expected at least 1");
  const std::string side = s.string("padding_side", "right");
  if (side != "right")
    fail_input(s.where("padding_side"), " is \"", side, "\"; gemma-tune counts Gemma 4 audio tokens for right padding "
               "only (with left padding the reference's count depends on the other clips of a batch)");
}

void apply_gemma3n_count(const io::ModelConfig& config, const ProcessorConfigFiles& files, AudioTokenRule& r) {
  const std::optional<int64_t> from_config = config.media.audio_soft_tokens_per_image;
  if (from_config && *from_config <= 0)
    fail_input(config.path, ": audio_soft_tokens_per_image is ", *from_config, ", expected a positive integer");
  std::optional<int64_t> from_processor;
  if (!files.processor_json.empty()) {
    const json j = json::parse(files.processor_json);
    const io::JsonSection s(j, files.processor_file);
    if (s.has("audio_seq_length")) {
      from_processor = s.integer("audio_seq_length");
      if (*from_processor <= 0)
        fail_input(s.where("audio_seq_length"), " is ", *from_processor, ", expected a positive integer");
      if (from_config && *from_config != *from_processor)
        fail_input(s.where("audio_seq_length"), " is ", *from_processor, " but ", config.path,
                   " says audio_soft_tokens_per_image ", *from_config,
                   "; Gemma 3n needs both equal (the processor writes one, the model pads its audio to the other)");
    }
  }
  r.fixed_count = from_processor.value_or(from_config.value_or(188));
}

}  // namespace

ProcessorConfigFiles read_processor_config_files(const std::string& model_dir) {
  if (!fs::is_directory(model_dir)) fail_input(model_dir, ": not a folder; expected a model folder");
  ProcessorConfigFiles out;
  const fs::path processor = fs::path(model_dir) / "processor_config.json";
  if (fs::exists(processor)) {
    const json j = read_json_object(processor);
    out.processor_file = processor.string();
    out.processor_json = j.dump();
    // FeatureExtractionMixin.get_feature_extractor_dict: the nested object wins over preprocessor_config.json.
    const char* key = j.contains("feature_extractor") ? "feature_extractor"
                      : j.contains("audio_processor") ? "audio_processor"
                                                      : nullptr;
    if (key && !j[key].is_null()) {
      if (!j[key].is_object())
        fail_input(out.processor_file, ": ", key, " is ", j[key].dump(), ", expected a JSON object of extractor settings");
      out.extractor_file = out.processor_file;
      out.extractor_json = j[key].dump();
      out.extractor_key = cat(key, ".");
    }
  }
  const fs::path preprocessor = fs::path(model_dir) / "preprocessor_config.json";
  if (out.extractor_json.empty() && fs::exists(preprocessor)) {
    out.extractor_file = preprocessor.string();
    out.extractor_json = read_json_object(preprocessor).dump();
  }
  return out;
}

AudioTokenRule default_audio_token_rule(io::Family family) {
  AudioTokenRule r;
  r.family = family;
  if (family == io::Family::Gemma3n) {
    r.begin_marker = "<start_of_audio>";
    r.soft_token = "<audio_soft_token>";
    r.end_marker = "<end_of_audio>";
    r.around = "\n\n";
    r.fixed_count = 188;
  } else {
    r.begin_marker = "<|audio>";
    r.soft_token = "<|audio|>";
    r.end_marker = "<audio|>";
    r.around = "";
    r.fixed_count = 0;
  }
  return r;
}

AudioTokenRule audio_token_rule(const io::ModelConfig& config, const std::string& model_dir) {
  AudioTokenRule r = default_audio_token_rule(config.family);
  const ProcessorConfigFiles files = model_dir.empty() ? ProcessorConfigFiles{} : read_processor_config_files(model_dir);
  if (config.family == io::Family::Gemma3n) {
    apply_gemma3n_count(config, files, r);
  } else if (!files.extractor_json.empty()) {
    apply_gemma4_framing(files, r);
  }
  return r;
}

int64_t audio_soft_token_count(const AudioTokenRule& rule, int64_t num_samples) {
  GT_CHECK(num_samples >= 0, "a clip has ", num_samples, " samples");
  if (rule.family == io::Family::Gemma3n) return rule.fixed_count;
  // Gemma4AudioFeatureExtractor: semicausal left padding of frame/2 zeros, windows of frame + 1 samples every hop;
  // a frame is valid when the last sample of its window is real audio.
  const int64_t samples = std::min(num_samples, rule.max_samples);
  const int64_t pad_left = rule.frame_length / 2;
  const int64_t window = rule.frame_length + 1;
  if (samples + pad_left < window) return 0;
  int64_t t = (samples + pad_left - window) / rule.hop_length + 1;
  // Gemma4AudioSubSampleConvProjection: two convs with kernel 3, stride 2, padding 1; the mask keeps every other frame.
  for (int layer = 0; layer < 2; ++layer) t = (t + 2 - 3) / 2 + 1;
  return t;
}

std::string audio_prompt_text(const AudioTokenRule& rule, int64_t num_samples) {
  const int64_t n = audio_soft_token_count(rule, num_samples);
  std::string text;
  text.reserve(2 * rule.around.size() + rule.begin_marker.size() + rule.end_marker.size() +
               static_cast<size_t>(n) * rule.soft_token.size());
  text += rule.around;
  text += rule.begin_marker;
  for (int64_t i = 0; i < n; ++i) text += rule.soft_token;
  text += rule.end_marker;
  text += rule.around;
  return text;
}

}  // namespace gt::data
