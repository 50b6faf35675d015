// Images end to end through the command line, on tiny random checkpoints of both families (real tokenizer, CPU; the
// tiny Gemma 3n has a small MobileNet-V5): `train --modality image` on images of the bundled data/sample-image set (the eval loss falls; the adapter records its image token budget and
// eval reuses it), VQA and audiovisual rows, bad images (skipped.jsonl), and the refusals of modality and mode.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace fs = std::filesystem;
using nlohmann::json;
using gt::test::run_cli;

namespace {

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

double eval_loss(const fs::path& model, const fs::path& data, const std::string& extra) {
  auto r = run_cli("eval --model " + quote(model) + " --data " + quote(data) + " --json " + extra);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.exit_code == 0 ? json::parse(r.out).at("loss").get<double>() : 0.0;
}

fs::path only_run(const fs::path& runs) {
  fs::path run;
  for (const auto& e : fs::directory_iterator(runs)) run = e.path();
  return run;
}

// A tiny checkpoint of `family` and a caption set: the sample images (absolute paths), one missing image and one
// file that is not an image.
struct ImageSetup {
  gt::test::TempDir tmp{"image-cli"};
  fs::path model = tmp / "model";
  fs::path data = tmp / "data";
  fs::path runs = tmp / "runs";
  fs::path images = gt::test::source_path("data/sample-image/images");
  explicit ImageSetup(const std::string& family) {
    auto r = run_cli("init-random --family " + family + " --size tiny --dtype float32 --seed 3 --out " + quote(model) +
                     " --tokenizer " + quote(gt::test::real_tokenizer_json()));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string csv = "image_path,caption\n";
    const char* captions[] = {"One red circle.", "Two red squares.", "Three red triangles.", "One green circle."};
    for (int i = 0; i < 4; ++i) csv += (images / ("shape-0" + std::to_string(i) + ".png")).string() + "," + captions[i] + "\n";
    csv += "no_such_image.png,missing\nnot_an_image.png,broken\n";
    gt::test::write_file(data / "not_an_image.png", "this is text, not a PNG\n");
    gt::test::write_file(data / "train.csv", csv);
  }
};

void trains_and_learns(const std::string& family) {
  ImageSetup s(family);
  const std::string budget = family == "gemma4" ? " --image-token-budget 70" : "";
  const double before = eval_loss(s.model, s.data, "--modality image" + budget);
  auto r = run_cli("train --model " + quote(s.model) + " --data " + quote(s.data) + " --out " + quote(s.runs) +
                   " --modality image --max-steps 6 --batch-size 2 --lr 1e-2 --max-seq-len 512 --seed 1"
                   " --save-every 0" + budget);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("6 rows, 4 examples, 2 skipped"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("4 images"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("frozen vision tower"), std::string::npos) << r.err;
  const fs::path run = only_run(s.runs);
  ASSERT_TRUE(fs::exists(run / "adapter" / "adapter_model.safetensors"));
  const std::string skipped = gt::test::read_file(run / "skipped.jsonl");
  EXPECT_NE(skipped.find("\"kind\":\"bad_image\""), std::string::npos) << skipped;
  EXPECT_NE(skipped.find("no_such_image.png"), std::string::npos) << skipped;
  EXPECT_NE(skipped.find("not_an_image.png"), std::string::npos) << skipped;
  if (family == "gemma4") {
    // the budget is in the run's config and metadata and beside the adapter; eval reuses it from the adapter
    EXPECT_NE(gt::test::read_file(run / "config.yaml").find("image_token_budget: 70"), std::string::npos);
    EXPECT_EQ(json::parse(gt::test::read_file(run / "metadata.json")).at("image_token_budget"), 70);
    EXPECT_EQ(json::parse(gt::test::read_file(run / "adapter" / "adapter_config.json"))
                  .at("gemma_tune_image_token_budget"), 70);
  }
  const double after = eval_loss(s.model, s.data, "--modality image --adapter " + quote(run / "adapter"));
  std::printf("[image-cli] %s eval loss %.4f -> %.4f\n", family.c_str(), before, after);
  EXPECT_LT(after, before - 0.5);
  if (family == "gemma4") {
    // another budget changes the rows (other placeholder counts), so the loss differs: proof the adapter's was used
    const double other = eval_loss(s.model, s.data,
                                   "--modality image --image-token-budget 140 --adapter " + quote(run / "adapter"));
    EXPECT_NE(other, after);
  }
}

}  // namespace

TEST(ImageCli, Gemma4TrainsOnImages) { trains_and_learns("gemma4"); }
TEST(ImageCli, Gemma3nTrainsOnImages) { trains_and_learns("gemma3n"); }

TEST(ImageCli, VqaAndAudiovisualRowsTrain) {
  ImageSetup s("gemma4");
  const fs::path sample = gt::test::source_path("data/sample-image");
  auto vqa = run_cli("train --model " + quote(s.model) + " --data " + quote(sample / "vqa.csv") + " --out " +
                     quote(s.runs / "vqa") + " --modality image --mode vqa --image-token-budget 70 --max-steps 2"
                     " --batch-size 4 --save-every 0");
  ASSERT_EQ(vqa.exit_code, 0) << vqa.err;
  EXPECT_NE(vqa.err.find("30 rows, 30 examples, 0 skipped"), std::string::npos) << vqa.err;

  const fs::path clips = gt::test::source_path("data/sample-audio/clips");
  gt::test::write_file(s.data / "av.csv", "audio_path,image_path,caption\n" + (clips / "001.wav").string() + "," +
                                              (s.images / "shape-00.png").string() + ",A voice and a red circle.\n");
  auto av = run_cli("train --model " + quote(s.model) + " --data " + quote(s.data / "av.csv") + " --out " +
                    quote(s.runs / "av") + " --modality audiovisual --image-token-budget 70 --max-steps 2"
                    " --batch-size 1 --save-every 0");
  ASSERT_EQ(av.exit_code, 0) << av.err;
  EXPECT_NE(av.err.find("1 clips"), std::string::npos) << av.err;
  EXPECT_NE(av.err.find("1 image"), std::string::npos) << av.err;
  EXPECT_NE(av.err.find("frozen audio and vision towers"), std::string::npos) << av.err;
}

TEST(ImageCli, RefusalsNameTheOptionAndLeaveNoRunFolder) {
  ImageSetup s("gemma4");
  auto mode = run_cli("train --model " + quote(s.model) + " --data " + quote(s.data) + " --out " + quote(s.runs) +
                      " --modality image --mode completion");
  EXPECT_EQ(mode.exit_code, 1);
  EXPECT_NE(mode.err.find("--modality image trains captions"), std::string::npos) << mode.err;
  auto budget = run_cli("train --model " + quote(s.model) + " --data " + quote(s.data) + " --out " + quote(s.runs) +
                        " --modality image --image-token-budget 100");
  EXPECT_EQ(budget.exit_code, 1);
  EXPECT_NE(budget.err.find("--image-token-budget is 100, expected one of 70, 140, 280, 560, 1120"), std::string::npos)
      << budget.err;
  EXPECT_FALSE(fs::exists(s.runs));
  // image rows in a text run are skipped as media parts, not trained as text
  auto text = run_cli("train --model " + quote(s.model) + " --data " + quote(s.data / "train.csv") + " --out " +
                      quote(s.runs) + " --max-steps 1");
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.err.find("prompt"), std::string::npos) << text.err;
}
