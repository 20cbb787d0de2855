#!/usr/bin/env bash
# The GPU checks, as one script for a lent GPU machine (no network there): the back ends' CUDA paths
# (tests/backends/test_gpu_paths.py and the transformers back-end tests) and the GPU benchmark row.
#
#   bash benchmarks/gpu_check.sh [OUTDIR]
#
# Packages the machine lacks travel as wheels in .whl/ (see benchmarks/README.md); results and logs go to OUTDIR.
set -uo pipefail
out="${1:-${OUT:-/tmp/gpu-check}}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site:$PWD"
else
  export PYTHONPATH="$PWD"
fi
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import sys, torch, transformers; print('python', sys.version.split()[0], 'torch', torch.__version__, 'transformers', transformers.__version__)"
  python3 -c "import vllm; print('vllm', vllm.__version__)" 2>&1 | tail -1
} | tee "$out/machine.txt"
echo "== CUDA paths of the back ends"
timeout 200 python3 -m pytest -q -p no:cacheprovider -k "not smollm2" \
  tests/backends/test_gpu_paths.py tests/backends/test_transformers_backend.py 2>&1 | tee "$out/gpu_tests.txt"
echo "== benchmark"
timeout 300 python3 -m benchmarks --gpu-only 2>&1 | tee "$out/gpu_bench.txt"
cp benchmarks/RESULTS.md "$out/RESULTS.md"
