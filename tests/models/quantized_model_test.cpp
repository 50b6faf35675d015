// --quantize on whole (tiny) checkpoints of both families: load_model with int8 or nf4 base linears gives a loss
// within a stated bound of the full-precision model's, the quantized layers hold no full-precision weight, and a
// LoRA adapter on top trains (its gradients close to the full-precision model's). Bounds are for these tiny random
// models (hidden size 64, 4 bits for 64-wide rows), where one layer's rounding weighs more than in a real one; each
// comparison prints its error.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include "models/common/lora_linear.h"
#include "models/common/lora_targets.h"
#include "models/common/loss.h"
#include "models/model.h"
#include "models/peft_adapter.h"
#include "fixture_tensors.h"
#include "test_util.h"

using namespace gt;

namespace {

struct Step {
  double loss = 0;
  std::map<std::string, at::Tensor> grads;
  models::QuantizeReport report;
};

// One LoRA step on the fixture's batch. `simulate`: load in full precision and replace each weight that
// quantize_base_weights would quantize (64 inputs or more; NF4: a multiple of 64) by dequantize(quantize(w)).
Step run(const std::string& name, models::QuantMode mode, bool simulate = false) {
  const auto dir = test::fixture("text/" + name);
  torch::manual_seed(0);
  models::LoadedModel lm = models::load_model((dir / "model").string(), {}, at::kFloat, at::Device("cpu"),
                                              simulate ? models::QuantMode::None : mode);
  models::TextModel& model = lm.model->text();
  if (simulate) {
    torch::NoGradGuard ng;
    for (const auto& m : model.module().modules())
      if (auto* lin = dynamic_cast<models::LoraLinearImpl*>(m.get());
          lin && lin->in_features() >= 64 && (mode != models::QuantMode::Nf4 || lin->in_features() % 64 == 0))
        lin->weight.set_data(models::dequantize(models::quantize(lin->weight, mode)));
  }
  models::load_adapter((dir / "adapter").string(), model);
  model.module().train();
  const auto in = test::read_all(dir / "inputs.safetensors");
  models::TextInputs ti{in.at("input_ids"), in.at("attention_mask"), {}};
  at::Tensor h = lm.model->forward(ti, {});
  models::LossSum ls = models::causal_lm_loss(h, in.at("labels"), model.lm_head_weight(), model.final_logit_softcapping());
  at::Tensor mean = ls.sum / static_cast<double>(ls.tokens);
  mean.backward();
  Step s;
  s.loss = mean.item<double>();
  for (auto& [n, t] : models::lora_parameters(model.module(), model.config().text_prefix)) s.grads[n] = t.grad().clone();
  s.report = lm.quantized;
  if (mode != models::QuantMode::None && !simulate) {
    int64_t empty = 0;
    for (const auto& m : model.module().modules())
      if (auto* lin = dynamic_cast<models::LoraLinearImpl*>(m.get()); lin && lin->quantized()) {
        EXPECT_EQ(lin->weight.numel(), 0);
        ++empty;
      }
    EXPECT_EQ(empty, s.report.layers);
  }
  return s;
}

// Cosine similarity of all LoRA gradients taken together.
double gradient_cosine(const Step& a, const Step& b) {
  double dot = 0, na = 0, nb = 0;
  for (const auto& [n, g] : a.grads) {
    const at::Tensor x = g.to(at::kDouble), y = b.grads.at(n).to(at::kDouble);
    dot += (x * y).sum().item<double>();
    na += (x * x).sum().item<double>();
    nb += (y * y).sum().item<double>();
  }
  return dot / std::sqrt(na * nb);
}

}  // namespace

// The quantized model computes exactly what a full-precision model with the rounded weights computes (the plumbing),
// and stays near the unrounded model (the rounding's effect: these tiny random models are far more sensitive than
// real ones, Gemma 3n's most: its LoRA gradients turn by about 10x the weights' relative RMS error, 0.9% for int8
// and 9% for nf4, so the direction bounds below are loose for nf4).
TEST(QuantizedModel, LossAndAdapterGradientsNearFullPrecision) {
  for (const char* name : {"gemma4-causal", "gemma3n-causal"}) {
    const Step full = run(name, models::QuantMode::None);
    for (auto [mode, loss_bound, cos_bound] : {std::tuple{models::QuantMode::Int8, 2e-3, 0.99},
                                               std::tuple{models::QuantMode::Nf4, 3e-2, 0.5}}) {
      const Step q = run(name, mode);
      const Step same = run(name, mode, /*simulate=*/true);
      EXPECT_LE(std::abs(q.loss - same.loss), 1e-6 * same.loss) << name << " " << models::quant_mode_name(mode);
      EXPECT_GT(gradient_cosine(q, same), 1 - 1e-9) << name << " " << models::quant_mode_name(mode);
      const double rel = std::abs(q.loss - full.loss) / full.loss;
      const double cos = gradient_cosine(q, full);
      std::printf("[quantize] %s %s: %lld layers %.1f -> %.1f KiB (%lld kept), loss %.6f vs %.6f (rel %.3g), "
                  "LoRA gradient cosine %.6f\n",
                  name, models::quant_mode_name(mode), static_cast<long long>(q.report.layers),
                  q.report.bytes_before / 1024.0, q.report.bytes_after / 1024.0, static_cast<long long>(q.report.kept),
                  q.loss, full.loss, rel, cos);
      EXPECT_GT(q.report.layers, 0) << name;
      EXPECT_LT(q.report.bytes_after, q.report.bytes_before) << name;
      EXPECT_NE(q.loss, full.loss) << name << ": the weights were not quantized";
      EXPECT_LT(rel, loss_bound) << name << " " << models::quant_mode_name(mode);
      EXPECT_GT(cos, cos_bound) << name << " " << models::quant_mode_name(mode);
      EXPECT_EQ(q.grads.size(), full.grads.size());
    }
  }
}

TEST(QuantizedModel, StagedLayersLiveOnTheHostUntilQuantized) {
  models::LoraLinear staged{nullptr}, plain{nullptr};
  {
    models::StageBaseWeightsOnHost stage;
    {
      models::StageBaseWeightsOnHost off(false);  // nested: stays on
      staged = models::LoraLinear(128, 8, true, at::TensorOptions().dtype(at::kBFloat16));
    }
  }
  plain = models::LoraLinear(128, 8, false, at::TensorOptions());
  EXPECT_TRUE(staged->weight.device().is_cpu());
  {
    torch::NoGradGuard ng;
    staged->weight.normal_();
    staged->bias.normal_();
  }
  const at::Tensor x = torch::randn({3, 128}).to(at::kBFloat16);
  const at::Tensor before = staged->forward(x);
  torch::nn::Sequential holder(staged, plain);
  const models::QuantizeReport r = models::quantize_base_weights(*holder, models::QuantMode::Int8, at::Device("cpu"));
  EXPECT_EQ(r.layers, 2);  // on the CPU every layer is quantized, staged or not
  EXPECT_EQ(r.bytes_before, 128 * 8 * 2 + 128 * 8 * 4);
  EXPECT_EQ(staged->weight.numel(), 0);
  ASSERT_NE(staged->quantized(), nullptr);
  const at::Tensor after = staged->forward(x);
  EXPECT_EQ(after.scalar_type(), at::kBFloat16);
  EXPECT_LT((after - before).abs().max().item<float>(), 0.05f * before.abs().max().item<float>());
  EXPECT_THROW(staged->quantize_weight(models::QuantMode::Int8, at::Device("cpu")), c10::Error);
}
