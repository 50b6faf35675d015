#include "models/model.h"

#include "core/error.h"
#include "io/safetensors.h"
#include "models/audio_tower.h"
#include "models/common/weights.h"
#include "models/gemma3n/model.h"
#include "models/gemma4/model.h"
#include "models/vision_tower.h"

namespace gt::models {

Model::Model(const io::ModelConfig& cfg, std::shared_ptr<TextModel> text, std::shared_ptr<AudioTower> audio,
             std::shared_ptr<torch::nn::Module> vision)
    : cfg_(cfg), text_(std::move(text)), audio_(std::move(audio)), vision_(std::move(vision)) {}

int64_t Model::tower_parameters() const {
  int64_t n = 0;
  if (audio_)
    for (const auto& p : audio_->module().parameters()) n += p.numel();
  if (vision_)
    for (const auto& p : vision_->parameters()) n += p.numel();
  return n;
}

at::Tensor Model::forward(const TextInputs& in, const MediaInputs& media, Trace* trace) {
  TextInputs t = in;
  t.inputs_embeds = embed_inputs(in.input_ids, media);
  t.input_ids = decoder_ids(in.input_ids);
  if (in.input_ids_host.defined()) t.input_ids_host = decoder_ids(in.input_ids_host);
  return text_->forward(t, trace);
}

void Model::require_vision() const {
  if (!vision_) fail_input("the batch has images but the model was loaded without its vision tower (--modality image)");
  if (!cfg_.media.image_token_id) fail_input(cfg_.path, ": the model config has no image_token_id, which images need");
}

at::Tensor Model::scatter_soft_tokens(const at::Tensor& x, const at::Tensor& ids, int64_t token_id,
                                      const at::Tensor& soft, const char* what) {
  const at::Tensor slots = (ids == token_id).unsqueeze(-1);
  const int64_t n_slots = slots.sum().item<int64_t>();
  if (n_slots != soft.size(0))
    fail_input("the batch has ", n_slots, " ", what, " placeholder tokens (id ", token_id, ") but its ", what,
               " gave ", soft.size(0), " soft tokens");
  return x.masked_scatter(slots, soft.to(x.device(), x.scalar_type()));
}

at::Tensor Model::audio_soft_tokens(const MediaInputs& media, std::vector<int64_t>* per_clip) {
  if (!audio_) fail_input("the batch has audio but the model was loaded without its audio tower (--modality audio)");
  if (!cfg_.media.audio_token_id) fail_input(cfg_.path, ": the model config has no audio_token_id, which audio inputs need");
  if (media.audio_soft_tokens.defined() && !per_clip) return media.audio_soft_tokens;
  const at::Tensor w = text_->lm_head_weight();
  AudioSoftTokens out =
      audio_->encode(media.audio_features.to(w.device(), w.scalar_type()), media.audio_mask.to(w.device()));
  if (per_clip) *per_clip = std::move(out.tokens_per_clip);
  return out.embeddings;
}

at::Tensor Model::image_soft_tokens_or_cached(const MediaInputs& media) {
  require_vision();
  if (media.image_soft_tokens.defined()) return media.image_soft_tokens;
  std::vector<int64_t> per_image;
  return image_soft_tokens(media, per_image);
}

MediaSoftTokens Model::media_soft_tokens(const MediaInputs& media) {
  torch::NoGradGuard no_grad;
  // In the dtype embed_inputs casts them to before scattering, so that storing them rounds nothing more.
  const at::ScalarType dtype = text_->lm_head_weight().scalar_type();
  auto split = [&](const at::Tensor& all, const std::vector<int64_t>& counts, const char* what) {
    int64_t total = 0;
    for (int64_t n : counts) total += n;
    if (total != all.size(0))
      throw std::logic_error(cat("the ", what, " tower gave ", all.size(0), " soft tokens but counts summing to ", total));
    std::vector<at::Tensor> items;
    for (const at::Tensor& t : all.to(dtype).split_with_sizes(counts)) items.push_back(t.contiguous());
    return items;
  };
  MediaSoftTokens out;
  if (media.audio_features.defined() && media.audio_features.size(0) > 0) {
    std::vector<int64_t> per_clip;
    const at::Tensor all = audio_soft_tokens(media, &per_clip);
    out.audio = split(all, per_clip, "audio");
  }
  if (media.pixel_values.defined() && media.pixel_values.size(0) > 0) {
    require_vision();
    std::vector<int64_t> per_image;
    const at::Tensor all = image_soft_tokens(media, per_image);
    out.images = split(all, per_image, "vision");
  }
  return out;
}

std::unique_ptr<Model> make_model(const io::ModelConfig& cfg, const Towers& towers, at::ScalarType dtype,
                                  at::Device device, TablePlacement per_layer_table, QuantMode quantize) {
  std::shared_ptr<TextModel> text = make_text_model(cfg, dtype, device, per_layer_table, quantize);
  std::shared_ptr<AudioTower> audio = towers.audio ? make_audio_tower(cfg, dtype, device) : nullptr;
  std::shared_ptr<torch::nn::Module> vision;
  if (towers.vision) {
    vision = make_vision_tower_layout(cfg, dtype, device);
    if (!vision)
      fail_input(cfg.path, ": no vision_config; this ", io::family_name(cfg.family),
                 " checkpoint has no vision tower (a text-only model cannot take images)");
  }
  if (cfg.family == io::Family::Gemma3n)
    return std::make_unique<gemma3n::Model>(cfg, std::move(text), std::move(audio), std::move(vision));
  return std::make_unique<gemma4::Model>(cfg, std::move(text), std::move(audio), std::move(vision));
}

LoadedModel load_model(const std::string& model_dir, const Towers& towers, at::ScalarType dtype, at::Device device,
                       QuantMode quantize) {
  const io::ModelConfig cfg = io::load_model_config(model_dir);
  LoadedModel out;
  out.model = make_model(cfg, towers, dtype, device, TablePlacement::Host, quantize);
  const io::Checkpoint ckpt = io::Checkpoint::open(model_dir);
  const LoadReport text = load_weights(out.model->text().module(), ckpt, cfg.text_prefix);
  out.tensors = text.loaded;
  out.bytes = text.bytes;
  if (quantize != QuantMode::None) out.quantized = quantize_base_weights(out.model->text().module(), quantize, device);
  if (AudioTower* audio = out.model->audio()) {
    const LoadReport r = load_frozen_weights(audio->module(), ckpt, "model.");  // audio_tower.*, embed_audio.*
    out.tensors += r.loaded;
    out.bytes += r.bytes;
  }
  if (torch::nn::Module* vision = out.model->vision()) {
    const LoadReport r = load_frozen_weights(*vision, ckpt, "model.");  // vision_tower.*, embed_vision.*
    out.tensors += r.loaded;
    out.bytes += r.bytes;
  }
  return out;
}

}  // namespace gt::models
