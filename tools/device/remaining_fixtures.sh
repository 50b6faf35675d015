#!/usr/bin/env bash
# On the GPU machine: the fixtures the session of 2026-12-07 could not make (no machine started): the Gemma 3n
# whole-model image fixture with its float64 logits, and the Gemma 4 greedy-generation fixture. Carry .device (env).
# Results: $OUT/model3n.tgz and $OUT/generation-gemma4.tgz, folders relative to tests/fixtures.
set -uo pipefail
t0=$(date +%s); stamp() { echo "== $1 at $(( $(date +%s) - t0 )) s"; }
timeout 90 python3 tools/make_image_model_fixtures.py --out tests/fixtures/vision/model --cases gemma3n-image > "$OUT/model3n.log" 2>&1
echo "rc=$?"; grep -E "^\[|ok|rror" "$OUT/model3n.log" | tail -4
tar -czf "$OUT/model3n.tgz" -C tests/fixtures vision/model/gemma3n-image
stamp "gemma4 generation"
timeout 100 python3 tools/make_generation_fixtures.py --out tests/fixtures/generation --family gemma4 > "$OUT/generation.log" 2>&1
echo "rc=$?"; grep -v "no weight draw" "$OUT/generation.log" | grep -v "it/s" | tail -4; grep -o "^.\{400\}" "$OUT/generation.log" | grep "no weight"
tar -czf "$OUT/generation-gemma4.tgz" -C tests/fixtures generation/gemma4
stamp done
