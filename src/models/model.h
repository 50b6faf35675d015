// The family's whole model, as transformers' Gemma3nModel / Gemma4Model: it owns the text decoder, the audio and
// vision towers a run asks for (each with its multimodal embedder), and the merge of media into the token
// embeddings: the scaled token embeddings, Gemma 3n's hard media ids through their embedders, every clip's and
// image's soft tokens masked_scatter'ed into its placeholders (counts checked), Gemma 4's pad token read at the
// placeholders for the per-layer token inputs. train/ hands it ids, media and a mask and gets hidden states back.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "io/model_config.h"    // defines: gt::io::ModelConfig
#include "models/common/lora_linear.h"  // defines: QuantizeReport
#include "models/text_model.h"  // defines: TextModel, TextInputs, Trace

namespace gt::models {

class AudioTower;

// What a batch carries besides its token ids; undefined tensors = that medium is absent from the batch.
struct MediaInputs {
  at::Tensor audio_features;  // [N_clips, T_frames, n_mel] float32, as the family's feature extractor makes them
  at::Tensor audio_mask;      // [N_clips, T_frames] bool, true = a real frame
  // As the family's image processor makes them (media/image_processor.h): Gemma 4 [N_images, max_patches, 3·p²]
  // float32 patches with pixel_position_ids [N_images, max_patches, 2] int64 ((-1, -1) = padding); Gemma 3n
  // [N_images, 3, 768, 768] float32 (no position ids).
  at::Tensor pixel_values;
  at::Tensor pixel_position_ids;
  // Soft tokens computed before (train/tower_cache.h): every clip's / image's, concatenated in order, [n, D] in the
  // text's embedding space, exactly what the model would scatter into the placeholders (after the multimodal
  // embedder). Defined = used instead of running that tower (the features / pixels above are then not needed).
  at::Tensor audio_soft_tokens;
  at::Tensor image_soft_tokens;
  bool has_audio() const {
    return audio_soft_tokens.defined() || (audio_features.defined() && audio_features.size(0) > 0);
  }
  bool has_images() const {
    return image_soft_tokens.defined() || (pixel_values.defined() && pixel_values.size(0) > 0);
  }
};

// The soft tokens of a batch's media, one tensor [n_i, D] per clip and per image, in order, in the text
// embedding's dtype on the model's device (no autograd graph).
struct MediaSoftTokens {
  std::vector<at::Tensor> audio;
  std::vector<at::Tensor> images;
};

// Which towers to build or load; a run loads only those its modality needs.
struct Towers {
  bool audio = false;
  bool vision = false;
};

class Model {
 public:
  virtual ~Model() = default;

  TextModel& text() { return *text_; }
  const io::ModelConfig& config() const { return cfg_; }
  bool has_audio() const { return audio_ != nullptr; }
  bool has_vision() const { return vision_ != nullptr; }
  // The audio tower with its embedder (children "audio_tower" and "embed_audio"); null when not built.
  AudioTower* audio() { return audio_.get(); }
  // The vision tower with its embedder (children "vision_tower" and "embed_vision", models/vision_tower.h); null
  // when not built.
  torch::nn::Module* vision() { return vision_.get(); }

  // ids [B, T] int64 -> the decoder's input embeddings [B, T, D] with `media` merged. Throws gt::InputError when
  // the placeholders and the soft tokens do not match in number, or the batch has media the model was built
  // without. Runs without autograd for the frozen towers; the result carries no graph.
  virtual at::Tensor embed_inputs(const at::Tensor& ids, const MediaInputs& media) = 0;

  // What embed_inputs would scatter for each of media's clips and images (the towers and their embedders, without
  // autograd), split per item, so that a run can keep them (train/tower_cache.h) and pass them back as
  // MediaInputs::audio_soft_tokens / image_soft_tokens. Runs the towers on media's features and pixels (soft
  // tokens already in `media` are not looked at). Throws gt::InputError as embed_inputs does when a tower is
  // missing.
  MediaSoftTokens media_soft_tokens(const MediaInputs& media);

  // Final normalised hidden states [B, T, D]: embed_inputs, then the decoder (in.inputs_embeds is ignored).
  at::Tensor forward(const TextInputs& in, const MediaInputs& media, Trace* trace = nullptr);

  // Parameters of the towers and embedders built (frozen).
  int64_t tower_parameters() const;

 protected:
  Model(const io::ModelConfig& cfg, std::shared_ptr<TextModel> text, std::shared_ptr<AudioTower> audio,
        std::shared_ptr<torch::nn::Module> vision);
  // `x` with the rows of `soft` [n, D] written, in order, at the positions where ids == token_id (masked_scatter).
  // Throws gt::InputError when the batch has not exactly n such positions; `what` names the medium ("audio").
  static at::Tensor scatter_soft_tokens(const at::Tensor& x, const at::Tensor& ids, int64_t token_id,
                                        const at::Tensor& soft, const char* what);
  // The ids the decoder reads its per-layer token inputs from (Gemma 4: the pad token at media placeholders).
  virtual at::Tensor decoder_ids(const at::Tensor& ids) const { return ids; }
  // The audio soft tokens of media's clips: media.audio_soft_tokens when given, else AudioTower::encode on the
  // model's device and dtype. `per_clip` (optional) receives each clip's token count.
  at::Tensor audio_soft_tokens(const MediaInputs& media, std::vector<int64_t>* per_clip = nullptr);
  // Every image's soft tokens through the family's tower and embedder ([sum n_i, D]) and each image's count.
  virtual at::Tensor image_soft_tokens(const MediaInputs& media, std::vector<int64_t>& per_image) = 0;
  // media.image_soft_tokens when given, else image_soft_tokens(media, ...).
  at::Tensor image_soft_tokens_or_cached(const MediaInputs& media);
  // The child `name` of the vision tree as its module type; throws when the model was built without vision.
  template <typename M>
  M& vision_part(const char* name) {
    require_vision();
    return *vision_->named_children()[name]->as<M>();
  }
  void require_vision() const;
  io::ModelConfig cfg_;
  std::shared_ptr<TextModel> text_;
  std::shared_ptr<AudioTower> audio_;
  std::shared_ptr<torch::nn::Module> vision_;
};

// The family's model for `cfg` with the decoder and the towers asked for, weights in `dtype` on `device`,
// uninitialised (fill them, or load them with load_model). Throws gt::InputError naming config.json when a tower
// is asked for that the checkpoint does not have.
// `quantize`: the decoder's base linears are staged on the host for quantize_base_weights() (make_text_model).
std::unique_ptr<Model> make_model(const io::ModelConfig& cfg, const Towers& towers, at::ScalarType dtype,
                                  at::Device device, TablePlacement per_layer_table = TablePlacement::Host,
                                  QuantMode quantize = QuantMode::None);

struct LoadedModel {
  std::unique_ptr<Model> model;
  size_t tensors = 0;  // loaded
  uint64_t bytes = 0;  // as stored in the checkpoint
  QuantizeReport quantized;  // the decoder's base linears (--quantize; zeros without it)
};

// Reads config.json and the safetensors of `model_dir`: the decoder, and the towers asked for (a tower not asked
// for is never read). Base weights and towers are frozen. Throws gt::InputError naming the folder and every
// missing or mis-shaped tensor. `quantize`: the decoder's base linears are held in 8 or 4 bits on the device
// (models/common/quantized_weight.h), read from the host one matrix at a time.
LoadedModel load_model(const std::string& model_dir, const Towers& towers, at::ScalarType dtype, at::Device device,
                       QuantMode quantize = QuantMode::None);

}  // namespace gt::models
