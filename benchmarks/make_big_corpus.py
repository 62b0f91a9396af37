"""Build a large corpus from real documents, for the loading benchmark (never commit it).

    python benchmarks/make_big_corpus.py                 # 100x BBC: ~85 million words
    python benchmarks/make_big_corpus.py --scale 0.5     # a quick check of the script

Documents are drawn at random, with replacement and a fixed seed, from the BBC
articles (df_file.csv, labelled with BBC's class names) and the 20 Newsgroups posts
(the .tar.gz as distributed, labelled with the group), until the corpus holds
``scale`` times BBC's whitespace-separated words. Written as CSV (Text, Label) to
/tmp by default, atomically.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from textrnn.data import BBC_LABELS, load_bbc, load_dataset

REPO = Path(__file__).resolve().parents[1]
NG20 = REPO.parent / "shared" / "data" / "20ng" / "20news-bydate.tar.gz"


def pool(ng20: Path) -> tuple[list[str], list[str], int]:
    """All BBC and 20NG texts with their class names, and BBC's word count."""
    bbc = load_bbc()
    texts = list(bbc.texts)
    labels = [BBC_LABELS[i] for i in bbc.labels]
    bbc_words = sum(len(t.split()) for t in bbc.texts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 20NG's latin-1 posts: counted in the benchmark
        ng = load_dataset(ng20, progress=False)
    texts += ng.texts
    labels += [ng.label_names[i] for i in ng.labels]
    return texts, labels, bbc_words


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=float, default=100.0, help="times BBC's words (100)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/textrnn-big/corpus.csv"))
    ap.add_argument("--ng20", type=Path, default=NG20, help="the 20NG .tar.gz")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    texts, labels, bbc_words = pool(args.ng20)
    words = np.array([len(t.split()) for t in texts])
    target = int(args.scale * bbc_words)
    rng = np.random.default_rng(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".part")
    n = total = 0
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Text", "Label"])
        while total < target:
            for i in rng.integers(0, len(texts), 10_000):
                w.writerow([texts[i], labels[i]])
                n += 1
                total += int(words[i])
                if total >= target:
                    break
    os.replace(tmp, args.out)
    print(f"{args.out}: {n:,} documents, {total:,} words ({total / bbc_words:.1f}x BBC's "
          f"{bbc_words:,}), {args.out.stat().st_size / 1e6:.0f} MB, "
          f"{len(set(labels))} classes, in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
