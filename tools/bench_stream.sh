#!/usr/bin/env bash
# The streamed-dataset reader's speed and memory (bench/stream_read.cpp) against the Cloud Storage stand-in program:
# makes N JSONL shards of about S MB each (plain, gzip and zstd variants), serves them from build/tests/gcs_standin
# (its own process), and reads them with a small and a large prefetch budget, then twice through a disk cache
# a quarter of the dataset's size and one twice its size. Run from the repository root after
# building the targets gcs_standin and bench_stream_read.
#   tools/bench_stream.sh [SHARDS=16] [MB_PER_SHARD=16]
set -euo pipefail
n=${1:-16} mb=${2:-16}
dir=$(mktemp -d)
trap 'rm -rf "$dir"; [ -n "${pid:-}" ] && kill $pid 2>/dev/null || true' EXIT
python3 - "$dir" "$n" "$mb" <<'PY'
import json, random, sys
d, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(7)
words = "the model answers a question about audio images and text with numbers like 42 zebra quartz".split()
for k in range(n):
    with open(f"{d}/train-{k:03d}.jsonl", "w") as f:
        size = 0
        while size < mb << 20:
            row = json.dumps({"prompt": " ".join(rng.choice(words) for _ in range(rng.randint(5, 40))),
                              "response": " ".join(rng.choice(words) for _ in range(rng.randint(5, 80)))}) + "\n"
            f.write(row)
            size += len(row)
PY
args=()
for f in "$dir"/train-*.jsonl; do
  b=$(basename "$f")
  gzip -1 -c "$f" > "$f.gz"; zstd -q -1 -c "$f" > "$f.zst"
  args+=(--object "gs://bkt/plain/$b=$f" --object "gs://bkt/gz/$b.gz=$f.gz" --object "gs://bkt/zst/$b.zst=$f.zst")
done
du -sh "$dir"/*.jsonl | tail -1 >/dev/null
coproc STANDIN { ./build/tests/gcs_standin "${args[@]}"; }
pid=$STANDIN_PID
read -r url <&"${STANDIN[0]}"
echo "stand-in at $url; $n shards x ${mb} MB"
for set in plain gz zst; do
  for budget in 8 64; do
    STORAGE_EMULATOR_HOST=$url ./build/bench/bench_stream_read --data "gs://bkt/$set/" --workers 4 --prefetch-mb $budget
  done
done
# The disk cache (--cache-dir): two passes over the plain shards, with a cache several times smaller than the dataset
# (entries come and go; memory and the folder stay bounded) and with one that holds it all (the second pass from disk).
cache=$(mktemp -d)
trap 'rm -rf "$dir" "$cache"; [ -n "${pid:-}" ] && kill $pid 2>/dev/null || true' EXIT
for cache_mb in $(( n * mb / 4 )) $(( n * mb * 2 )); do
  rm -rf "$cache/c"
  STORAGE_EMULATOR_HOST=$url ./build/bench/bench_stream_read --data "gs://bkt/plain/" --workers 4 --prefetch-mb 8 \
    --passes 2 --cache-dir "$cache/c" --cache-mb $cache_mb
done
