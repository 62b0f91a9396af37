#!/usr/bin/env bash
# The checks that need a CUDA GPU (CI has none), in one go, from the repository root:
#   bash scripts/gpu-check.sh OUT_DIR [BBC_CSV]
# 1. builds the CUDA step loops (csrc/recurrent_cuda.cu; nvcc must be on the PATH or in
#    CUDA_HOME) and prints the GPU, driver, torch, CUDA and cuDNN versions;
# 2. runs the CUDA tests (tests/test_cuda.py and the CUDA test of tests/test_layers.py);
# 3. textrnn bench --device cuda: the fast path (its CUDA loops) against cuDNN's
#    torch.nn.GRU / RNN, the assignment's loop and the autograd loops, all on the GPU;
# 4. with BBC_CSV: a default GRU training on the GPU (textrnn train --device cuda), then
#    one epoch under torchrun (nccl, one process);
# 5. textrnn bench with TEXTRNN_NATIVE=0: the fast path's Python loops on CUDA (what ran
#    on CUDA before the CUDA loops), against the same cuDNN.
# Everything it prints lands in OUT_DIR (8 files). Uses the python3 on the PATH, which
# must hold torch with CUDA; textrnn is installed into it (no dependencies fetched).
set -uo pipefail
out=${1:?usage: bash scripts/gpu-check.sh OUT_DIR [BBC_CSV]}
bbc=${2:-}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . >/dev/null 2>&1 \
  || export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())"
  python3 -c "from textrnn import fused; fused.native_available()" &   # the CPU loops, beside
  t0=$SECONDS
  python3 -c "from textrnn import fused; import sys; sys.exit(0 if fused.cuda_loops_available() else 1)"
  built=$?
  echo "CUDA loops: build and load took $((SECONDS - t0)) s"
  wait
  echo "CUDA loops available: $([ $built = 0 ] && echo yes || echo no)"
} > "$out/gpu.txt" 2>&1
cat "$out/gpu.txt"
grep -q "CUDA loops available: yes" "$out/gpu.txt" || { echo "build failed: see $out/gpu.txt"; exit 1; }

python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_layers.py -k cuda \
  2>&1 | tee "$out/tests.log" | tail -15

python3 -m textrnn bench --device cuda --rounds 5 --json 2> "$out/bench-cuda.txt" > "$out/bench-cuda.json"
cat "$out/bench-cuda.txt"

if [ -n "$bbc" ]; then
  {
    t0=$SECONDS
    python3 -m textrnn train --data "$bbc" --model gru --device cuda --out /tmp/gpu-check-run --quiet
    echo "textrnn train exit $?, wall $((SECONDS - t0)) s"
    python3 -c "import json; m = json.load(open('/tmp/gpu-check-run/metrics.json')); \
print('train_seconds', round(m['train_seconds'], 1), 'epochs', len(m['history']), \
'test accuracy', m['test']['accuracy'])"
    echo "--- torchrun, 1 process, nccl, 1 epoch"
    timeout 300 python3 -m torch.distributed.run --standalone --nproc-per-node 1 -m textrnn train --data "$bbc" \
      --model gru --device cuda --epochs 1 --out /tmp/gpu-check-ddp --quiet
    echo "torchrun exit $?"
    ls /tmp/gpu-check-ddp
  } > "$out/train-bbc.txt" 2>&1
  cat "$out/train-bbc.txt"
fi

TEXTRNN_NATIVE=0 python3 -m textrnn bench --device cuda --shapes assignment latency --rounds 3 2>&1 | tee "$out/bench-python-loops.txt"
