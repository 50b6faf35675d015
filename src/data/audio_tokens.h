// Audio soft tokens in the prompt: how many one clip takes and the text that stands for it, exactly as the reference
// processors of transformers 5.17 expand an audio placeholder (Gemma3nProcessor.__init__ / Gemma4Processor.
// replace_audio_token). Torch-free, so the data layer can call it with the model config and a clip's sample count.
//
//   Gemma 3n  every clip: "\n\n<start_of_audio>" + "<audio_soft_token>" x 188 + "<end_of_audio>\n\n". The count is
//             the processor's audio_seq_length, whatever the clip's length: Gemma3nModel pads the tower's output to
//             config.audio_soft_tokens_per_image (the two must agree).
//   Gemma 4   "<|audio>" + "<|audio|>" x n + "<audio|>", no newlines. n is the number of valid mel frames left after
//             the tower's two stride-2 convolutions: the processor takes the feature extractor's frame mask and halves
//             it twice (mask[::2]), and Gemma4AudioModel returns exactly those frames (its mask is halved the same
//             way), so the placeholders and the soft tokens always match. With the extractor's framing:
//               s        = min(samples, 480000)                       (the extractor truncates to 30 s)
//               frames   = (s + frame/2 - (frame + 1)) // hop + 1      (valid frames; none when this is <= 0)
//               n        = ceil(ceil(frames / 2) / 2)                  (frame 320, hop 160 at 16 kHz: 25 per second)
//             Gemma4Processor._compute_audio_num_tokens (the serving-side prediction) gives the same numbers and caps
//             them at audio_seq_length (750), which the 30 s truncation reaches exactly; the text the processor builds
//             applies no cap, and neither does this code.
//
// Where a checkpoint keeps these settings (read as transformers reads them): the feature extractor's in the
// "feature_extractor" (or "audio_processor") object of processor_config.json, else in preprocessor_config.json;
// the processor's own (audio_seq_length) at the top level of processor_config.json.
#pragma once

#include <cstdint>
#include <string>

#include "io/model_config.h"  // defines: gt::io::Family, gt::io::ModelConfig

namespace gt::data {

// The settings files of a model folder that transformers' processors read.
struct ProcessorConfigFiles {
  std::string extractor_file;  // the file the feature extractor's settings came from; "" when the folder has none
  std::string extractor_json;  // those settings: one JSON object, as text ("" when none)
  std::string extractor_key;   // how messages name a key there: "feature_extractor." inside processor_config.json
  std::string processor_file;  // <dir>/processor_config.json when it exists, else ""
  std::string processor_json;  // its whole object, as text ("" when none)
};

// Reads the files above from `model_dir` (either may be missing). Throws gt::InputError naming the file when one is
// not a JSON object or its "feature_extractor" entry is not an object, and naming the folder when it does not exist.
ProcessorConfigFiles read_processor_config_files(const std::string& model_dir);

// Everything that decides the soft-token count of a clip and the text written for it.
struct AudioTokenRule {
  io::Family family = io::Family::Gemma3n;
  std::string begin_marker;  // <start_of_audio> / <|audio>
  std::string soft_token;    // <audio_soft_token> / <|audio|>: the placeholder the tower's output replaces
  std::string end_marker;    // <end_of_audio> / <audio|>
  std::string around;        // written before the begin marker and after the end marker: "\n\n" (3n), "" (4)
  // Gemma 3n: soft tokens of every clip (the processor's audio_seq_length); unused for Gemma 4.
  int64_t fixed_count = 188;
  // Gemma 4: the feature extractor's framing, in samples at its sampling rate.
  int64_t frame_length = 320;
  int64_t hop_length = 160;
  int64_t max_samples = 480000;  // the extractor's truncation (max_length 480000, a multiple of 128)
};

// The released values of a family.
AudioTokenRule default_audio_token_rule(io::Family family);

// The rule of a model: family defaults, Gemma 3n's count from config.json's audio_soft_tokens_per_image and
// processor_config.json's audio_seq_length, Gemma 4's framing from the extractor settings (sampling_rate,
// frame_length_ms, hop_length_ms) when `model_dir` has them. Throws gt::InputError naming the file and key for a
// mistyped or out-of-range value, for a Gemma 3n audio_seq_length that differs from audio_soft_tokens_per_image, and
// for a Gemma 4 extractor that pads on the left (the reference's count would then depend on the other clips of the
// batch).
AudioTokenRule audio_token_rule(const io::ModelConfig& config, const std::string& model_dir = "");

// Soft tokens one clip of `num_samples` (mono samples at the extractor's rate) takes in the prompt. 0 for a Gemma 4
// clip too short for one frame (under 161 samples at the defaults): the processor then writes only the markers, and
// the tower would get no frame; callers should skip such clips.
int64_t audio_soft_token_count(const AudioTokenRule& rule, int64_t num_samples);

// The exact text the processor puts in place of one audio placeholder.
std::string audio_prompt_text(const AudioTokenRule& rule, int64_t num_samples);

}  // namespace gt::data
