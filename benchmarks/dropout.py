"""How long does dropout take on CPU: torch's ``nn.Dropout`` against textrnn's ``Dropout``?

    python benchmarks/dropout.py                    # the default preset's embedding batch
    python benchmarks/dropout.py --batch 32 --steps 400 --dim 128 --repeat 50

Both draw the same distribution (keep with probability 1 - p, scale by 1 / (1 - p));
textrnn's compares uniform numbers with p instead of drawing Bernoulli samples. Each is
timed forward and backward on the same tensor, interleaved round by round, and the
median per call is printed with the machine (CPU model, thread count) it ran on.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch import nn

from textrnn.layers import Dropout
from textrnn.study.bench import cpu_model


def time_call(layer: nn.Module, x: torch.Tensor, repeat: int) -> float:
    """Seconds per forward + backward, averaged over ``repeat`` calls."""
    t0 = time.perf_counter()
    for _ in range(repeat):
        layer(x).sum().backward()
    return (time.perf_counter() - t0) / repeat


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--p", type=float, default=0.3, help="dropout probability (0.3, the default preset's)")
    ap.add_argument("--repeat", type=int, default=20, help="calls per round (20)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (5)")
    args = ap.parse_args(argv)
    if min(args.batch, args.steps, args.dim, args.repeat, args.rounds) < 1 or not 0 <= args.p < 1:
        ap.error("sizes, --repeat and --rounds must be >= 1, and --p in [0, 1)")
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.steps, args.dim, requires_grad=True)
    layers = {"torch nn.Dropout": nn.Dropout(args.p), "textrnn Dropout": Dropout(args.p)}
    times: dict[str, list[float]] = {k: [] for k in layers}
    for layer in layers.values():        # warm-up
        time_call(layer, x, 1)
    for _ in range(args.rounds):
        for k, layer in layers.items():
            times[k].append(time_call(layer, x, args.repeat))
    print(f"dropout p={args.p} on a {args.batch} x {args.steps} x {args.dim} float32 batch, "
          f"forward + backward; {cpu_model()}, {torch.get_num_threads()} threads; "
          f"median over {args.rounds} rounds of {args.repeat} calls")
    for k, ts in times.items():
        print(f"  {k:<18} {1e3 * statistics.median(ts):8.3f} ms per call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
