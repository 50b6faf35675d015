// Gemma 3n vision encoder, parameter layout: timm's MobileNet-V5-300M encoder ("mobilenetv5_300m_enc") inside
// transformers' TimmWrapperModel, i.e. the module tree of `model.vision_tower.timm_model.*`:
//   conv_stem        ConvNormAct 3 -> 64, k3 s2, the only conv with a bias
//   blocks.S.J       four stages built from kMobileNetV5Blocks below: EdgeResidual (stage 0), then
//                    UniversalInvertedResidual and MobileAttention (multi-query) blocks
//   msfa             multi-scale fusion adapter: an expansion-only UIR over the concatenated stage 2 + 3 features
//                    and a final RmsNorm2d
// Every "bn"/"norm" is a timm RmsNorm2d holding only `weight`; no module has running statistics.
//
// Forward pass: timm's MobileNetV5Encoder.forward_features as TimmWrapperModel calls it for
// Gemma3nModel.get_image_features, op for op in the input's dtype: TF-style 'same' padding,
// RmsNorm2d as x * rsqrt(mean_c(x^2) + eps) * weight, GELU-tanh, multi-query attention through SDPA (libtorch >= 2.1)
// or the composite of models/common/attention.h (libtorch 1.13), the MSFA's nearest upsample / average pool.
//
// The tree can also be built from another architecture description (MobileNetV5Arch: timm block strings, stem
// width, MSFA width and output resolution), so tests can run a small MobileNet-V5 with the same block kinds that
// timm builds from the same strings. Checkpoints (parse_vision_config) always get mobilenetv5_300m_enc.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

namespace gt::models::gemma3n {

// config.json "vision_config" (model_type gemma3n_vision); absent keys take Gemma3nVisionConfig's defaults (a
// Gemma 3n config without vision_config gets all of them, as transformers does).
struct VisionConfig {
  std::string architecture = "mobilenetv5_300m_enc";  // the only timm architecture supported
  int64_t hidden_size = 2048;                         // MSFA output width = embedder input width
  int64_t vocab_size = 128;                           // hard vision tokens of embed_vision
  int64_t vocab_offset = 262144;
  double rms_norm_eps = 1e-6;  // embed_vision's norms (timm's RmsNorm2d uses its own 1e-6)
  // "gemma_tune_architecture": a smaller MobileNet-V5 in parse_mobilenetv5_arch's JSON form (as text; empty =
  // mobilenetv5_300m_enc). Only gemma-tune's tiny test checkpoints carry it; transformers ignores the key and would
  // build the 300m network, so it cannot load such a checkpoint's vision tower.
  std::string gemma_tune_architecture;
};

// Parses the vision_config object (JSON text; "{}" gives the defaults). `where` names the file in messages.
// Throws gt::InputError for another architecture, timm model_args, or a hidden_size other than the MSFA width.
VisionConfig parse_vision_config(const std::string& json_text, const std::string& where);

// ---- the architecture table (timm's arch_def for mobilenetv5_300m_enc) ----

enum class BlockKind { EdgeResidual, UniversalInvertedResidual, MobileAttention };

// One block as timm's block string describes it ("er_r1_k3_s2_e4_c128", "uir_r1_a5_k0_s1_e4_c640",
// "mqa_r1_k3_h12_v2_s1_d64_c640").
struct BlockSpec {
  BlockKind kind;
  int64_t out_chs;            // c
  int64_t stride = 1;         // s
  int64_t kernel = 0;         // k: er expansion conv; uir middle depthwise conv (0: none); mqa kv down-sampling conv
  int64_t start_kernel = 0;   // a: uir leading depthwise conv (0: none)
  double exp_ratio = 1.0;     // e: er/uir expansion
  int64_t num_heads = 0;      // h: mqa query heads
  int64_t head_dim = 0;       // d: mqa key and value width (one shared key/value head)
  int64_t kv_stride = 1;      // v: mqa key/value down-sampling stride
  bool noskip = false;        // "noskip": no residual even where the shapes allow one
};

// `pattern` repeated `times` times, appended to stage `stage`.
struct BlockRun {
  int64_t stage;
  int64_t times;
  std::vector<BlockSpec> pattern;
};

// The block runs of mobilenetv5_300m_enc, stage by stage (3 / 5 / 37 / 39 blocks).
const std::vector<BlockRun>& mobilenetv5_300m_blocks();

// timm's make_divisible(v, 8): widths rounded to a multiple of 8, never more than 10% below v.
int64_t make_divisible(double v, int64_t divisor = 8);

// A whole MobileNet-V5 encoder: what timm's MobileNetV5Encoder is built from (block_args from decode_arch_def,
// stem_size, msfa_output_resolution; the MSFA width is 2048 in timm's encoder, another width only where a test
// builds the adapter itself). `stages` hold the blocks as timm's EfficientNetBuilder creates them: repeats
// expanded, output widths rounded with make_divisible, stride kept on the first block of a stage only.
struct MobileNetV5Arch {
  int64_t stem_size = 64;
  std::vector<std::vector<BlockSpec>> stages;
  int64_t msfa_out_channels = 2048;     // MSFA output width = hidden_size of the vision config
  int64_t msfa_output_resolution = 16;  // the MSFA pools (or resizes) its output to this many rows and columns
};

// mobilenetv5_300m_enc: the runs of mobilenetv5_300m_blocks(), stem 64, MSFA 2048 wide at 16x16.
MobileNetV5Arch mobilenetv5_300m_arch();

// Applies timm's builder rules to `runs` (see MobileNetV5Arch) and checks what this port supports, naming `where`:
// at least two stages, each starting with a stride-2 block and not ending with an attention block (timm takes
// the MSFA inputs from its feature list, which then holds [stem, stage 0, ..., stage S-1]; the MSFA reads the
// last two), strides 1 or 2, at most 4 stages (timm's output_stride 32 would turn later strides into dilation), a
// strided UIR with a depthwise conv, positive widths. Throws gt::InputError.
MobileNetV5Arch make_mobilenetv5_arch(const std::vector<BlockRun>& runs, int64_t stem_size, int64_t msfa_out_channels,
                                      int64_t msfa_output_resolution, const std::string& where);

// One timm block string (timm's _decode_block_str) -> its BlockSpec and repeat count `r`. Supported: er (k, s, e,
// c), uir (a, k, s, e, c), mqa (k, h, v, s, d, c), each with r and an optional "noskip"; a missing `a` is 0 and a
// missing `v` is 1, as in timm. Anything else (se, p, gs, activations, mixed kernels, other block types) is refused
// by name. Throws gt::InputError naming `where` and the string.
BlockSpec parse_block_string(const std::string& block, int64_t& repeats, const std::string& where);

// An architecture description as JSON:
//   {"stem_size": 16, "block_strings": [["er_r1_k3_s2_e4_c16", ...], ...],   // stages of timm block strings
//    "msfa_out_channels": 64, "msfa_output_resolution": 4}
// stem_size, msfa_out_channels and msfa_output_resolution default to mobilenetv5_300m_enc's; block_strings is
// required. Throws gt::InputError naming `where` and the key.
MobileNetV5Arch parse_mobilenetv5_arch(const std::string& json_text, const std::string& where);

// The network of a vision config: mobilenetv5_300m_enc, or its gemma_tune_architecture.
MobileNetV5Arch vision_architecture(const VisionConfig& c, const std::string& where);

// ---- building blocks (timm names) ----

// A Conv2d with TF-style 'same' padding (pad_type='same'): `weight` [out, in/groups, k, k], optional `bias`.
class SameConv2dImpl : public torch::nn::Module {
 public:
  SameConv2dImpl(int64_t in_chs, int64_t out_chs, int64_t kernel, int64_t stride, int64_t groups, bool bias,
                 const at::TensorOptions& opts);
  // [N, in, H, W] -> [N, out, ceil(H/stride), ceil(W/stride)]. Stride 1 with an odd kernel pads (k-1)/2 on every
  // side inside the conv (timm's static case); otherwise the input is zero-padded first by
  // max((ceil(n/s) - 1) s + k - n, 0), the smaller half before (timm's Conv2dSame / pad_same).
  at::Tensor forward(const at::Tensor& x);
  int64_t in_chs, out_chs, kernel, stride, groups;
  at::Tensor weight, bias;  // bias undefined when absent
};
TORCH_MODULE(SameConv2d);

// timm RmsNorm2d / RmsNormAct2d: RMS over the channel axis, `weight` [C], then GELU-tanh when apply_act.
class RmsNormAct2dImpl : public torch::nn::Module {
 public:
  RmsNormAct2dImpl(int64_t channels, bool apply_act, const at::TensorOptions& opts);
  // timm's rms_norm2d: x * rsqrt(mean over C of x^2 + eps) * weight, each op in x's dtype; then GELU-tanh.
  at::Tensor forward(const at::Tensor& x);
  static constexpr double kEps = 1e-6;  // timm's RmsNorm2d default, used throughout MobileNet-V5
  bool apply_act;
  at::Tensor weight;
};
TORCH_MODULE(RmsNormAct2d);

// timm ConvNormAct: `conv` then `bn` (an RmsNormAct2d).
class ConvNormActImpl : public torch::nn::Module {
 public:
  ConvNormActImpl(int64_t in_chs, int64_t out_chs, int64_t kernel, int64_t stride, int64_t groups, bool bias,
                  bool apply_act, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x) { return bn->forward(conv->forward(x)); }
  SameConv2d conv{nullptr};
  RmsNormAct2d bn{nullptr};
};
TORCH_MODULE(ConvNormAct);

// timm LayerScale2d: per-channel `gamma` [C], initialised to kInitValue.
class LayerScale2dImpl : public torch::nn::Module {
 public:
  LayerScale2dImpl(int64_t channels, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x) { return x * gamma.view({1, -1, 1, 1}); }
  static constexpr double kInitValue = 1e-5;  // layer_scale_init_value of mobilenetv5_300m_enc
  at::Tensor gamma;
};
TORCH_MODULE(LayerScale2d);

// timm EdgeResidual (FusedIB): conv_exp (k×k, stride) + bn1 (act), conv_pwl (1x1) + bn2 (no act).
class EdgeResidualImpl : public torch::nn::Module {
 public:
  EdgeResidualImpl(int64_t in_chs, const BlockSpec& spec, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x);
  bool has_skip;
  SameConv2d conv_exp{nullptr}, conv_pwl{nullptr};
  RmsNormAct2d bn1{nullptr}, bn2{nullptr};
};
TORCH_MODULE(EdgeResidual);

// timm UniversalInvertedResidual: [dw_start] -> pw_exp -> [dw_mid] -> pw_proj -> [layer_scale] (+ skip).
class UniversalInvertedResidualImpl : public torch::nn::Module {
 public:
  UniversalInvertedResidualImpl(int64_t in_chs, int64_t out_chs, int64_t start_kernel, int64_t mid_kernel,
                                int64_t stride, double exp_ratio, bool layer_scale, bool noskip,
                                const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x);
  bool has_skip;
  ConvNormAct dw_start{nullptr}, pw_exp{nullptr}, dw_mid{nullptr}, pw_proj{nullptr};  // dw_* may be null
  LayerScale2d layer_scale{nullptr};                                                  // may be null
};
TORCH_MODULE(UniversalInvertedResidual);

// One branch of MultiQueryAttention2d (timm builds each as an nn.Sequential): optional depthwise `down_conv` and
// `norm` (key/value with kv_stride > 1), then the 1x1 `proj`.
class AttentionBranchImpl : public torch::nn::Module {
 public:
  AttentionBranchImpl(int64_t in_chs, int64_t out_chs, int64_t down_kernel, int64_t down_stride,
                      const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x);
  SameConv2d down_conv{nullptr};  // null without down-sampling
  RmsNormAct2d norm{nullptr};     // null without down-sampling
  SameConv2d proj{nullptr};
};
TORCH_MODULE(AttentionBranch);

// timm MultiQueryAttention2d: num_heads query heads, one shared key/value head of head_dim.
class MultiQueryAttention2dImpl : public torch::nn::Module {
 public:
  MultiQueryAttention2dImpl(int64_t dim, const BlockSpec& spec, const at::TensorOptions& opts);
  // [N, dim, H, W] -> [N, out, H, W]. Query head n is channels n*head_dim .. of query(x), flattened row-major over
  // (H, W); the one key/value head comes from the (kv_stride-downsampled) grid; softmax(q k^T / sqrt(head_dim)) v,
  // heads back to channels head-major, then output.proj.
  at::Tensor forward(const at::Tensor& x);
  int64_t num_heads, head_dim, kv_stride;
  AttentionBranch query{nullptr}, key{nullptr}, value{nullptr}, output{nullptr};
};
TORCH_MODULE(MultiQueryAttention2d);

// timm MobileAttention (use_multi_query): norm -> attn -> layer_scale (+ skip).
class MobileAttentionImpl : public torch::nn::Module {
 public:
  MobileAttentionImpl(int64_t in_chs, const BlockSpec& spec, const at::TensorOptions& opts);
  at::Tensor forward(const at::Tensor& x);
  bool has_skip;
  RmsNormAct2d norm{nullptr};
  MultiQueryAttention2d attn{nullptr};
  LayerScale2d layer_scale{nullptr};
};
TORCH_MODULE(MobileAttention);

// timm MobileNetV5MultiScaleFusionAdapter: ffn (UIR without depthwise convs, no skip, no layer scale) and norm.
class MultiScaleFusionAdapterImpl : public torch::nn::Module {
 public:
  MultiScaleFusionAdapterImpl(int64_t in_chs, int64_t out_chs, int64_t output_resolution,
                              const at::TensorOptions& opts);
  // inputs: feature maps, the first of the highest resolution (stage S-2, then stage S-1). Smaller ones are
  // upsampled to it (nearest: source index floor(i * in / out)), all are concatenated on channels and go through
  // ffn; then average pooling with kernel = stride = resolution / output_resolution when that divides evenly,
  // else a bilinear resize (align_corners false) to output_resolution; then norm.
  at::Tensor forward(const std::vector<at::Tensor>& inputs);
  static constexpr double kExpansionRatio = 2.0;
  static constexpr int64_t kOutputResolution = 16;  // mobilenetv5_300m_enc: 16×16 = 256 soft tokens
  int64_t output_resolution;
  UniversalInvertedResidual ffn{nullptr};
  RmsNormAct2d norm{nullptr};
};
TORCH_MODULE(MultiScaleFusionAdapter);

// timm MobileNetV5Encoder.
class MobileNetV5EncoderImpl : public torch::nn::Module {
 public:
  explicit MobileNetV5EncoderImpl(const at::TensorOptions& opts);  // mobilenetv5_300m_enc
  MobileNetV5EncoderImpl(const MobileNetV5Arch& arch, const at::TensorOptions& opts);
  static constexpr int64_t kStemChannels = 64;
  static constexpr int64_t kNumFeatures = 2048;  // MSFA output width

  // forward_features: pixel_values [N, 3, H, W] in the weights' dtype and device (Gemma 3n's processor: float in
  // [0, 1], 768x768) -> the MSFA output [N, msfa_out_channels, R, R] (R = msfa_output_resolution; [N, 2048, 16, 16]
  // for mobilenetv5_300m_enc at 768x768). With `stage_outputs`, also collects the stem's and every stage's output
  // (for locating a difference).
  at::Tensor forward(const at::Tensor& pixel_values, std::vector<at::Tensor>* stage_outputs = nullptr);

  const MobileNetV5Arch& arch() const { return arch_; }
  ConvNormAct conv_stem{nullptr};
  torch::nn::ModuleList blocks{nullptr};       // blocks[S] is a ModuleList of stage S's blocks
  std::vector<std::vector<BlockSpec>> specs;  // specs[S][J] describes blocks[S][J]
  MultiScaleFusionAdapter msfa{nullptr};

 private:
  MobileNetV5Arch arch_;
};
TORCH_MODULE(MobileNetV5Encoder);

// Gemma3nModel.get_image_features between the tower and embed_vision: [N, C, h, w] -> [N, h*w, C] (token y*w + x),
// times sqrt(C) as a Python float (one rounding in the features' dtype).
at::Tensor vision_soft_tokens(const at::Tensor& features);

// transformers' TimmWrapperModel: registered as `vision_tower` below "model.", the timm network as `timm_model`.
class VisionTowerImpl : public torch::nn::Module {
 public:
  VisionTowerImpl(const VisionConfig& c, const at::TensorOptions& opts);  // mobilenetv5_300m_enc
  // Another architecture (tests); c.hidden_size must equal arch.msfa_out_channels (gt::InputError otherwise).
  VisionTowerImpl(const VisionConfig& c, const MobileNetV5Arch& arch, const at::TensorOptions& opts);
  // TimmWrapperModel.forward(pixel_values, do_pooling=False).last_hidden_state: pixel_values [N, 3, H, W] float in
  // [0, 1], moved to the weights' device and cast to their dtype, then timm's forward_features. Returns
  // [N, hidden_size, R, R] ([N, 2048, 16, 16] for mobilenetv5_300m_enc at 768x768).
  at::Tensor forward(const at::Tensor& pixel_values);
  const VisionConfig& config() const { return cfg_; }
  MobileNetV5Encoder timm_model{nullptr};

 private:
  VisionConfig cfg_;
};
TORCH_MODULE(VisionTower);

}  // namespace gt::models::gemma3n
