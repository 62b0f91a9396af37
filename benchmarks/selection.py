"""Which epoch to keep: best val loss or best val accuracy? Judged on val alone.

    python benchmarks/selection.py          # about 5 minutes on 2 cores

Keeping the epoch of best val accuracy always *reports* a val accuracy at least as high
as keeping the epoch of best val loss (it takes the maximum), so the val column of the
levers sweep cannot judge it. This script splits the val articles in two halves many
times: a rule picks the epoch on one half and is scored on the other, which it never
saw. Each run trains the default preset for all its epochs (no early stopping), once
per cell and seed on the assignment's split; the test split is not read.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

import textrnn.train as train_mod
from textrnn.api import TextClassifier
from textrnn.config import preset
from textrnn.runs import DataSpec


def val_logits_per_epoch(model: str, seed: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Train the default preset and return the val logits after every epoch."""
    ds, splits, _ = DataSpec().load()
    part = {k: ds.subset(v) for k, v in splits.items()}
    names = ds.label_names
    cfg = replace(preset("default", model, seed=seed), patience=0)  # every epoch
    seen: list[torch.Tensor] = []
    inner = train_mod.predict_logits

    def recording(*args, **kwargs):  # fit evaluates val once per epoch through this
        out = inner(*args, **kwargs)
        seen.append(out.detach().clone())
        return out

    train_mod.predict_logits = recording
    try:
        TextClassifier.from_config(cfg, verbose=False).fit(
            part["train"].texts, [names[i] for i in part["train"].labels],
            part["val"].texts, [names[i] for i in part["val"].labels], classes=names)
    finally:
        train_mod.predict_logits = inner
    return seen, torch.as_tensor(part["val"].labels)


def held_out(epochs: list[torch.Tensor], y: torch.Tensor, halves: int, rng) -> dict:
    """Mean accuracy on the unseen half of the epoch each rule picks on the other half."""
    loss = torch.stack([F.cross_entropy(e, y, reduction="none") for e in epochs])  # (E, N)
    right = torch.stack([(e.argmax(1) == y).float() for e in epochs])              # (E, N)
    got = {"loss": [], "acc": []}
    for _ in range(halves):
        a = torch.as_tensor(rng.permutation(len(y)))
        pick, score = a[: len(y) // 2], a[len(y) // 2:]
        la, ra = loss[:, pick].mean(1), right[:, pick].mean(1)
        by_loss = int(la.argmin())
        by_acc = min(range(len(epochs)), key=lambda e: (-ra[e].item(), la[e].item()))
        got["loss"].append(right[by_loss, score].mean().item())
        got["acc"].append(right[by_acc, score].mean().item())
    return {k: float(np.mean(v)) for k, v in got.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--halves", type=int, default=500, help="random half-splits per run (500)")
    args = ap.parse_args(argv)
    print("| cell | seed | epochs | held-out half, epoch by val loss | by val accuracy |")
    print("|---|---:|---:|---:|---:|")
    for model in ("gru", "rnn"):
        rows = []
        for seed in args.seeds:
            epochs, y = val_logits_per_epoch(model, seed)
            r = held_out(epochs, y, args.halves, np.random.default_rng(seed))
            rows.append(r)
            print(f"| {model} | {seed} | {len(epochs)} | {100 * r['loss']:.2f}% "
                  f"| {100 * r['acc']:.2f}% |", flush=True)
        print(f"| {model} | mean | | {100 * np.mean([r['loss'] for r in rows]):.2f}% "
              f"| {100 * np.mean([r['acc'] for r in rows]):.2f}% |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
