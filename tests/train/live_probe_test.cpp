// The live page's look inside the model (train/live_probe.h, models::AttentionCapture): the captured attention is the
// layer's real probabilities (they reproduce its output; causal and windowed where the layer is), capturing changes
// nothing the model computes, the binned map keeps each row's mass, and the top-5 predictions are the model's own
// next-token probabilities.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "io/crc32c.h"
#include "models/common/attention.h"
#include "models/common/loss.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"
#include "train/live_probe.h"
#include "fixture_tensors.h"
#include "test_util.h"

using namespace gt;
using nlohmann::json;

namespace {

std::vector<uint8_t> bytes_of(const json& map) {
  const std::string raw = *io::base64_decode(map["values"].get<std::string>());
  return {raw.begin(), raw.end()};
}

TEST(AttentionCapture, ProbabilitiesReproduceTheLayersOutput) {
  // One key/value head: every query head reads the same values, so the head-averaged probabilities times V equal the
  // head-averaged attention output.
  torch::manual_seed(1);
  const at::Tensor q = torch::randn({2, 4, 6, 8}), k = torch::randn({2, 1, 6, 8}), v = torch::randn({2, 1, 6, 8});
  for (bool masked : {false, true}) {
    at::Tensor mask;
    if (masked) {  // a window of 3 as an additive mask
      at::Tensor idx = torch::arange(6);
      at::Tensor ok = (idx.view({1, 6}) <= idx.view({6, 1})) & (idx.view({1, 6}) > idx.view({6, 1}) - 3);
      mask = at::where(ok, torch::zeros({}), torch::full({}, std::numeric_limits<float>::lowest())).expand({2, 1, 6, 6});
    }
    models::AttentionCapture capture(5);
    models::AttentionCapture::offer(4, q, k, mask, 0.5);  // another layer: ignored
    EXPECT_FALSE(capture.probs().defined());
    models::AttentionCapture::offer(5, q, k, mask, 0.5);
    const at::Tensor p = capture.probs();
    ASSERT_EQ(p.sizes(), (std::vector<int64_t>{6, 6}));
    const at::Tensor expected = models::attention_composite(q, k, v, mask, 0.5)[0].mean(0);  // [T, hd]
    EXPECT_TRUE(torch::allclose(at::matmul(p, v[0][0]), expected, 1e-5, 1e-6)) << "masked " << masked;
    EXPECT_TRUE(torch::allclose(p.sum(1), torch::ones({6}), 1e-5, 1e-6));
    EXPECT_EQ(p.triu(1).abs().sum().item<float>(), 0.0f);
    if (masked) EXPECT_EQ(p.tril(-3).abs().sum().item<float>(), 0.0f);
  }
  models::AttentionCapture::offer(5, q, k, {}, 1.0);  // none alive: nothing happens
}

TEST(AttentionCapture, WholeModelIsUnchangedAndLayersAreCausalAndWindowed) {
  const auto dir = test::fixture("text/gemma4-causal");
  models::LoadedModel lm = models::load_model((dir / "model").string(), {}, at::kFloat, at::Device("cpu"));
  const auto in = test::read_all(dir / "inputs.safetensors");
  const at::Tensor ids = in.at("input_ids").slice(0, 0, 1);  // row 0 is not padded
  models::TextInputs ti{ids, {}, {}};
  at::NoGradGuard no_grad;
  const at::Tensor plain = lm.model->forward(ti, {});
  const io::TextConfig& c = lm.model->config().text;
  for (int64_t layer : {int64_t{0}, int64_t{3}}) {
    models::AttentionCapture capture(layer);
    const at::Tensor seen = lm.model->forward(ti, {});
    EXPECT_TRUE(torch::equal(plain, seen)) << "capturing layer " << layer << " changed the output";
    const at::Tensor p = capture.probs();
    const int64_t T = ids.size(1);
    ASSERT_EQ(p.sizes(), (std::vector<int64_t>{T, T}));
    EXPECT_TRUE(torch::allclose(p.sum(1), torch::ones({T}), 1e-5, 1e-6));
    EXPECT_EQ(p.triu(1).abs().sum().item<float>(), 0.0f);
    const bool sliding = c.layer_types[layer] == io::LayerType::Sliding;
    EXPECT_EQ(sliding, layer == 0);
    // A sliding layer sees the last `sliding_window` keys only; a full layer sees the oldest one too.
    const float beyond = p.tril(-c.sliding_window).abs().sum().item<float>();
    if (sliding)
      EXPECT_EQ(beyond, 0.0f);
    else
      EXPECT_GT(beyond, 0.0f);
  }
}

TEST(LiveProbe, AttentionMapBinsKeepEachRowsMass) {
  // Causal uniform attention over 5 positions, binned 3 to a side: rows 0-2 put all their mass on keys 0-2; rows 3
  // and 4 put 3/4 and 3/5 there, 1/4 and 2/5 on keys 3-4 (averaged over the bin's 2 real rows).
  at::Tensor p = torch::ones({5, 5}).tril();
  p = p / p.sum(1, true);
  const json map = train::attention_map(p, 2);
  EXPECT_EQ(map["size"], 2);
  EXPECT_EQ(map["bin"], 3);
  const std::vector<uint8_t> b = bytes_of(map);
  ASSERT_EQ(b.size(), 4u);
  auto byte = [](double v) { return static_cast<uint8_t>(std::lround(255 * std::sqrt(v))); };
  EXPECT_EQ(b[0], 255);
  EXPECT_EQ(b[1], 0);
  EXPECT_EQ(b[2], byte((0.75 + 0.6) / 2));
  EXPECT_EQ(b[3], byte((0.25 + 0.4) / 2));
  // Short rows are not binned.
  const json whole = train::attention_map(p, 96);
  EXPECT_EQ(whole["size"], 5);
  EXPECT_EQ(whole["bin"], 1);
  EXPECT_EQ(bytes_of(whole)[6], byte(0.5));  // row 1, key 1
}

TEST(LiveProbe, ShowsTheModelsOwnNextTokenProbabilities) {
  const auto dir = test::fixture("text/gemma4-causal");
  models::LoadedModel lm = models::load_model((dir / "model").string(), {}, at::kFloat, at::Device("cpu"));
  const tok::Tokenizer tok = tok::Tokenizer::from_file(test::fixture("data/gemma4-tiny/tokenizer.json").string());
  const auto in = test::read_all(dir / "inputs.safetensors");
  data::Example row;
  const at::Tensor ids = in.at("input_ids")[0], labels = in.at("labels")[0];
  for (int64_t t = 0; t < ids.size(0); ++t) {
    row.input_ids.push_back(static_cast<int32_t>(ids[t].item<int64_t>()));
    row.labels.push_back(static_cast<int32_t>(labels[t].item<int64_t>()));
  }
  row.source = "validation.jsonl:1";
  const int64_t T = ids.size(0);

  train::LiveProbe probe(row, tok, {}, at::Device("cpu"), lm.model->config().text.num_hidden_layers);
  EXPECT_EQ(probe.layer(), 3);  // the middle of 7
  lm.model->text().module().train();
  const json e = probe.run(*lm.model, 12);
  EXPECT_TRUE(lm.model->text().module().is_training()) << "the probe must give the model back in training mode";
  EXPECT_EQ(e["type"], "probe");
  EXPECT_EQ(e["step"], 12);
  EXPECT_EQ(e["layer"], 3);
  EXPECT_EQ(e["source"], "validation.jsonl:1");
  EXPECT_EQ(e["tokens"].size(), static_cast<size_t>(T));
  EXPECT_EQ(e["attention"]["size"], T);
  EXPECT_EQ(bytes_of(e["attention"]).size(), static_cast<size_t>(T * T));
  EXPECT_GE(e["cost_s"].get<double>(), 0.0);
  EXPECT_TRUE(probe.media_event().is_null());

  // The model's probabilities at each shown position, computed here without the probe.
  at::NoGradGuard no_grad;
  lm.model->text().module().eval();
  const at::Tensor h = lm.model->forward(models::TextInputs{ids.unsqueeze(0), {}, {}}, {});
  const at::Tensor probs = at::softmax(models::lm_logits(h, lm.model->text().lm_head_weight(),
                                                         lm.model->text().final_logit_softcapping())[0],
                                       -1);  // [T, V]
  ASSERT_FALSE(e["predictions"].empty());
  EXPECT_LE(e["predictions"].size(), 6u);
  for (const json& pred : e["predictions"]) {
    const int64_t t = pred["position"];
    ASSERT_GE(t, 1);
    ASSERT_NE(row.labels[t], data::kIgnoreIndex);
    const int32_t target = row.labels[t];
    EXPECT_EQ(pred["target"], tok.decode(std::span<const int32_t>(&target, 1)));
    ASSERT_EQ(pred["top"].size(), 5u);
    const auto [best, best_ids] = probs[t - 1].topk(5);
    double previous = 1.0;
    for (int k = 0; k < 5; ++k) {
      const double p = pred["top"][k]["p"];
      EXPECT_LE(p, previous + 1e-7);
      previous = p;
      EXPECT_NEAR(p, best[k].item<float>(), 1e-5);
      EXPECT_EQ(pred["top"][k]["id"], best_ids[k].item<int64_t>());
    }
  }
}

}  // namespace
