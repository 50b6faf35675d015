#!/usr/bin/env bash
# `make demo`: what gemma-tune can do in this build, on the bundled defaults.
# Until text training lands (issue #3) the demo checks the machine and shows the real Gemma tokenizer at work.
set -euo pipefail
build="${1:-build}"
bin="$build/gemma-tune"
tok=".cache/gemma3-tokenizer"
echo "== gemma-tune doctor"
"$bin" doctor
echo
echo "== tokenize: the real Gemma tokenizer ($tok)"
printf '%s\n' '{"text": "Fine-tune Gemma on your own machine."}' '{"text": "<start_of_turn>user\nBonjour, ça va? 🙂<end_of_turn>"}' \
  | tee /dev/stderr | "$bin" tokenize --model "$tok"
echo
echo "== and back (--decode)"
printf '%s\n' '{"text": "Fine-tune Gemma on your own machine."}' | "$bin" tokenize --model "$tok" | "$bin" tokenize --model "$tok" --decode
