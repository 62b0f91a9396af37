"""One reader per table format, each turning a byte stream into :class:`Record` s.

- CSV / TSV: a header row names the columns; the text and label columns are chosen
  with ``--text-column`` / ``--label-column`` (matched exactly, else ignoring case,
  so ``text,label`` works with the defaults); quoted fields may span lines.
- JSON Lines: one JSON object per line, the same field names as the CSV columns; a
  label is a string or an integer.
- fastText: ``__label__NAME words ...`` one document per line, as fastText's
  ``supervised`` mode reads it. textrnn is single-label: a line with several labels
  keeps the first, and one warning per file says how many lines had more.

Bytes are decoded line by line (:class:`~textrnn.corpus.decoding.Decoder`), so a
file mixing encodings is read, and each problem names the file and line.
"""

from __future__ import annotations

import csv
import json
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

from ..errors import TextrnnError
from .decoding import Decoder

csv.field_size_limit(1 << 30)

TABLE_FORMATS = ("csv", "tsv", "jsonl", "fasttext")
_BY_EXTENSION = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl",
                 ".ndjson": "jsonl", ".json": "jsonl", ".ft": "fasttext", ".fasttext": "fasttext"}
FASTTEXT_PREFIX = "__label__"

# split names as corpora spell them (train / validation / test, fastText's .valid, GLUE's dev)
SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val",
                 "validation": "val", "dev": "val", "test": "test", "testing": "test"}
SPLITS = ("train", "val", "test")


class Record(NamedTuple):
    text: str
    label: str
    split: str | None     # 'train' / 'val' / 'test', or None: not given
    where: str            # names the record in error messages


@dataclass(frozen=True)
class Columns:
    """Which columns (or JSON fields) hold the text, the label and the split."""
    text: str = "Text"
    label: str = "Label"
    split: str | None = None


def split_of(value: str) -> str | None:
    """'train', 'val' or 'test' for a split's name (any case), else None."""
    return SPLIT_ALIASES.get(value.strip().lower())


def split_in_name(name: str) -> str | None:
    """The split a file or folder name announces (``20news-bydate-train``,
    ``cooking.valid``, ``dev.tsv``), or None when it names none or several."""
    found = {SPLIT_ALIASES[w] for w in re.split(r"[^a-z]+", name.lower()) if w in SPLIT_ALIASES}
    return found.pop() if len(found) == 1 else None


def format_by_name(name: str) -> str | None:
    """A table format from a file name's extension, else None."""
    m = re.search(r"(\.[A-Za-z]+)$", name)
    return _BY_EXTENSION.get(m.group(1).lower()) if m else None


def sniff_format(head: bytes) -> str:
    """A format from a file's first bytes, for names that say nothing."""
    start = head.lstrip()
    if start.startswith(FASTTEXT_PREFIX.encode()):
        return "fasttext"
    if start.startswith(b"{"):
        return "jsonl"
    return "csv"


def read_table(stream: BinaryIO, fmt: str, where: str, columns: Columns,
               split: str | None, decoder: Decoder) -> Iterator[Record]:
    """The records of one table; ``split`` is the split its name announces, if any."""
    head = stream.peek(8192)[:8192]  # type: ignore[attr-defined]
    if not head.strip():
        raise TextrnnError(f"{where}: file is empty")
    if b"\x00" in head:
        what = {"csv": "CSV", "tsv": "TSV", "jsonl": "JSON Lines", "fasttext": "fastText"}[fmt]
        raise TextrnnError(f"{where}: not a {what} file (binary content)")
    lines = _lines(stream, where, decoder)
    if fmt == "jsonl":
        return _jsonl(lines, where, columns, split)
    if fmt == "fasttext":
        if columns.split:
            raise TextrnnError(f"{where}: a fastText file has no columns, so no "
                               f"--split-column; give its parts as --train / --val / --test")
        return _fasttext(lines, where, split)
    delimiter = "\t" if fmt == "tsv" else _sniff_delimiter(head, where)
    return _csv(lines, where, columns, split, delimiter)


def _lines(stream: BinaryIO, where: str, decoder: Decoder) -> Iterator[str]:
    for n, raw in enumerate(stream, start=1):
        yield decoder(raw, f"{where}, line {n}")


def _sniff_delimiter(head: bytes, where: str) -> str:
    """From the header line: ',' if it has one, else the most frequent of tab ; |."""
    text = Decoder()(head.split(b"\n", 1)[0], where)
    counts = {d: text.count(d) for d in ",\t;|"}
    if counts[","]:
        return ","   # the common case, and quoted commas in later lines cannot fool it
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _column(found: list[str], name: str, option: str, where: str) -> int:
    """Index of column ``name``: exact, else the one column equal ignoring case."""
    if name in found:
        return found.index(name)
    folded = [i for i, h in enumerate(found) if h.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    raise TextrnnError(f"{where}: no column {name!r} (found: {', '.join(found)}); "
                       f"name it with {option}")


def _csv(lines: Iterator[str], path: str, columns: Columns, split: str | None,
         delimiter: str) -> Iterator[Record]:
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise TextrnnError(f"{path}: file is empty") from None
    except csv.Error as e:
        raise TextrnnError(f"{path}, line {reader.line_num}: not valid CSV ({e})") from None
    ti = _column(header, columns.text, "--text-column", path)
    li = _column(header, columns.label, "--label-column", path)
    si = _column(header, columns.split, "--split-column", path) if columns.split else None
    n = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise TextrnnError(f"{path}, line {reader.line_num}: not valid CSV ({e})") from None
        if not any(c.strip() for c in row):
            continue  # blank line
        n += 1
        w = f"{path}, row {n} (line {reader.line_num})"
        if len(row) != len(header):
            raise TextrnnError(f"{w}: {len(row)} fields, expected {len(header)} like the header")
        text = row[ti].strip()
        if not text:
            raise TextrnnError(f"{w}, column {header[ti]!r}: empty text")
        part = _split_value(row[si], f"{w}, column {header[si]!r}") if si is not None else split
        yield Record(text, row[li], part, f"{w}, column {header[li]!r}")
    if n == 0:
        raise TextrnnError(f"{path}: no data rows after the header")


def _split_value(value: str, where: str) -> str:
    s = split_of(value)
    if s is None:
        raise TextrnnError(f"{where}: unknown split {value.strip()!r} (expected train, "
                           f"val / dev / validation, or test)")
    return s


def _field(obj: dict, name: str, option: str, where: str):
    if name in obj:
        return obj[name]
    folded = [k for k in obj if isinstance(k, str) and k.lower() == name.lower()]
    if len(folded) == 1:
        return obj[folded[0]]
    raise TextrnnError(f"{where}: no field {name!r} (found: {', '.join(map(str, obj)) or 'none'});"
                       f" name it with {option}")


def _jsonl(lines: Iterator[str], path: str, columns: Columns,
           split: str | None) -> Iterator[Record]:
    n = 0
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        w = f"{path}, line {line_no}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            hint = ("; expected JSON Lines, one object per line" if line_no == 1
                    and line.lstrip().startswith("[") else "")
            raise TextrnnError(f"{w}: not valid JSON ({e.msg}, column {e.colno}){hint}") from None
        except RecursionError:
            raise TextrnnError(f"{w}: JSON nested too deeply") from None
        if not isinstance(obj, dict):
            raise TextrnnError(f"{w}: expected a JSON object, found {type(obj).__name__}")
        text = _field(obj, columns.text, "--text-column", w)
        label = _field(obj, columns.label, "--label-column", w)
        if not isinstance(text, str):
            raise TextrnnError(f"{w}: field {columns.text!r} is not a string")
        if not text.strip():
            raise TextrnnError(f"{w}, field {columns.text!r}: empty text")
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise TextrnnError(f"{w}: field {columns.label!r} is not a string or an integer "
                               f"(found {json.dumps(label)[:40]})")
        part = split
        if columns.split:
            value = _field(obj, columns.split, "--split-column", w)
            part = _split_value(str(value), f"{w}, field {columns.split!r}")
        n += 1
        yield Record(text.strip(), str(label), part, f"{w}, field {columns.label!r}")
    if n == 0:
        raise TextrnnError(f"{path}: no JSON objects found")


def _fasttext(lines: Iterator[str], path: str, split: str | None) -> Iterator[Record]:
    n = multi = 0
    first_multi = None
    for line_no, line in enumerate(lines, start=1):
        words = line.split()
        if not words:
            continue
        w = f"{path}, line {line_no}"
        labels = [x for x in words if x.startswith(FASTTEXT_PREFIX)]
        if not labels:
            raise TextrnnError(f"{w}: no label (a fastText line starts with "
                               f"{FASTTEXT_PREFIX}NAME)")
        label = labels[0][len(FASTTEXT_PREFIX):]
        if not label:
            raise TextrnnError(f"{w}: empty label {FASTTEXT_PREFIX!r}")
        text = " ".join(x for x in words if not x.startswith(FASTTEXT_PREFIX))
        if not text:
            raise TextrnnError(f"{w}: no text after the label")
        if len(set(labels)) > 1:
            multi += 1
            first_multi = first_multi or line_no
        n += 1
        yield Record(text, label, split, w)
    if n == 0:
        raise TextrnnError(f"{path}: no labelled lines found")
    if multi:
        warnings.warn(f"{path}: {multi} line{'s have' if multi > 1 else ' has'} several labels "
                      f"(first: line {first_multi}); textrnn is single-label and kept the "
                      f"first label of each", stacklevel=2)
