// Streaming decompression: inputs are compressed at test time by the real `gzip` and `zstd` command-line tools, then
// decoded through Decompressor in whole, 1-byte and random pieces. Covers multi-member gzip (`cat a.gz b.gz`),
// multi-frame zstd with a skippable frame, a 2 GiB-window (`--long=31`) frame, empty streams, truncation (an error
// at finish naming the member/frame), corrupt bytes (an error naming the compressed offset), choosing the codec by
// name vs by magic bytes, and the per-feed output limit.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/error.h"
#include "io/decompress_stream.h"
#include "test_util.h"

using gt::io::Decompressor;
using gt::test::error_of;
using gt::test::read_file;
using gt::test::run_shell;
using gt::test::TempDir;
using gt::test::write_file;
using Codec = Decompressor::Codec;

namespace {

std::string quote(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

// JSONL-like text of about `size` bytes: compressible like real shards, not trivially so.
std::string make_rows(size_t size, uint32_t seed) {
  static const char* words[] = {"the", "model", "answers", "a", "question", "about", "audio", "images", "and",
                                "text", "with", "some", "numbers", "like", "42", "or", "3.14", "zebra", "quartz"};
  std::mt19937 rng(seed);
  std::string s;
  for (int row = 0; s.size() < size; ++row) {
    s += "{\"id\": " + std::to_string(row) + ", \"text\": \"";
    const int n = 5 + int(rng() % 30);
    for (int i = 0; i < n; ++i) s += std::string(i ? " " : "") + words[rng() % (sizeof(words) / sizeof(*words))];
    s += "\"}\n";
  }
  return s;
}

// Runs `tool` (e.g. "gzip -c", "zstd -q -c") on `plain` and returns the compressed bytes.
std::string compress(const TempDir& dir, const std::string& tool, const std::string& plain, const std::string& tag) {
  write_file(dir / (tag + ".in"), plain);
  const auto r = run_shell(tool + " < " + quote(dir / (tag + ".in")) + " > " + quote(dir / (tag + ".out")));
  EXPECT_EQ(r.exit_code, 0) << tool << ": " << r.err;
  return read_file(dir / (tag + ".out"));
}

// Feeds `data` in pieces of `piece` bytes (0: random sizes 0..999), draining pending() after each, then finish().
std::string decode(Decompressor& d, std::string_view data, size_t piece) {
  std::string out;
  std::mt19937 rng(99);
  size_t at = 0;
  while (at < data.size()) {
    const size_t n = std::min(data.size() - at, piece ? piece : rng() % 1000);
    d.feed(data.substr(at, n), out);
    while (d.pending()) d.feed({}, out);
    at += n;
  }
  d.finish();
  return out;
}

std::string decode(Codec codec, std::string_view data, size_t piece = SIZE_MAX) {
  return decode(*Decompressor::make(codec, "shard.bin"), data, piece);
}

// The number after the last "at compressed byte " in an error message (-1 when absent).
long long offset_in(const std::string& msg) {
  const size_t at = msg.rfind("at compressed byte ");
  if (at == std::string::npos) return -1;
  return std::stoll(msg.substr(at + 19));
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST(DecompressStream, GzipSingleAndMultiMember) {
  TempDir dir("decompress");
  const std::string a = make_rows(200000, 1), b = make_rows(150000, 2);
  const std::string ga = compress(dir, "gzip -c", a, "a"), gb = compress(dir, "gzip -9 -c", b, "b");
  ASSERT_EQ(ga.substr(0, 2), "\x1f\x8b");
  EXPECT_EQ(decode(Codec::gzip, ga), a);
  // The way `cat a.gz b.gz > ab.gz` concatenates members; `gzip -d` gives a + b.
  ASSERT_EQ(run_shell("cat " + quote(dir / "a.out") + " " + quote(dir / "b.out") + " > " + quote(dir / "ab.gz"))
                .exit_code, 0);
  const std::string gab = read_file(dir / "ab.gz");
  ASSERT_EQ(gab, ga + gb);
  const std::string whole = decode(Codec::gzip, gab);
  EXPECT_EQ(whole.size(), a.size() + b.size());
  EXPECT_TRUE(whole == a + b);
  EXPECT_TRUE(decode(Codec::gzip, gab, 0) == a + b);  // random piece sizes, some empty
  // Three members, the middle one of empty content.
  const std::string ge = compress(dir, "gzip -c", "", "e");
  EXPECT_TRUE(decode(Codec::gzip, ga + ge + gb) == a + b);
}

TEST(DecompressStream, ZstdMultiFrameAndSkippableFrames) {
  TempDir dir("decompress");
  const std::string a = make_rows(200000, 3), b = make_rows(100000, 4);
  const std::string za = compress(dir, "zstd -q -c", a, "a"), zb = compress(dir, "zstd -q -19 -c", b, "b");
  ASSERT_EQ(za.substr(0, 4), "\x28\xb5\x2f\xfd");
  EXPECT_EQ(decode(Codec::zstd, za), a);
  // A skippable frame (magic 0x184D2A5?, 4-byte little-endian length, payload) yields nothing, first or between.
  const std::string skip = std::string("\x53\x2a\x4d\x18\x05\x00\x00\x00", 8) + "hello";
  const std::string stream = skip + za + skip + zb;
  const std::string whole = decode(Codec::zstd, stream);
  EXPECT_EQ(whole.size(), a.size() + b.size());
  EXPECT_TRUE(whole == a + b);
  EXPECT_TRUE(decode(Codec::zstd, stream, 0) == a + b);
  EXPECT_TRUE(decode(*Decompressor::sniff(stream.substr(0, 4), "x"), stream, SIZE_MAX) == a + b);
}

// `zstd --long=31` reading a pipe (size unknown) declares a 2 GiB window; libzstd refuses more than 128 MiB unless
// ZSTD_d_windowLogMax is raised ("Frame requires too much memory for decoding").
TEST(DecompressStream, ZstdLongWindowFrame) {
  TempDir dir("decompress");
  const std::string block = make_rows(500000, 5);
  const std::string plain = block + block + block + block;  // 2 MB with long-distance repeats
  const std::string z = compress(dir, "cat | zstd -q --long=31 -c", plain, "long");
  const auto info = run_shell("zstd -lv " + quote(dir / "long.out"));
  ASSERT_TRUE(contains(info.out + info.err, "2147483648")) << "not a 2 GiB window: " << info.out << info.err;
  EXPECT_TRUE(decode(Codec::zstd, z) == plain);
}

TEST(DecompressStream, EmptyStreams) {
  TempDir dir("decompress");
  EXPECT_EQ(decode(Codec::gzip, compress(dir, "gzip -c", "", "g")), "");
  EXPECT_EQ(decode(Codec::zstd, compress(dir, "zstd -q -c", "", "z")), "");
  // Zero bytes in total is accepted by every codec (an empty shard), however it is fed.
  for (Codec c : {Codec::identity, Codec::gzip, Codec::zstd}) {
    auto d = Decompressor::make(c, "empty");
    std::string out;
    d->feed({}, out);
    d->feed("", out);
    EXPECT_FALSE(d->pending());
    EXPECT_NO_THROW(d->finish());
    EXPECT_EQ(out, "");
    EXPECT_EQ(d->compressed_bytes(), 0u);
  }
}

TEST(DecompressStream, OneBytePiecesEqualWhole) {
  TempDir dir("decompress");
  const std::string a = make_rows(60000, 6), b = make_rows(40000, 7);
  const std::string gz = compress(dir, "gzip -c", a, "ga") + compress(dir, "gzip -c", b, "gb");
  const std::string zs = compress(dir, "zstd -q -c", a, "za") + compress(dir, "zstd -q -c", b, "zb");
  for (const auto& [codec, data] : {std::pair{Codec::gzip, gz}, std::pair{Codec::zstd, zs}}) {
    auto d = Decompressor::make(codec, "pieces");
    const std::string by_byte = decode(*d, data, 1);
    EXPECT_EQ(by_byte.size(), a.size() + b.size());
    EXPECT_TRUE(by_byte == a + b) << d->codec_name();
    EXPECT_EQ(d->compressed_bytes(), data.size());
    EXPECT_EQ(d->decompressed_bytes(), a.size() + b.size());
  }
  EXPECT_EQ(decode(Codec::identity, a, 1), a);
}

TEST(DecompressStream, TruncatedStreamFailsAtFinish) {
  TempDir dir("decompress");
  const std::string a = make_rows(50000, 8), b = make_rows(50000, 9);
  const std::string ga = compress(dir, "gzip -c", a, "ga"), gb = compress(dir, "gzip -c", b, "gb");
  const std::string za = compress(dir, "zstd -q -c", a, "za"), zb = compress(dir, "zstd -q -c", b, "zb");
  struct Case {
    Codec codec;
    std::string data, want;
  };
  const Case cases[] = {
      {Codec::gzip, ga.substr(0, ga.size() - 4), "ends inside member 1 (which starts at compressed byte 0)"},
      {Codec::gzip, ga + gb.substr(0, gb.size() / 2),
       "ends inside member 2 (which starts at compressed byte " + std::to_string(ga.size()) + ")"},
      {Codec::gzip, ga + "\n", "ends inside member 2"},  // a stray trailing byte
      {Codec::zstd, za.substr(0, za.size() - 1), "ends inside frame 1 (which starts at compressed byte 0)"},
      {Codec::zstd, za + zb.substr(0, 3),
       "ends inside frame 2 (which starts at compressed byte " + std::to_string(za.size()) + ")"},
  };
  for (const auto& c : cases) {
    auto d = Decompressor::make(c.codec, "gs://bucket/shard-7.jsonl.x");
    std::string out;
    EXPECT_NO_THROW(d->feed(c.data, out));  // every byte so far is valid
    const std::string err = error_of([&] { d->finish(); });
    EXPECT_TRUE(contains(err, "gs://bucket/shard-7.jsonl.x: the ")) << err;
    EXPECT_TRUE(contains(err, c.want)) << err;
    EXPECT_TRUE(contains(err, "truncated")) << err;
  }
}

TEST(DecompressStream, CorruptByteNamesItsOffset) {
  TempDir dir("decompress");
  const std::string a = make_rows(100000, 10), b = make_rows(100000, 11);
  const std::string ga = compress(dir, "gzip -c", a, "ga"), gb = compress(dir, "gzip -c", b, "gb");
  const std::string za = compress(dir, "zstd -q -c", a, "za"), zb = compress(dir, "zstd -q -c", b, "zb");
  struct Case {
    Codec codec;
    std::string data;
    size_t flip;              // the damaged byte
    size_t lo, hi;            // where the reported offset must lie
    std::string want;
  };
  const Case cases[] = {
      // Deflate data of member 1: caught by the decoder or at the latest by the member's CRC-32.
      {Codec::gzip, ga + gb, ga.size() / 2, ga.size() / 2, ga.size(), "corrupt gzip data in member 1"},
      // Member 1's CRC-32 trailer (last 8 bytes: CRC-32, then the length).
      {Codec::gzip, ga + gb, ga.size() - 7, ga.size() - 8, ga.size(), "incorrect data check"},
      // Member 2's magic: the bytes after member 1 are not a member.
      {Codec::gzip, ga + gb, ga.size(), ga.size(), ga.size() + 10, "not a gzip member"},
      // zstd reports no position of its own: the offset is the end of the (at most 8 KiB) slice of input that
      // completed the bad block (or frame, for the checksum).
      // A compressed block of frame 1: caught when the block is decoded or by the frame's checksum.
      {Codec::zstd, za + zb, za.size() / 2, za.size() / 2, za.size() + 8192, "corrupt zstd data in frame 1"},
      // Frame 1's content checksum (its last 4 bytes).
      {Codec::zstd, za + zb, za.size() - 2, za.size() - 4, za.size() + 8192, "checksum"},
      // Frame 2's magic: placed at the frame's start.
      {Codec::zstd, za + zb, za.size() + 1, za.size(), za.size(), "not a zstd frame"},
  };
  for (const auto& c : cases) {
    std::string data = c.data;
    data[c.flip] = char(data[c.flip] ^ 0x5A);
    for (size_t piece : {SIZE_MAX, size_t(4096)}) {
      const std::string err = error_of([&] { decode(*Decompressor::make(c.codec, "corrupt.bin"), data, piece); });
      SCOPED_TRACE(err);
      EXPECT_TRUE(contains(err, "corrupt.bin: corrupt ")) << "flip at " << c.flip;
      EXPECT_TRUE(contains(err, c.want));
      const long long at = offset_in(err);
      EXPECT_GE(at, static_cast<long long>(c.lo));
      EXPECT_LE(at, static_cast<long long>(c.hi));
    }
  }
}

TEST(DecompressStream, ChosenByNameOrByMagic) {
  EXPECT_EQ(Decompressor::for_name("data/train.jsonl.gz")->codec(), Codec::gzip);
  EXPECT_EQ(Decompressor::for_name("gs://bkt/train-00001.CSV.GZ")->codec(), Codec::gzip);
  EXPECT_EQ(Decompressor::for_name("train.jsonl.zst")->codec(), Codec::zstd);
  EXPECT_EQ(Decompressor::for_name("train.jsonl.zstd")->codec(), Codec::zstd);
  EXPECT_EQ(Decompressor::for_name("https://h/b/o/data%2Fa.jsonl.zst?alt=media&generation=12")->codec(), Codec::zstd);
  EXPECT_EQ(Decompressor::for_name("https://h/a.jsonl.gz#frag")->codec(), Codec::gzip);
  EXPECT_EQ(Decompressor::for_name("https://h/a.gz/train.jsonl")->codec(), Codec::identity);
  EXPECT_EQ(Decompressor::for_name("train.jsonl")->codec(), Codec::identity);
  EXPECT_EQ(Decompressor::for_name("train.tgz")->codec(), Codec::identity);
  EXPECT_EQ(Decompressor::for_name("x.gz")->source(), "x.gz");

  EXPECT_EQ(Decompressor::sniff("\x1f\x8b\x08\x00")->codec(), Codec::gzip);
  EXPECT_EQ(Decompressor::sniff("\x28\xb5\x2f\xfd")->codec(), Codec::zstd);
  EXPECT_EQ(Decompressor::sniff("\x5e\x2a\x4d\x18")->codec(), Codec::zstd);  // skippable frame
  EXPECT_EQ(Decompressor::sniff("\x28\xb5\x2f")->codec(), Codec::identity);  // too short to be zstd
  EXPECT_EQ(Decompressor::sniff("{\"id")->codec(), Codec::identity);
  EXPECT_EQ(Decompressor::sniff("")->codec(), Codec::identity);
  EXPECT_EQ(Decompressor::sniff("\x1f\x8b", "s")->source(), "s");

  // zstd bytes under a .gz name: the name picks gzip and fails at the header; sniffing decodes them.
  TempDir dir("decompress");
  const std::string plain = make_rows(20000, 12);
  const std::string z = compress(dir, "zstd -q -c", plain, "z");
  const std::string err = error_of([&] { decode(*Decompressor::for_name("mislabelled.jsonl.gz"), z, SIZE_MAX); });
  EXPECT_TRUE(contains(err, "mislabelled.jsonl.gz: corrupt gzip data in member 1")) << err;
  EXPECT_TRUE(contains(err, "does not start like a gzip file")) << err;
  EXPECT_LE(offset_in(err), 2) << err;  // zlib reads the 2-byte header before it can tell
  auto d = Decompressor::sniff(z.substr(0, Decompressor::kSniffBytes), "mislabelled.jsonl.gz");
  EXPECT_EQ(d->codec_name(), "zstd");
  EXPECT_TRUE(decode(*d, z, SIZE_MAX) == plain);
  // Plain text under a .zst name fails the same way; sniffed, it passes through.
  const std::string err2 = error_of([&] { decode(*Decompressor::for_name("plain.zst"), plain, SIZE_MAX); });
  EXPECT_TRUE(contains(err2, "plain.zst: corrupt zstd data in frame 1")) << err2;
  EXPECT_TRUE(contains(err2, "does not start like a zstd file")) << err2;
  EXPECT_TRUE(decode(*Decompressor::sniff(plain.substr(0, 4)), plain, SIZE_MAX) == plain);
}

// 4 MB of zeros compress to a few KB; with a 64 KiB limit no feed may append more than 64 KiB, the rest is held
// (pending) and comes out through feed({}, out), also when more input is queued behind it.
TEST(DecompressStream, OutputLimitBoundsEachFeed) {
  TempDir dir("decompress");
  const std::string zeros(4 << 20, '\0');
  const size_t limit = 64 << 10;
  const std::pair<Codec, std::string> cases[] = {{Codec::gzip, compress(dir, "gzip -c", zeros, "g")},
                                                 {Codec::zstd, compress(dir, "zstd -q -c", zeros, "z")},
                                                 {Codec::identity, std::string(300000, 'x')}};
  for (const auto& [codec, data] : cases) {
    auto d = Decompressor::make(codec, "limit");
    d->set_output_limit(limit);
    std::string out;
    // Two halves fed without draining in between: the second queues behind what the first left.
    d->feed(std::string_view(data).substr(0, data.size() / 2), out);
    EXPECT_LE(out.size(), limit);
    EXPECT_TRUE(d->pending()) << d->codec_name();
    EXPECT_THROW(d->finish(), std::logic_error);
    size_t before = out.size();
    d->feed(std::string_view(data).substr(data.size() / 2), out);
    EXPECT_LE(out.size() - before, limit);
    int calls = 0;
    while (d->pending()) {
      before = out.size();
      d->feed({}, out);
      ASSERT_LE(out.size() - before, limit) << d->codec_name();
      ++calls;
    }
    d->finish();
    const std::string& want = codec == Codec::identity ? data : zeros;
    EXPECT_TRUE(out == want) << d->codec_name() << ": " << out.size() << " bytes";
    EXPECT_GE(calls, int(want.size() / limit) - 2) << d->codec_name();
  }
}
