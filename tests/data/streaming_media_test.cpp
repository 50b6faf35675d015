// Image rows of a streamed dataset (data/streaming_batches.h with io/remote_media.h) on the Cloud Storage stand-in:
// the images of the rows drawn ahead are handed to the fetch-ahead pool, so that after a batch the next rows' images
// are already fetched (each once); a run resumed from any batch's state, whose rows drawn ahead are part of it, gives
// identical batches with the same images; with fetching ahead off, only the rows used have been fetched.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "data/streaming_batches.h"
#include "fake_media.h"
#include "io/gcs_standin.h"
#include "io/remote_media.h"

using gt::data::Batch;
using gt::data::ExampleMaker;
using gt::data::StreamingBatches;
using gt::data::StreamingOptions;
using gt::io::ObjectReader;
using gt::io::ObjectReaderOptions;
using gt::test::GcsStandin;
using nlohmann::json;

namespace {

constexpr int kRows = 30;

class StreamingMedia : public ::testing::Test {
 protected:
  void SetUp() override {
    // Two shards of caption rows; every row has its own image, named relative to the shards' folder.
    for (int k = 0; k < 2; ++k) {
      std::string shard;
      for (int i = k * kRows / 2; i < (k + 1) * kRows / 2; ++i) {
        const std::string name = "i" + std::to_string(i) + ".png";
        images.sizes[name] = {336 + 16 * (i % 3), 480};
        gcs.put("bkt", "set/images/" + name, "png bytes of " + name);
        shard += json{{"image_path", "images/" + name}, {"caption", "picture " + std::to_string(i)}}.dump() + "\n";
      }
      gcs.put("bkt", "set/train-" + std::to_string(k) + ".jsonl", shard);
    }
    images.fetch_remote = true;
    options.max_seq_len = 512;
    options.image = images.options("gemma4");
    options.image_rows = gt::data::ImageRowKind::Caption;
    maker = std::make_unique<ExampleMaker>(options, gt::test::family_tokenizer("gemma4"), gt::io::Family::Gemma4,
                                           "gs://bkt/set/", "gs://bkt/set/");
    shards = ObjectReader(reader_options()).expand("gs://bkt/set/train-*.jsonl");
    gt::io::set_remote_media_options([this] { return reader_options(); }, {.cache_bytes = 1 << 20, .prefetch_workers = 2});
  }
  void TearDown() override { gt::io::set_remote_media_options({}); }

  ObjectReaderOptions reader_options() const {
    ObjectReaderOptions o;
    o.http.retry.sleep = [](double) {};
    o.gcs_endpoint = gt::io::GcsEndpoint{gcs.base(), true, "test"};
    return o;
  }
  StreamingOptions streaming(int64_t ahead) const {
    StreamingOptions s;
    s.batch_size = 3;
    s.seed = 5;
    s.shuffle_buffer = 6;
    s.stream.workers = 2;
    s.media_ahead = ahead;
    return s;
  }
  std::unique_ptr<StreamingBatches> open(StreamingOptions s, const json& state = nullptr) {
    return std::make_unique<StreamingBatches>(shards, *maker, s,
                                              [o = reader_options()] { return std::make_unique<ObjectReader>(o); },
                                              state);
  }
  // Images read from the bucket (alt=media), by name.
  std::map<std::string, int> image_reads() const {
    std::map<std::string, int> n;
    for (const auto& r : gcs.requests())
      if (r.target.find("alt=media") != std::string::npos && r.path.find("images%2F") != std::string::npos) ++n[r.path];
    return n;
  }

  GcsStandin gcs;
  gt::test::FakeImages images;
  gt::data::TextDatasetOptions options;
  std::unique_ptr<ExampleMaker> maker;
  std::vector<gt::io::ObjectRef> shards;
};

std::vector<std::string> sources(const Batch& b) {
  std::vector<std::string> s;
  for (const auto& i : b.images) s.push_back(i.source);
  return s;
}

}  // namespace

TEST_F(StreamingMedia, TheNextRowsImagesAreFetchedWhileABatchIsUsed) {
  auto b = open(streaming(6));
  const Batch first = b->next();
  ASSERT_EQ(first.images.size(), 3u);
  gt::io::wait_for_remote_media_prefetch();
  // The batch's three images and the six rows drawn ahead of it: nine images, each read once.
  std::map<std::string, int> reads = image_reads();
  EXPECT_EQ(reads.size(), 9u);
  for (const auto& [path, n] : reads) EXPECT_EQ(n, 1) << path;
  EXPECT_EQ(b->state().at("ahead").size(), 6u);
  // The next two batches' images are among those already read: nothing more is fetched for them but the rows
  // drawn ahead of them, and over the whole epoch each image is read once.
  for (int i = 0; i < kRows / 3 - 1; ++i) b->next();
  gt::io::wait_for_remote_media_prefetch();
  reads = image_reads();
  EXPECT_EQ(reads.size(), static_cast<size_t>(kRows));
  for (const auto& [path, n] : reads) EXPECT_EQ(n, 1) << path;
  EXPECT_GT(gt::io::remote_media_stats().prefetched, 0);
}

TEST_F(StreamingMedia, WithoutFetchingAheadOnlyTheRowsUsedAreFetched) {
  auto b = open(streaming(0));
  b->next();
  gt::io::wait_for_remote_media_prefetch();
  EXPECT_EQ(image_reads().size(), 3u);
  EXPECT_EQ(b->state().at("ahead").size(), 0u);
}

TEST_F(StreamingMedia, AResumedRunGivesTheSameBatchesAndImagesFromAnyBatchOn) {
  std::vector<Batch> whole;
  std::vector<json> states;
  {
    auto b = open(streaming(4));
    for (int i = 0; i < 25; ++i) {  // two and a half epochs of 10 batches
      whole.push_back(b->next());
      states.push_back(json::parse(b->state().dump()));
    }
  }
  std::set<std::string> seen;
  for (size_t i = 0; i < 10; ++i)
    for (const std::string& s : sources(whole[i])) EXPECT_TRUE(seen.insert(s).second) << s << " twice in epoch 0";
  EXPECT_EQ(seen.size(), static_cast<size_t>(kRows));
  for (size_t k : {size_t(0), size_t(4), size_t(9), size_t(10), size_t(17)}) {
    auto b = open(streaming(4), states[k]);
    for (size_t i = k + 1; i < whole.size(); ++i) {
      const Batch got = b->next();
      ASSERT_EQ(got.input_ids, whole[i].input_ids) << "resumed after batch " << k << ", batch " << i;
      ASSERT_EQ(sources(got), sources(whole[i])) << "resumed after batch " << k << ", batch " << i;
    }
  }
}
