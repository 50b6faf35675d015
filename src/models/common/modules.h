// Parameter-holding building blocks shared by both families, registered under the names the checkpoints use:
// RMSNorm (`weight`, or none for with_scale = false) and Embedding (`weight`). Base weights are frozen.
#pragma once

#include <torch/torch.h>

#include "models/common/ops.h"

namespace gt::models {

class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps, bool with_scale, const at::TensorOptions& opts) : eps_(eps) {
    if (with_scale) weight = register_parameter("weight", torch::ones({dim}, opts), /*requires_grad=*/false);
  }
  at::Tensor forward(const at::Tensor& x) { return rms_norm(x, weight, eps_); }
  at::Tensor weight;  // undefined without scale

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t num, int64_t dim, const at::TensorOptions& opts) {
    weight = register_parameter("weight", torch::empty({num, dim}, opts), /*requires_grad=*/false);
  }
  // Rows of `weight` for `ids` (any shape) -> ids.shape + [dim], on the ids' device. A table kept on the host for a
  // GPU model (TablePlacement::Host) is gathered on the host from `host_ids` (the same ids there; without them the
  // ids are fetched back, which waits for the device) into pinned memory, and only those rows cross, without
  // blocking: the copy queues behind the device's work in stream order.
  at::Tensor forward(const at::Tensor& ids, const at::Tensor& host_ids = {}) {
    if (ids.device() == weight.device()) return at::embedding(weight, ids);
    const at::Tensor h = host_ids.defined() ? host_ids : ids.to(weight.device());
    std::vector<int64_t> shape = h.sizes().vec();
    shape.push_back(weight.size(1));
    at::Tensor rows = at::empty(shape, weight.options().pinned_memory(ids.is_cuda()));
    at::Tensor flat = rows.view({-1, weight.size(1)});
    at::index_select_out(flat, weight, 0, h.reshape({-1}));
    return rows.to(ids.device(), /*non_blocking=*/ids.is_cuda());
  }
  // The same times `scale`, as Gemma*TextScaledWordEmbedding does it: the scale is a float32 buffer cast to the
  // weight dtype at use (sqrt(1536) becomes 39.25 in a bf16 model).
  at::Tensor forward_scaled(const at::Tensor& ids, double scale, const at::Tensor& host_ids = {}) {
    const at::Tensor s = at::scalar_tensor(round_to(scale, weight.scalar_type()), weight.options().device(ids.device()));
    return forward(ids, host_ids) * s;
  }
  at::Tensor weight;
};
TORCH_MODULE(Embedding);

}  // namespace gt::models
