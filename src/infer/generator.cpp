#include "infer/generator.h"

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "models/common/kv_cache.h"
#include "models/common/loss.h"

namespace gt::infer {

namespace {
using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
}  // namespace

PromptBatch left_pad(const std::vector<std::vector<int64_t>>& prompts, int64_t pad_id) {
  GT_CHECK(!prompts.empty(), "left_pad of no prompts");
  const int64_t B = static_cast<int64_t>(prompts.size());
  int64_t P = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) fail_input("prompt ", i + 1, " of the batch has no tokens");
    P = std::max<int64_t>(P, static_cast<int64_t>(prompts[i].size()));
  }
  const auto i64 = at::TensorOptions().dtype(at::kLong);
  at::Tensor ids = torch::full({B, P}, pad_id, i64), mask = torch::zeros({B, P}, i64), pos = torch::zeros({B, P}, i64);
  auto a = ids.accessor<int64_t, 2>(), m = mask.accessor<int64_t, 2>(), p = pos.accessor<int64_t, 2>();
  bool padded = false;
  for (int64_t b = 0; b < B; ++b) {
    const auto& row = prompts[static_cast<size_t>(b)];
    const int64_t n = static_cast<int64_t>(row.size()), off = P - n;
    padded |= off > 0;
    for (int64_t t = 0; t < n; ++t) {
      a[b][off + t] = row[static_cast<size_t>(t)];
      m[b][off + t] = 1;
      p[b][off + t] = t;
    }
  }
  return {ids, padded ? mask : at::Tensor(), pos};
}

std::vector<Generation> generate(models::Model& model, const PromptBatch& prompts, const models::MediaInputs& media,
                                 const GenerationOptions& o, const TokenCallback& on_token, GenerationTimes* times) {
  check_sampling_options(o.sampling);
  if (o.max_new_tokens < 1) fail_input("--max-new-tokens is ", o.max_new_tokens, ", expected at least 1");
  c10::InferenceMode inference;
  models::TextModel& text = model.text();
  torch::nn::Module& module = text.module();
  const bool was_training = module.is_training();
  module.eval();

  const at::Tensor weight = text.lm_head_weight();
  const at::Device device = weight.device();
  const double cap = text.final_logit_softcapping();
  const int64_t B = prompts.input_ids.size(0), V = weight.size(0);
  std::vector<Generation> out(static_cast<size_t>(B));
  {
    at::Tensor lengths = prompts.attention_mask.defined() ? prompts.attention_mask.sum(1)
                                                         : torch::full({B}, prompts.input_ids.size(1), at::kLong);
    for (int64_t b = 0; b < B; ++b) out[static_cast<size_t>(b)].prompt_tokens = lengths[b].item<int64_t>();
  }
  auto is_stop = [&](int64_t id) { return std::find(o.stop_ids.begin(), o.stop_ids.end(), id) != o.stop_ids.end(); };

  const auto t0 = Clock::now();
  models::KvCache cache(model.config().text);
  at::Tensor mask = prompts.attention_mask.defined() ? prompts.attention_mask.to(device) : at::Tensor();
  models::TextInputs in;
  in.input_ids = prompts.input_ids.to(device);
  in.attention_mask = mask;
  in.position_ids = prompts.position_ids.to(device);
  in.cache = &cache;
  at::Tensor hidden = model.forward(in, media);
  at::Tensor logits = models::lm_logits(hidden.slice(1, hidden.size(1) - 1), weight, cap).select(1, 0).to(at::kFloat);
  at::Tensor next_position = in.position_ids.select(1, -1) + 1;  // [B]

  at::Tensor seen;  // tokens the repetition penalty applies to: the prompt's real tokens and the output so far
  if (o.sampling.repetition_penalty != 1.0) {
    seen = torch::zeros({B, V}, at::TensorOptions().dtype(at::kBool).device(device));
    at::Tensor real = mask.defined() ? mask.to(at::kBool) : torch::ones_like(in.input_ids, at::kBool);
    seen.scatter_(1, in.input_ids, real);
  }
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(o.seed);

  std::vector<int64_t> rows(static_cast<size_t>(B));  // batch row -> output row, for the rows still generating
  for (int64_t b = 0; b < B; ++b) rows[static_cast<size_t>(b)] = b;
  auto t_decode = Clock::now();
  for (int64_t step = 0; step < o.max_new_tokens; ++step) {
    const at::Tensor next = next_tokens(logits, o.sampling, seen, generator).to(at::kCPU);
    if (times) times->new_tokens += next.size(0);
    if (step == 0) {
      if (times) times->prefill_s = seconds_since(t0);
      t_decode = Clock::now();
    }
    const auto n = next.accessor<int64_t, 1>();
    std::vector<int64_t> keep;
    for (size_t i = 0; i < rows.size(); ++i) {
      Generation& g = out[static_cast<size_t>(rows[i])];
      if (is_stop(n[static_cast<int64_t>(i)])) {
        g.stopped = true;
        continue;
      }
      g.ids.push_back(n[static_cast<int64_t>(i)]);
      if (on_token) on_token(rows[i], n[static_cast<int64_t>(i)]);
      keep.push_back(static_cast<int64_t>(i));
    }
    if (keep.empty() || step + 1 == o.max_new_tokens) break;
    at::Tensor feed = next;
    if (keep.size() != rows.size()) {
      // Finished rows leave the batch: their cache rows, mask rows and positions go with them.
      at::Tensor k = torch::tensor(keep, at::TensorOptions().dtype(at::kLong));
      at::Tensor kd = k.to(device);
      cache.select_rows(kd);
      feed = feed.index_select(0, k);
      next_position = next_position.index_select(0, kd);
      if (mask.defined()) mask = mask.index_select(0, kd);
      if (seen.defined()) seen = seen.index_select(0, kd);
      std::vector<int64_t> kept_rows;
      for (int64_t i : keep) kept_rows.push_back(rows[static_cast<size_t>(i)]);
      rows = std::move(kept_rows);
    }
    const int64_t b = static_cast<int64_t>(rows.size());
    feed = feed.to(device).view({b, 1});
    if (seen.defined()) seen.scatter_(1, feed, true);
    if (mask.defined()) mask = at::cat({mask, torch::ones({b, 1}, mask.options())}, 1);
    models::TextInputs step_in;
    step_in.input_ids = feed;
    step_in.attention_mask = mask;
    step_in.position_ids = next_position.view({b, 1});
    step_in.cache = &cache;
    hidden = model.forward(step_in, {});
    logits = models::lm_logits(hidden, weight, cap).select(1, 0).to(at::kFloat);
    next_position = next_position + 1;
  }
  if (times) times->decode_s = seconds_since(t_decode);
  if (was_training) module.train();
  return out;
}

}  // namespace gt::infer
