"""A small reader for 20 Newsgroups "bydate", for the study scripts in ``benchmarks/``
only. It predates the library's corpus readers (``textrnn train --data
20news-bydate.tar.gz``) and stays because it fixes the document order, and so the
validation carves, behind results/recipe.md.

    from newsgroups import load_20ng
    train, test = load_20ng()        # each (texts, labels, label_names)

Members ``20news-bydate-train/<group>/<id>`` and ``20news-bydate-test/<group>/<id>``;
the text is kept as distributed (headers and quoted replies included), decoded as
UTF-8, else latin-1 (some posts are ISO-8859-1).
"""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

DEFAULT = Path(os.environ.get(
    "TEXTRNN_20NG", Path(__file__).resolve().parents[2] / "shared" / "data" / "20ng"
    / "20news-bydate.tar.gz"))  # ../shared beside the checkout, as CI lays it out


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def load_20ng(path: str | Path = DEFAULT):
    """``(train, test)``, each ``(texts, labels, label_names)``: labels are int64 ids
    into the sorted group names, documents in sorted member order (deterministic)."""
    parts: dict[str, list[tuple[str, str, str]]] = {"train": [], "test": []}
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            bits = m.name.split("/")
            if not m.isfile() or len(bits) != 3 or not bits[0].startswith("20news-bydate-"):
                continue
            part = bits[0].removeprefix("20news-bydate-")
            parts[part].append((bits[1], bits[2], _decode(tar.extractfile(m).read())))
    names = sorted({g for g, _, _ in parts["train"]})
    index = {g: i for i, g in enumerate(names)}
    out = []
    for part in ("train", "test"):
        docs = sorted(parts[part], key=lambda d: (d[0], int(d[1]) if d[1].isdigit() else d[1]))
        out.append(([t for _, _, t in docs], np.array([index[g] for g, _, _ in docs]), names))
    return tuple(out)


def carve_latest(labels: np.ndarray, fraction: float = 0.15):
    """``(train_idx, val_idx)``: in each group the latest ``fraction`` of the training
    posts as val. ``load_20ng`` orders each group by file id, the Usenet article number,
    which grows with time (test ids lie mostly above train ids in every group), so this
    val is later than the posts trained on, as the bydate test is."""
    val = []
    for g in np.unique(labels):
        idx = np.flatnonzero(labels == g)             # in article order
        val += list(idx[len(idx) - round(fraction * len(idx)):])
    val = np.array(sorted(val))
    return np.setdiff1d(np.arange(len(labels)), val), val


def carve_val(labels: np.ndarray, fraction: float = 0.15, seed: int = 0):
    """Stratified ``(train_idx, val_idx)`` of the training posts, fixed seed."""
    idx = np.arange(len(labels))
    return train_test_split(idx, test_size=fraction, random_state=seed, stratify=labels)
