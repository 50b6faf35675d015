#!/usr/bin/env bash
# On the GPU machine (device tool): build against the libtorch inside the installed PyTorch (2.x, CUDA), run the
# test suite with the parity tests on the GPU, check that PEFT loads gemma-tune adapters, and regenerate the
# config fixtures with transformers. Libraries that machine lacks (CLI11, nlohmann-json, yaml-cpp, GoogleTest,
# OpenSSL headers) come in .device/root, copied from this machine's Debian packages by tools/device/pack.sh.
set -uo pipefail
source tools/device/env.sh
exec > >(tee "$OUT/build_and_test.log") 2>&1
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)"
t0=$(date +%s)
configure_cuda_build
ninja -C build-cuda -j16 2>&1 | grep -E "error|warning: unused|FAILED" | head -40
echo "build: $(( $(date +%s) - t0 )) s"
./build-cuda/gemma-tune doctor
(cd build-cuda && GT_TEST_DEVICE=cuda ctest -j8 -E "Corpus|corpus" --output-on-failure 2>&1 | tail -25)
(cd build-cuda && GT_TEST_DEVICE=cuda ./tests/gt_torch_tests --gtest_filter='*Parity*:*Checkpointing*' 2>&1 | grep -E "\[parity\]|\[checkpointing\]|FAILED")

# PEFT loads gemma-tune adapters (both families), float32 on the GPU.
for fam in gemma4 gemma3n; do
  m=/tmp/peft-$fam
  rm -rf $m /tmp/runs-$fam
  ./build-cuda/gemma-tune init-random --family $fam --out $m --tokenizer .cache/gemma3-tokenizer/tokenizer.json --dtype float32
  ./build-cuda/gemma-tune train --model $m --data data/sample-text --out /tmp/runs-$fam --max-steps 20 --lr 5e-3 \
    --batch-size 4 --max-seq-len 256 --device cuda --dtype float32 --save-every 10 2>&1 | tail -4
  run=$(ls -d /tmp/runs-$fam/*/ | head -1)
  python3 tools/check_peft_adapter.py write-rows $m /tmp/rows-$fam.jsonl
  echo "gemma-tune eval ($fam):" $(./build-cuda/gemma-tune eval --model $m --adapter $run/adapter --data /tmp/rows-$fam.jsonl \
    --mode completion --dtype float32 --device cuda --json) \
    "base:" $(./build-cuda/gemma-tune eval --model $m --data /tmp/rows-$fam.jsonl --mode completion --dtype float32 --device cuda --json)
  echo "peft ($fam):" $(python3 tools/check_peft_adapter.py loss $m $run/adapter /tmp/rows-$fam.jsonl 2>/dev/null | tail -1)
  cp $run/metrics.jsonl "$OUT/metrics-$fam.jsonl"
done

python3 tools/make_config_fixtures.py /tmp/config-fixtures && tar -C /tmp -cf "$OUT/config-fixtures.tar" config-fixtures
echo "total: $(( $(date +%s) - t0 )) s"
