// Generation with an image: the image goes through the vision tower once, in the prefill, and the cached decoding
// steps that follow give the tokens the model picks when it reads prompt, image and output again in one forward
// without a cache. Tiny random checkpoints of both families from init-random (towers included), the real tokenizer
// (it has the image placeholder tokens), and an image of the bundled sample set, through the same code as `gemma-tune generate --image`.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include "core/train_config.h"
#include "infer/generator.h"
#include "infer/prompts.h"
#include "models/common/loss.h"
#include "train/run_setup.h"
#include "test_util.h"

using namespace gt;

namespace {

class GenerateWithImage : public ::testing::TestWithParam<std::string> {};

TEST_P(GenerateWithImage, PrefillOnceThenCachedStepsEqualUncachedForward) {
  const std::string family = GetParam();
  test::TempDir tmp("gen-image");
  auto r = test::run_cli("init-random --family " + family + " --size tiny --dtype float32 --out '" +
                         (tmp / "model").string() + "' --tokenizer '" + test::real_tokenizer_json().string() +
                         "' --seed 4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string image = test::source_path("data/sample-image/images/shape-05.png").string();
  test::write_file(tmp / "rows.csv", "image_path,caption\n" + image + ",x\n");

  TrainConfig cfg;
  cfg.model = (tmp / "model").string();
  cfg.modality = "image";
  cfg.device = "cpu";
  cfg.dtype = "float32";
  cfg.image_token_budget = 70;
  train::RunSetup setup(cfg);
  data::TextDataset ds = setup.load_dataset((tmp / "rows.csv").string());
  ASSERT_EQ(ds.examples.size(), 1u);
  const infer::PromptRow row = infer::prompt_from_example(ds.examples[0], setup.tokenizer);
  EXPECT_EQ(row.reference, "x");
  ASSERT_EQ(row.images.size(), 1u);
  models::LoadedModel lm = setup.load_model();
  const models::MediaInputs media = infer::prompt_media({&row}, setup.media_readers());

  infer::GenerationOptions o;
  o.max_new_tokens = 12;
  o.sampling.repetition_penalty = 3.0;  // varied output from a random model (see generator_test.cpp)
  const auto out = infer::generate(*lm.model, infer::left_pad({row.ids}, setup.pad_id), media, o)[0];
  ASSERT_EQ(out.ids.size(), 12u);

  // The uncached forward over prompt + output, with the same image; the penalty is applied as the generator does.
  std::vector<int64_t> all = row.ids;
  all.insert(all.end(), out.ids.begin(), out.ids.end());
  torch::NoGradGuard ng;
  models::TextInputs in;
  in.input_ids = torch::tensor(all, at::kLong).view({1, -1});
  at::Tensor h = lm.model->forward(in, media);
  at::Tensor logits = models::lm_logits(h, lm.model->text().lm_head_weight(), lm.model->text().final_logit_softcapping())[0];
  at::Tensor seen = torch::zeros({logits.size(1)}, at::kBool);
  seen.index_fill_(0, torch::tensor(row.ids, at::kLong), true);
  for (size_t s = 0; s < out.ids.size(); ++s) {
    at::Tensor l = logits[static_cast<int64_t>(row.ids.size() + s - 1)];
    l = at::where(seen, at::where(l < 0, l * 3.0, l / 3.0), l);
    EXPECT_LT(l.max().item<double>() - l[out.ids[s]].item<double>(), 1e-5) << family << " step " << s;
    seen[out.ids[s]] = true;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, GenerateWithImage, ::testing::Values("gemma4", "gemma3n"));

}  // namespace
