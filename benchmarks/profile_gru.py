"""Where does a fast GRU training step spend its time? (the bound behind issue #3's ratios)

    python benchmarks/profile_gru.py            # assignment shapes: batch 32, 100 steps, 64 -> 128
    python benchmarks/profile_gru.py --steps 400 --hidden 256

Profiles the benchmark's training step (embedding, fast GRU, linear head, cross-entropy,
backward, fused Adam) with ``torch.profiler`` and prints the operators by self CPU time,
then the achieved GFLOP/s of the recurrence, from the FLOPs of the assignment's GRU
equations (forward 3 input + 3 recurrent products per step; backward twice that).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

from textrnn.study.bench import CLASSES, VOCAB, _Head, _train_step
from textrnn.layers import GRU


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--iters", type=int, default=20, help="profiled training steps (20)")
    args = ap.parse_args(argv)
    B, T, E, H = args.batch, args.steps, args.embed, args.hidden
    torch.manual_seed(0)
    model = _Head(GRU(E, H, impl="fast"), E, H)
    opt = torch.optim.Adam(model.parameters(), 1e-3, fused=True)
    ids, y = torch.randint(1, VOCAB, (B, T)), torch.randint(0, CLASSES, (B,))
    for _ in range(3):
        _train_step(model, opt, ids, y)
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.iters):
            _train_step(model, opt, ids, y)
    ms = 1000 * (time.perf_counter() - t0) / args.iters
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
    # multiply-adds of the GRU equations per token: input 3*E*H, recurrent 3*H*H; x2 FLOPs;
    # backward costs twice the forward (gradients of inputs and of weights)
    flop = 2 * (3 * E * H + 3 * H * H) * 3 * B * T
    print(f"{ms:.2f} ms per training step (profiled), {B * T / ms * 1000:,.0f} tokens/s; "
          f"GRU equations {flop / 1e6:.0f} MFLOP per step -> {flop / ms / 1e6:.0f} GFLOP/s "
          f"overall, {torch.get_num_threads()} threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
