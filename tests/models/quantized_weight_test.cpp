// Quantized frozen weights (QLoRA-style): round-trip error bounds of int8 and NF4, the NF4 codebook and nibble
// packing, quantized_linear against at::linear of the dequantized matrix (forward exactly, backward to float32
// rounding), what its backward node keeps, bytes(), and the input errors.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iomanip>

#include "core/error.h"
#include "models/common/quantized_weight.h"
#include "test_util.h"

using gt::models::dequantize;
using gt::models::quantize;
using gt::models::quantized_linear;
using gt::models::QuantizedWeight;
using gt::models::QuantMode;

namespace {

// Unit roundoff of a dtype (relative error of one rounding to it).
double unit_roundoff(at::ScalarType t) { return t == at::kBFloat16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -24); }

// Random normal weights with rows of very different magnitudes, some exact zeros, and (when zero_row >= 0) a row of
// zeros: the cases a per-row or per-block scale must handle.
at::Tensor test_weight(int64_t out, int64_t in, at::ScalarType dtype, int64_t zero_row = -1) {
  at::Tensor w = torch::randn({out, in}) * torch::logspace(-3, 1, out).unsqueeze(1);
  w.masked_fill_(torch::rand({out, in}) < 0.05, 0.0);
  if (zero_row >= 0) w[zero_row].zero_();
  return w.to(dtype);
}

float largest_level_gap() {
  const auto& l = gt::models::nf4_levels();
  float g = 0;
  for (size_t k = 0; k + 1 < l.size(); ++k) g = std::max(g, l[k + 1] - l[k]);
  return g;
}

bool holds_out_by_in_floating(const std::vector<at::Tensor>& saved, int64_t out, int64_t in) {
  for (const at::Tensor& t : saved)
    if (at::isFloatingType(t.scalar_type()) && t.numel() >= out * in) return true;
  return false;
}

}  // namespace

TEST(QuantizedWeight, ParsesModeNames) {
  EXPECT_EQ(gt::models::parse_quant_mode("none"), QuantMode::None);
  EXPECT_EQ(gt::models::parse_quant_mode("int8"), QuantMode::Int8);
  EXPECT_EQ(gt::models::parse_quant_mode("nf4"), QuantMode::Nf4);
  for (QuantMode m : {QuantMode::None, QuantMode::Int8, QuantMode::Nf4})
    EXPECT_EQ(gt::models::parse_quant_mode(gt::models::quant_mode_name(m)), m);
}

TEST(QuantizedWeight, Nf4LevelsAreSixteenAscendingFromMinusOneToOneWithZero) {
  const auto& l = gt::models::nf4_levels();
  ASSERT_EQ(l.size(), 16u);
  EXPECT_EQ(l.front(), -1.0f);
  EXPECT_EQ(l[7], 0.0f);
  EXPECT_EQ(l.back(), 1.0f);
  for (size_t k = 0; k + 1 < l.size(); ++k) EXPECT_LT(l[k], l[k + 1]) << k;
  // NormalFloat is asymmetric: 7 negative and 8 positive levels; the largest gap is between the bottom two.
  EXPECT_NEAR(largest_level_gap(), 1.0f - 0.6961928f, 1e-6);
}

TEST(QuantizedWeight, Nf4PackingRoundTripsEveryCodePair) {
  // All 256 (first, second) pairs of codes, in one row and in a 3-D batch.
  at::Tensor first = torch::arange(16, at::kByte).repeat_interleave(16);
  at::Tensor second = torch::arange(16, at::kByte).repeat({16});
  at::Tensor codes = at::stack({first, second}, 1).reshape({1, 512});
  at::Tensor bytes = gt::models::nf4_pack(codes);
  ASSERT_EQ(bytes.sizes(), (at::IntArrayRef{1, 256}));
  EXPECT_TRUE(torch::equal(bytes.reshape({256}), torch::arange(256, at::kByte)));  // first code = high nibble
  EXPECT_TRUE(torch::equal(gt::models::nf4_unpack(bytes), codes));
  at::Tensor batch = codes.reshape({4, 2, 64});
  EXPECT_TRUE(torch::equal(gt::models::nf4_unpack(gt::models::nf4_pack(batch)), batch));
}

TEST(QuantizedWeight, Int8RoundTripIsWithinHalfAStepPerRow) {
  torch::manual_seed(1);
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    at::Tensor w = test_weight(48, 96, dtype, /*zero_row=*/5);
    QuantizedWeight q = quantize(w, QuantMode::Int8);
    ASSERT_EQ(q.data.scalar_type(), at::kChar);
    ASSERT_EQ(q.data.sizes(), (at::IntArrayRef{48, 96}));
    ASSERT_EQ(q.scale.sizes(), (at::IntArrayRef{48}));
    EXPECT_EQ(q.dtype, dtype);
    at::Tensor wf = w.to(at::kFloat);
    at::Tensor absmax = wf.abs().amax(1);
    // scale = absmax / 127, 1 for the zero row; the largest code of a non-zero row is +-127
    EXPECT_TRUE(torch::allclose(q.scale, torch::where(absmax > 0, absmax / 127, torch::ones_like(absmax)), 1e-7, 0));
    EXPECT_EQ(q.scale[5].item<float>(), 1.0f);
    EXPECT_LE(q.data.abs().max().item<int>(), 127);
    at::Tensor top = q.data.to(at::kInt).abs().amax(1);
    EXPECT_TRUE(torch::equal(top.index_select(0, (absmax > 0).nonzero().squeeze(1)),
                             torch::full({47}, 127, at::kInt)));
    // w' = (float32(code) * scale) rounded once to the dtype
    at::Tensor back = dequantize(q);
    ASSERT_EQ(back.scalar_type(), dtype);
    EXPECT_TRUE(torch::equal(back, (q.data.to(at::kFloat) * q.scale.unsqueeze(1)).to(dtype)));
    at::Tensor bf = back.to(at::kFloat);
    at::Tensor bound = q.scale.unsqueeze(1) / 2 * (1 + 1e-6) + bf.abs() * unit_roundoff(dtype);
    EXPECT_TRUE(((wf - bf).abs() <= bound).all().item<bool>()) << dtype;
    EXPECT_TRUE((bf.masked_select(wf == 0) == 0).all().item<bool>());  // exact zeros stay zero
    EXPECT_TRUE((bf[5] == 0).all().item<bool>());
  }
}

TEST(QuantizedWeight, Nf4RoundTripPicksTheNearestLevelOfEachBlock) {
  torch::manual_seed(2);
  const auto& l = gt::models::nf4_levels();
  at::Tensor levels = torch::tensor(std::vector<float>(l.begin(), l.end()));
  const double half_gap = largest_level_gap() / 2.0;
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    at::Tensor w = test_weight(24, 192, dtype, /*zero_row=*/3);
    QuantizedWeight q = quantize(w, QuantMode::Nf4);
    ASSERT_EQ(q.data.scalar_type(), at::kByte);
    ASSERT_EQ(q.data.sizes(), (at::IntArrayRef{24, 96}));
    ASSERT_EQ(q.scale.sizes(), (at::IntArrayRef{24, 3}));
    at::Tensor wf = w.to(at::kFloat);
    at::Tensor absmax = wf.reshape({24, 3, 64}).abs().amax(-1);
    EXPECT_TRUE(torch::equal(q.scale, torch::where(absmax > 0, absmax, torch::ones_like(absmax))));
    // Each code is a nearest level of its normalized value (an [n, 16] distance table is fine at this size).
    at::Tensor x = (wf.reshape({24, 3, 64}) / q.scale.unsqueeze(-1)).reshape({-1, 1});
    at::Tensor codes = gt::models::nf4_unpack(q.data).reshape({-1}).to(at::kLong);
    at::Tensor dist = (x - levels.unsqueeze(0)).abs();  // [n, 16]
    at::Tensor chosen = dist.gather(1, codes.unsqueeze(1)).squeeze(1);
    EXPECT_TRUE(torch::equal(chosen, std::get<0>(dist.min(1)))) << dtype;
    // |w - w'| <= half the largest gap times the block absmax, plus the rounding to the dtype
    at::Tensor back = dequantize(q);
    ASSERT_EQ(back.scalar_type(), dtype);
    at::Tensor bf = back.to(at::kFloat);
    at::Tensor bound = (q.scale * half_gap * (1 + 1e-6)).repeat_interleave(64, 1) + bf.abs() * unit_roundoff(dtype);
    EXPECT_TRUE(((wf - bf).abs() <= bound).all().item<bool>()) << dtype;
    EXPECT_TRUE((bf.masked_select(wf == 0) == 0).all().item<bool>());  // exact zeros stay zero
    EXPECT_TRUE((bf[3] == 0).all().item<bool>());
    EXPECT_TRUE((q.scale[3] == 1).all().item<bool>());
    // Each block's absmax element comes back exactly (level +-1), up to the dtype rounding of the product.
    at::Tensor at_max = wf.reshape({24, 3, 64}).abs().argmax(-1, true);
    at::Tensor w_max = wf.reshape({24, 3, 64}).gather(-1, at_max);
    at::Tensor b_max = bf.reshape({24, 3, 64}).gather(-1, at_max);
    EXPECT_TRUE(torch::equal(w_max, b_max));
  }
}

// The code of x is the number of midpoints between adjacent levels strictly below x (nearest level, ties to the
// lower one), also for x on a midpoint or one float32 step either side, and around the edges of the lookup grid
// quantize() uses (2048 cells a unit): every such value in blocks whose absmax is 1, so x = w exactly.
TEST(QuantizedWeight, Nf4CodesAtMidpointsAndGridEdges) {
  const auto& l = gt::models::nf4_levels();
  std::vector<float> mids;
  for (size_t k = 0; k + 1 < l.size(); ++k) mids.push_back(static_cast<float>((double{l[k]} + double{l[k + 1]}) / 2));
  std::vector<float> probe = {-1.0f, 0.0f, 1.0f};
  auto around = [&](float v) {
    for (float p : {std::nextafter(v, -2.0f), v, std::nextafter(v, 2.0f)})
      if (p >= -1.0f && p <= 1.0f) probe.push_back(p);
  };
  for (float m : mids) around(m);
  for (int g = 0; g <= 4096; ++g) around(static_cast<float>(-1.0 + g / 2048.0));
  torch::manual_seed(9);
  at::Tensor noise = torch::rand({20000}) * 2 - 1;
  probe.insert(probe.end(), noise.data_ptr<float>(), noise.data_ptr<float>() + noise.numel());
  // blocks of 64: 1.0 first (absmax 1), then 63 probes; the last block padded with zeros
  const int64_t blocks = (static_cast<int64_t>(probe.size()) + 62) / 63;
  at::Tensor w = torch::zeros({blocks, 64});
  w.select(1, 0).fill_(1.0);
  at::Tensor rest = torch::zeros({blocks * 63});
  rest.slice(0, 0, static_cast<int64_t>(probe.size())).copy_(torch::tensor(probe));
  w.slice(1, 1).copy_(rest.view({blocks, 63}));
  w = w.reshape({-1, 128});  // rows of two blocks
  QuantizedWeight q = quantize(w, QuantMode::Nf4);
  ASSERT_TRUE((q.scale == 1).all().item<bool>());
  at::Tensor expected = torch::zeros(w.sizes(), at::kByte);
  for (float m : mids) expected.add_(w > m);
  at::Tensor codes = gt::models::nf4_unpack(q.data);
  at::Tensor wrong = (codes != expected).nonzero();
  ASSERT_EQ(wrong.size(0), 0) << "first wrong x = " << std::setprecision(9)
                              << w.index({wrong[0][0], wrong[0][1]}).item<float>();
}

// quantize() works in blocks of about 1 Mi elements (16 rows of 65536 here, so three blocks): the result is the
// same as quantizing each row on its own.
TEST(QuantizedWeight, RowBlocksGiveTheSameCodesAsSingleRows) {
  torch::manual_seed(10);
  at::Tensor w = test_weight(40, 1 << 16, at::kBFloat16, /*zero_row=*/17);
  for (QuantMode mode : {QuantMode::Int8, QuantMode::Nf4}) {
    QuantizedWeight q = quantize(w, mode);
    for (int64_t r : {0, 15, 16, 17, 31, 32, 39}) {
      QuantizedWeight row = quantize(w.slice(0, r, r + 1), mode);
      EXPECT_TRUE(torch::equal(q.data[r], row.data[0])) << gt::models::quant_mode_name(mode) << " row " << r;
      EXPECT_TRUE(torch::equal(q.scale[r], row.scale[0])) << gt::models::quant_mode_name(mode) << " row " << r;
    }
  }
}

TEST(QuantizedWeight, LinearForwardEqualsLinearOfDequantized) {
  torch::manual_seed(3);
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    for (QuantMode mode : {QuantMode::Int8, QuantMode::Nf4}) {
      QuantizedWeight q = quantize(torch::randn({40, 128}).to(dtype), mode);
      at::Tensor w = dequantize(q);
      for (bool with_bias : {false, true}) {
        at::Tensor b = with_bias ? torch::randn({40}).to(dtype) : at::Tensor();
        for (at::Tensor x : {torch::randn({7, 128}).to(dtype), torch::randn({2, 5, 128}).to(dtype)}) {
          at::Tensor y = quantized_linear(x, q, b);
          EXPECT_TRUE(torch::equal(y, at::linear(x, w, b)))
              << dtype << " " << gt::models::quant_mode_name(mode) << " bias " << with_bias << " dim " << x.dim();
        }
      }
    }
  }
}

TEST(QuantizedWeight, BackwardMatchesAutogradThroughDequantized) {
  torch::manual_seed(4);
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    for (QuantMode mode : {QuantMode::Int8, QuantMode::Nf4}) {
      QuantizedWeight q = quantize(torch::randn({40, 128}).to(dtype), mode);
      at::Tensor w = dequantize(q).detach();
      for (bool with_bias : {false, true}) {
        at::Tensor b = with_bias ? torch::randn({40}).to(dtype) : at::Tensor();
        for (at::Tensor x0 : {torch::randn({7, 128}).to(dtype), torch::randn({2, 5, 128}).to(dtype)}) {
          at::Tensor gy = torch::randn_like(at::linear(x0, w, b));
          at::Tensor x = x0.clone().requires_grad_(true), xr = x0.clone().requires_grad_(true);
          quantized_linear(x, q, b).backward(gy);
          at::linear(xr, w, b).backward(gy);
          // equal here (the same matmul as linear's backward); the tolerance leaves room for other BLAS paths: 1e-6
          // in float32, one bf16 step (2^-7 relative) in bf16
          const double tol = dtype == at::kFloat ? 1e-6 : 1.0 / 128;
          EXPECT_TRUE(torch::allclose(x.grad().to(at::kFloat), xr.grad().to(at::kFloat), tol, tol))
              << dtype << " " << gt::models::quant_mode_name(mode) << " bias " << with_bias << " dim " << x.dim();
        }
      }
    }
  }
}

TEST(QuantizedWeight, BiasThatRequiresGradGetsLinearsGradient) {
  torch::manual_seed(5);
  QuantizedWeight q = quantize(torch::randn({16, 64}), QuantMode::Nf4);
  at::Tensor x = torch::randn({3, 4, 64});
  at::Tensor b = torch::randn({16}).requires_grad_(true), br = b.detach().clone().requires_grad_(true);
  at::Tensor gy = torch::randn({3, 4, 16});
  quantized_linear(x, q, b).backward(gy);
  at::linear(x, dequantize(q), br).backward(gy);
  EXPECT_TRUE(torch::allclose(b.grad(), br.grad(), 1e-6, 1e-6));
}

// The backward node keeps the quantized tensors only: no [out, in] float or bf16 matrix, nothing more than
// q.bytes(). The same check flags QuantMode::None, whose node keeps the weight itself, so it can fail.
TEST(QuantizedWeight, BackwardNodeKeepsOnlyTheQuantizedTensors) {
  torch::manual_seed(6);
  const int64_t out = 48, in = 256;
  at::Tensor w = torch::randn({out, in}).to(at::kBFloat16);
  for (QuantMode mode : {QuantMode::Int8, QuantMode::Nf4}) {
    QuantizedWeight q = quantize(w, mode);
    at::Tensor x = torch::randn({2, 9, in}).to(at::kBFloat16).requires_grad_(true);
    at::Tensor y = quantized_linear(x, q, torch::randn({out}).to(at::kBFloat16));
    std::vector<at::Tensor> saved = gt::models::quantized_linear_saved(y);
    int64_t bytes = 0;
    for (const at::Tensor& t : saved) bytes += static_cast<int64_t>(t.nbytes());
    EXPECT_EQ(bytes, q.bytes()) << gt::models::quant_mode_name(mode);
    EXPECT_FALSE(holds_out_by_in_floating(saved, out, in)) << gt::models::quant_mode_name(mode);
    EXPECT_LT(bytes, out * in * 2);  // less than the bf16 weight
    // No input requires grad: no node, nothing kept.
    EXPECT_TRUE(gt::models::quantized_linear_saved(quantized_linear(x.detach(), q)).empty());
  }
  QuantizedWeight plain = quantize(w, QuantMode::None);
  at::Tensor y = quantized_linear(torch::randn({3, in}).to(at::kBFloat16).requires_grad_(true), plain);
  EXPECT_TRUE(holds_out_by_in_floating(gt::models::quantized_linear_saved(y), out, in));
  // Another node kind is refused rather than read wrongly.
  at::Tensor z = at::linear(torch::randn({3, in}).requires_grad_(true), w.to(at::kFloat));
  EXPECT_THROW(gt::models::quantized_linear_saved(z), std::logic_error);
}

// One q used twice in a graph (as a checkpointed layer recomputes it, or a weight shared between calls): both uses
// get their gradient, and separate passes give identical results.
TEST(QuantizedWeight, SameWeightUsedTwice) {
  torch::manual_seed(7);
  QuantizedWeight q = quantize(torch::randn({64, 64}) * 0.2, QuantMode::Nf4);
  at::Tensor w = dequantize(q);
  at::Tensor x0 = torch::randn({5, 64});
  at::Tensor x = x0.clone().requires_grad_(true), xr = x0.clone().requires_grad_(true);
  quantized_linear(quantized_linear(x, q), q).sum().backward();
  at::linear(at::linear(xr, w), w).sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), xr.grad(), 1e-6, 1e-6));
  at::Tensor first = x.grad().clone();
  x.mutable_grad() = at::Tensor();
  quantized_linear(quantized_linear(x, q), q).sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), first));
}

TEST(QuantizedWeight, BytesMatchTheFormat) {
  const int64_t out = 96, in = 320;
  at::Tensor w = torch::randn({out, in}).to(at::kBFloat16);
  EXPECT_EQ(quantize(w, QuantMode::Int8).bytes(), out * in + 4 * out);
  EXPECT_EQ(quantize(w, QuantMode::Nf4).bytes(), out * in / 2 + 4 * out * in / 64);
  EXPECT_EQ(quantize(w, QuantMode::None).bytes(), out * in * 2);
}

TEST(QuantizedWeight, BadInputNamesTheTensorAndShape) {
  using gt::test::error_of;
  std::string e = error_of([] { quantize(torch::randn({4, 64, 2}), QuantMode::Int8, "layers.0.mlp.up_proj.weight"); });
  EXPECT_NE(e.find("layers.0.mlp.up_proj.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("[4, 64, 2]"), std::string::npos) << e;
  e = error_of([] { quantize(torch::randn({64}), QuantMode::Nf4); });
  EXPECT_NE(e.find("2-D"), std::string::npos) << e;
  e = error_of([] { quantize(torch::randn({8, 100}), QuantMode::Nf4, "q_proj.weight"); });
  EXPECT_NE(e.find("multiple of 64"), std::string::npos) << e;
  EXPECT_NE(e.find("[8, 100]"), std::string::npos) << e;
  EXPECT_EQ(error_of([] { quantize(torch::randn({8, 100}), QuantMode::Int8); }), "(no error)");
  e = error_of([] { quantize(torch::ones({8, 64}, at::kInt), QuantMode::Int8); });
  EXPECT_NE(e.find("floating"), std::string::npos) << e;
  e = error_of([] { gt::models::parse_quant_mode("int4"); });
  EXPECT_NE(e.find("--quantize"), std::string::npos) << e;
  EXPECT_NE(e.find("'int4'"), std::string::npos) << e;
  EXPECT_NE(e.find("none, int8 or nf4"), std::string::npos) << e;
}

// Not part of the suite (a few seconds): the round-trip errors on random normal weights of a Gemma E2B shape and
// the time quantize() takes on the largest decoder matrix. Run with --gtest_also_run_disabled_tests.
TEST(QuantizedWeight, DISABLED_ReportErrorsAndTiming) {
  torch::manual_seed(8);
  at::Tensor w = (torch::randn({1536, 6144}) * 0.02).to(at::kBFloat16);
  at::Tensor wf = w.to(at::kFloat);
  for (QuantMode mode : {QuantMode::Int8, QuantMode::Nf4}) {
    at::Tensor d = dequantize(quantize(w, mode)).to(at::kFloat) - wf;
    std::printf("%s 1536x6144 bf16 N(0, 0.02): max |w - w'| = %.3g (%.3g of max |w|), relative RMS = %.4g\n",
                gt::models::quant_mode_name(mode), d.abs().max().item<double>(),
                d.abs().max().item<double>() / wf.abs().max().item<double>(),
                std::sqrt(d.square().mean().item<double>() / wf.square().mean().item<double>()));
  }
  at::Tensor big = torch::randn({12288, 1536}).to(at::kBFloat16);
  for (QuantMode mode : {QuantMode::Int8, QuantMode::Nf4}) {
    quantize(big, mode);  // warm-up
    auto t0 = std::chrono::steady_clock::now();
    QuantizedWeight q = quantize(big, mode);
    auto t1 = std::chrono::steady_clock::now();
    at::Tensor back = dequantize(q);
    auto t2 = std::chrono::steady_clock::now();
    std::printf("%s 12288x1536 bf16 (%d threads): quantize %.3f s, dequantize %.3f s\n",
                gt::models::quant_mode_name(mode), at::get_num_threads(),
                std::chrono::duration<double>(t1 - t0).count(), std::chrono::duration<double>(t2 - t1).count());
  }
}

