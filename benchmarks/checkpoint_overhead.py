"""What a resumable checkpoint costs: seconds per save of the default GRU on BBC.

    python benchmarks/checkpoint_overhead.py            # one default GRU run on BBC, timed saves
    python benchmarks/checkpoint_overhead.py --quick    # the same state, saved 5 times, no training

The full mode trains the default GRU preset on the assignment's split with a checkpoint
at the end of every epoch (as ``textrnn train`` does), timing each save (tensors,
fsync, checksum, JSON, rename, pruning), and prints the saves' total against the
training time. ``--quick`` builds the same model (10,000-word vocabulary) and Adam
state after one step and times saves alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from textrnn import resume
from textrnn.config import preset


def timed_saves(log: list[float]):
    real = resume.Checkpoints.save

    def save(self, state):
        t0 = time.perf_counter()
        try:
            return real(self, state)
        finally:
            log.append(time.perf_counter() - t0)
    resume.Checkpoints.save = save


def quick(n: int) -> None:
    from textrnn.model import RecurrentClassifier
    cfg = preset("default", "gru")
    model = RecurrentClassifier(cfg.num_words, 5, cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
    model(torch.randint(1, cfg.num_words, (32, 400))).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 100)
    state = resume.TrainState(kept=[((1.0,), 1, {k: v.clone() for k, v in
                                                   model.state_dict().items()})])
    with tempfile.TemporaryDirectory() as tmp:
        ck = resume.Checkpoints(Path(tmp) / "ck").bind(cfg, "x", model, opt, sched,
                                                       torch.Generator())
        times = []
        for step in range(1, n + 1):
            state.step = step
            t0 = time.perf_counter()
            ck.save(state)
            times.append(time.perf_counter() - t0)
        size = sum(p.stat().st_size for p in (Path(tmp) / "ck").rglob("*") if p.is_file())
    print(f"{sum(p.numel() for p in model.parameters()):,} weights; checkpoint "
          f"{size / 2 / 1e6:.1f} MB; seconds per save: "
          + ", ".join(f"{t:.3f}" for t in times))


def full() -> None:
    from textrnn.runs import DataSpec, train_run
    log: list[float] = []
    timed_saves(log)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        m = train_run(preset("default", "gru"), DataSpec(), Path(tmp) / "run", verbose=False,
                      log=lambda s: None, save_every=0)
        total = time.perf_counter() - t0
    print(f"default GRU on BBC: {len(m['history'])} epochs, {m['train_seconds']:.1f} s "
          f"training ({total:.1f} s in all), {len(log)} checkpoints: "
          f"{sum(log):.2f} s ({', '.join(f'{t:.2f}' for t in log)}), "
          f"{100 * sum(log) / m['train_seconds']:.1f}% of the training time; "
          f"{torch.get_num_threads()} threads")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="time saves alone, no training")
    ap.add_argument("--saves", type=int, default=5, help="saves in --quick mode (5)")
    args = ap.parse_args()
    quick(args.saves) if args.quick else full()
