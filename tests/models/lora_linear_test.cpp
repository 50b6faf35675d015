// LoraLinear's adapter path (a custom autograd function that keeps x and a byte mask instead of float copies of the
// input) against the same formula through plain autograd: same output and the same gradients for x, lora_A and
// lora_B, with and without dropout, in float32 and bf16, and one dropout mask per seed with or without autograd.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include <string_view>

#include "models/common/lora_linear.h"
#include "train/optimizer.h"

using gt::models::LoraLinear;

namespace {

struct Grads {
  at::Tensor y, x, a, b;
};

LoraLinear make_layer(at::ScalarType dtype, double dropout,
                      gt::models::LoraPrecision precision = gt::models::LoraPrecision::Float32, double alpha = 8.0) {
  torch::manual_seed(11);
  LoraLinear l(24, 40, /*bias=*/true, at::TensorOptions().dtype(dtype));
  {
    torch::NoGradGuard ng;
    l->weight.copy_(torch::randn({40, 24}) * 0.2);
    l->bias.copy_(torch::randn({40}));
  }
  l->enable_lora({4, alpha, dropout, precision});
  torch::NoGradGuard ng;
  l->lora_B->weight.copy_(torch::randn({40, 4}));  // B starts at zero: give it values so every gradient is non-zero
  return l;
}

// The adapter formula written out with autograd in float32 (PEFT's numerics), with the mask the layer draws from the
// same seed (in `mask_dtype`, as the layer draws it).
Grads reference(LoraLinear& l, const at::Tensor& x0, const at::Tensor& gy, double dropout, uint64_t seed,
                at::ScalarType mask_dtype = at::kFloat) {
  at::Tensor x = x0.detach().clone().requires_grad_(true);
  at::Tensor a = l->lora_A->weight.detach().clone().requires_grad_(true);
  at::Tensor b = l->lora_B->weight.detach().clone().requires_grad_(true);
  torch::manual_seed(seed);
  at::Tensor h = x.to(at::kFloat);
  if (dropout > 0) h = h * torch::rand(x.sizes(), mask_dtype).lt(1.0 - dropout) * (1.0 / (1.0 - dropout));
  at::Tensor y = at::linear(x, l->weight, l->bias);
  y = (y.to(at::kFloat) + at::linear(at::linear(h, a), b) * l->lora_scaling()).to(y.scalar_type());
  y.backward(gy);
  return {y.detach(), x.grad(), a.grad(), b.grad()};
}

Grads layer_grads(LoraLinear& l, const at::Tensor& x0, const at::Tensor& gy, uint64_t seed) {
  at::Tensor x = x0.detach().clone().requires_grad_(true);
  l->lora_A->weight.mutable_grad() = at::Tensor();
  l->lora_B->weight.mutable_grad() = at::Tensor();
  torch::manual_seed(seed);
  at::Tensor y = l->forward(x);
  y.backward(gy);
  return {y.detach(), x.grad(), l->lora_A->weight.grad(), l->lora_B->weight.grad()};
}

double rel(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>() /
         std::max(1e-12, want.to(at::kDouble).abs().max().item<double>());
}

}  // namespace

TEST(LoraLinear, AdapterGradientsMatchPlainAutograd) {
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    for (double dropout : {0.0, 0.3}) {
      LoraLinear l = make_layer(dtype, dropout);
      l->train();
      const at::Tensor x = torch::randn({2, 5, 24}).to(dtype);
      const at::Tensor gy = torch::randn({2, 5, 40}).to(dtype);
      const Grads want = reference(l, x, gy, dropout, 7);
      const Grads got = layer_grads(l, x, gy, 7);
      const double tol = dtype == at::kFloat ? 1e-6 : 1e-2;  // bf16: x's gradient is rounded once either way
      SCOPED_TRACE(std::string(c10::toString(dtype)) + " dropout " + std::to_string(dropout));
      EXPECT_EQ(got.y.scalar_type(), dtype);
      EXPECT_EQ(got.x.scalar_type(), dtype);
      EXPECT_TRUE(at::equal(got.y, want.y));
      EXPECT_LT(rel(got.x, want.x), tol);
      EXPECT_LT(rel(got.a, want.a), 1e-5);
      EXPECT_LT(rel(got.b, want.b), 1e-5);
      EXPECT_GT(got.a.abs().sum().item<double>(), 0.0);
    }
  }
}

// The default path computes the adapter in the activations' dtype (float32 factors, gradients and state): in bf16 it
// agrees with the float32 formula to bf16 rounding, never worse than a few roundings of the output's scale, and its
// factor gradients stay float32; with float32 activations it is the float32 path, bit for bit.
TEST(LoraLinear, ModelPrecisionAgreesWithFloat32ToRounding) {
  using gt::models::LoraPrecision;
  // Scalings 2 (a power of two, where where the backward pass applies it does not change a bit) and 1.5.
  for (auto [dropout, alpha] : {std::pair{0.0, 8.0}, {0.3, 8.0}, {0.0, 6.0}, {0.3, 6.0}}) {
    SCOPED_TRACE("dropout " + std::to_string(dropout) + " alpha " + std::to_string(alpha));
    LoraLinear l = make_layer(at::kBFloat16, dropout, LoraPrecision::Model, alpha);
    l->train();
    const at::Tensor x = torch::randn({3, 7, 24}).to(at::kBFloat16);
    const at::Tensor gy = torch::randn({3, 7, 40}).to(at::kBFloat16);
    const Grads want = reference(l, x, gy, dropout, 9, at::kBFloat16);
    const Grads got = layer_grads(l, x, gy, 9);
    EXPECT_EQ(got.y.scalar_type(), at::kBFloat16);
    EXPECT_EQ(got.x.scalar_type(), at::kBFloat16);
    EXPECT_EQ(got.a.scalar_type(), at::kFloat);
    EXPECT_EQ(got.b.scalar_type(), at::kFloat);
    EXPECT_LT(rel(got.y, want.y), 2e-2);
    EXPECT_LT(rel(got.x, want.x), 2e-2);
    EXPECT_LT(rel(got.a, want.a), 2e-2);
    EXPECT_LT(rel(got.b, want.b), 2e-2);
    EXPECT_FALSE(at::equal(got.y, at::linear(x, l->weight, l->bias)));  // the adapter did add something
    // Without autograd (evaluation, generation) the same numbers.
    torch::NoGradGuard ng;
    torch::manual_seed(9);
    EXPECT_TRUE(at::equal(l->forward(x), got.y));
  }
  LoraLinear f32 = make_layer(at::kFloat, 0.0, LoraPrecision::Model);
  LoraLinear ref = make_layer(at::kFloat, 0.0, LoraPrecision::Float32);
  const at::Tensor x = torch::randn({5, 24}), gy = torch::randn({5, 40});
  const Grads a = layer_grads(f32, x, gy, 1), b = layer_grads(ref, x, gy, 1);
  EXPECT_TRUE(at::equal(a.y, b.y) && at::equal(a.x, b.x) && at::equal(a.a, b.a) && at::equal(a.b, b.b));
  EXPECT_THROW(gt::models::parse_lora_precision("bf16"), std::invalid_argument);
  EXPECT_EQ(gt::models::parse_lora_precision("float32"), LoraPrecision::Float32);
}

TEST(LoraLinear, OneDropoutMaskPerSeedWithOrWithoutAutograd) {
  LoraLinear l = make_layer(at::kFloat, 0.5);
  l->train();
  const at::Tensor x = torch::randn({3, 24});
  torch::manual_seed(5);
  const at::Tensor with_grad = l->forward(x.clone().requires_grad_(true)).detach();
  at::Tensor without;
  {
    torch::NoGradGuard ng;
    torch::manual_seed(5);
    without = l->forward(x);
  }
  EXPECT_TRUE(at::equal(with_grad, without));  // gradient checkpointing relies on it
  torch::manual_seed(6);
  EXPECT_FALSE(at::equal(l->forward(x).detach(), without));
  l->eval();
  EXPECT_TRUE(at::equal(l->forward(x), l->forward(x)));  // no dropout in eval
}

TEST(LoraLinear, FrozenInputStillTrainsTheAdapter) {
  LoraLinear l = make_layer(at::kFloat, 0.0);
  const at::Tensor x = torch::randn({4, 24});  // as the first layer's input: no gradient wanted
  const at::Tensor gy = torch::randn({4, 40});
  const Grads want = reference(l, x, gy, 0.0, 1);
  at::Tensor y = l->forward(x);
  y.backward(gy);
  EXPECT_LT(rel(l->lora_A->weight.grad(), want.a), 1e-5);
  EXPECT_LT(rel(l->lora_B->weight.grad(), want.b), 1e-5);
  EXPECT_FALSE(l->weight.grad().defined());
}

// The bf16 path casts its float32 factors once and keeps the copies while the factors are unchanged. Every change must
// reach the next forward: an in-place write (a loaded adapter), the optimizer's step (it updates the factors through
// its flat buffer, whose storage they share), and a re-homed factor (set_data, as the optimizer does when it starts).
TEST(LoraLinear, LowPrecisionFactorsFollowEveryUpdate) {
  LoraLinear l = make_layer(at::kBFloat16, 0.0, gt::models::LoraPrecision::Model);
  const at::Tensor x = torch::randn({6, 24}).to(at::kBFloat16);
  auto expected = [&] {
    torch::NoGradGuard ng;
    const at::Tensor a = at::linear(x, l->lora_A->weight.to(at::kBFloat16));
    return at::addmm(at::linear(x, l->weight, l->bias), a, l->lora_B->weight.to(at::kBFloat16).t(), 1,
                     l->lora_scaling());
  };
  auto forward = [&] {
    torch::NoGradGuard ng;
    return l->forward(x);
  };
  ASSERT_TRUE(at::equal(forward(), expected()));
  {
    torch::NoGradGuard ng;
    l->lora_A->weight.mul_(-2.0);
  }
  EXPECT_TRUE(at::equal(forward(), expected())) << "after an in-place write";
  gt::train::AdamW opt({{"a", l->lora_A->weight}, {"b", l->lora_B->weight}}, {1e-1, 0.9, 0.999, 1e-8, 0.0});
  EXPECT_TRUE(at::equal(forward(), expected())) << "after the optimizer took the factors into its buffer";
  for (int step = 0; step < 2; ++step) {
    const at::Tensor before = forward();
    l->forward(x.clone().requires_grad_(true)).to(at::kFloat).pow(2).sum().backward();
    opt.step(1e-1);
    opt.zero_grad();
    const at::Tensor after = forward();
    EXPECT_FALSE(at::equal(after, before)) << "step " << step;
    EXPECT_TRUE(at::equal(after, expected())) << "step " << step;
  }
  {
    torch::NoGradGuard ng;
    l->lora_B->weight.add_(1.0);  // one factor written in place, inside the buffer (a resumed adapter's load)
  }
  EXPECT_TRUE(at::equal(forward(), expected())) << "after an in-place write inside the optimizer's buffer";
}

namespace {
// How many dtype casts (aten::_to_copy, what Tensor::to runs) `f` makes on this thread.
template <typename F>
int64_t casts_in(F&& f) {
  static thread_local int64_t count = 0;
  count = 0;
  const auto handle = at::addThreadLocalCallback(at::RecordFunctionCallback(
      [](const at::RecordFunction& fn) -> std::unique_ptr<at::ObserverContext> {
        if (std::string_view(fn.name()) == "aten::_to_copy") ++count;
        return nullptr;
      }));
  f();
  at::removeCallback(handle);
  return count;
}
}  // namespace

// Factors that live in the optimizer's flat buffer are used in bf16 as views of one cast of the whole buffer: after
// a step, a forward through three adapted layers casts once (six casts, two a layer, otherwise) and gives the numbers
// that casting each factor gives.
TEST(LoraLinear, FactorsInTheOptimizersBufferAreCastOnceForAllLayers) {
  std::vector<LoraLinear> layers;
  std::vector<std::pair<std::string, at::Tensor>> params;
  for (int i = 0; i < 3; ++i) {
    layers.push_back(make_layer(at::kBFloat16, 0.0, gt::models::LoraPrecision::Model, 4.0 + i));
    params.emplace_back("a" + std::to_string(i), layers.back()->lora_A->weight);
    params.emplace_back("b" + std::to_string(i), layers.back()->lora_B->weight);
  }
  const at::Tensor x = torch::randn({6, 24}).to(at::kBFloat16);
  auto forward = [&] {
    torch::NoGradGuard ng;
    at::Tensor sum = layers[0]->forward(x);
    for (size_t i = 1; i < layers.size(); ++i) sum = sum + layers[i]->forward(x);
    return sum;
  };
  auto expected = [&] {
    torch::NoGradGuard ng;
    at::Tensor sum;
    for (auto& l : layers) {
      const at::Tensor a = at::linear(x, l->lora_A->weight.to(at::kBFloat16));
      const at::Tensor y = at::addmm(at::linear(x, l->weight, l->bias), a, l->lora_B->weight.to(at::kBFloat16).t(),
                                     1, l->lora_scaling());
      sum = sum.defined() ? sum + y : y;
    }
    return sum;
  };
  EXPECT_EQ(casts_in(forward), 6) << "factors outside a registered buffer are cast one by one";
  gt::train::AdamW opt(params, {1e-1, 0.9, 0.999, 1e-8, 0.0});
  for (int step = 0; step < 2; ++step) {
    at::Tensor loss;
    for (auto& l : layers) {
      const at::Tensor part = l->forward(x.clone().requires_grad_(true)).to(at::kFloat).pow(2).sum();
      loss = loss.defined() ? loss + part : part;
    }
    loss.backward();
    opt.step(1e-1);
    opt.zero_grad();
    at::Tensor got;
    EXPECT_EQ(casts_in([&] { got = forward(); }), 1) << "step " << step;
    EXPECT_TRUE(at::equal(got, expected())) << "step " << step;
    EXPECT_EQ(casts_in(forward), 0) << "step " << step << ": the copies are kept until the next change";
  }
  // A second optimizer over the same factors moves them into its own buffer; the copies follow it.
  gt::train::AdamW second(params, {1e-1, 0.9, 0.999, 1e-8, 0.0});
  at::Tensor got;
  EXPECT_EQ(casts_in([&] { got = forward(); }), 1) << "after a second optimizer took the factors";
  EXPECT_TRUE(at::equal(got, expected())) << "after a second optimizer took the factors";
  at::Tensor loss = layers[0]->forward(x.clone().requires_grad_(true)).to(at::kFloat).pow(2).sum();
  loss.backward();
  second.step(1e-1);
  second.zero_grad();
  EXPECT_TRUE(at::equal(forward(), expected())) << "after the second optimizer's step";
}
