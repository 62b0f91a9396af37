"""How much of a val score is the dropout draw? The default recipe on BBC, one seed, with
only the dropout masks drawn again.

    python benchmarks/dropout_draws.py                      # GRU, seed 1, draws 101 and 202
    python benchmarks/dropout_draws.py --cell rnn --draws 1 2 3

Each run trains ``TextClassifier(cell, seed=seed)`` on the assignment's split exactly as
the default does, except that torch's global generator, which draws the dropout masks and
nothing else in the loop, is reseeded with the draw's number after the initial weights are
made. The initial weights and the batch order (the loop's own generator) stay the seed's.
So the spread of the printed val accuracies is what dropout alone moves; an ensemble's
members differ from a single model in exactly this way (results/recipe.md, fourth round).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from recipe import load  # noqa: E402

import textrnn.api as api  # noqa: E402


def val_accuracy(cell: str, seed: int, draw: int, **over) -> float:
    """BBC val accuracy (%) of the default ``cell`` at ``seed``, dropout from ``draw``."""
    parts, names = load("bbc")
    real = api.fit_loop

    def reseeded(*args, **kwargs):
        torch.manual_seed(draw)   # after the weights are made, before the first batch
        return real(*args, **kwargs)
    api.fit_loop = reseeded
    try:
        clf = api.TextClassifier(cell, seed=seed, verbose=False, **over)
        clf.fit(*parts["train"], *parts["val"], classes=names)
    finally:
        api.fit_loop = real
    return 100 * float(np.mean(clf.predict(parts["val"][0]) == np.array(parts["val"][1])))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cell", choices=("gru", "rnn"), default="gru")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--draws", nargs="+", type=int, default=[101, 202])
    ap.add_argument("--epochs", type=int, help="fewer epochs (a smoke run)")
    ap.add_argument("--hidden-size", type=int, help="a narrower state (a smoke run)")
    args = ap.parse_args(argv)
    over = {k: v for k, v in (("epochs", args.epochs), ("hidden_size", args.hidden_size))
            if v is not None}
    print(f"| {args.cell}, seed {args.seed}, BBC val % | dropout draw | val accuracy |")
    print("|---|---:|---:|")
    for draw in args.draws:
        print(f"| | {draw} | {val_accuracy(args.cell, args.seed, draw, **over):.2f} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
