// Parity of the text decoders with transformers 5.17 + PEFT on tiny random checkpoints of both families
// (tests/fixtures/text/<case>/, made by tools/make_text_fixtures.py on the GPU machine):
//   logits of the base model, float32      max |diff| <= 1e-4
//   loss (mean over supervised tokens)     relative diff <= 1e-5
//   logits and loss with a PEFT adapter    same bounds
//   LoRA gradients                         max |diff| <= 1e-4 * max |reference|, per tensor
//   bfloat16 logits                        see the bf16 branch below
// Every comparison prints the measured error, so the closing note of the issue can quote them.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "io/safetensors.h"
#include "io/safetensors_torch.h"
#include "models/common/loss.h"
#include "models/common/lora_targets.h"
#include "models/peft_adapter.h"
#include "models/text_model.h"
#include "fixture_tensors.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace gt;

namespace {

std::vector<std::string> cases() {
  std::vector<std::string> out;
  fs::path root = test::fixture("text");
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory() && fs::exists(e.path() / "expected.safetensors")) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

using test::read_all;

using test::max_abs;
using test::max_diff;

struct Case {
  std::string name;
  fs::path dir;
  nlohmann::json meta;
  std::map<std::string, at::Tensor> inputs, expected;
  bool bf16 = false;
};

Case load_case(const std::string& name) {
  Case c;
  c.name = name;
  c.dir = test::fixture("text/" + name);
  std::ifstream m(c.dir / "meta.json");
  if (m) c.meta = nlohmann::json::parse(m);
  c.inputs = read_all(c.dir / "inputs.safetensors");
  c.expected = read_all(c.dir / "expected.safetensors");
  c.bf16 = c.meta.value("dtype", std::string("float32")).find("bfloat16") != std::string::npos;
  return c;
}

class TextParity : public ::testing::TestWithParam<std::string> {};

}  // namespace

// GT_TEST_DEVICE=cuda runs the comparison on a GPU (float32 matmuls there do not use TF32 by default).
at::Device test_device() {
  const char* d = std::getenv("GT_TEST_DEVICE");
  return at::Device(d && *d ? d : "cpu");
}

TEST_P(TextParity, LogitsLossAndLoraGradients) {
  torch::manual_seed(0);
  Case c = load_case(GetParam());
  const at::ScalarType dtype = c.bf16 ? at::kBFloat16 : at::kFloat;
  const at::Device device = test_device();
  models::LoadedTextModel lm = models::load_text_model((c.dir / "model").string(), dtype, device);
  models::TextModel& model = *lm.model;
  model.module().eval();
  models::TextInputs in{c.inputs.at("input_ids").to(device), c.inputs.at("attention_mask").to(device), {}};
  const at::Tensor labels = c.inputs.at("labels").to(device);

  at::Tensor hidden, logits;
  {
    torch::NoGradGuard ng;
    hidden = model.forward(in);
    logits = models::lm_logits(hidden, model.lm_head_weight(), model.final_logit_softcapping()).to(at::kFloat).cpu();
  }
  const at::Tensor& ref_logits = c.expected.at("logits");
  ASSERT_EQ(logits.sizes(), ref_logits.sizes());
  const double logit_err = max_diff(logits, ref_logits);
  std::printf("[parity] %s logits max|diff| = %.3g (max|ref| %.3g)\n", c.name.c_str(), logit_err, max_abs(ref_logits));
  if (c.bf16) {
    // bf16 results depend on matmul accumulation order and kernels (transformers' own eager and sdpa bf16 logits
    // differ by up to 0.42 here). The documented tolerance, against the float32 reference over real tokens:
    // gemma-tune's mean error is at most 1.5x transformers' bf16 mean error, and its max error at most
    // transformers' bf16 max error plus transformers' own eager-vs-sdpa bf16 spread (from meta.json).
    std::string fp32_case = c.name.substr(0, c.name.size() - 5);
    at::Tensor fp32 = read_all(test::fixture("text/" + fp32_case + "/expected.safetensors")).at("logits");
    at::Tensor real = c.inputs.at("attention_mask").to(at::kBool).unsqueeze(-1).expand_as(fp32);
    auto errs = [&](const at::Tensor& x) {
      at::Tensor d = (x.to(at::kDouble) - fp32.to(at::kDouble)).abs().masked_select(real);
      return std::pair<double, double>{d.max().item<double>(), d.mean().item<double>()};
    };
    auto [ours_max, ours_mean] = errs(logits);
    if (!device.is_cpu()) {
      // On a GPU the bf16 kernels differ again; report, and hold only the mean to the CPU bound.
      std::printf("[parity] %s on %s vs float32: max %.3g mean %.3g\n", c.name.c_str(), device.str().c_str(), ours_max,
                  ours_mean);
    }
    auto [hf_max, hf_mean] = errs(ref_logits);
    std::printf("[parity] %s vs float32: gemma-tune max %.3g mean %.3g, transformers bf16 max %.3g mean %.3g\n",
                c.name.c_str(), ours_max, ours_mean, hf_max, hf_mean);
    const double spread = c.meta.at("eager_vs_sdpa").at("logits_max_abs").get<double>();
    EXPECT_LE(ours_max, hf_max + spread) << c.name;
    EXPECT_LE(ours_mean, 1.5 * hf_mean) << c.name;
    return;
  }
  EXPECT_LE(logit_err, 1e-4) << c.name;

  models::LossSum ls = models::causal_lm_loss(hidden, labels, model.lm_head_weight(), model.final_logit_softcapping());
  const double loss = ls.sum.item<double>() / static_cast<double>(ls.tokens);
  const double ref_loss = c.expected.at("loss").item<double>();
  std::printf("[parity] %s loss %.8f vs %.8f (rel %.3g)\n", c.name.c_str(), loss, ref_loss,
              std::abs(loss - ref_loss) / std::abs(ref_loss));
  EXPECT_LE(std::abs(loss - ref_loss), 1e-5 * std::abs(ref_loss)) << c.name;

  if (!fs::exists(c.dir / "adapter")) return;
  // --- with the PEFT adapter: logits, loss, gradients of every LoRA factor
  models::load_adapter((c.dir / "adapter").string(), model);
  model.module().train();  // same mode as the reference gradient run (no dropout in the fixture adapter)
  if (c.meta.value("grad_mode", std::string("train")) == "eval") model.module().eval();
  at::Tensor h2 = model.forward(in);
  {
    torch::NoGradGuard ng;
    at::Tensor l2 = models::lm_logits(h2, model.lm_head_weight(), model.final_logit_softcapping()).cpu();
    const double err = max_diff(l2, c.expected.at("lora_logits"));
    std::printf("[parity] %s lora logits max|diff| = %.3g\n", c.name.c_str(), err);
    EXPECT_LE(err, 1e-4) << c.name;
  }
  models::LossSum ls2 = models::causal_lm_loss(h2, labels, model.lm_head_weight(), model.final_logit_softcapping());
  at::Tensor mean = ls2.sum / static_cast<double>(ls2.tokens);
  const double ref2 = c.expected.at("lora_loss").item<double>();
  EXPECT_LE(std::abs(mean.item<double>() - ref2), 1e-5 * std::abs(ref2)) << c.name;
  mean.backward();

  size_t compared = 0;
  double worst = 0;
  std::string worst_name;
  auto params = models::lora_parameters(model.module(), model.config().text_prefix);
  std::map<std::string, at::Tensor> ours;
  for (auto& [n, t] : params) ours[n] = t;
  for (const auto& [key, ref] : c.expected) {
    if (key.rfind("grad.", 0) != 0) continue;
    const std::string n = models::adapter_key_to_parameter(key.substr(5));
    auto it = ours.find(n);
    ASSERT_NE(it, ours.end()) << "no LoRA parameter for reference gradient " << key;
    ASSERT_TRUE(it->second.grad().defined()) << n << " got no gradient";
    const double rel = max_diff(it->second.grad().cpu(), ref) / std::max(max_abs(ref), 1e-30);
    if (rel > worst) worst = rel, worst_name = n;
    EXPECT_LE(rel, 1e-4) << n;
    ++compared;
  }
  std::printf("[parity] %s %zu LoRA gradients, worst relative error %.3g (%s)\n", c.name.c_str(), compared, worst,
              worst_name.c_str());
  // The multimodal fixtures store no gradients (transformers' are bit-identical to the causal case's).
  if (compared > 0) EXPECT_EQ(compared, params.size()) << "every LoRA parameter has a reference gradient";
  if (c.name.find("causal") != std::string::npos) EXPECT_GT(compared, 0u) << "causal fixtures carry gradients";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TextParity, ::testing::ValuesIn(cases()),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& ch : s)
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return s;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(TextParity);

TEST(TextParityFixtures, BothFamiliesAndLayoutsArePresent) {
  std::vector<std::string> c = cases();
  for (const char* want : {"gemma3n-causal", "gemma4-causal", "gemma4-multimodal"})
    EXPECT_NE(std::find(c.begin(), c.end(), want), c.end()) << "missing fixture tests/fixtures/text/" << want;
}
