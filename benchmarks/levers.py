"""One lever at a time on top of the default preset: which changes gain on validation?

    python benchmarks/levers.py      # about 2 h 25 min on 2 cores; resumes where it stopped
    python benchmarks/levers.py --only "max pooling" "bidirectional"

Each lever is the default preset as it was before the sweep (``BASE``) with a few
settings changed (round 4 starts from ``CHOSEN``, what rounds 1-3 chose), trained for
both cells on the assignment's split with seeds 1, 2 and 3 (``textrnn compare``'s
machinery, no baseline; a lever that matches a cell's preset, like the GRU's own cosine
schedule, repeats its base runs). Runs land in
``runs/levers/<lever>/`` (a lever whose ``compare.json`` is there is not rerun) and the
table in ``results/levers.md``. Choose on the val column: the test column is printed
because it is there, not to pick by.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from textrnn.checkpoint import write_atomic
from textrnn.study.compare import run_compare
from textrnn.runs import DataSpec

# The default preset as it was when the sweep ran; every lever starts from it, so the
# table stays reproducible after the preset took the winners on (label smoothing 0.1,
# 10,000 words).
BASE = {"label_smoothing": 0.0, "num_words": 20000}
# What rounds 1-3 chose, now the default preset; round 4 starts from it.
CHOSEN = {"label_smoothing": 0.1, "num_words": 10000}
LEVERS: dict[str, dict] = {
    # round 1: one change at a time on top of BASE
    "default preset": {},
    "max pooling": {"pooling": "max"},
    "mean+max pooling": {"pooling": "meanmax"},
    "bidirectional": {"bidirectional": True},
    "2 stacked layers": {"num_layers": 2},
    "600 tokens": {"maxlen": 600},
    "10,000-word vocabulary": {"num_words": 10000},
    "dropout 0.5": {"dropout": 0.5},
    "word dropout 0.1": {"word_dropout": 0.1},
    "label smoothing 0.1": {"label_smoothing": 0.1},
    "weight decay 1e-4": {"weight_decay": 1e-4},
    # round 2: on top of round 1's best on val for both cells (label smoothing 0.1)
    "label smoothing 0.2": {"label_smoothing": 0.2},
    "smoothing 0.1 + 10,000 words": {"label_smoothing": 0.1, "num_words": 10000},
    "smoothing 0.1 + word dropout 0.1": {"label_smoothing": 0.1, "word_dropout": 0.1},
    "smoothing 0.1 + bidirectional": {"label_smoothing": 0.1, "bidirectional": True},
    "attention pooling": {"pooling": "attention"},
    # round 3: attention pooling gained for the GRU alone; on top of round 2's best
    "smoothing 0.1 + 10,000 words + attention": {"label_smoothing": 0.1, "num_words": 10000,
                                                 "pooling": "attention"},
    # the rest of round 1, run after (each alone on BASE)
    "word2vec embeddings": {"pretrain": "word2vec"},
    "5,000-word vocabulary": {"num_words": 5000},
    "200 tokens": {"maxlen": 200},
    "min count 2": {"min_count": 2},
    "constant rate, 12 epochs": {"schedule": "constant", "epochs": 12, "patience": 4},
    "cosine decay, 15 epochs": {"schedule": "cosine", "epochs": 15, "patience": 6},
    # round 4: on top of the preset chosen after round 3 (smoothing 0.1 + 10,000 words)
    "chosen + hidden 256": {**CHOSEN, "hidden_size": 256},
    "chosen + embedding 256": {**CHOSEN, "embedding_dim": 256},
    "chosen + 600 tokens": {**CHOSEN, "maxlen": 600},
    "chosen + lr 1e-3": {**CHOSEN, "lr": 1e-3},
    "chosen + batch 16": {**CHOSEN, "batch_size": 16},
    "chosen + max pooling": {**CHOSEN, "pooling": "max"},
    "chosen + OOV id": {**CHOSEN, "oov": True},
    "chosen + best val accuracy": {**CHOSEN, "select": "acc"},
    "chosen, smoothing 0.05": {**CHOSEN, "label_smoothing": 0.05},
    "chosen, smoothing 0.15": {**CHOSEN, "label_smoothing": 0.15},
    "chosen + mean of 3 best epochs": {**CHOSEN, "average": 3},
}
SEEDS = (1, 2, 3)


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def table(root: Path) -> str:
    lines = ["| lever | settings | GRU val | GRU test | RNN val | RNN test | wall time |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, over in LEVERS.items():
        f = root / slug(name) / "compare.json"
        if not f.exists():
            continue
        res = json.loads(f.read_text())
        cells = {row["model"]: row for row in res["summary"]}
        pm = lambda m, s: f"{100 * m:.2f} ± {100 * s:.2f}"  # noqa: E731
        parts = []
        for model in ("gru", "rnn"):
            r = cells[model]
            parts += [pm(r["val_mean"], r["val_std"]), pm(r["acc_mean"], r["acc_std"])]
        settings = ", ".join(f"{k}={v}" for k, v in over.items()) or "-"
        lines.append(f"| {name} | {settings} | " + " | ".join(parts)
                     + f" | {res['seconds'] / 60:.1f} min |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="+", metavar="LEVER", help="run only these levers")
    ap.add_argument("--runs", default="runs/levers", help="where the runs go (runs/levers)")
    ap.add_argument("--results", default="results/levers.md", help="the table (results/levers.md)")
    args = ap.parse_args(argv)
    root = Path(args.runs)
    for name, over in LEVERS.items():
        if args.only and name not in args.only:
            continue
        d = root / slug(name)
        if (d / "compare.json").exists():
            continue
        t0 = time.perf_counter()
        run_compare(["gru", "rnn"], ["default"], DataSpec(), ("split",), SEEDS, baseline=False,
                    out=d, results=d, log=lambda s: None, **{**BASE, **over})
        res = json.loads((d / "compare.json").read_text())
        val = {r["model"]: r["val_mean"] for r in res["summary"]}
        print(f"{name}: val GRU {100 * val['gru']:.2f}%, RNN {100 * val['rnn']:.2f}% "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
    out = Path(args.results)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, lambda p: p.write_text(table(root) + "\n"))
    print(table(root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
