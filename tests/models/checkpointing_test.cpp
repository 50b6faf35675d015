// Gradient checkpointing must not change the math: with it on, the LoRA gradients of a training step (LoRA
// dropout active, so the recomputation must replay the same random masks) equal those without it.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "io/safetensors_torch.h"
#include "models/common/lora_targets.h"
#include "models/common/loss.h"
#include "models/text_model.h"
#include "test_util.h"

using namespace gt;

namespace {

std::map<std::string, at::Tensor> lora_grads(const std::string& fixture, bool checkpointing) {
  const std::string dir = test::fixture("text/" + fixture).string();
  models::LoadedTextModel lm = models::load_text_model(dir + "/model", at::kFloat, at::kCPU);
  torch::manual_seed(7);
  models::apply_lora(lm.model->module(), lm.config.text_prefix, models::LoraTargets::defaults(), {4, 8.0, 0.1});
  {
    torch::NoGradGuard ng;  // non-zero B so that every factor gets a gradient
    for (auto& [n, t] : models::lora_parameters(lm.model->module(), "")) t.normal_(0, 0.1);
  }
  lm.model->module().train();
  lm.model->set_gradient_checkpointing(checkpointing);
  io::Checkpoint in = io::Checkpoint::open(dir + "/inputs.safetensors");
  models::TextInputs x{io::load_tensor(in, "input_ids"), io::load_tensor(in, "attention_mask"), {}};
  torch::manual_seed(11);  // dropout masks
  at::Tensor h = lm.model->forward(x);
  models::LossSum ls = models::causal_lm_loss(h, io::load_tensor(in, "labels"), lm.model->lm_head_weight(),
                                              lm.model->final_logit_softcapping());
  (ls.sum / static_cast<double>(ls.tokens)).backward();
  std::map<std::string, at::Tensor> out;
  for (auto& [n, t] : models::lora_parameters(lm.model->module(), "")) {
    EXPECT_TRUE(t.grad().defined()) << n;
    if (t.grad().defined()) out[n] = t.grad().clone();
  }
  return out;
}

}  // namespace

TEST(GradientCheckpointing, SameLoraGradientsBothFamilies) {
  for (const char* fixture : {"gemma4-causal", "gemma3n-causal"}) {
    auto plain = lora_grads(fixture, false);
    auto ckpt = lora_grads(fixture, true);
    ASSERT_EQ(plain.size(), ckpt.size()) << fixture;
    ASSERT_GT(plain.size(), 0u);
    double worst = 0;
    for (auto& [n, g] : plain) {
      const double d = (g - ckpt.at(n)).abs().max().item<double>() / std::max(1e-30, g.abs().max().item<double>());
      worst = std::max(worst, d);
      EXPECT_LE(d, 1e-5) << fixture << " " << n;
    }
    std::printf("[checkpointing] %s: %zu gradients, worst relative difference %.3g\n", fixture, plain.size(), worst);
  }
}

TEST(LoraTargets, ScopedNamesMatchOnlyTheLanguageModel) {
  auto t = models::LoraTargets::defaults().scoped_to("model.language_model.");
  EXPECT_FALSE(t.regex.empty());
  EXPECT_TRUE(models::lora_target_matches(t, "model.language_model.layers.3.self_attn.q_proj"));
  EXPECT_TRUE(models::lora_target_matches(t, "model.language_model.layers.10.mlp.down_proj"));
  EXPECT_FALSE(models::lora_target_matches(t, "model.audio_tower.layers.0.self_attn.q_proj"));
  EXPECT_FALSE(models::lora_target_matches(t, "model.language_model.layers.3.self_attn.q_proj_extra"));
  EXPECT_FALSE(models::lora_target_matches(t, "model.language_model.layers.3.self_attn.xq_proj"));
  // Names and their scoped regex pick the same language-model modules.
  for (const char* n : {"model.language_model.layers.0.mlp.gate_proj", "model.language_model.per_layer_model_projection"})
    EXPECT_EQ(models::lora_target_matches(t, n), models::lora_target_matches(models::LoraTargets::defaults(), n)) << n;
}
