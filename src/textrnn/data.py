"""Reading labelled documents (CSV, folder-per-class directory or .zip), the BBC
dataset's home and download, and the train / validation / test splits.

Every problem with a file is raised as :class:`TextrnnError` naming the file, the
row and the column, because a user's first run is usually against their own CSV.
"""

from __future__ import annotations

import csv
import hashlib
import http.client
import io
import os
import re
import tempfile
import urllib.request
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from .checkpoint import default_mode
from .errors import TextrnnError

BBC_LABELS = ["Politics", "Sport", "Technology", "Entertainment", "Business"]
_BBC_ALIASES = {"politics": 0, "sport": 1, "tech": 2, "technology": 2,
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

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: np.ndarray) -> "Dataset":
        return Dataset([self.texts[i] for i in idx], self.labels[idx], self.label_names,
                       self.source)


# -- decoding --------------------------------------------------------------------
def decode_text(raw: bytes, name: str) -> str:
    """UTF-8, else cp1252 with a warning: one BBC file (sport/199.txt) is cp1252."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        warnings.warn(f"{name}: not valid UTF-8, decoded as cp1252", stacklevel=2)
        return raw.decode("cp1252", errors="replace")


# -- labels ----------------------------------------------------------------------
def _as_int(s: str) -> int | None:
    return int(s) if re.fullmatch(r"[+-]?\d+", s.strip()) else None


def encode_labels(raw: list[str], where: list[str],
                  label_names: list[str] | None = None) -> tuple[np.ndarray, list[str]]:
    """Map raw label strings to ids. ``where[i]`` names row i in error messages.

    With ``label_names`` (a saved model's, or ``--label-names``) a label may be a name
    (any case) or an id in ``0..K-1``; anything else is an error. Without, integer
    labels ``0..K-1`` are kept as ids (named after the BBC classes when K is 5, as in
    df_file.csv), BBC class names map to the BBC ids, and other strings are sorted.
    """
    for w, s in zip(where, raw):
        if not s.strip():
            raise TextrnnError(f"{w}: missing label")
    if label_names is not None:
        by_name = {n.lower(): i for i, n in enumerate(label_names)}
        ids = []
        for w, s in zip(where, raw):
            k = _as_int(s)
            i = k if k is not None and 0 <= k < len(label_names) else by_name.get(s.strip().lower())
            if i is None:
                raise TextrnnError(f"{w}: label {s.strip()!r} is not in the label set "
                                   f"(0..{len(label_names) - 1} or {', '.join(label_names)})")
            ids.append(i)
        return np.array(ids, dtype=np.int64), list(label_names)
    ints = [_as_int(s) for s in raw]
    if all(k is not None for k in ints):
        values = sorted(set(ints))
        if values == list(range(len(values))):
            names = BBC_LABELS if len(values) == BBC_CLASSES else [str(v) for v in values]
            return np.array(ints, dtype=np.int64), list(names)
        names = [str(v) for v in values]
        return np.array([values.index(k) for k in ints], dtype=np.int64), names
    keys = [s.strip() for s in raw]
    if all(k.lower() in _BBC_ALIASES for k in keys):
        return np.array([_BBC_ALIASES[k.lower()] for k in keys], dtype=np.int64), list(BBC_LABELS)
    names = sorted(set(keys))
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[k] for k in keys], dtype=np.int64), names


# -- CSV -------------------------------------------------------------------------
def load_csv(path: str | Path, text_column: str = "Text", label_column: str = "Label",
             label_names: list[str] | None = None) -> Dataset:
    path = Path(path)
    raw = _read_bytes(path)
    if not raw.strip():
        raise TextrnnError(f"{path}: file is empty")
    if b"\x00" in raw[:8192]:
        raise TextrnnError(f"{path}: not a CSV file (binary content)")
    text = decode_text(raw, str(path))
    csv.field_size_limit(1 << 30)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as e:
        raise TextrnnError(f"{path}, line {reader.line_num}: not valid CSV ({e})") from None
    header = [h.strip() for h in header]
    for col, opt in ((text_column, "--text-column"), (label_column, "--label-column")):
        if col not in header:
            raise TextrnnError(f"{path}: no column {col!r} (found: {', '.join(header)}); "
                               f"name it with {opt}")
    ti, li = header.index(text_column), header.index(label_column)
    texts, labels, where = [], [], []
    for n, (line, row) in enumerate(rows, start=1):
        if not any(c.strip() for c in row):
            continue  # blank line
        w = f"{path}, row {n} (line {line})"
        if len(row) != len(header):
            raise TextrnnError(f"{w}: {len(row)} fields, expected {len(header)} like the header")
        if not row[ti].strip():
            raise TextrnnError(f"{w}, column {text_column!r}: empty text")
        texts.append(row[ti].strip())
        labels.append(row[li])
        where.append(f"{w}, column {label_column!r}")
    if not texts:
        raise TextrnnError(f"{path}: no data rows after the header")
    ids, names = encode_labels(labels, where, label_names)
    return Dataset(texts, ids, names, str(path))


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise TextrnnError(f"{path}: no such file")
    if path.is_dir():
        raise TextrnnError(f"{path}: is a directory, expected a file")
    try:
        return path.read_bytes()
    except OSError as e:
        raise TextrnnError(f"{path}: cannot read ({e.strerror})") from None


# -- folder per class ------------------------------------------------------------
def _natural_key(name: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def load_folder(path: str | Path, label_names: list[str] | None = None) -> Dataset:
    """``<root>/<class>/<doc>.txt`` as a directory or a .zip (like bbc-fulltext.zip).

    Documents are ordered by class id, then file name (numbers compared as numbers),
    which is the order of df_file.csv, so both give the same splits.
    """
    path = Path(path)
    if not path.exists():
        raise TextrnnError(f"{path}: no such file or directory")
    docs: list[tuple[str, str, bytes]] = []  # (class, name, raw)
    if path.is_dir():
        for f in sorted(path.rglob("*.txt")):
            if f.parent != path:
                docs.append((f.parent.name, str(f), f.read_bytes()))
    else:
        try:
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    parts = info.filename.split("/")
                    if (info.is_dir() or not info.filename.endswith(".txt") or len(parts) < 2
                            or parts[0] == "__MACOSX"):
                        continue
                    docs.append((parts[-2], f"{path}:{info.filename}", z.read(info)))
        except (zipfile.BadZipFile, OSError) as e:
            raise TextrnnError(f"{path}: not a readable .zip ({e})") from None
    if not docs:
        raise TextrnnError(f"{path}: no <class>/<document>.txt files found")
    classes = sorted({c for c, _, _ in docs})
    if len(classes) < 2 and label_names is None:
        raise TextrnnError(f"{path}: found one class folder ({classes[0]}), need at least two")
    texts, raw_labels, where = [], [], []
    for cls, name, raw in docs:
        text = decode_text(raw, name).strip()
        if not text:
            raise TextrnnError(f"{name}: empty text")
        texts.append(text)
        raw_labels.append(cls)
        where.append(name)
    ids, names = encode_labels(raw_labels, where, label_names)
    order = sorted(range(len(texts)), key=lambda i: (ids[i], _natural_key(where[i])))
    return Dataset([texts[i] for i in order], ids[order], names, str(path))


def load_dataset(path: str | Path | None = None, text_column: str = "Text",
                 label_column: str = "Label", label_names: list[str] | None = None) -> Dataset:
    """A CSV file, a folder-per-class directory or .zip, or (``None``) the BBC dataset."""
    if path is None:
        return load_bbc(label_names=label_names)
    p = Path(path)
    if p.is_dir() or p.suffix.lower() == ".zip":
        return load_folder(p, label_names)
    return load_csv(p, text_column, label_column, label_names)


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
    if csv_path.exists():
        ds = load_csv(csv_path, label_names=label_names)
    else:
        if not zip_path.exists():
            download(url or os.environ.get("TEXTRNN_BBC_URL", BBC_URL), zip_path, BBC_ZIP_SHA256)
        ds = load_folder(zip_path, label_names)
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
        seen: set[str] = set()
        keep = []
        for i, t in enumerate(ds.texts):
            if t not in seen:
                seen.add(t)
                keep.append(i)
        dropped = len(idx) - len(keep)
        idx = np.array(keep)
    y = ds.labels[idx]
    try:
        train, rest = train_test_split(idx, test_size=test_size, random_state=seed,
                                       stratify=y if stratify else None)
        val, test = train_test_split(rest, test_size=0.5, random_state=seed,
                                     stratify=ds.labels[rest] if stratify else None)
    except ValueError as e:
        raise TextrnnError(f"{ds.source}: cannot split {len(idx)} documents ({e})") from None
    return {"train": train, "val": val, "test": test}, dropped
