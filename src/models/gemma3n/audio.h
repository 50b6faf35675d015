// Gemma 3n audio encoder, the "USM" conformer of transformers 5.17 Gemma3nAudioEncoder, and the
// AudioTower that adds embed_audio and the padding to audio_soft_tokens_per_image as Gemma3nModel does.
// Module and parameter names mirror the checkpoint below "model.audio_tower." (module classes are named after the
// transformers classes without the "Gemma3nAudio" prefix).
//
// Dimension letters: B clips, T mel frames, F frequency bins, C conv channels, T2 frames after sub-sampling, D hidden,
// N heads, H head dim, U attention blocks, W block (chunk) size, K key context per block, R relative positions.
//
//   mel [B, T, 128] --SSCP: 2 x (pad, conv 3x3 stride 2, cumulative group norm, relu), flatten, linear--> [B, T2, D]
//   conformer block x L: macaron FFN, chunked local attention with relative positions and a logit soft-cap,
//                        light (depthwise causal) convolution, macaron FFN, norm
//   reduction: keep every 4th frame; padded frames zeroed
#pragma once

#include <torch/torch.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "io/model_config.h"                     // defines: gt::io::ModelConfig
#include "models/audio_tower.h"                  // defines: gt::models::AudioTower, AudioSoftTokens
#include "models/common/lora_linear.h"           // defines: gt::models::LoraLinear
#include "models/common/modules.h"               // defines: gt::models::RMSNorm
#include "models/gemma3n/multimodal_embedder.h"  // defines: gt::models::gemma3n::MultimodalEmbedder

namespace gt::models::gemma3n {

// transformers' Gemma3nAudioConfig; field names are the config.json keys, defaults those of the class.
struct AudioConfig {
  int64_t vocab_size = 128;
  int64_t vocab_offset = 262144 + 128;
  int64_t input_feat_size = 128;
  int64_t hidden_size = 1536;
  double rms_norm_eps = 1e-6;
  double gradient_clipping = 1e10;
  int64_t conf_attention_chunk_size = 12;
  int64_t conf_attention_context_left = 13;
  int64_t conf_attention_context_right = 0;
  double conf_attention_logit_cap = 50.0;
  int64_t conf_num_attention_heads = 8;
  int64_t conf_num_hidden_layers = 12;
  int64_t conf_conv_kernel_size = 5;
  int64_t conf_reduction_factor = 4;
  double conf_residual_weight = 0.5;
  std::array<int64_t, 2> sscp_conv_channel_size = {128, 32};
  double sscp_conv_group_norm_eps = 1e-3;
  std::array<std::array<int64_t, 2>, 2> sscp_conv_kernel_size = {{{3, 3}, {3, 3}}};  // (time, frequency)
  std::array<std::array<int64_t, 2>, 2> sscp_conv_stride_size = {{{2, 2}, {2, 2}}};

  int64_t head_dim() const { return hidden_size / conf_num_attention_heads; }
};

// Parses the audio_config object of config.json (`where` names it in errors). Absent keys take the defaults above;
// mistyped or inconsistent values throw gt::InputError naming the key.
AudioConfig parse_audio_config(const std::string& json_text, const std::string& where);

// A module that holds only `weight` (convolution kernels, which have no bias here).
class WeightImpl : public torch::nn::Module {
 public:
  WeightImpl(const std::vector<int64_t>& shape, const at::TensorOptions& opts);
  at::Tensor weight;
};
TORCH_MODULE(Weight);

// Group norm with one group whose statistics accumulate over time: frame t is normalised with the mean and variance
// of frames 0..t (each frame's squared deviations taken from its own running mean). Input [B, T, F, C], float32 math.
class CumulativeGroupNormImpl : public torch::nn::Module {
 public:
  CumulativeGroupNormImpl(int64_t channels, int64_t freq, double eps, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor weight;  // [C]

 private:
  int64_t channels_, freq_;
  double eps_;
};
TORCH_MODULE(CumulativeGroupNorm);

// Pad (time: 0 before, kernel-1 after; frequency: 1 and 1), conv2d without bias, cumulative group norm, relu.
// [B, Cin, T, F] -> [B, Cout, T', F'].
class SSCPConvBlockImpl : public torch::nn::Module {
 public:
  SSCPConvBlockImpl(const AudioConfig& c, int idx, int64_t freq_in, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x);
  int64_t freq_out() const { return freq_out_; }
  Weight conv{nullptr};  // weight [Cout, Cin, kt, kf]
  CumulativeGroupNorm norm{nullptr};

 private:
  std::array<int64_t, 2> kernel_, stride_;
  int64_t freq_out_;
};
TORCH_MODULE(SSCPConvBlock);

// [B, T, F] -> [B, T2, D]: two conv blocks, then (frequency-major, channel-minor) flatten and input_proj_linear.
class SubSampleConvProjectionImpl : public torch::nn::Module {
 public:
  SubSampleConvProjectionImpl(const AudioConfig& c, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& mel);
  SSCPConvBlock conv_0{nullptr}, conv_1{nullptr};
  LoraLinear input_proj_linear{nullptr};
};
TORCH_MODULE(SubSampleConvProjection);

// Holds pos_proj; gives the query-position term of the attention logits (Transformer-XL style).
class RelativePositionEmbeddingImpl : public torch::nn::Module {
 public:
  RelativePositionEmbeddingImpl(const AudioConfig& c, const at::TensorOptions& opts);
  // queries [B, U, W, N, H], keys [B, U, K, N, H] -> logits q.k + q.pos [B, N, U, W, K].
  at::Tensor forward(const at::Tensor& queries, const at::Tensor& keys);
  LoraLinear pos_proj{nullptr};

 private:
  at::Tensor relative_shift(const at::Tensor& term_bd, int64_t key_context) const;
  int64_t heads_, head_dim_, max_backward_, max_forward_;
  at::Tensor inv_timescales_;  // [D/2] float32, computed as transformers' non-persistent buffer
};
TORCH_MODULE(RelativePositionEmbedding);

// Chunked local self-attention: queries in blocks of W frames see the keys of frames t-(left-1) .. t+right that
// are real (not padding). x [B, T2, D], pad_mask [B, T2] (true = padding) -> [B, T2, N, H].
class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const AudioConfig& c, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& pad_mask);
  RelativePositionEmbedding relative_position_embedding{nullptr};
  at::Tensor per_dim_scale;  // [H]
  LoraLinear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr};

 private:
  at::Tensor to_blocks(const at::Tensor& x) const;       // [B, T, ...] -> [B, U, W, ...]
  at::Tensor block_context(const at::Tensor& x) const;   // [B, T, ...] -> [B, U, K, ...]
  at::Tensor local_causal_valid_mask(const at::Device& device) const;  // [W, K]
  int64_t heads_, head_dim_, chunk_, max_past_, max_future_, context_;
  double logit_cap_;
  at::Tensor q_scale_;  // 0-d float32: head_dim^-0.5 / softplus(0), as transformers' buffer
};
TORCH_MODULE(Attention);

class ConformerAttentionImpl : public torch::nn::Module {
 public:
  ConformerAttentionImpl(const AudioConfig& c, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& pad_mask);
  RMSNorm pre_attn_norm{nullptr}, post_norm{nullptr};
  Attention attn{nullptr};
  LoraLinear post{nullptr};

 private:
  double clip_;
};
TORCH_MODULE(ConformerAttention);

class ConformerFeedForwardImpl : public torch::nn::Module {
 public:
  ConformerFeedForwardImpl(const AudioConfig& c, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x);
  RMSNorm pre_layer_norm{nullptr}, post_layer_norm{nullptr};
  LoraLinear ffw_layer_1{nullptr}, ffw_layer_2{nullptr};

 private:
  double clip_, residual_weight_;
};
TORCH_MODULE(ConformerFeedForward);

class ConformerLightConv1dImpl : public torch::nn::Module {
 public:
  ConformerLightConv1dImpl(const AudioConfig& c, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x);
  RMSNorm pre_layer_norm{nullptr}, conv_norm{nullptr};
  LoraLinear linear_start{nullptr}, linear_end{nullptr};
  Weight depthwise_conv1d{nullptr};  // weight [D, 1, kernel]

 private:
  double clip_;
  int64_t kernel_;
};
TORCH_MODULE(ConformerLightConv1d);

class ConformerBlockImpl : public torch::nn::Module {
 public:
  ConformerBlockImpl(const AudioConfig& c, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& pad_mask);
  ConformerFeedForward ffw_layer_start{nullptr}, ffw_layer_end{nullptr};
  ConformerAttention attention{nullptr};
  ConformerLightConv1d lconv1d{nullptr};
  RMSNorm norm{nullptr};

 private:
  double clip_;
};
TORCH_MODULE(ConformerBlock);

struct EncodedAudio {
  at::Tensor hidden;    // [B, T3, D], zero where pad_mask is true
  at::Tensor pad_mask;  // [B, T3] bool, true = padding (transformers' audio_mel_mask)
};

// Gemma3nAudioEncoder: `subsample_conv_projection` and `conformer.<i>`.
class AudioEncoderImpl : public torch::nn::Module {
 public:
  AudioEncoderImpl(const AudioConfig& c, const at::TensorOptions& opts);
  // mel [B, T, input_feat_size]; pad_mask [B, T] bool, true = padding (the inverse of the feature extractor's mask).
  EncodedAudio forward(const at::Tensor& mel, const at::Tensor& pad_mask);
  // Number of output tokens for T input frames.
  int64_t output_length(int64_t frames) const;

  SubSampleConvProjection subsample_conv_projection{nullptr};
  torch::nn::ModuleList conformer{nullptr};

 private:
  AudioConfig cfg_;
};
TORCH_MODULE(AudioEncoder);

// The family's AudioTower; module() has the children "audio_tower" and "embed_audio".
class AudioTowerImpl : public torch::nn::Module, public models::AudioTower {
 public:
  AudioTowerImpl(const io::ModelConfig& cfg, const at::TensorOptions& opts);

  AudioSoftTokens encode(const at::Tensor& features, const at::Tensor& feature_mask) override;
  at::Tensor embed_hard_tokens(const at::Tensor& ids) override;
  void init_random(at::Generator& gen) override;
  torch::nn::Module& module() override { return *this; }

  // The steps of encode(), for tests: the encoder alone (feature_mask true = real frame), and the soft tokens of
  // its output, [B, tokens_per_clip, text hidden] before concatenation.
  EncodedAudio encode_tower(const at::Tensor& features, const at::Tensor& feature_mask);
  at::Tensor soft_tokens(const EncodedAudio& encoded);

  const AudioConfig& audio_config() const { return audio_; }
  int64_t tokens_per_clip() const { return tokens_per_clip_; }

  AudioEncoder audio_tower{nullptr};
  MultimodalEmbedder embed_audio{nullptr};

 private:
  AudioConfig audio_;
  int64_t tokens_per_clip_;  // audio_soft_tokens_per_image
  int64_t padding_id_;       // text vocab_size - 1: its embedding fills masked and missing tokens
};

// make_audio_tower for family gemma3n: weights uninitialised, in `dtype` on `device`.
std::shared_ptr<AudioTower> make_gemma3n_audio_tower(const io::ModelConfig& cfg, at::ScalarType dtype,
                                                     at::Device device);

}  // namespace gt::models::gemma3n
