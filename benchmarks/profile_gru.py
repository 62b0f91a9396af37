"""Where does a fast training step or forward spend its time? (the bound behind the
ratios of issues #3 and #15)

    python benchmarks/profile_gru.py            # assignment shapes: batch 32, 100 steps, 64 -> 128
    python benchmarks/profile_gru.py --steps 400 --hidden 256          # long training
    python benchmarks/profile_gru.py --infer                           # inference, batch 32
    python benchmarks/profile_gru.py --infer --batch 1 --steps 400     # single-document latency
    python benchmarks/profile_gru.py --cell rnn ...                    # the Elman RNN instead

Profiles the benchmark's training step (embedding, fast layer, linear head,
cross-entropy, backward, fused Adam), or with ``--infer`` its forward under
``torch.inference_mode``, with ``torch.profiler``, and prints the operators by self CPU
time (with ``--shapes``, split by input shapes), then the achieved GFLOP/s of the
recurrence, from the FLOPs of the cell's equations (GRU: 3 input + 3 recurrent
products per step, RNN: 1 + 1; backward twice the forward).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from torch.profiler import ProfilerActivity, profile

from textrnn.layers import GRU, RNN
from textrnn.study.bench import CLASSES, VOCAB, _Head, _train_step


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cell", choices=("gru", "rnn"), default="gru")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--embed", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--infer", action="store_true", help="profile forwards, not training steps")
    ap.add_argument("--shapes", action="store_true", help="split operators by input shapes")
    ap.add_argument("--iters", type=int, default=20, help="profiled steps or forwards (20)")
    args = ap.parse_args(argv)
    B, T, E, H = args.batch, args.steps, args.embed, args.hidden
    torch.manual_seed(0)
    model = _Head((GRU if args.cell == "gru" else RNN)(E, H, impl="fast"), E, H)
    opt = torch.optim.Adam(model.parameters(), 1e-3, fused=True)
    ids, y = torch.randint(1, VOCAB, (B, T)), torch.randint(0, CLASSES, (B,))
    if args.infer:
        model.eval()

        def step() -> None:
            with torch.inference_mode():
                model(ids)
    else:
        def step() -> None:
            _train_step(model, opt, ids, y)
    for _ in range(3):
        step()
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=args.shapes) as prof:
        for _ in range(args.iters):
            step()
    ms = 1000 * (time.perf_counter() - t0) / args.iters
    print(prof.key_averages(group_by_input_shape=args.shapes).table(
        sort_by="self_cpu_time_total", row_limit=15, max_shapes_column_width=60))
    # multiply-adds per token of the cell's equations (GRU: 3 input and 3 recurrent
    # products; RNN: one of each); x2 FLOPs; backward costs twice the forward
    gates = 3 if args.cell == "gru" else 1
    flop = 2 * gates * (E * H + H * H) * B * T * (1 if args.infer else 3)
    what = "forward" if args.infer else "training step"
    print(f"{ms:.2f} ms per {what} (profiled), {B * T / ms * 1000:,.0f} tokens/s; "
          f"{args.cell.upper()} equations {flop / 1e6:.0f} MFLOP per {what} -> "
          f"{flop / ms / 1e6:.0f} GFLOP/s overall, {torch.get_num_threads()} threads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
