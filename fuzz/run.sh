#!/usr/bin/env bash
# Runs every fuzz target of a build (fuzz/CMakeLists.txt) over its corpus for a while; `make fuzz` calls it.
#
#   fuzz/run.sh BUILD_DIR SECONDS [TARGET...]     (targets by name, e.g. csv gguf_read; default: all)
#
# Each target starts from the committed seeds in fuzz/corpus/<target>/ (read, never written) and keeps what it
# learns in BUILD_DIR/corpus/<target>/, so later runs go on from there. A crash, sanitizer report, leak, timeout
# (-timeout s on one input) or out-of-memory stops that target; the input is saved as BUILD_DIR/artifacts/<target>-*
# and this script exits 1 after running the rest. Prints the executions of each target.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="${1:?usage: fuzz/run.sh BUILD_DIR SECONDS [TARGET...]}"
seconds="${2:?usage: fuzz/run.sh BUILD_DIR SECONDS [TARGET...]}"
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for exe in "$build"/*_fuzz; do [ -x "$exe" ] && targets+=("$(basename "$exe" _fuzz)"); done
fi
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no targets in $build (build it first)"; exit 1; }

dict_of() {
  case "$1" in
    safetensors|model_config|tokenizer|tokenizer_encode) echo "$here/dict/json.dict" ;;
    gguf_read|gguf_roundtrip) echo "$here/dict/gguf.dict" ;;
    train_config) echo "$here/dict/yaml.dict" ;;
    csv|jsonl|record_splitter) echo "$here/dict/csv.dict" ;;
    audio_decode) echo "$here/dict/audio.dict" ;;
    image_decode) echo "$here/dict/image.dict" ;;
  esac
}

mkdir -p "$build/artifacts"
# Stacks for UBSan reports too; findings abort (the build has -fno-sanitize-recover).
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}"
failed=()
summary=""
for t in "${targets[@]}"; do
  exe="$build/${t}_fuzz"
  [ -x "$exe" ] || { echo "fuzz: $exe is missing"; failed+=("$t"); continue; }
  mkdir -p "$build/corpus/$t"
  dict="$(dict_of "$t")"
  log="$build/artifacts/$t.log"
  "$exe" "$build/corpus/$t" "$here/corpus/$t" ${dict:+-dict="$dict"} \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$t-" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    echo "fuzz: $t FAILED (exit $rc) after ${execs:-?} executions; log $log:"
    grep -E -A3 "ERROR|finding|runtime error|Test unit written" "$log" | head -n 30
  fi
  summary+=$(printf '  %-16s %10s executions%s' "$t" "${execs:-?}" "$([ $rc -ne 0 ] && echo '  FAILED')")$'\n'
done
echo "fuzz: ${seconds} s per target"
printf '%s' "$summary"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]} (inputs in $build/artifacts/; reproduce with $build/<target>_fuzz <file>)"
  exit 1
fi
