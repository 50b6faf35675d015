#!/usr/bin/env bash
# On the GPU machine: every vision parity fixture, made by transformers 5.17 on the CPU: each vision tower alone
# (tests/fixtures/vision/<name>), image decoding + both image processors (tests/fixtures/images) and the whole model
# on image + text (tests/fixtures/vision/model). The fixtures come back as $OUT/vision-fixtures.tgz (folders relative
# to tests/fixtures, the committed input images left out) and one log per script in $OUT.
# Usage: tools/device/vision_fixtures.sh [job ...]   (default: all jobs; a job is its name)
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
jobs=(make_gemma3n_vision_fixtures:vision/gemma3n-tower make_gemma4_vision_fixtures:vision/gemma4-tower
      make_image_fixtures:images make_image_model_fixtures:vision/model)
[ $# -gt 0 ] && jobs=("$@")
status=0
folders=()
for job in "${jobs[@]}"; do
  case $job in *:*) ;; *) job=$(printf '%s\n' make_gemma3n_vision_fixtures:vision/gemma3n-tower \
    make_gemma4_vision_fixtures:vision/gemma4-tower make_image_fixtures:images \
    make_image_model_fixtures:vision/model | grep "^$job:");; esac
  script=${job%%:*} dir=${job#*:} name=${dir##*/}
  t0=$(date +%s)
  python3 tools/$script.py --out tests/fixtures/$dir > "$OUT/$name.log" 2>&1
  rc=$?
  echo "$name: rc=$rc in $(( $(date +%s) - t0 )) s"; tail -4 "$OUT/$name.log"
  [ $rc = 0 ] || status=1
  folders+=("$dir")
done
tar -C tests/fixtures -czf "$OUT/vision-fixtures.tgz" --exclude=images/decode "${folders[@]}"
exit $status
