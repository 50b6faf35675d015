// Gemma 4 audio encoder (transformers 5.17 Gemma4AudioModel, a USM-style conformer) and the audio tower
// that training uses: encoder + audio embedder (Gemma4MultimodalEmbedder), giving the valid soft tokens
// of each clip as Gemma4Model.forward scatters them into the <|audio|> positions.
//
// Module names mirror the checkpoint below "model.": audio_tower.subsample_conv_projection.*, audio_tower.layers.<i>.*,
// audio_tower.output_proj.*, embed_audio.*. Every clippable linear keeps its bounds (input_min, input_max,
// output_min, output_max) as buffers loaded from the checkpoint. The relative-position table and the soft-cap are
// not stored (non-persistent in transformers) and are computed here.
//
// The tower is frozen: no parameter requires grad and encode() runs under NoGradGuard. Every device path is the
// same ATen code; the attention is computed in blocks of `attention_chunk_size` queries against their
// `chunk + context_left - 1 + context_right` context keys, as transformers does, so memory grows linearly with
// the clip length (30 s = 750 tokens).
// Not here: the feature extractor (media/), the dispatch on the family (models/audio_tower.cpp).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "io/model_config.h"               // defines: gt::io::ModelConfig
#include "models/audio_tower.h"            // defines: gt::models::AudioTower, AudioSoftTokens
#include "models/common/lora_linear.h"     // defines: gt::models::LoraLinear (used here as a plain frozen linear)
#include "models/common/modules.h"         // defines: gt::models::RMSNorm
#include "models/gemma4/multimodal_embedder.h"  // defines: gt::models::gemma4::MultimodalEmbedder

namespace gt::models {
// Named intermediate tensors, in the order they were computed (the same alias as models/text_model.h).
using Trace = std::vector<std::pair<std::string, at::Tensor>>;
}  // namespace gt::models

namespace gt::models::gemma4 {

// config.json "audio_config" (transformers Gemma4AudioConfig). Field names are the config keys; the defaults are
// transformers' own, used for keys the file leaves out.
struct AudioConfig {
  int64_t hidden_size = 1024;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 8;
  std::string hidden_act = "silu";
  std::vector<int64_t> subsampling_conv_channels = {128, 32};
  int64_t conv_kernel_size = 5;
  double residual_weight = 0.5;
  int64_t attention_chunk_size = 12;
  int64_t attention_context_left = 13;
  int64_t attention_context_right = 0;
  double attention_logit_cap = 50.0;
  double attention_invalid_logits_value = -1.0e9;
  bool use_clipped_linears = true;
  double rms_norm_eps = 1e-6;
  double gradient_clipping = 1e10;
  int64_t output_proj_dims = 1536;
  double initializer_range = 0.02;

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // Inputs of subsample_conv_projection.input_proj_linear, by transformers' formula (channels[0] / 4 frequency
  // rows x channels[1]); the two stride-2 convolutions produce that many from 4 * (channels[0] / 4) mel bins.
  int64_t subsample_proj_inputs() const { return (subsampling_conv_channels[0] / 4) * subsampling_conv_channels[1]; }
};

// Parses cfg.audio_config_json. Throws gt::InputError naming config.json and the key (wrong type, bad value,
// no audio_config at all).
AudioConfig parse_audio_config(const io::ModelConfig& cfg);

// Gemma4ClippableLinear: clamp(x, input_min, input_max) -> linear (no bias) -> clamp(y, output_min, output_max).
// The bounds are 0-d buffers (±inf until loaded); with use_clipped_linears = false there are none.
class ClippableLinearImpl : public torch::nn::Module {
 public:
  ClippableLinearImpl(int64_t in_features, int64_t out_features, bool use_clipped_linears,
                      const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x);
  // Sets the four bounds to -inf / +inf (transformers' _init_weights values: no clipping).
  void reset_bounds();

  LoraLinear linear{nullptr};
  at::Tensor input_min, input_max, output_min, output_max;  // undefined without clipping
};
TORCH_MODULE(ClippableLinear);

// A submodule that holds only `weight` (a convolution kernel or a LayerNorm scale), applied by its owner with the
// functional op, so the parameter is named `<child>.weight` as in the checkpoint.
class WeightImpl : public torch::nn::Module {
 public:
  enum class Init { Normal, Ones };  // transformers' _init_weights: conv kernels normal(0, std), norm scales 1
  WeightImpl(at::IntArrayRef shape, Init init, const at::TensorOptions& opts);
  at::Tensor weight;
  Init init;
};
TORCH_MODULE(Weight);

// Gemma4AudioSubSampleConvProjectionLayer: mask the time frames, conv 3x3 stride 2 padding 1 (no bias), LayerNorm
// over channels (scale only), ReLU; the mask keeps every second frame.
class AudioSubSampleLayerImpl : public torch::nn::Module {
 public:
  AudioSubSampleLayerImpl(int64_t in_channels, int64_t out_channels, double eps, const at::TensorOptions& opts);
  // x [B, C_in, T, F], mask [B, T] bool -> ([B, C_out, ceil(T/2), ceil(F/2)], [B, ceil(T/2)])
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& x, const at::Tensor& mask);
  Weight conv{nullptr}, norm{nullptr};

 private:
  double eps_;
};
TORCH_MODULE(AudioSubSampleLayer);

// Gemma4AudioSubSampleConvProjection: two subsampling layers (time and frequency / 4), then a linear projection of
// the flattened (frequency, channel) values of each frame.
class AudioSubSampleConvProjectionImpl : public torch::nn::Module {
 public:
  AudioSubSampleConvProjectionImpl(const AudioConfig& c, const at::TensorOptions& opts);
  // features [B, T, n_mel], mask [B, T] bool -> ([B, T', hidden], [B, T'])
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& features, const at::Tensor& mask);
  AudioSubSampleLayer layer0{nullptr}, layer1{nullptr};
  LoraLinear input_proj_linear{nullptr};
};
TORCH_MODULE(AudioSubSampleConvProjection);

// Gemma4AudioFeedForward (macaron half-step FFN): x + residual_weight * post_norm(ffw2(silu(ffw1(pre_norm(x))))).
class AudioFeedForwardImpl : public torch::nn::Module {
 public:
  AudioFeedForwardImpl(const AudioConfig& c, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x);
  ClippableLinear ffw_layer_1{nullptr}, ffw_layer_2{nullptr};
  RMSNorm pre_layer_norm{nullptr}, post_layer_norm{nullptr};

 private:
  double gradient_clipping_, residual_weight_;
};
TORCH_MODULE(AudioFeedForward);

// Gemma4AudioAttention: chunked local self-attention with a relative-position term, computed in float32.
class AudioAttentionImpl : public torch::nn::Module {
 public:
  AudioAttentionImpl(const AudioConfig& c, const at::TensorOptions& opts);
  // x [B, T, D]; position_embeddings [P, D] (relative distances P-1 .. 0); invalid [B, 1, U, C, W] bool, true where
  // a (query, context key) pair is masked. -> [B, T, D]
  at::Tensor forward(const at::Tensor& x, const at::Tensor& position_embeddings, const at::Tensor& invalid);
  ClippableLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, post{nullptr};
  LoraLinear relative_k_proj{nullptr};
  at::Tensor per_dim_scale;  // [head_dim]

 private:
  at::Tensor to_blocks(const at::Tensor& x) const;       // [B, T, H, hd] -> [B, U, C, H, hd]
  at::Tensor to_contexts(const at::Tensor& x) const;     // [B, T, H, hd] -> [B, U, W, H, hd]
  at::Tensor relative_shift(const at::Tensor& x) const;  // [B, H, U, C, P] -> [B, H, U, C, W]
  int64_t n_head_, head_dim_, chunk_, past_, future_, context_;
  double logit_cap_, invalid_logit_;
};
TORCH_MODULE(AudioAttention);

// Gemma4AudioLightConv1d: x + linear_end(silu(conv_norm(causal depthwise conv(glu(linear_start(pre_norm(x))))))).
class AudioLightConv1dImpl : public torch::nn::Module {
 public:
  AudioLightConv1dImpl(const AudioConfig& c, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x);
  ClippableLinear linear_start{nullptr}, linear_end{nullptr};
  Weight depthwise_conv1d{nullptr};  // [D, 1, K]
  RMSNorm pre_layer_norm{nullptr}, conv_norm{nullptr};

 private:
  double gradient_clipping_;
};
TORCH_MODULE(AudioLightConv1d);

// Gemma4AudioLayer: FFN/2, attention, light conv, FFN/2, norm.
class AudioLayerImpl : public torch::nn::Module {
 public:
  AudioLayerImpl(const AudioConfig& c, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& invalid, const at::Tensor& position_embeddings);
  AudioFeedForward feed_forward1{nullptr}, feed_forward2{nullptr};
  AudioAttention self_attn{nullptr};
  AudioLightConv1d lconv1d{nullptr};
  RMSNorm norm_pre_attn{nullptr}, norm_post_attn{nullptr}, norm_out{nullptr};

 private:
  double gradient_clipping_;
};
TORCH_MODULE(AudioLayer);

struct AudioEncoderOutput {
  at::Tensor hidden;  // [B, T', output_proj_dims] at every position, padded ones included
  at::Tensor mask;    // [B, T'] bool, true = a valid token
};

// Gemma4AudioModel, registered as "audio_tower".
class AudioModelImpl : public torch::nn::Module {
 public:
  AudioModelImpl(const AudioConfig& c, const at::TensorOptions& opts);
  // features [B, T, n_mel], mask [B, T] bool. `trace` (optional) receives "subsample" and "layers.<i>".
  AudioEncoderOutput forward(const at::Tensor& features, const at::Tensor& mask, Trace* trace = nullptr);
  // The relative-position sinusoids Gemma4AudioRelPositionalEncoding gives, [context/2 + 1, D] in `dtype`:
  // distances context/2 down to 0.
  at::Tensor relative_position_embeddings(at::ScalarType dtype, at::Device device) const;
  // The boolean mask transformers builds for the blocked attention (key valid, 0 <= query - key < context_left - 1
  // or 0 < key - query < context_right, both inside the sequence): [B, 1, U, C, W], true = attend.
  at::Tensor blocked_attention_mask(const at::Tensor& mask) const;

  AudioSubSampleConvProjection subsample_conv_projection{nullptr};
  torch::nn::ModuleList layers{nullptr};
  LoraLinear output_proj{nullptr};
  const AudioConfig& config() const { return cfg_; }

 private:
  AudioConfig cfg_;
};
TORCH_MODULE(AudioModel);

// The AudioTower of Gemma 4: children "audio_tower" (AudioModel) and "embed_audio" (MultimodalEmbedder).
class AudioTowerImpl : public torch::nn::Module, public models::AudioTower {
 public:
  AudioTowerImpl(const AudioConfig& c, int64_t text_hidden_size, const at::TensorOptions& opts);

  // The valid soft tokens of every clip, in clip order (Gemma4Model.forward: embed_audio(encoder)[encoder mask]).
  // Throws gt::InputError when the features' mel-bin count does not fit the checkpoint's subsampler.
  AudioSoftTokens encode(const at::Tensor& features, const at::Tensor& feature_mask) override;
  // transformers' _init_weights: linear and conv weights normal(0, initializer_range), biases 0, norm scales 1,
  // per_dim_scale 0, clip bounds -inf / +inf.
  void init_random(at::Generator& gen) override;
  torch::nn::Module& module() override { return *this; }

  AudioModel audio_tower{nullptr};
  MultimodalEmbedder embed_audio{nullptr};

 private:
  AudioConfig cfg_;
};

// The Gemma 4 audio tower and embedder described by cfg (audio_config, text hidden size), weights in `dtype` on
// `device`, uninitialised (clip bounds ±inf). Throws gt::InputError when cfg has no usable audio_config.
std::shared_ptr<AudioTower> make_gemma4_audio_tower(const io::ModelConfig& cfg, at::ScalarType dtype,
                                                    at::Device device);

}  // namespace gt::models::gemma4
