// The fused attention (at::scaled_dot_product_attention, libtorch >= 2.1) against the composite fallback, with
// grouped KV heads, the sliding-window mask, padding, and the plain causal case (no mask tensor). On libtorch 1.13
// both calls take the composite path; on 2.x (the GPU machine, macOS) this compares the two.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include "models/common/attention.h"

using namespace gt::models;

TEST(Attention, FusedMatchesCompositeForEveryMask) {
  torch::manual_seed(4);
  const int64_t B = 2, H = 4, KV = 2, T = 10, hd = 8;
  at::Tensor q = torch::randn({B, H, T, hd}), k = torch::randn({B, KV, T, hd}), v = torch::randn({B, KV, T, hd});
  at::Tensor padding = torch::ones({B, T}, at::kLong);
  padding.index_put_({1, torch::indexing::Slice(7, T)}, 0);
  for (bool padded : {false, true}) {
    AttentionMasks masks(padded ? padding : at::Tensor(), B, T, /*sliding_window=*/4, at::kFloat, at::kCPU);
    for (bool sliding : {false, true}) {
      at::Tensor mask = masks.for_layer(sliding);
      at::Tensor fused = attention(q, k, v, mask, 1.0);
      at::Tensor composite = attention_composite(q, k, v, mask, 1.0);
      EXPECT_TRUE(torch::allclose(fused, composite, 1e-5, 1e-6)) << "padded " << padded << " sliding " << sliding;
    }
  }
  // The window really restricts: query 9 of a sliding layer must not see key 0.
  AttentionMasks masks(at::Tensor(), 1, T, 4, at::kFloat, at::kCPU);
  at::Tensor v1 = torch::zeros({1, 1, T, 1});
  v1.index_put_({0, 0, 0, 0}, 1.0);
  at::Tensor q1 = torch::zeros({1, 1, T, 1}), k1 = torch::zeros({1, 1, T, 1});
  EXPECT_EQ(attention_composite(q1, k1, v1, masks.for_layer(true), 1.0)[0][0][9][0].item<float>(), 0.0f);
  EXPECT_GT(attention_composite(q1, k1, v1, masks.for_layer(false), 1.0)[0][0][9][0].item<float>(), 0.0f);
}
