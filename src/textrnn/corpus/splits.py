"""Train / validation / test index arrays: the corpus's own split where it has one,
else the assignment's 70/15/15 random split.

A part the corpus lacks is carved from its train part (``val_fraction`` of it, the
Config setting that ``TextClassifier.fit`` uses to hold out validation texts, counted
the same way), stratified by class when every class has the two documents that
needs; otherwise one message says the carve is plain random and why.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from sklearn.model_selection import train_test_split

from ..errors import TextrnnError

def assignment_split(labels: np.ndarray, idx: np.ndarray, seed: int, stratify: bool,
                     test_size: float, source: str, names: list[str]) -> dict[str, np.ndarray]:
    """``train_test_split(test_size=0.3, random_state=seed)``, then the held-out part
    half/half with the same seed (1,557 / 334 / 334 on BBC)."""
    if stratify:
        _check_stratifiable(labels[idx], source, names)
    try:
        train, rest = train_test_split(idx, test_size=test_size, random_state=seed,
                                       stratify=labels[idx] if stratify else None)
        val, test = train_test_split(rest, test_size=0.5, random_state=seed,
                                     stratify=labels[rest] if stratify else None)
    except ValueError as e:
        raise TextrnnError(f"{source}: cannot split {len(idx)} documents ({e})") from None
    return {"train": train, "val": val, "test": test}


def _check_stratifiable(y: np.ndarray, source: str, names: list[str]) -> None:
    counts = Counter(y.tolist())
    small = min(counts, key=counts.get)
    if counts[small] < 2:
        raise TextrnnError(f"{source}: class {names[small]!r} has {counts[small]} document; a "
                           f"stratified split needs at least 2 of each class (drop --stratify)")


def carve(idx: np.ndarray, labels: np.ndarray, size: float, seed: int,
          names: list[str], what: str) -> tuple[np.ndarray, np.ndarray, str]:
    """Split ``idx`` into (kept, carved) with ``size`` of it carved, stratified when
    every class allows it. Returns a sentence saying what was done."""
    y = labels[idx]
    n_carve = min(max(1, round(size * len(idx))), len(idx) - 1)
    counts = Counter(y.tolist())
    k = len(counts)
    small = min(counts, key=counts.get) if counts else None
    if len(idx) < 2:
        raise TextrnnError(f"cannot carve a {what} part from {len(idx)} training document")
    if counts[small] >= 2 and k <= n_carve <= len(idx) - k:
        kept, part = train_test_split(idx, test_size=n_carve, random_state=seed, stratify=y)
        how = "stratified by class"
    else:
        kept, part = train_test_split(idx, test_size=n_carve, random_state=seed)
        why = (f"class {names[small]!r} has {counts[small]} training document"
               if counts[small] < 2 else f"{n_carve} documents cannot hold all {k} classes")
        how = f"not stratified ({why})"
    return kept, part, f"{what}: {100 * size:g}% of train ({len(part):,} documents), {how}"


def dedupe(texts: list[str], order: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Drop exact duplicate texts, keeping the first copy scanning the parts in ``order``."""
    seen: set[str] = set()
    out, dropped = [], 0
    for idx in order:
        keep = []
        for i in idx.tolist():
            if texts[i] in seen:
                dropped += 1
            else:
                seen.add(texts[i])
                keep.append(i)
        out.append(np.array(keep, dtype=np.int64))
    return out, dropped
