// The chunked, soft-capped cross-entropy against the plain formula with autograd: same loss and same gradient
// with respect to the hidden states, whatever the chunk size, with and without the cap, masked labels included.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include "models/common/loss.h"

using gt::models::causal_lm_loss;

namespace {

std::pair<at::Tensor, at::Tensor> reference(const at::Tensor& hidden, const at::Tensor& labels, const at::Tensor& w,
                                            double cap) {
  at::Tensor h = hidden.detach().clone().requires_grad_(true);
  at::Tensor logits = at::matmul(h, w.t());
  if (cap > 0) logits = at::tanh(logits / cap) * cap;
  at::Tensor shifted = logits.slice(1, 0, -1).reshape({-1, w.size(0)});
  at::Tensor next = labels.slice(1, 1).reshape({-1});
  at::Tensor sum = at::cross_entropy_loss(shifted, next, {}, at::Reduction::Sum, -100);
  sum.backward();
  return {sum.detach(), h.grad()};
}

}  // namespace

TEST(ChunkedLoss, MatchesPlainCrossEntropyForEveryChunkSize) {
  torch::manual_seed(3);
  const int64_t B = 3, T = 11, D = 8, V = 97;
  at::Tensor w = torch::randn({V, D}) * 2;
  at::Tensor labels = torch::randint(0, V, {B, T});
  labels.index_put_({0, torch::indexing::Slice(0, 4)}, -100);
  labels.index_put_({2, torch::indexing::Slice(7, T)}, -100);
  for (double cap : {0.0, 30.0, 3.0}) {
    at::Tensor hidden = torch::randn({B, T, D});
    auto [ref_sum, ref_grad] = reference(hidden, labels, w, cap);
    for (int64_t chunk_rows : {1, 2, 5, 1000}) {
      at::Tensor h = hidden.clone().requires_grad_(true);
      auto ls = causal_lm_loss(h, labels, w, cap, chunk_rows * V * 4);
      EXPECT_EQ(ls.tokens, (labels.slice(1, 1) != -100).sum().item<int64_t>());
      EXPECT_NEAR(ls.sum.item<double>(), ref_sum.item<double>(), 1e-4 * std::abs(ref_sum.item<double>()))
          << "cap " << cap << " chunk " << chunk_rows;
      (ls.sum * 0.5).backward();
      EXPECT_TRUE(torch::allclose(h.grad(), ref_grad * 0.5, 1e-5, 1e-6)) << "cap " << cap << " chunk " << chunk_rows;
    }
  }
}

TEST(ChunkedLoss, NoSupervisedTokensGivesZeroAndKeepsGraph) {
  at::Tensor h = torch::randn({1, 4, 3}).requires_grad_(true);
  at::Tensor labels = torch::full({1, 4}, -100, at::kLong);
  auto ls = causal_lm_loss(h, labels, torch::randn({5, 3}), 30.0);
  EXPECT_EQ(ls.tokens, 0);
  EXPECT_EQ(ls.sum.item<double>(), 0.0);
  ls.sum.backward();
  EXPECT_TRUE(h.grad().defined());
}

// In bf16 the loss rounds as transformers does (bf16 logits, bf16 soft-cap ops, float32 cross-entropy), whatever
// the chunk size: the same sum as that computation to float32 rounding, and the gradient to bf16 rounding.
TEST(ChunkedLoss, Bf16RoundsAsTransformersForEveryChunkSize) {
  torch::manual_seed(4);
  const int64_t B = 2, T = 9, D = 16, V = 211;
  const double cap = 30.0;
  at::Tensor w = (torch::randn({V, D}) * 3).to(at::kBFloat16);
  at::Tensor labels = torch::randint(0, V, {B, T});
  labels.index_put_({1, torch::indexing::Slice(0, 3)}, -100);
  at::Tensor hidden = torch::randn({B, T, D}).to(at::kBFloat16);

  at::Tensor hr = hidden.clone().requires_grad_(true);
  at::Tensor logits = at::tanh(at::matmul(hr, w.t()) / cap) * cap;  // bf16 throughout
  at::Tensor ref = at::cross_entropy_loss(logits.slice(1, 0, -1).reshape({-1, V}).to(at::kFloat),
                                          labels.slice(1, 1).reshape({-1}), {}, at::Reduction::Sum, -100);
  ref.backward();
  for (int64_t chunk_rows : {1, 3, 1000}) {
    at::Tensor h = hidden.clone().requires_grad_(true);
    auto ls = causal_lm_loss(h, labels, w, cap, chunk_rows * V * 4);
    EXPECT_EQ(ls.sum.scalar_type(), at::kFloat);
    EXPECT_NEAR(ls.sum.item<double>(), ref.item<double>(), 1e-5 * std::abs(ref.item<double>())) << "chunk " << chunk_rows;
    ls.sum.backward();
    EXPECT_EQ(h.grad().scalar_type(), at::kBFloat16);
    const double err = (h.grad().to(at::kFloat) - hr.grad().to(at::kFloat)).abs().max().item<double>();
    EXPECT_LT(err, 2e-2 * hr.grad().to(at::kFloat).abs().max().item<double>()) << "chunk " << chunk_rows;
  }
}

// On a GPU with gemma-tune's CUDA kernels (the device machine's run of this suite), bf16 losses go through
// kernels::softcap_cross_entropy_bf16; it must give what the composite gives: the same sum to float32 rounding and
// the gradient to bf16 rounding, with and without the cap, for vocabularies read 8 at a time (V % 8 == 0) and not,
// targets at both ends of the vocabulary, several chunks with a short last one. Skipped without CUDA (CI).
TEST(ChunkedLoss, FusedKernelMatchesTheCompositeOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  if (!gt::models::fused_loss_available()) GTEST_SKIP() << "this build has no CUDA kernels (nvcc not found)";
  const at::Device cuda(at::kCUDA);
  for (int64_t V : {4096, 4093}) {
    for (double cap : {30.0, 0.0}) {
      SCOPED_TRACE("V " + std::to_string(V) + " cap " + std::to_string(cap));
      torch::manual_seed(6);
      const int64_t B = 3, T = 37, D = 64;
      const at::Tensor w = (torch::randn({V, D}) * 0.5).to(at::kBFloat16).to(cuda);
      at::Tensor labels = torch::randint(0, V, {B, T});
      labels.index_put_({0, 1}, 0);
      labels.index_put_({1, 2}, V - 1);
      labels.index_put_({2, torch::indexing::Slice(20, T)}, -100);
      const at::Tensor hidden = (torch::randn({B, T, D}) * 2).to(at::kBFloat16).to(cuda);
      double sums[2];
      at::Tensor grads[2];
      for (int fused = 0; fused < 2; ++fused) {
        gt::models::set_fused_loss(fused == 1);
        at::Tensor h = hidden.clone().requires_grad_(true);
        auto ls = causal_lm_loss(h, labels.to(cuda), w, cap, 16 * V * 4);  // 16 rows a chunk (32 fused): 6 and 3 chunks
        sums[fused] = ls.sum.item<double>();
        (ls.sum * 0.25).backward();
        grads[fused] = h.grad().to(at::kFloat).cpu();
      }
      gt::models::set_fused_loss(true);
      EXPECT_NEAR(sums[1], sums[0], 1e-5 * std::abs(sums[0]));
      const double err = (grads[1] - grads[0]).abs().max().item<double>();
      EXPECT_LT(err, 1e-2 * grads[0].abs().max().item<double>());
      // Without autograd the kernel only scores the rows: the same sum.
      torch::NoGradGuard no_grad;
      EXPECT_NEAR(causal_lm_loss(hidden, labels.to(cuda), w, cap).sum.item<double>(), sums[0], 1e-5 * std::abs(sums[0]));
    }
  }
}
