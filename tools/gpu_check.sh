#!/usr/bin/env bash
# Every GPU measurement and test of the course in one run, for a session that is lent a GPU for a few
# minutes: the CUDA-graph tests, the speedrun (5 seeds, recipe and plain), the LeNet loop benchmark, and
# chapter 19's DDP script on one GPU and on all of them.
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
# Chapter 19: the DDP script on 1 GPU and on every GPU of this machine (torchrun, NCCL), and the speed-up.
gpus=$(nvidia-smi -L | wc -l)
: > "$out/ddp_scaling.log"
for n in $(printf '%s\n' 1 "$gpus" | sort -un); do
  timeout 300 $py -m torch.distributed.run --standalone --nproc-per-node "$n" benchmarks/ddp_fashion.py --device cuda \
    --examples 60000 --epochs 3 --batch-size 512 --out "$out/ddp_$n.pt" 2>&1 | tee -a "$out/ddp_scaling.log"
done
$py - "$out/ddp_scaling.log" <<'PY'
import re, sys
runs = {int(p): float(s) for p, s in re.findall(r"RESULT processes=(\d+) .*?examples_per_sec=(\d+)", open(sys.argv[1]).read())}
for n, speed in sorted(runs.items()):
    print(f"DDP on {n} GPU(s): {speed:,.0f} examples/s, {speed / runs.get(1, speed):.2f}x one GPU")
PY
