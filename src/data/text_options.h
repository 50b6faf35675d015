// Options of a dataset: text (instruction or completion) and the media rows of --modality audio, image and
// audiovisual. Every default is the run option's (core/train_config.h). Torch-free.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/train_config.h"  // default_train_config: every default is the run option's
#include "data/example.h"         // AudioRef, RowResult

namespace gt::data {

enum class TextMode {
  Instruction,  // prompt/response or messages rows, in the model family's chat format; answers trained
  Completion,   // plain text rows: <bos> + text, every token trained
};

// Audio rows (--modality audio, audiovisual). Decoding and the model's processor rules live outside the torch-free
// data layer: the caller gives them as functions (train/audio_inputs.h builds them from FFmpeg and the model config).
struct AudioRowOptions {
  std::string column = default_train_config().audio_column;  // CSV column / flat JSONL key of the clip
  std::string prompt = default_train_config().audio_prompt;  // the user turn's text after the clip
  // Decodes `source` (absolute path or URL) and fills samples, seconds, cut and soft_tokens; a clip that cannot
  // be used is a RowError (kBadAudio, kEmptyAudio) naming what is wrong.
  std::function<RowResult<AudioRef>(const std::string& source)> probe;
  // The text that stands for one clip in a user turn (begin-of-audio marker, placeholders, end marker).
  std::function<std::string(const AudioRef&)> placeholder_text;
  int32_t placeholder_id = -1;  // the id of the audio placeholder token, to check the counts after tokenization
};

// Image rows (--modality image, audiovisual); the caller gives decoding and the processor's token count as
// functions (train/image_inputs.h).
struct ImageRowOptions {
  std::string column = default_train_config().image_column;            // CSV column / flat JSONL key of the image
  std::string caption_column = default_train_config().caption_column;  // caption rows: the trained answer
  std::string question_column = default_train_config().question_column;  // VQA rows: the user's text
  std::string answer_column = default_train_config().answer_column;      // VQA rows: the trained answer
  std::string prompt = default_train_config().image_prompt;  // the user turn's text after the image of a caption row
  // Decodes `source` (absolute path or URL) and fills width, height and soft_tokens; an image that cannot be used is
  // a RowError (kBadImage, kEmptyImage, kImageTooLarge) naming what is wrong.
  std::function<RowResult<ImageRef>(const std::string& source)> probe;
  // The text that stands for one image in a user turn (the processor's expansion of the image token).
  std::function<std::string(const ImageRef&)> placeholder_text;
  int32_t placeholder_id = -1;  // the id of the image placeholder token, to check the counts after tokenization
};

// Which flat rows (CSV rows, JSONL objects without "messages") an image run reads: the reference's sub-modes.
enum class ImageRowKind {
  Auto,     // VQA when the row has the question column, caption otherwise
  Caption,  // image_path, caption: user = image + "Describe this image."
  Vqa,      // image_path, question, answer: user = image + question
};

struct TextDatasetOptions {
  TextMode mode = TextMode::Instruction;
  int64_t max_seq_len = default_train_config().max_seq_len;  // tokens, <bos> included
  // Column names (CSV header names, and keys of JSONL objects).
  std::string prompt_column = default_train_config().prompt_column;
  std::string response_column = default_train_config().response_column;
  std::string text_column = default_train_config().text_column;
  // A system message for instruction rows that bring none of their own (empty: none).
  std::string system_prompt;
  // Where skipped rows are appended as JSON lines (the run folder's skipped.jsonl); empty: not written.
  std::string skipped_log;
  // Relative media paths resolve against it; empty: the folder of the dataset file.
  std::string base_dir;
  // Set for --modality audio and audiovisual: rows may (CSV: must) bring audio clips.
  std::optional<AudioRowOptions> audio;
  // Set for --modality image and audiovisual: rows may (CSV: must) bring images.
  std::optional<ImageRowOptions> image;
  ImageRowKind image_rows = ImageRowKind::Auto;
  // Audiovisual rows (both set): audio_path, image_path, caption; user = image + clip + this prompt.
  std::string audiovisual_prompt = default_train_config().audiovisual_prompt;
};

}  // namespace gt::data
