// attention_grouped (models/common/grouped_attention.h) against attention_composite through plain autograd: output and
// the gradients of q, k and v, for grouped K/V heads (8 on 1, 4 on 2, one each), the masks of AttentionMasks (sliding
// window, padding), the plain causal case, queries at the end of a longer key span (a KV cache), a scale, and chunks
// of one row, a few rows and all rows; float32 and bf16. Where a CUDA device is present (the GPU machine's run) the
// same on it, and attention() itself (grouped-query SDPA for narrow heads, attention_grouped for wide ones) against
// the composite.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>

#include "models/common/attention.h"
#include "models/common/grouped_attention.h"

using namespace gt::models;

namespace {

// Relative error in the Frobenius norm (bf16 flips of single elements average out; a wrong formula does not).
double rel(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want.to(at::kDouble)).norm().item<double>() /
         std::max(1e-12, want.to(at::kDouble).norm().item<double>());
}

struct Case {
  int64_t H, KV, T, S, hd;
  int window;   // -1: no mask tensor (causal), 0: full layer mask with padding, > 0: sliding window
  double scale;
};

using AttentionFn = std::function<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                             const at::Tensor&, double)>;

// Output and gradients of q, k, v for one case through `fn`, inputs made the same way every call (random numbers
// rounded to `dtype`), computed in `compute` (default: dtype).
std::vector<at::Tensor> run(const Case& c, at::ScalarType dtype, at::Device dev, const AttentionFn& fn,
                            std::optional<at::ScalarType> compute = std::nullopt) {
  torch::manual_seed(7);
  const int64_t B = 2;
  auto make = [&](std::vector<int64_t> shape) {
    return torch::randn(shape).to(dtype).to(compute.value_or(dtype)).to(dev).requires_grad_(true);
  };
  at::Tensor q = make({B, c.H, c.T, c.hd}), k = make({B, c.KV, c.S, c.hd}), v = make({B, c.KV, c.S, c.hd});
  const at::Tensor gy = torch::randn({B, c.H, c.T, c.hd}).to(dtype).to(compute.value_or(dtype)).to(dev);
  at::Tensor mask;
  if (c.window >= 0) {
    at::Tensor padding = torch::ones({B, c.S}, at::kLong);
    padding.index_put_({1, torch::indexing::Slice(c.S - 2, c.S)}, 0);
    AttentionMasks masks(padding, B, c.T, c.window, compute.value_or(dtype), dev, /*past=*/c.S - c.T);
    mask = masks.for_layer(c.window > 0);
  }
  at::Tensor y = fn(q, k, v, mask, c.scale);
  y.backward(gy);
  return {y.detach(), q.grad(), k.grad(), v.grad()};
}

// through_attention: fn is attention(), whose undefined mask means causal only for T == S (AttentionMasks gives a
// mask otherwise; SDPA's is_causal aligns top-left), so the case of a longer key span without a mask is left out.
void compare(at::Device dev, const AttentionFn& fn, const std::string& what, double bf16_slack = 1.25,
             std::vector<at::ScalarType> dtypes = {at::kFloat, at::kBFloat16}, bool through_attention = false) {
  const std::vector<Case> cases = {{8, 1, 12, 12, 16, -1, 1.0}, {8, 1, 12, 12, 16, 4, 1.0}, {4, 2, 9, 9, 8, 0, 0.25},
                                   {4, 2, 3, 11, 8, -1, 1.0},   {2, 2, 5, 5, 32, 0, 1.0}};
  for (at::ScalarType dtype : dtypes) {
    for (const Case& c : cases) {
      if (through_attention && c.window < 0 && c.T != c.S) continue;
      SCOPED_TRACE(what + " " + c10::toString(dtype) + " H " + std::to_string(c.H) + " KV " +
                   std::to_string(c.KV) + " T " + std::to_string(c.T) + " S " + std::to_string(c.S) + " window " +
                   std::to_string(c.window));
      const auto want = run(c, dtype, dev, attention_composite);
      const auto got = run(c, dtype, dev, fn);
      // float32: the same up to the order of float32 sums. bf16: no further from the float32 result of the same
      // (rounded) inputs than the eager composite is: a bf16 step on a few elements either way, wherever the two
      // round their probabilities and score gradients to bf16 at slightly different float32 values.
      const auto exact = dtype == at::kFloat ? want : run(c, dtype, dev, attention_composite, at::kFloat);
      const char* names[] = {"output", "dq", "dk", "dv"};
      for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(got[i].scalar_type(), dtype) << names[i];
        const double err = rel(got[i].cpu(), exact[i].cpu());
        if (dtype == at::kFloat) EXPECT_LT(err, 1e-5) << names[i];
        else EXPECT_LE(err, bf16_slack * rel(want[i].cpu(), exact[i].cpu()) + 2e-3) << names[i];
        if (dtype == at::kBFloat16 && std::getenv("GT_PRINT_ERRORS"))
          std::printf("[grouped-attention] %s %s %s err %.2e composite %.2e\n", what.c_str(), c10::toString(dtype),
                      names[i], err, rel(want[i].cpu(), exact[i].cpu()));
      }
    }
  }
}

}  // namespace

TEST(GroupedAttention, MatchesTheCompositeForEveryChunkSize) {
  // Chunks of one row check the chunking in float32 only: one-row bf16 products take libtorch's CPU bf16 vector
  // kernels, whose rounding is not what a chunk of real size (hundreds of rows) gets.
  compare(at::kCPU, [](auto& q, auto& k, auto& v, auto& m, double s) { return attention_grouped(q, k, v, m, s, 1); },
          "chunks of one row", 1.25, {at::kFloat});
  for (int64_t chunk_bytes : {int64_t{2 * 8 * 12 * 4 * 5}, int64_t{64} << 20}) {  // 5 rows at 8 heads x 12 keys, all
    compare(at::kCPU, [&](auto& q, auto& k, auto& v, auto& m, double s) {
      return attention_grouped(q, k, v, m, s, chunk_bytes);
    }, "chunk bytes " + std::to_string(chunk_bytes));
  }
}

TEST(GroupedAttention, WindowAndCausalRulesHold) {
  // Query 9 of a sliding layer (window 4) must not see key 0; a full layer's does; causal: query 0 sees key 0 only.
  const int64_t T = 10;
  AttentionMasks masks(at::Tensor(), 1, T, 4, at::kFloat, at::kCPU);
  at::Tensor v = torch::zeros({1, 1, T, 1});
  v.index_put_({0, 0, 0, 0}, 1.0);
  const at::Tensor q = torch::zeros({1, 2, T, 1}), k = torch::zeros({1, 1, T, 1});
  EXPECT_EQ(attention_grouped(q, k, v, masks.for_layer(true), 1.0)[0][1][9][0].item<float>(), 0.0f);
  EXPECT_GT(attention_grouped(q, k, v, masks.for_layer(false), 1.0)[0][1][9][0].item<float>(), 0.0f);
  EXPECT_EQ(attention_grouped(q, k, v, at::Tensor(), 1.0)[0][0][0][0].item<float>(), 1.0f);
}

TEST(GroupedAttention, OnCudaAndThroughAttention) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const at::Device cuda(at::kCUDA);
  compare(cuda, [](auto& q, auto& k, auto& v, auto& m, double s) { return attention_grouped(q, k, v, m, s, 4096); },
          "cuda grouped");
  // attention() on CUDA: hd 16 and 32 take SDPA (grouped-query where K/V heads are shared); forcing every head
  // width through attention_grouped must agree too.
  const std::vector<at::ScalarType> both = {at::kFloat, at::kBFloat16};
  compare(cuda, attention, "cuda attention()", 2.0, both, /*through_attention=*/true);
  set_composite_attention_above(8);
  compare(cuda, attention, "cuda attention() grouped above 8", 2.0, both, /*through_attention=*/true);
  set_composite_attention_above(-1);
}
