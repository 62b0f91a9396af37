"""What a source holds and how it is laid out: one table, several tables named by
split, or documents in class folders, themselves perhaps in split folders.

Layouts found without flags (after dropping a folder that wraps everything, like
``bbc/`` in ``bbc-fulltext.zip``):

- ``<class>/<document>``: folder per class, as scikit-learn's ``load_files`` reads
  it; any file name, with or without an extension;
- ``<split>/<class>/<document>``: the same per split, the split folder's name
  containing ``train``, ``test``, ``val`` / ``valid`` / ``validation`` or ``dev`` as
  a word (``20news-bydate-train``, ``aclImdb/test``);
- table files (``.csv``, ``.tsv``, ``.jsonl``, fastText): one, or several whose names
  say their split (``train.csv``, ``dev.tsv``, ``cooking.valid``).

Files beside the class folders (a README) are not documents and are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import TextrnnError
from . import archives
from .archives import CHUNK, Ignored, kind_of, members, open_lines
from .decoding import Decoder
from .readers import (FASTTEXT_PREFIX, Columns, Record, format_by_name, read_table,
                      sniff_format, split_in_name)


@dataclass
class Source:
    """The records read from one path, and how they were laid out."""
    path: str
    records: list[Record]
    layout: str                       # in words, for the message on what was found
    folders: bool = False             # records are class-folder documents
    notes: list[str] = field(default_factory=list)


def read_source(path: str | Path, columns: Columns, decoder: Decoder, ignored: Ignored,
                progress: bool = True) -> Source:
    """Every labelled document under ``path`` (a file, folder or archive)."""
    path = Path(path)
    if not path.exists():
        raise TextrnnError(f"{path}: no such file or directory")
    kind = kind_of(path)
    with _bar(path, kind, progress) as bar:
        advance = _advancer(bar)
        if kind in ("file", "gz"):
            member = next(members(path, kind, ignored, advance))
            with open_lines(member) as stream:
                head = stream.peek(8192)[:8192]
                if not head.strip():
                    raise TextrnnError(f"{path}: file is empty")
                fmt = format_by_name(member.name) or sniff_format(head)
                records = list(read_table(stream, fmt, member.where, columns, None, decoder))
            layout = f"split column {columns.split!r}" if columns.split else "one file"
            return Source(str(path), records, layout)
        return _read_tree(path, kind, columns, decoder, ignored, advance)


def _read_tree(path: Path, kind: str, columns: Columns, decoder: Decoder, ignored: Ignored,
               advance) -> Source:
    tables: list[tuple[list[str], str, list[Record]]] = []   # (parts, where, records)
    docs: list[tuple[list[str], str | None, str]] = []       # (parts, text or None, where)
    for m in members(path, kind, ignored, advance):
        with open_lines(m) as stream:
            head = stream.peek(8192)[:8192]
            fmt = format_by_name(m.name)
            if fmt is None and head.lstrip().startswith(FASTTEXT_PREFIX.encode()):
                fmt = "fasttext"
            if fmt:
                tables.append((m.parts, m.where,
                               list(read_table(stream, fmt, m.where, columns, None, decoder))))
            else:
                docs.append((m.parts, _document(stream, m.where, decoder), m.where))
    if not tables and not docs:
        raise TextrnnError(f"{path}: no files found ({'empty archive' if kind != 'dir' else 'empty folder'})")
    depth = _common_depth([p for p, _, _ in tables] + [p for p, _, _ in docs])
    tables = [(p[depth:], w, r) for p, w, r in tables]
    docs = [(p[depth:], t, w) for p, t, w in docs]
    # files beside table files (a README next to train.csv) are not documents
    table_dirs = {tuple(p[:-1]) for p, _, _ in tables}
    placed = [d for d in docs if _is_document(d[0]) and tuple(d[0][:-1]) not in table_dirs]
    if tables and placed:
        raise TextrnnError(f"{path}: holds both table files ({tables[0][1]}) and class folders "
                           f"({placed[0][2]}); point --data at one of them")
    if tables:
        return _from_tables(path, tables, columns)
    if columns.split:
        raise TextrnnError(f"{path}: --split-column names a column of a table, but this is "
                           f"a folder per class; lay it out in train / test folders instead")
    if not placed:
        raise TextrnnError(f"{path}: no documents found (expected <class>/<document> files, "
                           f"perhaps under train / test folders, or CSV, TSV, JSON Lines or "
                           f"fastText files)")
    return _from_folders(path, placed)


def _document(stream, where: str, decoder: Decoder) -> str | None:
    """A whole document, decoded; None for binary content (an error if it is used)."""
    out = bytearray()
    while chunk := stream.read(CHUNK):
        out += chunk
        if len(out) > archives.MAX_DOCUMENT_BYTES:
            raise TextrnnError(f"{where}: larger than {archives.MAX_DOCUMENT_BYTES:,} bytes, the "
                               f"limit for one document; not read")
    raw = bytes(out)
    if b"\x00" in raw[:8192]:
        return None
    return decoder(raw, where).strip()


def _common_depth(all_parts: list[list[str]]) -> int:
    """How many leading folders every file shares (a wrapper like ``bbc/``), keeping
    at least one folder level above the files (a one-class corpus keeps its class)."""
    if not all_parts:
        return 0
    first = all_parts[0]
    depth = 0
    while (all(len(p) > depth + 1 and p[depth] == first[depth] for p in all_parts)
           and any(len(p) > depth + 2 for p in all_parts)):
        depth += 1
    return depth


def _is_document(parts: list[str]) -> bool:
    """In a class folder: at least <class>/<doc>, and not a file loose in a split folder."""
    return len(parts) >= 3 or (len(parts) == 2 and split_in_name(parts[0]) is None)


def _from_tables(path: Path, tables, columns: Columns) -> Source:
    if len(tables) == 1:
        parts, _, records = tables[0]
        layout = (f"split column {columns.split!r}" if columns.split
                  else f"one file ({'/'.join(parts)})")
        return Source(str(path), records, layout)
    out: list[Record] = []
    named = []
    for parts, where, records in tables:
        split = split_in_name(parts[-1])
        if split is None:
            raise TextrnnError(f"{where}: several table files, and this one's name gives no "
                               f"split (train, val / valid / dev, test); point --train, --val "
                               f"and --test at the files")
        named.append(f"{'/'.join(parts)} ({split})")
        out += [r if r.split else r._replace(split=split) for r in records]
    return Source(str(path), out, "split files: " + ", ".join(named))


def _from_folders(path: Path, docs) -> Source:
    records: list[Record] = []
    folders: dict[str, str] = {}
    for parts, text, where in docs:
        if text is None:
            raise TextrnnError(f"{where}: not a text document (binary content)")
        if not text:
            raise TextrnnError(f"{where}: empty text")
        split = next((s for s in map(split_in_name, parts[:-2]) if s), None)
        if split:
            top = "/".join(parts[:-2])
            folders.setdefault(top, split)
        records.append(Record(text, parts[-2], split, where))
    with_split = [r for r in records if r.split]
    if with_split and len(with_split) != len(records):
        loose = next(r for r in records if not r.split)
        raise TextrnnError(f"{loose.where}: not under a train / val / test folder, while "
                           f"{with_split[0].where} is; expected one layout")
    if with_split:
        layout = "split folders: " + ", ".join(f"{k}/ ({v})" for k, v in folders.items())
    else:
        layout = "class folders"
    return Source(str(path), records, layout, folders=True)


class _NoBar:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def _bar(path: Path, kind: str, progress: bool):
    """A tqdm bar that appears only if reading takes more than two seconds."""
    if not progress:
        return _NoBar()
    from tqdm.auto import tqdm
    total = None if kind == "dir" else path.stat().st_size
    return tqdm(total=total, unit="B", unit_scale=True, desc=f"reading {path.name}",
                delay=2, leave=False, disable=None)  # None: only on a terminal


def _advancer(bar):
    if bar is None:
        return lambda pos: None
    state = {"pos": 0}

    def advance(pos: int) -> None:
        if pos > state["pos"]:
            bar.update(pos - state["pos"])
            state["pos"] = pos
    return advance

