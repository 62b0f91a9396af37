"""Labelled documents as corpora are distributed (CSV, TSV, JSON Lines, fastText,
folder per class, and any of these in a .zip, .tar, .tar.gz or .gz), the corpus's
own train / val / test split, the BBC dataset's home and download, and the splits.

Every problem with a file is raised as :class:`TextrnnError` naming the file, the
row or line and the column, because a user's first run is usually against their
own data. The readers live in :mod:`textrnn.corpus`; see ``docs/corpora.md``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .checkpoint import default_mode
from .corpus import splits as _splits
from .corpus.archives import Ignored
from .corpus.decoding import Decoder
from .corpus.layout import Source, read_source
from .corpus.readers import SPLITS, Columns
from .errors import TextrnnError

BBC_LABELS = ["Politics", "Sport", "Technology", "Entertainment", "Business"]
BBC_ALIASES = {"politics": 0, "sport": 1, "tech": 2, "technology": 2,
                "entertainment": 3, "business": 4}
BBC_URL = "http://mlg.ucd.ie/files/datasets/bbc-fulltext.zip"
BBC_ZIP_SHA256 = "3b63088333102316c4780aff395f5eebd3cebfdb117691af7e8380905ccff8bd"
BBC_SIZE, BBC_CLASSES = 2225, 5


@dataclass
class Dataset:
    texts: list[str]
    labels: np.ndarray                  # int64 ids into label_names
    label_names: list[str]
    source: str = ""
    notes: list[str] = field(default_factory=list)
    # the corpus's own split (index arrays by 'train' / 'val' / 'test'), None if it has none
    splits: dict[str, np.ndarray] | None = None
    layout: str = ""                    # how the documents were found, in words

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: np.ndarray) -> "Dataset":
        return Dataset([self.texts[i] for i in idx], self.labels[idx], self.label_names,
                       self.source)


# -- labels ----------------------------------------------------------------------
def _as_int(s: str) -> int | None:
    return int(s) if re.fullmatch(r"[+-]?\d{1,18}", s.strip()) else None


def encode_labels(raw: list[str], where: list[str], label_names: list[str] | None = None,
                  aliases: dict[str, int] | None = None) -> tuple[np.ndarray, list[str]]:
    """Map raw label strings to ids. ``where[i]`` names row i in error messages.

    Without ``label_names`` the classes come from the data: integer labels stay
    integers (ids in numeric order, named by their values), other labels are sorted.
    With ``label_names`` (a saved model's, or the BBC's) a label may be a name (any
    case), one of ``aliases`` (lower-case name to id) or an id in ``0..K-1``; anything
    else is an error.
    """
    keys = [s.strip() for s in raw]
    if "" in set(keys):
        raise TextrnnError(f"{where[keys.index('')]}: missing label")
    distinct = dict.fromkeys(keys)  # each distinct label is parsed once, in first-seen order
    if label_names is not None:
        by_name = {**(aliases or {}), **{n.lower(): i for i, n in enumerate(label_names)}}
        for key in distinct:
            k = _as_int(key)
            distinct[key] = k if k is not None and 0 <= k < len(label_names) \
                else by_name.get(key.lower())
        bad = [key for key, i in distinct.items() if i is None]
        if bad:
            w = where[keys.index(bad[0])]
            raise TextrnnError(f"{w}: label {bad[0]!r} is not in the label set "
                               f"(0..{len(label_names) - 1} or {', '.join(label_names)})")
        return np.array([distinct[k] for k in keys], dtype=np.int64), list(label_names)
    ints = {key: _as_int(key) for key in distinct}
    if all(k is not None for k in ints.values()):
        values = sorted(set(ints.values()))
        index = {v: i for i, v in enumerate(values)}
        return (np.array([index[ints[k]] for k in keys], dtype=np.int64),
                [str(v) for v in values])
    names = sorted(distinct)
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[k] for k in keys], dtype=np.int64), names


# -- loading -----------------------------------------------------------------------
def _natural_key(name: str) -> list:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", name)]


def load_dataset(path: str | Path | None = None, text_column: str = "Text",
                 label_column: str = "Label", label_names: list[str] | None = None, *,
                 split_column: str | None = None, train: str | Path | None = None,
                 val: str | Path | None = None, test: str | Path | None = None,
                 label_aliases: dict[str, int] | None = None,
                 progress: bool = True, need_train: bool = True) -> Dataset:
    """Read a corpus: ``path`` (any format, archive or layout; see ``docs/corpora.md``),
    or the parts ``train`` / ``val`` / ``test`` given one path each, or (none given)
    the BBC dataset.

    The corpus's own split, when it has one (split folders, split files, a
    ``split_column``, or the parts given apart), is in ``Dataset.splits``.
    """
    parts = {"train": train, "val": val, "test": test}
    if path is None and not any(parts.values()):
        return load_bbc(label_names=label_names)
    if path is not None and any(parts.values()):
        raise TextrnnError("give either --data or --train / --val / --test, not both")
    if path is None and train is None and need_train:
        raise TextrnnError("--val and --test need --train (the documents to learn from)")
    columns = Columns(text_column, label_column, split_column)
    decoder, ignored = Decoder(), Ignored()
    if path is not None:
        sources = [read_source(path, columns, decoder, ignored, progress)]
    else:
        sources = []
        for name, p in parts.items():
            if p is not None:
                src = read_source(p, columns, decoder, ignored, progress)
                src.records = [r._replace(split=name) for r in src.records]
                src.layout = f"--{name} {p}"
                sources.append(src)
    ds = _assemble(sources, label_names, label_aliases)
    decoder.report()   # one warning per load each, not one per document
    ignored.report()
    return ds


def _assemble(sources: list[Source], label_names: list[str] | None,
              aliases: dict[str, int] | None) -> Dataset:
    records = [r for s in sources for r in s.records]
    name = sources[0].path if len(sources) == 1 else " + ".join(s.path for s in sources)
    ids, names = encode_labels([r.label for r in records], [r.where for r in records],
                               label_names, aliases)
    if label_names is None and len(names) < 2:
        raise TextrnnError(f"{name}: found one class ({names[0]}), need at least two")
    # class folders are read in the order of df_file.csv: class id, then file name with
    # numbers compared as numbers, so the zip and the CSV give the same split
    order: list[int] = []
    start = 0
    for s in sources:
        idx = range(start, start + len(s.records))
        if s.folders:
            rank = {k: i for i, k in enumerate(SPLITS)}
            idx = sorted(idx, key=lambda i: (rank.get(records[i].split, -1), ids[i],
                                             _natural_key(records[i].where)))
        order += idx
        start += len(s.records)
    texts = [records[i].text for i in order]
    split_of = [records[i].split for i in order]
    ids = ids[np.array(order, dtype=np.int64)] if order else ids
    own = None
    if any(split_of):
        own = {k: np.array([i for i, s in enumerate(split_of) if s == k], dtype=np.int64)
               for k in SPLITS}
        own = {k: v for k, v in own.items() if len(v)}
    layout = "; ".join(s.layout for s in sources)
    return Dataset(texts, ids, names, name, splits=own, layout=layout)


def load_csv(path: str | Path, text_column: str = "Text", label_column: str = "Label",
             label_names: list[str] | None = None) -> Dataset:
    """One table file (CSV, TSV, JSON Lines or fastText, perhaps gzip-compressed)."""
    path = Path(path)
    if not path.exists():
        raise TextrnnError(f"{path}: no such file")
    if path.is_dir():
        raise TextrnnError(f"{path}: is a directory, expected a file")
    return load_dataset(path, text_column, label_column, label_names, progress=False)


def load_folder(path: str | Path, label_names: list[str] | None = None,
                label_aliases: dict[str, int] | None = None) -> Dataset:
    """``<root>/<class>/<document>`` as a directory or an archive (like bbc-fulltext.zip).

    Documents are ordered by class id, then file name (numbers compared as numbers),
    which is the order of df_file.csv, so both give the same splits.
    """
    return load_dataset(path, label_names=label_names, label_aliases=label_aliases,
                        progress=False)


# -- the BBC dataset's home --------------------------------------------------------
# In a source checkout laid out as CI lays it out (the data beside the repository),
# that copy is used with no setting at all.
CHECKOUT_BBC = Path(__file__).resolve().parents[3] / "shared" / "data" / "bbc"


def data_home() -> Path:
    """``$TEXTRNN_DATA`` if set; else ``../shared/data/bbc`` beside a source checkout
    when it holds the data; else the user cache directory (``~/.cache/textrnn``)."""
    env = os.environ.get("TEXTRNN_DATA")
    if env:
        return Path(env).expanduser()
    if (CHECKOUT_BBC / "df_file.csv").exists() or (CHECKOUT_BBC / "bbc-fulltext.zip").exists():
        return CHECKOUT_BBC
    from platformdirs import user_cache_dir
    return Path(user_cache_dir("textrnn"))


def load_bbc(home: Path | None = None, url: str | None = None,
             label_names: list[str] | None = None) -> Dataset:
    """df_file.csv or bbc-fulltext.zip from the data home, downloading the zip if neither."""
    home = home or data_home()
    if home.exists() and not home.is_dir():
        raise TextrnnError(f"{home}: not a directory; the BBC data home (TEXTRNN_DATA) is the "
                           f"folder that holds df_file.csv or bbc-fulltext.zip")
    csv_path, zip_path = home / "df_file.csv", home / "bbc-fulltext.zip"
    names = label_names or BBC_LABELS  # df_file.csv's ids 0..4, the zip's folder names
    if csv_path.exists():
        path = csv_path
    else:
        if not zip_path.exists():
            download(url or os.environ.get("TEXTRNN_BBC_URL", BBC_URL), zip_path, BBC_ZIP_SHA256)
        path = zip_path
    try:
        ds = load_dataset(path, label_names=names, label_aliases=BBC_ALIASES, progress=False)
    except TextrnnError as e:
        raise TextrnnError(f"{e} (expected the BBC dataset in {home})") from None
    if len(ds) != BBC_SIZE or len(ds.label_names) != BBC_CLASSES:
        raise TextrnnError(f"{ds.source}: expected the BBC dataset ({BBC_SIZE} articles, "
                           f"{BBC_CLASSES} classes), found {len(ds)} articles, "
                           f"{len(ds.label_names)} classes")
    return ds


def download(url: str, dest: Path, sha256: str | None = None) -> Path:
    """Fetch ``url`` to ``dest`` with a progress bar; the file appears only once whole
    and checked, so an interrupted download never leaves a half file behind."""
    from tqdm.auto import tqdm
    tmp = None
    digest = hashlib.sha256()
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}",
                      leave=False) as bar:
                while chunk := resp.read(1 << 16):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if sha256 and digest.hexdigest() != sha256:
            raise TextrnnError(f"{url}: checksum mismatch (sha256 {digest.hexdigest()}, "
                               f"expected {sha256})")
        os.chmod(tmp, default_mode())
        os.replace(tmp, dest)
    except (OSError, ValueError, http.client.HTTPException) as e:  # ValueError: a bad URL
        reason = e if isinstance(e, OSError) else f"{type(e).__name__}: {e}"
        raise TextrnnError(f"{url}: download failed ({reason}); put df_file.csv or "
                           f"bbc-fulltext.zip in {dest.parent} or set TEXTRNN_DATA") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
    return dest


# -- splits ----------------------------------------------------------------------
def split(ds: Dataset, seed: int = 42, stratify: bool = False, dedupe: bool = False,
          test_size: float = 0.3) -> tuple[dict[str, np.ndarray], int]:
    """The assignment's split: ``train_test_split(test_size=0.3, random_state=seed)``,
    then the held-out part half/half with the same seed (1,557 / 334 / 334 on BBC).

    Returns index arrays into ``ds`` and the number of duplicates dropped. ``dedupe``
    keeps the first copy of each exact duplicate text, so no copy crosses a split.
    """
    idx = np.arange(len(ds))
    dropped = 0
    if dedupe:
        (idx,), dropped = _splits.dedupe(ds.texts, [idx])
    return _splits.assignment_split(ds.labels, idx, seed, stratify, test_size, ds.source,
                                    ds.label_names), dropped


def corpus_splits(ds: Dataset, seed: int = 42, stratify: bool = False, dedupe: bool = False,
                  val_size: float = 0.1) -> tuple[dict[str, np.ndarray], int, str]:
    """The corpus's own split where it has one, else :func:`split`.

    A missing test part is carved from train first, then a missing val part (each
    ``val_size`` of train, stratified when every class allows; runs pass the config's
    ``val_fraction``, whose default is this one's). With ``dedupe``,
    duplicates are dropped keeping the copy in test, then val, then train.
    Returns the index arrays, the duplicates dropped, and one line saying what was done.
    """
    own = ds.splits
    if not own or set(own) == {"train"}:
        parts, dropped = split(ds, seed, stratify, dedupe)
        return parts, dropped, ("no split in the data: the assignment's 70/15/15 random split "
                                f"(seed {seed}{', stratified' if stratify else ''})")
    if "train" not in own:
        raise TextrnnError(f"{ds.source}: no train part found (found: {', '.join(own)})")
    names = [k for k in ("test", "val", "train") if k in own]
    dropped = 0
    parts = dict(own)
    if dedupe:
        kept, dropped = _splits.dedupe(ds.texts, [own[k] for k in names])
        parts = dict(zip(names, kept))
    said = [f"the corpus's own split ({ds.layout}): "
            + " / ".join(f"{len(own[k]):,} {k}" for k in SPLITS if k in own)]
    for missing in ("test", "val"):
        if missing not in parts:
            parts["train"], parts[missing], how = _splits.carve(
                parts["train"], ds.labels, val_size, seed, ds.label_names, missing)
            said.append(how)
    parts = {k: np.sort(parts[k]) for k in SPLITS}
    said.append("used: " + " / ".join(f"{len(parts[k]):,} {k}" for k in SPLITS))
    return parts, dropped, "; ".join(said)
