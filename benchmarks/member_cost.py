"""What narrower models and ensembles of them cost per training step, against the default.

    python benchmarks/member_cost.py                    # GRU, batch 32 x 250 tokens
    python benchmarks/member_cost.py --cell rnn --tokens 400 --reps 9

One training step (forward, the members' losses, backward, clipping, fused Adam) of the
models that ``textrnn.model.build`` makes for each shape: one model of hidden 128 and one
of hidden 64, two members of hidden 128, and ``members`` = 2 and 3 of hidden 64, on random
ids of a 30,000-word vocabulary with 20 classes (20 Newsgroups' sizes). The shapes take turns,
``--steps`` steps each per turn, for ``--reps`` turns; each row is the median seconds per
step over the turns, the spread (lowest and highest turn), and the ratio of medians to one model of
hidden 128. Run it alone on the machine: the shapes share its cores.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from textrnn.config import preset
from textrnn.distributed import loss_and_stats
from textrnn.model import build, classifiers
from textrnn.study.bench import cpu_model

SHAPES = {"one model, hidden 128": {"members": 1, "hidden_size": 128},
          "hidden 64": {"members": 1, "hidden_size": 64},
          "members=2 (hidden 128)": {"members": 2, "hidden_size": 128},
          "members=2, hidden 64": {"members": 2, "hidden_size": 64},
          "members=3, hidden 64": {"members": 3, "hidden_size": 64}}


def stepper(cell: str, over: dict, batch: int, tokens: int):
    torch.manual_seed(0)
    cfg = preset("default", cell, num_words=30000, **over)
    model = build(cfg.num_words, 20, cfg).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
    ids = torch.randint(1, cfg.num_words, (batch, tokens))
    y = torch.randint(0, 20, (batch,))

    def step() -> None:
        loss, _, _ = loss_and_stats(model(ids), y, batch, 1.0, cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for member in classifiers(model):
            torch.nn.utils.clip_grad_norm_(member.parameters(), cfg.clip)
        opt.step()
    return step


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cell", choices=("gru", "rnn"), default="gru")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=250, help="tokens per document (250)")
    ap.add_argument("--steps", type=int, default=4, help="steps per shape per turn (4)")
    ap.add_argument("--reps", type=int, default=7, help="turns (7)")
    args = ap.parse_args(argv)
    steps = {name: stepper(args.cell, over, args.batch, args.tokens)
             for name, over in SHAPES.items()}
    for step in steps.values():   # warm-up
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.reps):
        for name, step in steps.items():
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            times[name].append((time.perf_counter() - t0) / args.steps)
    base = statistics.median(times["one model, hidden 128"])
    print(f"{args.cell.upper()}, batch {args.batch} x {args.tokens} tokens, "
          f"{torch.get_num_threads()} threads, {cpu_model()}, "
          f"torch {torch.__version__}; median of {args.reps} interleaved turns of "
          f"{args.steps} steps\n")
    print("| shape | ms per step (median) | spread (min - max) | ratio to one model of hidden 128 |")
    print("|---|---:|---:|---:|")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"| {name} | {1000 * m:.1f} | {1000 * min(ts):.1f} - {1000 * max(ts):.1f} "
              f"| {m / base:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
