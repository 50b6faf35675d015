// AdamW (flat buffers) against libtorch's own torch::optim::AdamW, gradient clipping, and the schedules of
// transformers' get_*_schedule_with_warmup.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include <cmath>

#include "train/optimizer.h"

using gt::train::AdamW;
using gt::train::scheduled_lr;

TEST(AdamW, MatchesLibtorchAdamWOverSeveralSteps) {
  torch::manual_seed(1);
  at::Tensor a = torch::randn({3, 4}).requires_grad_(true), b = torch::randn({5}).requires_grad_(true);
  at::Tensor ra = a.detach().clone().requires_grad_(true), rb = b.detach().clone().requires_grad_(true);
  AdamW opt({{"a", a}, {"b", b}}, {1e-2, 0.9, 0.99, 1e-8, 0.1});
  torch::optim::AdamW ref({ra, rb}, torch::optim::AdamWOptions(1e-2).betas({0.9, 0.99}).eps(1e-8).weight_decay(0.1));
  for (int step = 0; step < 4; ++step) {
    at::Tensor ga = torch::randn({3, 4}), gb = torch::randn({5});
    opt.zero_grad();
    ref.zero_grad();
    // Gradients arrive through backward, accumulating into the optimizer's flat buffer.
    ((a * ga).sum() + (b * gb).sum()).backward();
    ((ra * ga).sum() + (rb * gb).sum()).backward();
    opt.step(1e-2);
    ref.step();
    EXPECT_TRUE(torch::allclose(a, ra, 1e-6, 1e-7)) << "step " << step;
    EXPECT_TRUE(torch::allclose(b, rb, 1e-6, 1e-7)) << "step " << step;
  }
  // State round trip.
  std::map<std::string, at::Tensor> saved;
  for (auto& [n, t] : opt.state()) saved[n] = t.clone();
  AdamW other({{"a", a.detach().clone().requires_grad_(true)}, {"b", b.detach().clone().requires_grad_(true)}},
              {1e-2, 0.9, 0.99, 1e-8, 0.1});
  other.load_state(saved, "test");
  EXPECT_EQ(other.steps_taken(), 4);
  for (auto& [n, t] : other.state()) EXPECT_TRUE(torch::equal(t, saved.at(n))) << n;
}

// Gradients kept as backward made them and gathered at the step (the default) update exactly as gradients
// accumulated in place into the flat buffer (GradientSync's mode), with two backward passes a step, a parameter that
// gets no gradient in one step, and clipping.
TEST(AdamW, GatheredAndInPlaceGradientsGiveTheSameUpdates) {
  torch::manual_seed(2);
  at::Tensor a = torch::randn({3, 4}).requires_grad_(true), b = torch::randn({5}).requires_grad_(true);
  at::Tensor ia = a.detach().clone().requires_grad_(true), ib = b.detach().clone().requires_grad_(true);
  AdamW gathered({{"a", a}, {"b", b}}, {1e-2, 0.9, 0.99, 1e-8, 0.1});
  AdamW in_place({{"a", ia}, {"b", ib}}, {1e-2, 0.9, 0.99, 1e-8, 0.1});
  in_place.accumulate_in_place();
  for (int step = 0; step < 4; ++step) {
    gathered.zero_grad();
    in_place.zero_grad();
    // Dropped, not zeroed: backward's AccumulateGrad keeps the fresh gradient instead of adding it to a zero.
    EXPECT_FALSE(a.grad().defined());
    EXPECT_TRUE(ia.grad().defined());
    for (int micro = 0; micro < 2; ++micro) {
      const at::Tensor ga = torch::randn({3, 4}), gb = torch::randn({5});
      const bool b_used = step != 2;  // step 2: b gets no gradient at all
      ((a * ga).sum() + (b_used ? (b * gb).sum() : torch::zeros({}))).backward();
      ((ia * ga).sum() + (b_used ? (ib * gb).sum() : torch::zeros({}))).backward();
    }
    EXPECT_NEAR(gathered.clip_grad_norm(3.0), in_place.clip_grad_norm(3.0), 1e-5) << "step " << step;
    gathered.step(1e-2);
    in_place.step(1e-2);
    EXPECT_TRUE(torch::allclose(a, ia, 1e-6, 1e-7)) << "step " << step;
    EXPECT_TRUE(torch::allclose(b, ib, 1e-6, 1e-7)) << "step " << step;
    // After the step the gradients are views of the flat buffer, as with in-place accumulation.
    const at::Tensor& flat = gathered.flat_grad();
    EXPECT_EQ(b.grad().data_ptr(), static_cast<void*>(flat.data_ptr<float>() + a.numel()));
    EXPECT_TRUE(torch::equal(flat, in_place.flat_grad())) << "step " << step;
  }
}

TEST(AdamW, ClipScalesOnlyAboveTheBound) {
  at::Tensor a = torch::zeros({2}).requires_grad_(true);
  AdamW opt({{"a", a}}, {});
  (a * torch::tensor({3.0f, 4.0f})).sum().backward();
  EXPECT_NEAR(opt.clip_grad_norm(10.0), 5.0, 1e-6);
  EXPECT_TRUE(torch::allclose(a.grad(), torch::tensor({3.0f, 4.0f})));
  EXPECT_NEAR(opt.clip_grad_norm(1.0), 5.0, 1e-6);
  EXPECT_NEAR(a.grad().norm().item<double>(), 1.0, 1e-5);
}

TEST(Schedule, LinearCosineConstantWithWarmup) {
  EXPECT_DOUBLE_EQ(scheduled_lr("linear", 1.0, 0, 10, 0), 1.0);
  EXPECT_DOUBLE_EQ(scheduled_lr("linear", 1.0, 9, 10, 0), 0.1);
  EXPECT_DOUBLE_EQ(scheduled_lr("linear", 1.0, 1, 10, 4), 0.25);   // warmup 1/4
  EXPECT_DOUBLE_EQ(scheduled_lr("linear", 1.0, 4, 10, 4), 1.0);
  EXPECT_DOUBLE_EQ(scheduled_lr("linear", 1.0, 7, 10, 4), 0.5);    // (10-7)/(10-4)
  EXPECT_DOUBLE_EQ(scheduled_lr("constant", 2.0, 7, 10, 4), 2.0);
  EXPECT_NEAR(scheduled_lr("cosine", 1.0, 7, 10, 4), 0.5 * (1 + std::cos(M_PI * 0.5)), 1e-12);
  EXPECT_DOUBLE_EQ(scheduled_lr("cosine", 1.0, 4, 10, 4), 1.0);
}
