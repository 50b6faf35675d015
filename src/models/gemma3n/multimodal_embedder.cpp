#include "models/gemma3n/multimodal_embedder.h"

#include "core/error.h"

namespace gt::models::gemma3n {

MultimodalEmbedderImpl::MultimodalEmbedderImpl(const MultimodalEmbedderShape& s, const at::TensorOptions& opts)
    : shape_(s) {
  embedding = register_module("embedding", Embedding(s.vocab_size, s.multimodal_hidden_size, opts));
  hard_embedding_norm = register_module("hard_embedding_norm", RMSNorm(s.multimodal_hidden_size, s.eps, true, opts));
  soft_embedding_norm = register_module("soft_embedding_norm", RMSNorm(s.multimodal_hidden_size, s.eps, true, opts));
  embedding_projection =
      register_module("embedding_projection", LoraLinear(s.multimodal_hidden_size, s.text_hidden_size, false, opts));
  embedding_post_projection_norm =
      register_module("embedding_post_projection_norm", RMSNorm(s.text_hidden_size, s.eps, false, opts));
}

at::Tensor MultimodalEmbedderImpl::project(const at::Tensor& normed) {
  return embedding_post_projection_norm->forward(embedding_projection->forward(normed));
}

at::Tensor MultimodalEmbedderImpl::embed_soft(const at::Tensor& x) {
  GT_CHECK(x.size(-1) == shape_.multimodal_hidden_size, "soft tokens of width ", x.size(-1), ", expected ",
           shape_.multimodal_hidden_size);
  return project(soft_embedding_norm->forward(x));
}

at::Tensor MultimodalEmbedderImpl::embed_hard(const at::Tensor& ids) {
  if (ids.numel() > 0) {
    // An id outside the table would be a device-side assert on CUDA; check once here (one host sync).
    const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    if (lo < shape_.vocab_offset || hi >= shape_.vocab_offset + shape_.vocab_size)
      fail_input("multimodal embedder: hard token ids must lie in [", shape_.vocab_offset, ", ",
                 shape_.vocab_offset + shape_.vocab_size, "); found ids from ", lo, " to ", hi);
  }
  const at::Tensor rows = ids.to(embedding->weight.device(), at::kLong) - shape_.vocab_offset;
  return project(hard_embedding_norm->forward(embedding->forward(rows)));
}

}  // namespace gt::models::gemma3n
