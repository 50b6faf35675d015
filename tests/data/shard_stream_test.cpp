// The shard stream (data/shard_stream.h) against the Cloud Storage stand-in (tests/io/gcs_standin.h) and local
// files: every record exactly once and in order across plain, gzip and zstd shards, JSONL and CSV, with several
// workers and a tiny prefetch budget; the same through dropped connections and 503 bursts; resuming from every
// position gives exactly the rest (and an uncompressed shard is entered by a ranged read at the saved byte); a shard
// that disappears or changes is an error naming it, after the records before it; the prefetch bound holds.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/shard_stream.h"
#include "io/gcs_standin.h"
#include "test_util.h"

using gt::data::RecordFormat;
using gt::data::ShardStream;
using gt::data::ShardStreamOptions;
using gt::data::StreamPosition;
using gt::data::StreamRecord;
using gt::io::ObjectReader;
using gt::io::ObjectReaderOptions;
using gt::io::ObjectRef;
using gt::test::GcsStandin;
using gt::test::TempDir;

namespace {

std::string shell_quote(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

// `tool` ("gzip -c", "zstd -q -c") over `plain`.
std::string compress(const TempDir& dir, const std::string& tool, const std::string& plain) {
  gt::test::write_file(dir / "plain", plain);
  const auto r = gt::test::run_shell(tool + " < " + shell_quote(dir / "plain") + " > " + shell_quote(dir / "packed"));
  EXPECT_EQ(r.exit_code, 0) << tool << ": " << r.err;
  return gt::test::read_file(dir / "packed");
}

struct Shard {
  std::string name;     // object name, its extension says format and compression
  std::string plain;    // the decoded text
  std::vector<std::string> records;  // what the stream must give, in order (CSV: without the header)
};

// JSONL rows "{"id": "<tag>-<i>", "text": "..."}" of varied length.
Shard jsonl_shard(const std::string& name, const std::string& tag, int rows, uint32_t seed) {
  std::mt19937 rng(seed);
  Shard s{name, {}, {}};
  for (int i = 0; i < rows; ++i) {
    std::string rec = "{\"id\": \"" + tag + "-" + std::to_string(i) + "\", \"text\": \"" +
                      std::string(1 + rng() % 300, char('a' + rng() % 26)) + "\"}";
    s.plain += rec + (i % 7 == 3 ? "\r\n" : "\n");
    if (i % 11 == 5) s.plain += "\n";  // a blank line: not a record
    s.records.push_back(rec);
  }
  return s;
}

// CSV with a header and a quoted field holding a line break in every third row.
Shard csv_shard(const std::string& name, const std::string& tag, int rows) {
  Shard s{name, "id,prompt,response\n", {}};
  for (int i = 0; i < rows; ++i) {
    std::string rec = tag + "-" + std::to_string(i) + "," + (i % 3 == 0 ? "\"line one\nline two, with comma\"" : "p") +
                      ",r" + std::to_string(i);
    s.plain += rec + "\n";
    s.records.push_back(rec);
  }
  return s;
}

gt::io::HttpOptions fast_http() {
  gt::io::HttpOptions o;
  o.retry.seed = 7;
  o.retry.max_attempts = 8;
  o.retry.sleep = [](double) {};
  return o;
}

class ShardStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gcs.set_default_page_size(2);  // listings take several pages
    TempDir tmp("shards");
    shards = {jsonl_shard("data/train-000.jsonl", "a", 40, 1), jsonl_shard("data/train-001.jsonl.gz", "b", 55, 2),
              jsonl_shard("data/train-002.jsonl.zst", "c", 30, 3), jsonl_shard("data/train-003.jsonl", "d", 0, 4),
              jsonl_shard("data/train-004.jsonl", "e", 25, 5)};
    for (const Shard& s : shards) {
      std::string bytes = s.plain;
      if (s.name.ends_with(".gz")) bytes = compress(tmp, "gzip -c", s.plain);
      if (s.name.ends_with(".zst")) bytes = compress(tmp, "zstd -q -c", s.plain);
      gcs.put("bkt", s.name, bytes);
    }
    gcs.put("bkt", "data/readme.txt", "not a shard");
  }

  ObjectReaderOptions reader_options() const {
    ObjectReaderOptions o;
    o.http = fast_http();
    o.gcs_endpoint = gt::io::GcsEndpoint{gcs.base(), true, "test"};
    return o;
  }
  ShardStream::ReaderFactory factory() const {
    return [o = reader_options()] { return std::make_unique<ObjectReader>(o); };
  }
  std::vector<ObjectRef> list(const std::string& spec) { return ObjectReader(reader_options()).expand(spec); }

  std::vector<std::string> expected(size_t from_shard = 0) const {
    std::vector<std::string> out;
    for (size_t k = from_shard; k < shards.size(); ++k) out.insert(out.end(), shards[k].records.begin(), shards[k].records.end());
    return out;
  }

  // Every record of the stream, with the position after each one.
  static std::vector<std::string> drain(ShardStream& st, std::vector<StreamPosition>* positions = nullptr) {
    std::vector<std::string> out;
    while (auto r = st.next()) {
      EXPECT_TRUE(r->record.error.empty()) << r->record.error;
      out.push_back(r->record.text);
      if (positions) positions->push_back(st.position());
    }
    return out;
  }

  GcsStandin gcs;
  std::vector<Shard> shards;
};

TEST_F(ShardStreamTest, EveryRecordOnceInOrderWhateverTheWorkersAndBudget) {
  const auto objects = list("gs://bkt/data/train-*.jsonl*");
  ASSERT_EQ(objects.size(), 5u);
  for (int workers : {1, 3, 8})
    for (size_t budget : {size_t(1), size_t(2000), size_t(64) << 20}) {
      ShardStream st(objects, {.workers = workers, .prefetch_bytes = budget}, {}, factory());
      EXPECT_EQ(drain(st), expected()) << workers << " workers, " << budget << " bytes";
      EXPECT_EQ(st.position(), (StreamPosition{5, 0, 1, 0}));
      EXPECT_EQ(st.stats().records, static_cast<int64_t>(expected().size()));
      EXPECT_EQ(st.stats().shards_done, 5);
      // One record at a time per shard may exceed the budget; beyond that the bound holds.
      if (budget == 2000) EXPECT_LE(st.stats().peak_buffered, uint64_t(workers) * (2000 + 400));
    }
}

TEST_F(ShardStreamTest, RowNumbersAndLinesNameTheRecordInItsShard) {
  ShardStream st(list("gs://bkt/data/train-000.jsonl"), {}, {}, factory());
  int64_t want_row = 0;
  int64_t line = 1;
  for (int i = 0; i < 40; ++i) {
    auto r = st.next();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->row, ++want_row);
    EXPECT_EQ(r->record.line, line);
    line += 1 + (i % 11 == 5 ? 1 : 0);
  }
  EXPECT_FALSE(st.next());
}

TEST_F(ShardStreamTest, SameRecordsThroughDroppedConnectionsAndErrorBursts) {
  gcs.set_faults([](GcsStandin::Faults& f) {
    f.drop_after = 700;  // every media reply is cut after 700 bytes: reads resume with Range
    f.fail_next = 3;     // and the first three requests get a 503
  });
  ShardStream st(list("gs://bkt/data/train-*.jsonl*"), {.workers = 2, .prefetch_bytes = 4096}, {}, factory());
  EXPECT_EQ(drain(st), expected());
}

TEST_F(ShardStreamTest, ResumingFromAnyPositionGivesExactlyTheRest) {
  const auto objects = list("gs://bkt/data/train-*.jsonl*");
  std::vector<StreamPosition> positions;
  std::vector<std::string> all;
  {
    ShardStream st(objects, {.workers = 2}, {}, factory());
    all = drain(st, &positions);
  }
  ASSERT_EQ(all, expected());
  // Every 9th position, the last one of each shard, and the end.
  for (size_t i = 0; i < positions.size(); ++i) {
    const bool shard_end = i + 1 == positions.size() || positions[i + 1].shard != positions[i].shard;
    if (i % 9 != 0 && !shard_end) continue;
    ShardStream st(objects, {.workers = 3}, positions[i], factory());
    const std::vector<std::string> rest(all.begin() + static_cast<long>(i) + 1, all.end());
    EXPECT_EQ(drain(st), rest) << "resumed after record " << i << " (shard " << positions[i].shard << ", byte "
                               << positions[i].offset << ")";
  }
}

TEST_F(ShardStreamTest, AnUncompressedShardIsEnteredByARangedReadAtTheSavedByte) {
  const auto objects = list("gs://bkt/data/train-000.jsonl");
  StreamPosition at;
  {
    ShardStream st(objects, {}, {}, factory());
    for (int i = 0; i < 10; ++i) st.next();
    at = st.position();
  }
  const size_t before = gcs.request_count();
  ShardStream st(objects, {}, at, factory());
  EXPECT_EQ(drain(st).size(), 30u);
  const auto reqs = gcs.requests();
  ASSERT_GT(reqs.size(), before);
  EXPECT_EQ(reqs[before].range, "bytes=" + std::to_string(at.offset) + "-");
}

TEST_F(ShardStreamTest, CsvShardsShareTheirHeaderAndResumeReadsItFirst) {
  TempDir tmp("csv");
  const Shard a = csv_shard("csv/a.csv", "x", 20), b = csv_shard("csv/b.csv.gz", "y", 12);
  gcs.put("bkt", a.name, a.plain);
  gcs.put("bkt", b.name, compress(tmp, "gzip -c", b.plain));
  const auto objects = list("gs://bkt/csv/");
  ASSERT_EQ(objects.size(), 2u);
  std::vector<StreamPosition> positions;
  std::vector<std::string> all;
  {
    ShardStream st(objects, {.workers = 2}, {}, factory());
    while (auto r = st.next()) {
      ASSERT_TRUE(r->header);
      EXPECT_EQ(*r->header, (std::vector<std::string>{"id", "prompt", "response"}));
      all.push_back(r->record.text);
      positions.push_back(st.position());
    }
  }
  std::vector<std::string> want = a.records;
  want.insert(want.end(), b.records.begin(), b.records.end());
  ASSERT_EQ(all, want);
  for (size_t i : {size_t(4), size_t(25)}) {  // inside the plain shard, inside the gzip one
    ShardStream st(objects, {}, positions[i], factory());
    auto r = st.next();
    ASSERT_TRUE(r);
    ASSERT_TRUE(r->header);
    EXPECT_EQ(r->header->at(2), "response");
    EXPECT_EQ(r->record.text, all[i + 1]);
    EXPECT_EQ(r->row, positions[i].row + 1);
  }
}

TEST_F(ShardStreamTest, AVanishedShardIsAnErrorNamingItAfterTheRecordsBeforeIt) {
  const auto objects = list("gs://bkt/data/train-*.jsonl*");
  gcs.remove("bkt", "data/train-002.jsonl.zst");
  ShardStream st(objects, {.workers = 4}, {}, factory());
  size_t got = 0;
  try {
    while (st.next()) ++got;
    FAIL() << "no error";
  } catch (const gt::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("gs://bkt/data/train-002.jsonl.zst"), std::string::npos) << e.what();
  }
  EXPECT_EQ(got, shards[0].records.size() + shards[1].records.size());
  EXPECT_THROW(st.next(), gt::InputError);  // and it stays failed
}

TEST_F(ShardStreamTest, AShardReplacedAfterListingIsAnError) {
  const auto objects = list("gs://bkt/data/train-000.jsonl");
  gcs.replace("bkt", "data/train-000.jsonl", shards[4].plain);
  ShardStream st(objects, {}, {}, factory());
  try {
    drain(st);
    FAIL() << "no error";
  } catch (const gt::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("changed"), std::string::npos) << e.what();
  }
}

TEST(ShardStreamLocal, LocalFilesTakeTheSamePath) {
  TempDir dir("local");
  const Shard s = jsonl_shard("x.jsonl", "l", 17, 9);
  gt::test::write_file(dir / "x.jsonl", s.plain);
  ObjectReader reader;
  const auto objects = reader.expand((dir / "x.jsonl").string());
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_EQ(objects[0].kind, gt::io::ObjectKind::Local);
  ShardStream st(objects, {}, {}, [] { return std::make_unique<ObjectReader>(); });
  std::vector<std::string> got;
  while (auto r = st.next()) got.push_back(r->record.text);
  EXPECT_EQ(got, s.records);
  EXPECT_THROW(reader.expand((dir / "missing.jsonl").string()), gt::InputError);
}

TEST(ShardStreamFormat, ByNameThroughCompression) {
  EXPECT_EQ(gt::data::shard_format("gs://b/train-0.jsonl.zst"), RecordFormat::Jsonl);
  EXPECT_EQ(gt::data::shard_format("https://h/x.CSV.gz?sig=abc"), RecordFormat::Csv);
  EXPECT_EQ(gt::data::shard_format("/data/a.jsonl"), RecordFormat::Jsonl);
  EXPECT_THROW(gt::data::shard_format("gs://b/readme.txt"), gt::InputError);
  EXPECT_THROW(gt::data::shard_format("gs://b/x.parquet"), gt::InputError);
}

}  // namespace
