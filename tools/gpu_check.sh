#!/usr/bin/env bash
# Every GPU measurement and test of the course in one run, for a session that is lent a GPU for a few
# minutes: the CUDA-graph tests, the speedrun (5 seeds, recipe and plain), the LeNet loop benchmark.
# Writes its logs under ${OUT:-build/gpu}. Run from the repository root: bash tools/gpu_check.sh
set -uo pipefail
out=${OUT:-build/gpu}
mkdir -p "$out"
py=${PYTHON:-python}
export CNNLIB_DATA=${CNNLIB_DATA:-$PWD/build/data}
if [ ! -d "$CNNLIB_DATA/FashionMNIST" ] && [ -x ../shared/data/prepare.sh ]; then
  bash ../shared/data/prepare.sh "$CNNLIB_DATA"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
timeout 180 $py -m pytest -o addopts= gpu_tests -q -x 2>&1 | tee "$out/gpu_tests.log"
timeout 240 $py benchmarks/fashion_speedrun.py --preset gpu --device cuda --seeds 5 2>&1 | tee "$out/speedrun.log"
timeout 90 $py benchmarks/lenet_fit_vs_reference.py 2>&1 | tee "$out/lenet_benchmark.log"
