// Gemma 4 multimodal embedder (transformers 5.17 Gemma4MultimodalEmbedder): maps a tower's
// output (soft tokens) into the language model's embedding space,
//   embedding_projection( RMSNorm_without_scale(x, eps) )        [.., multimodal hidden] -> [.., text hidden]
// Registered as "embed_audio" (multimodal hidden = audio output_proj_dims) or "embed_vision" (vision hidden_size);
// eps is the tower config's rms_norm_eps. The norm has no weight, so the only tensor is
// embedding_projection.weight. Frozen, like the towers.
#pragma once

#include <torch/torch.h>

#include "models/common/lora_linear.h"  // defines: gt::models::LoraLinear (used as a plain frozen linear)
#include "models/common/modules.h"      // defines: gt::models::RMSNorm

namespace gt::models::gemma4 {

class MultimodalEmbedderImpl : public torch::nn::Module {
 public:
  MultimodalEmbedderImpl(int64_t multimodal_hidden_size, int64_t text_hidden_size, double eps,
                         const at::TensorOptions& opts);
  // soft tokens [.., multimodal hidden] -> [.., text hidden], in the weight dtype
  at::Tensor forward(const at::Tensor& soft_tokens);

  LoraLinear embedding_projection{nullptr};
  RMSNorm embedding_pre_projection_norm{nullptr};  // with_scale = false: holds no tensor
};
TORCH_MODULE(MultimodalEmbedder);

}  // namespace gt::models::gemma4
