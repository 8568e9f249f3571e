#!/usr/bin/env bash
# The CUDA session of issue 8 on a lent GPU machine: the CUDA tests, then bench_train.py's table,
# and the CIFAR-10 presets.
#   scripts/bench_gpu.sh tests|table|eager|deterministic|presets [OUT_DIR [PYTEST ARGS]]
#   (eager: the table without CUDA graphs; deterministic: a few rows with deterministic=true)
# Wheels for what the machine lacks travel in .whl/ (see the README's performance section).
set -euo pipefail
out=${2:-${OUT:-/tmp}}
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD
fi
[ -e wgan_cli/configs ] || ln -s ../configs wgan_cli/configs  # what the wheel's package-dir does
mkdir -p /tmp/bin && printf '#!/bin/sh\nexec python3 -m wgan_cli "$@"\n' >/tmp/bin/wgan-cli && chmod +x /tmp/bin/wgan-cli
export PATH=/tmp/bin:$PATH
export PYTHONUNBUFFERED=1
bench() { python3 scripts/bench_train.py --rounds 3 --seconds 1 "$@"; }
case $1 in
  tests) nvidia-smi -L; python3 -c 'import torch; print(torch.__version__, torch.cuda.get_device_name())'
         python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py \
           tests/test_performance.py::test_the_gradient_penalty_stays_float32_under_bf16_autocast "${@:3}" 2>&1 | tee "$out/tests.log" ;;
  table) bench 2>&1 | tee "$out/table.md" ;;
  eager) bench --set train.cuda_graph=false 2>&1 | tee "$out/eager.md" ;;
  deterministic) bench --configs toy_gp,cnn32_gp,cnn32_sn --set deterministic=true 2>&1 | tee "$out/deterministic.md" ;;
  presets) bench --configs presets 2>&1 | tee "$out/presets.md" ;;
esac
