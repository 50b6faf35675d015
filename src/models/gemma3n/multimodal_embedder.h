// Gemma 3n multimodal embedder (transformers Gemma3nMultimodalEmbedder): maps a tower's soft
// tokens, or the "hard" token ids of its modality, into the language model's embedding space. The same module
// serves audio (`model.embed_audio.`) and vision (`model.embed_vision.`); its names mirror the checkpoint.
//   soft:  post_norm(embedding_projection(soft_embedding_norm(x)))
//   hard:  post_norm(embedding_projection(hard_embedding_norm(embedding[id - vocab_offset])))
// where post_norm is embedding_post_projection_norm, an RMSNorm without scale.
#pragma once

#include <torch/torch.h>

#include "models/common/lora_linear.h"  // defines: gt::models::LoraLinear
#include "models/common/modules.h"      // defines: gt::models::RMSNorm, Embedding

namespace gt::models::gemma3n {

struct MultimodalEmbedderShape {
  int64_t multimodal_hidden_size = 0;  // the tower's hidden_size
  int64_t text_hidden_size = 0;
  int64_t vocab_size = 0;    // hard ids of the modality: [vocab_offset, vocab_offset + vocab_size)
  int64_t vocab_offset = 0;
  double eps = 1e-6;         // the tower config's rms_norm_eps
};

class MultimodalEmbedderImpl : public torch::nn::Module {
 public:
  MultimodalEmbedderImpl(const MultimodalEmbedderShape& shape, const at::TensorOptions& opts);

  // Soft tokens [..., multimodal_hidden_size] -> [..., text_hidden_size].
  at::Tensor embed_soft(const at::Tensor& x);
  // Hard token ids (absolute, any shape) -> ids.shape + [text_hidden_size]. Throws gt::InputError naming the id
  // range when an id lies outside this modality's vocabulary.
  at::Tensor embed_hard(const at::Tensor& ids);

  const MultimodalEmbedderShape& shape() const { return shape_; }

  Embedding embedding{nullptr};
  RMSNorm hard_embedding_norm{nullptr}, soft_embedding_norm{nullptr}, embedding_post_projection_norm{nullptr};
  LoraLinear embedding_projection{nullptr};

 private:
  at::Tensor project(const at::Tensor& normed);
  MultimodalEmbedderShape shape_;
};
TORCH_MODULE(MultimodalEmbedder);

}  // namespace gt::models::gemma3n
