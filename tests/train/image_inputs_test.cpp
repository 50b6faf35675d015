// train::ImageInputs, the image side of a run: its probe (size, soft tokens, skip kinds), the placeholder text, and
// the pixels of a batch, which must equal the processor's output for each image whether the resized image comes
// from its cache or not.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"
#include "data/batching.h"
#include "io/model_presets.h"
#include "media/image_decode.h"
#include "media/image_processor.h"
#include "test_util.h"
#include "train/image_inputs.h"

namespace fs = std::filesystem;
using namespace gt;

namespace {

io::ModelConfig tiny(const std::string& family) {
  return io::parse_model_config(io::preset_config(family, "tiny").dump(), "preset " + family);
}

data::ImageRef probed(const data::ImageRowOptions& o, const std::string& source) {
  const data::RowResult<data::ImageRef> r = o.probe(source);
  EXPECT_TRUE(r) << r.error.reason;
  return r ? *r.value : data::ImageRef{};
}

}  // namespace

TEST(ImageInputs, BatchPixelsEqualTheProcessorsOutputCachedOrNot) {
  if (!media::image_decoding_available()) GTEST_SKIP() << "built without OpenCV";
  const fs::path images = test::source_path("data/sample-image/images");
  for (const std::string family : {"gemma4", "gemma3n"}) {
    const io::ModelConfig cfg = tiny(family);
    train::ImageInputs in("", cfg, 70);
    const data::ImageRowOptions o = in.row_options(TrainConfig{});
    data::Batch batch;
    for (const char* name : {"shape-00.png", "word-01.png", "shape-00.png"})
      batch.images.push_back(probed(o, (images / name).string()));
    EXPECT_EQ(batch.images[0].width, 96);
    EXPECT_EQ(batch.images[0].soft_tokens, family == "gemma4" ? 64 : 16) << family;  // 96x96 @70 -> 384x384 -> 64
    models::MediaInputs first, again;
    in.add_to(first, batch);  // fills the cache
    in.add_to(again, batch);  // from the cache
    ASSERT_TRUE(first.pixel_values.defined());
    EXPECT_TRUE(first.pixel_values.equal(again.pixel_values)) << family;
    const media::ImageProcessorConfig pc = media::image_processor_config(family, "", family == "gemma4" ? 70 : 0);
    for (int64_t i = 0; i < 3; ++i) {
      const media::Image img = media::decode_image(batch.images[i].source);
      if (family == "gemma4") {
        const media::Gemma4ImageInput ref = media::gemma4_preprocess(pc, img);
        EXPECT_TRUE(first.pixel_values[i].equal(ref.pixel_values)) << family << " image " << i;
        EXPECT_TRUE(first.pixel_position_ids[i].equal(ref.position_ids)) << family << " image " << i;
      } else {
        EXPECT_TRUE(first.pixel_values[i].equal(media::gemma3n_preprocess(pc, img))) << family << " image " << i;
        EXPECT_FALSE(first.pixel_position_ids.defined());
      }
    }
    // the text that stands for an image has exactly its soft tokens
    const std::string text = o.placeholder_text(batch.images[0]);
    const std::string soft = family == "gemma4" ? "<|image|>" : "<image_soft_token>";
    size_t count = 0;
    for (size_t at = text.find(soft); at != std::string::npos; at = text.find(soft, at + soft.size())) ++count;
    EXPECT_EQ(static_cast<int64_t>(count), batch.images[0].soft_tokens) << family;
  }
}

TEST(ImageInputs, ProbeSkipsUnusableImagesWithTheirKind) {
  if (!media::image_decoding_available()) GTEST_SKIP() << "built without OpenCV";
  test::TempDir tmp("image-inputs");
  test::write_file(tmp / "empty.png", "");
  test::write_file(tmp / "text.png", "not an image\n");
  train::ImageInputs in("", tiny("gemma4"), 280);
  const data::ImageRowOptions o = in.row_options(TrainConfig{});
  EXPECT_EQ(o.probe((tmp / "missing.png").string()).error.kind, data::skip_kind::kBadImage);
  EXPECT_EQ(o.probe((tmp / "empty.png").string()).error.kind, data::skip_kind::kEmptyImage);
  EXPECT_EQ(o.probe((tmp / "text.png").string()).error.kind, data::skip_kind::kBadImage);
  // a model without a vision tower refuses image inputs by name
  io::ModelConfig text_only = tiny("gemma4");
  text_only.vision_config_json.clear();
  try {
    train::ImageInputs bad("", text_only, 280);
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no vision_config"), std::string::npos) << e.what();
  }
}
