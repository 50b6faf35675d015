// Batches from a streamed dataset (data/streaming_batches.h) on the Cloud Storage stand-in: every usable row exactly
// once per epoch over several epochs, in an order that depends on the seed and changes between epochs; the same
// batches as a whole-file load of the same rows would give (same examples); a run resumed from the state saved after
// any batch continues with identical batches, across epoch ends too; dropped connections and 503 bursts change
// nothing; bad rows are skipped and recorded with the shard and line; an epoch without a usable row and a changed
// dataset are errors.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "core/error.h"
#include "data/streaming_batches.h"
#include "data/text_dataset.h"
#include "data_test_util.h"
#include "io/gcs_standin.h"

using gt::data::Batch;
using gt::data::ExampleMaker;
using gt::data::StreamingBatches;
using gt::data::StreamingOptions;
using gt::data::TextDatasetOptions;
using gt::io::Family;
using gt::io::ObjectReader;
using gt::io::ObjectReaderOptions;
using gt::test::GcsStandin;
using nlohmann::json;

namespace {

// Rows "{"id": "r<i>", "prompt": "question <i>", "response": "answer <i>"}"; every 13th row has an empty answer.
std::string shard_text(int first, int count, std::vector<std::string>* good) {
  std::string s;
  for (int i = first; i < first + count; ++i) {
    const bool bad = i % 13 == 7;
    s += json{{"id", "r" + std::to_string(i)}, {"prompt", "question " + std::to_string(i)},
              {"response", bad ? "" : "answer " + std::to_string(i)}}.dump() + "\n";
    if (!bad) good->push_back("r" + std::to_string(i));
  }
  return s;
}

class StreamingBatchesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int first = 0;
    for (int k = 0; k < 4; ++k) {
      const int n = 9 + 4 * k;
      gcs.put("bkt", "set/train-" + std::to_string(k) + ".jsonl", shard_text(first, n, &good));
      first += n;
    }
    options.max_seq_len = 64;
    maker = std::make_unique<ExampleMaker>(options, gt::test::tiny_gemma4_tokenizer(), Family::Gemma4, "gs://bkt/set/",
                                           "gs://bkt/set/");
    shards = ObjectReader(reader_options()).expand("gs://bkt/set/train-*.jsonl");
  }

  ObjectReaderOptions reader_options() const {
    ObjectReaderOptions o;
    o.http.retry.max_attempts = 8;
    o.http.retry.sleep = [](double) {};
    o.gcs_endpoint = gt::io::GcsEndpoint{gcs.base(), true, "test"};
    return o;
  }
  StreamingOptions streaming(size_t buffer = 8) const {
    StreamingOptions s;
    s.batch_size = 3;
    s.seed = 11;
    s.shuffle_buffer = buffer;
    s.stream.workers = 2;
    s.stream.prefetch_bytes = 512;
    return s;
  }
  std::unique_ptr<StreamingBatches> open(StreamingOptions s, const json& state = nullptr) {
    return std::make_unique<StreamingBatches>(shards, *maker, s,
                                              [o = reader_options()] { return std::make_unique<ObjectReader>(o); },
                                              state);
  }

  GcsStandin gcs;
  std::vector<std::string> good;  // ids of the usable rows
  TextDatasetOptions options;
  std::unique_ptr<ExampleMaker> maker;
  std::vector<gt::io::ObjectRef> shards;
};

}  // namespace

TEST_F(StreamingBatchesTest, TheSameExamplesAsTheRowsThemselvesEachOncePerEpoch) {
  // Each example's first supervised token sequence identifies the row; compare with the maker's own examples.
  std::map<std::vector<int64_t>, std::string> by_ids;
  for (int i = 0; i < 9 + 13 + 17 + 21; ++i) {
    if (i % 13 == 7) continue;
    auto ex = maker->from_json(json{{"prompt", "question " + std::to_string(i)}, {"response", "answer " + std::to_string(i)}});
    ASSERT_TRUE(ex);
    by_ids[std::vector<int64_t>(ex.value->input_ids.begin(), ex.value->input_ids.end())] = "r" + std::to_string(i);
  }
  ASSERT_EQ(by_ids.size(), good.size());
  auto b = open(streaming());
  std::vector<std::vector<std::string>> order(2);
  while (true) {
    Batch batch = b->next();
    const int64_t epoch = b->counters().epoch;
    if (epoch >= 2) break;
    for (int64_t r = 0; r < batch.batch_size; ++r) {
      std::vector<int64_t> ids;
      for (int64_t t = 0; t < batch.seq_len; ++t) {
        const size_t at = static_cast<size_t>(r * batch.seq_len + t);
        if (batch.attention_mask[at]) ids.push_back(batch.input_ids[at]);
      }
      const auto it = by_ids.find(ids);
      ASSERT_NE(it, by_ids.end()) << "an example that is no row's";
      order[static_cast<size_t>(epoch)].push_back(it->second);
    }
  }
  for (auto& o : order) {
    std::vector<std::string> sorted = o, want = good;
    std::sort(sorted.begin(), sorted.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(sorted, want);  // each usable row exactly once per epoch
  }
  EXPECT_NE(order[0], order[1]);  // a new order each epoch
  EXPECT_NE(order[0], good);      // and not the file order
  EXPECT_EQ(b->counters().total_rows, 2 * (9 + 13 + 17 + 21) + b->counters().rows);
}

TEST_F(StreamingBatchesTest, AResumedRunGivesIdenticalBatchesFromAnyBatchOn) {
  std::vector<Batch> whole;
  std::vector<json> states;
  {
    auto b = open(streaming());
    for (int i = 0; i < 50; ++i) {  // about 2.6 epochs of 19-20 batches
      whole.push_back(b->next());
      states.push_back(json::parse(b->state().dump()));
    }
  }
  for (size_t k : {size_t(0), size_t(5), size_t(18), size_t(19), size_t(20), size_t(33), size_t(48)}) {
    auto b = open(streaming(), states[k]);
    for (size_t i = k + 1; i < whole.size(); ++i) {
      const Batch got = b->next();
      ASSERT_EQ(got.input_ids, whole[i].input_ids) << "resumed after batch " << k << ", batch " << i;
      ASSERT_EQ(got.labels, whole[i].labels);
    }
  }
}

TEST_F(StreamingBatchesTest, FaultsChangeNothing) {
  std::vector<Batch> clean;
  {
    auto b = open(streaming());
    for (int i = 0; i < 45; ++i) clean.push_back(b->next());
  }
  gcs.set_faults([](GcsStandin::Faults& f) {
    f.drop_after = 300;
    f.fail_next = 4;
  });
  auto b = open(streaming());
  for (int i = 0; i < 45; ++i) ASSERT_EQ(b->next().input_ids, clean[static_cast<size_t>(i)].input_ids) << i;
}

TEST_F(StreamingBatchesTest, BadRowsAreSkippedAndRecordedWithShardAndLine) {
  gt::test::TempDir dir("skipped");
  StreamingOptions s = streaming();
  s.skipped_log = (dir / "skipped.jsonl").string();
  auto b = open(s);
  while (b->counters().epoch == 0) b->next();
  const std::string log = gt::test::read_file(dir / "skipped.jsonl");
  EXPECT_NE(log.find("gs://bkt/set/train-0.jsonl"), std::string::npos) << log;
  EXPECT_NE(log.find("\"row\":8"), std::string::npos) << log;  // r7 is on line 8 of train-0
  EXPECT_NE(log.find("empty_answer"), std::string::npos) << log;
}

TEST_F(StreamingBatchesTest, AnEpochWithoutAUsableRowAndAChangedDatasetAreErrors) {
  gcs.put("bkt", "bad/a.jsonl", "{\"prompt\": \"x\", \"response\": \"\"}\nnot json\n");
  auto bad = ObjectReader(reader_options()).expand("gs://bkt/bad/");
  StreamingBatches b(bad, *maker, streaming(), [o = reader_options()] { return std::make_unique<ObjectReader>(o); });
  gt::test::expect_input_error_with([&] { b.next(); }, {"gave no usable example", "2 row(s) read", "2 skipped"});

  json state;
  {
    auto s = open(streaming());
    s->next();
    state = s->state();
  }
  gcs.replace("bkt", "set/train-2.jsonl", "{\"prompt\": \"a\", \"response\": \"b\"}\n");
  shards = ObjectReader(reader_options()).expand("gs://bkt/set/train-*.jsonl");
  gt::test::expect_input_error_with([&] { open(streaming(), state); }, {"changed since the checkpoint", "train-2.jsonl"});
}
