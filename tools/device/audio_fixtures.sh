#!/usr/bin/env bash
# On the GPU machine: every audio parity fixture (feature extractors, each audio tower alone, the whole model on
# audio + text), made by transformers 5.17 on the CPU. The fixtures come back as $OUT/audio-fixtures.tgz and one log
# per script in $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
status=0
for job in make_audio_feature_fixtures:features make_gemma3n_audio_fixtures:gemma3n-tower \
           make_gemma4_audio_fixtures:gemma4-tower make_audio_model_fixtures:model; do
  script=${job%%:*} name=${job##*:}
  t0=$(date +%s)
  python3 tools/$script.py --out tests/fixtures/audio/$name > "$OUT/$name.log" 2>&1
  rc=$?
  echo "$name: rc=$rc in $(( $(date +%s) - t0 )) s"; tail -4 "$OUT/$name.log"
  [ $rc = 0 ] || status=1
done
tar -C tests/fixtures/audio -czf "$OUT/audio-fixtures.tgz" --exclude=speech .
exit $status
