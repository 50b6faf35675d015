// Gemma4MultimodalEmbedder.forward: embs_normed = embedding_pre_projection_norm(x); embedding_projection(embs_normed).
#include "models/gemma4/multimodal_embedder.h"

namespace gt::models::gemma4 {

MultimodalEmbedderImpl::MultimodalEmbedderImpl(int64_t multimodal_hidden_size, int64_t text_hidden_size, double eps,
                                               const at::TensorOptions& opts) {
  embedding_projection = register_module(
      "embedding_projection", LoraLinear(multimodal_hidden_size, text_hidden_size, /*bias=*/false, opts));
  embedding_pre_projection_norm = register_module(
      "embedding_pre_projection_norm", RMSNorm(multimodal_hidden_size, eps, /*with_scale=*/false, opts));
}

at::Tensor MultimodalEmbedderImpl::forward(const at::Tensor& soft_tokens) {
  return embedding_projection->forward(embedding_pre_projection_norm->forward(soft_tokens));
}

}  // namespace gt::models::gemma4
