// KV-cache decoding checked against the model run without a cache, on the tiny text fixtures of both families
// (tests/fixtures/text/<family>-causal: sliding window 8, KV-shared layers), so every path of the cache is used:
// sliding layers dropping keys past the window, KV-shared layers reading their source's cache, positions
// continuing across steps, left padding, rows leaving a batch. The comparison with transformers' own greedy
// decoding is in generation_parity_test.cpp.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include "infer/generator.h"
#include "models/common/kv_cache.h"
#include "models/common/loss.h"
#include "models/model.h"
#include "fixture_tensors.h"
#include "test_util.h"

using namespace gt;

namespace {

struct Tiny {
  std::unique_ptr<models::Model> model;
  int64_t max_id = 0;  // prompts use ids in [3, max_id)
};

Tiny load(const std::string& family) {
  Tiny t;
  t.model = models::load_model(test::fixture("text/" + family + "-causal/model").string(), {}, at::kFloat, at::kCPU).model;
  t.model->text().module().eval();
  t.max_id = family == "gemma3n" ? 224 : 248;
  return t;
}

std::vector<int64_t> random_ids(int64_t n, int64_t max_id, uint64_t seed) {
  at::Generator g = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor t = torch::randint(3, max_id, {n}, g, at::TensorOptions().dtype(at::kLong));
  return std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + n);
}

at::Tensor row(const std::vector<int64_t>& ids) { return torch::tensor(ids, at::kLong).view({1, -1}); }

// Soft-capped logits of every position of `ids` [1, T], no cache.
at::Tensor full_logits(models::Model& m, const std::vector<int64_t>& ids) {
  torch::NoGradGuard ng;
  models::TextInputs in;
  in.input_ids = row(ids);
  at::Tensor h = m.forward(in, {});
  return models::lm_logits(h, m.text().lm_head_weight(), m.text().final_logit_softcapping())[0];
}

class Families : public ::testing::TestWithParam<std::string> {};

// Feeding a sequence through the cache in chunks (prompt of 5, then chunks of 1, 3 and 7 tokens crossing the window
// of 8 several times) gives the logits of one forward over the whole sequence.
TEST_P(Families, CachedChunksEqualOneForward) {
  Tiny t = load(GetParam());
  const std::vector<int64_t> ids = random_ids(40, t.max_id, 1);
  const at::Tensor expected = full_logits(*t.model, ids);
  torch::NoGradGuard ng;
  models::KvCache cache(t.model->config().text);
  const std::vector<int64_t> chunks{5, 1, 1, 3, 7, 1, 9, 2, 1, 10};
  int64_t start = 0;
  double worst = 0;
  for (int64_t n : chunks) {
    models::TextInputs in;
    in.input_ids = row(std::vector<int64_t>(ids.begin() + start, ids.begin() + start + n));
    in.cache = &cache;
    at::Tensor h = t.model->forward(in, {});
    at::Tensor got = models::lm_logits(h, t.model->text().lm_head_weight(), t.model->text().final_logit_softcapping())[0];
    worst = std::max(worst, test::max_diff(got, expected.slice(0, start, start + n)));
    start += n;
    ASSERT_EQ(cache.length(), start);
  }
  ASSERT_EQ(start, 40);
  // Sliding layers hold W - 1 = 7 tokens, full layers all 40.
  EXPECT_EQ(cache.sliding_start(), 40 - 7);
  std::cout << "[parity] " << GetParam() << " cached chunks vs one forward: max |logit diff| " << worst << "\n";
  EXPECT_LT(worst, 1e-4);
}

// generate() (greedy) picks, at every step, the arg-max of the uncached logits of prompt + output so far.
TEST_P(Families, GreedyGenerationFollowsUncachedArgmax) {
  Tiny t = load(GetParam());
  const std::vector<int64_t> prompt = random_ids(6, t.max_id, 2);
  infer::GenerationOptions o;
  o.max_new_tokens = 30;  // past the window of 8 several times
  std::vector<int64_t> streamed;
  infer::GenerationTimes times;
  auto out = infer::generate(*t.model, infer::left_pad({prompt}, 0), {}, o,
                             [&](int64_t r, int64_t id) { streamed.push_back(id); }, &times);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_EQ(out[0].ids.size(), 30u);
  EXPECT_FALSE(out[0].stopped);
  EXPECT_EQ(out[0].prompt_tokens, 6);
  EXPECT_EQ(streamed, out[0].ids);
  EXPECT_EQ(times.new_tokens, 30);
  std::vector<int64_t> all = prompt;
  all.insert(all.end(), out[0].ids.begin(), out[0].ids.end());
  const at::Tensor logits = full_logits(*t.model, all);
  for (size_t s = 0; s < out[0].ids.size(); ++s) {
    const at::Tensor l = logits[static_cast<int64_t>(prompt.size() + s - 1)];
    const double best = l.max().item<double>();
    const double chosen = l[out[0].ids[s]].item<double>();
    EXPECT_LT(best - chosen, 1e-5) << "step " << s;  // the arg-max, up to float noise on near ties
  }
}

// Rows of different lengths in one left-padded batch generate what each generates alone; a row that stops early
// leaves the batch without disturbing the others.
TEST_P(Families, BatchedEqualsOneByOne) {
  Tiny t = load(GetParam());
  const std::vector<std::vector<int64_t>> prompts{random_ids(3, t.max_id, 3), random_ids(11, t.max_id, 4),
                                                  random_ids(7, t.max_id, 5)};
  infer::GenerationOptions o;
  o.max_new_tokens = 20;
  // Greedy tiny random models repeat their first token forever; the penalty makes the outputs varied (and checks
  // that each row's seen tokens stay its own).
  o.sampling.repetition_penalty = 3.0;
  std::vector<infer::Generation> alone;
  for (const auto& p : prompts) alone.push_back(infer::generate(*t.model, infer::left_pad({p}, 0), {}, o)[0]);
  // The first token of row 1's output that differs from its first becomes a stop token: row 1 ends there in the
  // batch (tiny random models repeat themselves, so it may come late), and so does any row that draws it.
  size_t first_new = 1;
  while (first_new < alone[1].ids.size() && alone[1].ids[first_new] == alone[1].ids[0]) ++first_new;
  ASSERT_LT(first_new, alone[1].ids.size()) << "row 1 repeats one token: pick other prompts";
  o.stop_ids = {alone[1].ids[first_new]};
  auto batched = infer::generate(*t.model, infer::left_pad(prompts, 0), {}, o);
  ASSERT_EQ(batched.size(), 3u);
  for (size_t r = 0; r < 3; ++r) {
    std::vector<int64_t> expected;
    for (int64_t id : alone[r].ids) {
      if (id == o.stop_ids[0]) break;
      expected.push_back(id);
    }
    EXPECT_EQ(batched[r].ids, expected) << "row " << r;
    EXPECT_EQ(batched[r].stopped, expected.size() < alone[r].ids.size()) << "row " << r;
    EXPECT_EQ(batched[r].prompt_tokens, static_cast<int64_t>(prompts[r].size()));
  }
  EXPECT_EQ(batched[1].ids.size(), first_new);
  EXPECT_TRUE(batched[1].stopped);
}

INSTANTIATE_TEST_SUITE_P(Generator, Families, ::testing::Values("gemma4", "gemma3n"));

TEST(Generator, LeftPadPositionsAndMask) {
  infer::PromptBatch b = infer::left_pad({{5, 6, 7}, {8}}, 0);
  EXPECT_TRUE(torch::equal(b.input_ids, torch::tensor({5, 6, 7, 0, 0, 8}, at::kLong).view({2, 3})));
  EXPECT_TRUE(torch::equal(b.attention_mask, torch::tensor({1, 1, 1, 0, 0, 1}, at::kLong).view({2, 3})));
  EXPECT_TRUE(torch::equal(b.position_ids, torch::tensor({0, 1, 2, 0, 0, 0}, at::kLong).view({2, 3})));
  EXPECT_FALSE(infer::left_pad({{1, 2}, {3, 4}}, 0).attention_mask.defined());
  EXPECT_NE(test::error_of([] { infer::left_pad({{1}, {}}, 0); }).find("prompt 2"), std::string::npos);
}

TEST(Generator, SamplingIsSeededAndTopKOneIsGreedy) {
  Tiny t = load("gemma4");
  const auto prompt = infer::left_pad({random_ids(5, t.max_id, 6)}, 0);
  infer::GenerationOptions greedy;
  greedy.max_new_tokens = 12;
  const auto g = infer::generate(*t.model, prompt, {}, greedy)[0].ids;
  infer::GenerationOptions s = greedy;
  s.sampling.temperature = 100.0;  // close to uniform
  s.seed = 7;
  const auto a = infer::generate(*t.model, prompt, {}, s)[0].ids;
  const auto b = infer::generate(*t.model, prompt, {}, s)[0].ids;
  EXPECT_EQ(a, b);  // same seed, same tokens
  s.seed = 8;
  EXPECT_NE(infer::generate(*t.model, prompt, {}, s)[0].ids, a);  // 12 near-uniform draws from 256 ids
  s.sampling.top_k = 1;
  EXPECT_EQ(infer::generate(*t.model, prompt, {}, s)[0].ids, g);
  s.sampling.top_k = 0;
  s.sampling.top_p = 1e-6;  // only the most likely token survives
  EXPECT_EQ(infer::generate(*t.model, prompt, {}, s)[0].ids, g);
}

TEST(Sampling, RepetitionPenaltyTopKTopP) {
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(1);
  infer::SamplingOptions o;
  o.repetition_penalty = 2.0;
  // Token 0 (logit 3, seen) drops to 1.5 below token 1 (2.0); a seen negative logit is multiplied.
  at::Tensor logits = torch::tensor({3.0f, 2.0f, -1.0f, 1.0f}).view({1, 4});
  at::Tensor seen = torch::tensor({true, false, true, false}).view({1, 4});
  EXPECT_EQ(infer::next_tokens(logits, o, seen, gen).item<int64_t>(), 1);
  o.repetition_penalty = 1.0;
  EXPECT_EQ(infer::next_tokens(logits, o, seen, gen).item<int64_t>(), 0);
  // top-k 2 at a high temperature only ever draws tokens 0 and 1.
  o.temperature = 100.0;
  o.top_k = 2;
  for (int i = 0; i < 50; ++i) EXPECT_LT(infer::next_tokens(logits, o, seen, gen).item<int64_t>(), 2);
  // top-p 0.5 with probabilities (0.6, 0.3, 0.1): only token 0 stays.
  o = {};
  o.temperature = 1.0;
  o.top_p = 0.5;
  at::Tensor p = torch::log(torch::tensor({0.6f, 0.3f, 0.1f})).view({1, 3});
  for (int i = 0; i < 50; ++i) EXPECT_EQ(infer::next_tokens(p, o, {}, gen).item<int64_t>(), 0);
  // top-p 0.8: tokens 0 and 1 stay (0.1 <= 1 - 0.8 is dropped), token 2 never comes.
  o.top_p = 0.8;
  int64_t ones = 0;
  for (int i = 0; i < 200; ++i) {
    const int64_t id = infer::next_tokens(p, o, {}, gen).item<int64_t>();
    EXPECT_NE(id, 2);
    ones += id == 1;
  }
  EXPECT_GT(ones, 30);  // 1/3 of 200 expected
  EXPECT_NE(test::error_of([] { infer::check_sampling_options({.temperature = -1}); }).find("--temperature"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { infer::check_sampling_options({.top_p = 0}); }).find("--top-p"), std::string::npos);
}

}  // namespace
