// The vision side of either family as a module tree in the published checkpoint layout: children `vision_tower`
// (Gemma 4: Gemma4VisionModel, models/gemma4/vision.h; Gemma 3n: TimmWrapperModel around MobileNet-V5,
// models/gemma3n/vision.h) and `embed_vision` (the family's multimodal embedder), so "model." + the name of every
// parameter and buffer is the checkpoint's tensor name. init-random uses it to write complete checkpoints; the
// vision forward pass (a later issue) builds on the same classes.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>

#include "io/model_config.h"  // defines: gt::io::ModelConfig

namespace gt::models {

// The tree for cfg.vision_config_json, tensors allocated in `dtype` on `device` and NOT initialised (pass
// at::kMeta for names and shapes without memory). Null when the config has no vision tower (a Gemma 4 config whose
// vision_config is null or absent; a Gemma 3n config always has one, transformers fills the defaults).
// Throws gt::InputError naming config.json and the key for a vision_config it cannot build.
std::shared_ptr<torch::nn::Module> make_vision_tower_layout(const io::ModelConfig& cfg, at::ScalarType dtype,
                                                            at::Device device);

// Fills every parameter and buffer of a tree from make_vision_tower_layout (or of any subtree) as a fresh model of
// `family` ("gemma3n" or "gemma4") is initialised:
//   gemma4   Gemma4PreTrainedModel._init_weights: linear weights normal(0, 0.02), norm scales 1,
//            position_embedding_table 1, clip bounds -inf/+inf (no clipping), std_bias 0 and std_scale 1
//   gemma3n  timm's efficientnet_init_weights for the MobileNet: conv weights normal(0, sqrt(2 / fan_out)) with
//            fan_out = k·k·out_channels / groups, conv biases 0, RmsNorm2d weights 1, layer-scale gamma 1e-5;
//            transformers' _init_weights for embed_vision: embedding and projection normal(0, 0.02), norm scales 1
// Draws come from `gen` (a generator of the tensors' device). Meta tensors hold no data and are left as they are.
// Throws std::logic_error naming every tensor that no rule covers, so nothing is left uninitialised unnoticed.
void init_vision_tower_random(torch::nn::Module& tree, const std::string& family, at::Generator& gen);

}  // namespace gt::models
