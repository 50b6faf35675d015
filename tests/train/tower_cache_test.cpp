// --tower-cache (train/tower_cache.h, train/batches_torch.h): the on-disk cache (round trip, keys from the medium's
// bytes and the settings, corrupt entries are misses and are replaced, concurrent writers of one key), the models'
// precomputed soft tokens (Model::media_soft_tokens passed back as MediaInputs::audio_soft_tokens /
// image_soft_tokens give bit-identical hidden states, both families, audio and images in one batch), and the cached
// training batches (a batch all in the cache decodes nothing and runs no tower; deleting the folder is harmless),
// on tiny random checkpoints (init-random, float32, CPU) and the bundled sample clips and images.
#include <torch/torch.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "core/train_config.h"
#include "io/model_config.h"
#include "models/model.h"
#include "test_util.h"
#include "train/audio_inputs.h"
#include "train/batches_torch.h"
#include "train/image_inputs.h"
#include "train/tower_cache.h"

namespace fs = std::filesystem;
using namespace gt;

namespace {

std::string quote(const fs::path& p) { return "'" + p.string() + "'"; }

// A file standing for a medium (the cache hashes bytes; it never decodes them).
fs::path medium(const test::TempDir& tmp, const std::string& name, const std::string& bytes) {
  const fs::path p = tmp / name;
  test::write_file(p, bytes);
  return p;
}

size_t files_under(const fs::path& dir, const std::string& ending) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file() && e.path().string().ends_with(ending)) ++n;
  return n;
}

}  // namespace

TEST(TowerCache, RoundTripAndKeys) {
  test::TempDir tmp("tower-cache");
  const fs::path a = medium(tmp, "a.wav", "clip a"), b = medium(tmp, "b.wav", "clip b"),
                 a2 = medium(tmp, "a-copy.wav", "clip a");
  train::TowerCache cache((tmp / "cache").string());
  const std::string k = cache.key(a.string(), "s1");
  EXPECT_EQ(k.size(), 64u);
  EXPECT_EQ(cache.key(a2.string(), "s1"), k) << "the key follows the bytes, not the path";
  EXPECT_NE(cache.key(b.string(), "s1"), k);
  EXPECT_NE(cache.key(a.string(), "s2"), k) << "other settings, other key";

  EXPECT_FALSE(cache.get(k, 3, 4, at::kFloat));
  const at::Tensor soft = torch::randn({3, 4});
  cache.put(k, soft);
  EXPECT_TRUE(fs::exists(cache.path_of(k)));
  EXPECT_EQ(fs::path(cache.path_of(k)).parent_path().filename().string(), k.substr(0, 2));
  const auto got = cache.get(k, 3, 4, at::kFloat);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->equal(soft));
  // another shape or dtype than expected, or another settings' key: a miss
  EXPECT_FALSE(cache.get(k, 2, 4, at::kFloat));
  EXPECT_FALSE(cache.get(k, 3, 4, at::kBFloat16));
  EXPECT_FALSE(cache.get(cache.key(a.string(), "s2"), 3, 4, at::kFloat));
  // bfloat16 entries keep their bits
  const std::string kb = cache.key(b.string(), "s1");
  const at::Tensor bf = torch::randn({5, 4}).to(at::kBFloat16);
  cache.put(kb, bf);
  const auto got_bf = cache.get(kb, 5, 4, at::kBFloat16);
  ASSERT_TRUE(got_bf);
  EXPECT_TRUE(got_bf->equal(bf));

  const train::TowerCacheStats& s = cache.stats();
  EXPECT_EQ(s.hits, 2);
  EXPECT_EQ(s.misses, 4);
  EXPECT_EQ(s.corrupt, 2);  // present but not of the shape or dtype asked for
  EXPECT_EQ(s.stored, 2);
  EXPECT_GT(s.bytes_written, 0u);
  EXPECT_EQ(files_under(tmp / "cache", ".part"), 0u);
  EXPECT_NE(cache.describe().find("2 hits, 4 misses"), std::string::npos) << cache.describe();

  // a later run (a new object) finds the entries of an earlier one
  train::TowerCache again((tmp / "cache").string());
  EXPECT_TRUE(again.get(again.key(a2.string(), "s1"), 3, 4, at::kFloat));
}

TEST(TowerCache, CorruptEntriesAreMissesAndAreReplaced) {
  test::TempDir tmp("tower-cache-corrupt");
  train::TowerCache cache((tmp / "cache").string());
  const std::string k = cache.key(medium(tmp, "x.png", "image x").string(), "s");
  const at::Tensor soft = torch::randn({6, 8});
  cache.put(k, soft);
  const std::string path = cache.path_of(k);
  const std::string good = test::read_file(path);

  // not a safetensors file at all
  test::write_file(path, "garbage");
  EXPECT_FALSE(cache.get(k, 6, 8, at::kFloat));
  // cut short
  test::write_file(path, good.substr(0, good.size() - 10));
  EXPECT_FALSE(cache.get(k, 6, 8, at::kFloat));
  // one byte of the data flipped: the header is fine, the recorded sha256 is not
  std::string flipped = good;
  flipped[flipped.size() - 3] ^= 0x40;
  test::write_file(path, flipped);
  EXPECT_FALSE(cache.get(k, 6, 8, at::kFloat));
  // an empty file
  test::write_file(path, "");
  EXPECT_FALSE(cache.get(k, 6, 8, at::kFloat));
  EXPECT_EQ(cache.stats().corrupt, 4);

  cache.put(k, soft);  // what the batch code does on a miss
  const auto got = cache.get(k, 6, 8, at::kFloat);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->equal(soft));
}

TEST(TowerCache, ConcurrentWritersOfOneKeyLeaveAReadableEntry) {
  test::TempDir tmp("tower-cache-race");
  const fs::path src = medium(tmp, "c.wav", "clip c");
  const at::Tensor soft = torch::randn({64, 32});
  std::string key;
  auto writer = [&] {
    train::TowerCache cache((tmp / "cache").string());  // one per "run"
    const std::string k = cache.key(src.string(), "s");
    for (int i = 0; i < 30; ++i) cache.put(k, soft);
  };
  std::thread t1(writer), t2(writer);
  // a reader meanwhile sees a whole entry or none, never a torn one
  train::TowerCache reader((tmp / "cache").string());
  key = reader.key(src.string(), "s");
  for (int i = 0; i < 60; ++i)
    if (auto got = reader.get(key, 64, 32, at::kFloat)) EXPECT_TRUE(got->equal(soft));
  t1.join();
  t2.join();
  EXPECT_EQ(reader.stats().corrupt, 0);
  const auto got = reader.get(key, 64, 32, at::kFloat);
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->equal(soft));
  EXPECT_EQ(files_under(tmp / "cache", ".part"), 0u);
  EXPECT_EQ(files_under(tmp / "cache", ".safetensors"), 1u);
}

TEST(TowerCache, SettingsFingerprintFollowsTheCheckpointAndTheOptions) {
  test::TempDir tmp("tower-cache-settings");
  const fs::path model = tmp / "m";
  auto r = test::run_cli("init-random --family gemma4 --size tiny --dtype float32 --seed 4 --out " + quote(model));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const io::ModelConfig cfg = io::load_model_config(model.string());
  const std::string base = train::tower_settings(model.string(), cfg, "audio", at::kFloat, "cpu", "x");
  EXPECT_EQ(train::tower_settings(model.string(), cfg, "audio", at::kFloat, "cpu", "x"), base);
  EXPECT_NE(train::tower_settings(model.string(), cfg, "vision", at::kFloat, "cpu", "x"), base);
  EXPECT_NE(train::tower_settings(model.string(), cfg, "audio", at::kBFloat16, "cpu", "x"), base);
  EXPECT_NE(train::tower_settings(model.string(), cfg, "audio", at::kFloat, "cuda", "x"), base);
  EXPECT_NE(train::tower_settings(model.string(), cfg, "audio", at::kFloat, "cpu", "y"), base);
  // other weights (another seed): another fingerprint
  const fs::path other = tmp / "o";
  r = test::run_cli("init-random --family gemma4 --size tiny --dtype float32 --seed 5 --out " + quote(other));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(train::tower_settings(other.string(), io::load_model_config(other.string()), "audio", at::kFloat, "cpu", "x"),
            base);
}

// ---------------------------------------------------------------------------------------------------------------
// The model's precomputed path and the cached training batches

namespace {

// A tiny checkpoint of `family` with both towers, its media readers, and a batch of one row holding two images and
// two clips of the bundled samples among text tokens.
struct TinyMedia {
  test::TempDir tmp{"tower-cache-model"};
  fs::path model_dir = tmp / "model";
  std::unique_ptr<models::Model> model;
  std::unique_ptr<train::AudioInputs> audio;
  std::unique_ptr<train::ImageInputs> images;
  data::Batch batch;

  explicit TinyMedia(const std::string& family) {
    auto r = test::run_cli("init-random --family " + family + " --size tiny --dtype float32 --seed 7 --out " +
                           quote(model_dir));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    model = models::load_model(model_dir.string(), {.audio = true, .vision = true}, at::kFloat, at::kCPU).model;
    model->text().module().eval();
    const io::ModelConfig& cfg = model->config();
    audio = std::make_unique<train::AudioInputs>(model_dir.string(), cfg, 2.5);
    images = std::make_unique<train::ImageInputs>(model_dir.string(), cfg, 70);
    const data::AudioRowOptions ao = audio->row_options("audio", "");
    const data::ImageRowOptions img = images->row_options(default_train_config());
    std::vector<int64_t> ids = {2, 10, 11};
    auto add = [&](int64_t token, int64_t n) { ids.insert(ids.end(), static_cast<size_t>(n), token); };
    for (const char* name : {"shape-00.png", "shape-03.png"}) {
      auto ref = img.probe(test::source_path(std::string("data/sample-image/images/") + name).string());
      EXPECT_TRUE(ref) << ref.error.reason;
      batch.images.push_back(*ref.value);
      add(*cfg.media.image_token_id, ref.value->soft_tokens);
      add(12, 2);
    }
    for (const char* name : {"001.wav", "004.wav"}) {
      auto ref = ao.probe(test::source_path(std::string("data/sample-audio/clips/") + name).string());
      EXPECT_TRUE(ref) << ref.error.reason;
      batch.audio.push_back(*ref.value);
      add(*cfg.media.audio_token_id, ref.value->soft_tokens);
      add(13, 3);
    }
    batch.batch_size = 1;
    batch.seq_len = static_cast<int64_t>(ids.size());
    batch.input_ids = ids;
    batch.labels = ids;
    batch.attention_mask.assign(ids.size(), 1);
    batch.real_tokens = batch.seq_len;
  }
  train::MediaReaders readers() const { return {audio.get(), images.get()}; }
  at::Tensor forward(const train::BatchTensors& t) {
    torch::NoGradGuard ng;
    return model->forward(t.inputs, t.media);
  }
};

void precomputed_is_bit_identical(const std::string& family) {
#ifndef GT_HAVE_FFMPEG
  GTEST_SKIP() << "built without FFmpeg: the sample clips cannot be decoded";
#endif
  TinyMedia m(family);
  const train::BatchTensors with_media = train::to_tensors(m.batch, at::kCPU, m.readers());
  ASSERT_TRUE(with_media.media.audio_features.defined());
  ASSERT_TRUE(with_media.media.pixel_values.defined());
  const at::Tensor expected = m.forward(with_media);

  const models::MediaSoftTokens soft = m.model->media_soft_tokens(with_media.media);
  ASSERT_EQ(soft.audio.size(), 2u);
  ASSERT_EQ(soft.images.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(soft.audio[i].size(0), m.batch.audio[i].soft_tokens) << "clip " << i;
    EXPECT_EQ(soft.images[i].size(0), m.batch.images[i].soft_tokens) << "image " << i;
    EXPECT_EQ(soft.audio[i].size(1), m.model->config().text.hidden_size);
    EXPECT_FALSE(soft.audio[i].requires_grad());
  }
  train::BatchTensors pre = train::to_tensors(m.batch, at::kCPU);  // no readers: ids only
  pre.media.audio_soft_tokens = at::cat(soft.audio);
  pre.media.image_soft_tokens = at::cat(soft.images);
  EXPECT_TRUE(pre.media.has_audio());
  EXPECT_TRUE(pre.media.has_images());
  const at::Tensor got = m.forward(pre);
  EXPECT_TRUE(got.equal(expected)) << "max |diff| " << (got - expected).abs().max().item<double>();

  // one clip short of soft tokens: the placeholder count check still applies
  pre.media.audio_soft_tokens = soft.audio[0];
  EXPECT_NE(test::error_of([&] { m.forward(pre); }).find("audio placeholder tokens"), std::string::npos);
}

void cached_batches(const std::string& family) {
#ifndef GT_HAVE_FFMPEG
  GTEST_SKIP() << "built without FFmpeg: the sample clips cannot be decoded";
#endif
  TinyMedia m(family);
  const at::Tensor expected = m.forward(train::to_tensors(m.batch, at::kCPU, m.readers()));
  const fs::path dir = m.tmp / "cache";
  auto towers = train::open_tower_cache(dir.string(), m.model_dir.string(), m.readers(), *m.model, at::kCPU);
  ASSERT_TRUE(towers);
  EXPECT_FALSE(train::open_tower_cache("", m.model_dir.string(), m.readers(), *m.model, at::kCPU));
  EXPECT_FALSE(train::open_tower_cache(dir.string(), m.model_dir.string(), {}, *m.model, at::kCPU));

  // first pass: all four miss, are computed as one batch and stored
  train::BatchTensors t = train::to_tensors(m.batch, at::kCPU, m.readers(), *towers);
  EXPECT_EQ(towers->cache.stats().misses, 4);
  EXPECT_EQ(towers->cache.stats().stored, 4);
  EXPECT_FALSE(t.media.audio_features.defined());
  EXPECT_TRUE(m.forward(t).equal(expected));

  // second pass: all hit; nothing decoded, no features, no pixels
  t = train::to_tensors(m.batch, at::kCPU, m.readers(), *towers);
  EXPECT_EQ(towers->cache.stats().hits, 4);
  EXPECT_FALSE(t.media.audio_features.defined());
  EXPECT_FALSE(t.media.pixel_values.defined());
  EXPECT_TRUE(m.forward(t).equal(expected));

  // one entry damaged, the folder's others kept: that item alone is computed again (a batch of one) and rewritten
  test::write_file(towers->cache.path_of(towers->cache.key(m.batch.images[1].source, towers->image_settings)), "x");
  t = train::to_tensors(m.batch, at::kCPU, m.readers(), *towers);
  EXPECT_EQ(towers->cache.stats().corrupt, 1);
  EXPECT_EQ(towers->cache.stats().stored, 5);
  EXPECT_TRUE(torch::allclose(m.forward(t), expected, 1e-5, 1e-5));

  // the folder deleted mid-run: everything misses and is written again
  fs::remove_all(dir);
  t = train::to_tensors(m.batch, at::kCPU, m.readers(), *towers);
  EXPECT_EQ(towers->cache.stats().stored, 9);
  EXPECT_TRUE(m.forward(t).equal(expected));
  EXPECT_EQ(files_under(dir, ".safetensors"), 4u);
}

}  // namespace

TEST(TowerCacheModel, Gemma4PrecomputedSoftTokensAreBitIdentical) { precomputed_is_bit_identical("gemma4"); }
TEST(TowerCacheModel, Gemma3nPrecomputedSoftTokensAreBitIdentical) { precomputed_is_bit_identical("gemma3n"); }
TEST(TowerCacheModel, Gemma4CachedBatches) { cached_batches("gemma4"); }
TEST(TowerCacheModel, Gemma3nCachedBatches) { cached_batches("gemma3n"); }
