"""Folders and archives read in place, never extracted, never trusted.

A *source* is a directory, a ``.zip``, a ``.tar`` (plain or gzip / bzip2 / xz
compressed: ``.tar.gz``, ``.tgz``, ...), a single gzip-compressed file, or a plain
file. :func:`members` yields its files one at a time as :class:`Member` objects whose
``open()`` gives a byte stream; tar archives are read as a stream, so a ``.tar.gz``
is decompressed once, front to back.

Safety, since an archive may come from anyone:

- nothing is ever written to disk;
- a member whose path is absolute or climbs out with ``..``, and any link or device
  in a tar, is ignored, and one warning per load names the first such member;
- no member may inflate past :data:`MAX_MEMBER_BYTES`, no document past
  :data:`MAX_DOCUMENT_BYTES`, and an archive's members together past
  :data:`MAX_TOTAL_BYTES` (a zip bomb): members are read in chunks of
  :data:`CHUNK` bytes and reading stops with an error naming the member as soon as
  a limit is passed, so memory stays bounded by the limit.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import tarfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import TextrnnError

#: Largest size a compressed member (a CSV inside a zip, a ``.csv.gz``) may inflate to.
MAX_MEMBER_BYTES = 2 << 30          # 2 GiB
#: Largest single document (one file of a folder-per-class corpus): beyond this it is
#: not a text to classify but a mistake or a bomb.
MAX_DOCUMENT_BYTES = 64 << 20       # 64 MiB
#: Largest total an archive's members may inflate to.
MAX_TOTAL_BYTES = 16 << 30          # 16 GiB
CHUNK = 1 << 20

# errors that the standard library's archive readers raise on damaged input
_ARCHIVE_ERRORS = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError,
                   RuntimeError, NotImplementedError, ValueError)
try:  # optional codecs of Python builds
    import lzma
    _ARCHIVE_ERRORS += (lzma.LZMAError,)
except ImportError:  # pragma: no cover
    pass


@dataclass
class Member:
    """One file of a source. ``name`` is '/'-separated, relative to the source."""
    name: str
    where: str                              # how error messages name it
    open: Callable[[], BinaryIO]            # a stream; valid until the next member
    limit: int | None = MAX_MEMBER_BYTES    # None: a plain file on disk, no limit

    @property
    def parts(self) -> list[str]:
        return self.name.split("/")


class Ignored:
    """Members skipped for safety; reported once per load."""

    def __init__(self) -> None:
        self.count, self.example = 0, None

    def add(self, where: str, why: str) -> None:
        self.count += 1
        if self.example is None:
            self.example = f"{where} ({why})"

    def report(self) -> str | None:
        if not self.count:
            return None
        msg = (f"ignored {self.count} archive member{'s' if self.count > 1 else ''} that "
               f"could not be read safely; first: {self.example}")
        warnings.warn(msg, stacklevel=3)
        return msg


# -- reading with limits -------------------------------------------------------------
class LimitedReader(io.RawIOBase):
    """A read-only stream over ``raw`` that fails once more than ``limit`` bytes come out."""

    def __init__(self, raw: BinaryIO, limit: int | None, where: str,
                 total: "Budget | None" = None, tick: Callable[[], None] | None = None) -> None:
        self.raw, self.limit, self.where, self.total, self.seen = raw, limit, where, total, 0
        self.tick = tick   # called after each chunk: moves a progress bar

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if not self.closed:
            self.raw.close()
        super().close()

    def readinto(self, b) -> int:
        try:
            data = self.raw.read(min(len(b), CHUNK))
        except _ARCHIVE_ERRORS as e:
            raise TextrnnError(f"{self.where}: cannot read ({_reason(e)})") from None
        n = len(data)
        self.seen += n
        if self.limit is not None and self.seen > self.limit:
            raise TextrnnError(f"{self.where}: inflates past {_size(self.limit)}, the limit "
                               f"for one member (a zip bomb?); not read")
        if self.total is not None:
            self.total.spend(n, self.where)
        if self.tick is not None:
            self.tick()
        b[:n] = data
        return n


class Budget:
    """The bytes all members of one archive may inflate to together."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = MAX_TOTAL_BYTES if limit is None else limit
        self.left = self.limit

    def spend(self, n: int, where: str) -> None:
        self.left -= n
        if self.left < 0:
            raise TextrnnError(f"{where}: the archive inflates past {_size(self.limit)} in "
                               f"total (a zip bomb?); not read")


def open_lines(member: Member) -> BinaryIO:
    """A buffered stream over the member, for reading it line by line."""
    return io.BufferedReader(_as_raw(member), CHUNK)  # type: ignore[arg-type]


def _as_raw(member: Member) -> io.RawIOBase:
    s = member.open()
    return s if isinstance(s, LimitedReader) else LimitedReader(s, member.limit, member.where)


# -- what a path is --------------------------------------------------------------------
def kind_of(path: Path) -> str:
    """'dir', 'zip', 'tar', 'gz' (one compressed file) or 'file', from the content."""
    if path.is_dir():
        return "dir"
    try:
        with open(path, "rb") as f:
            head = f.read(512 + 8)
    except OSError as e:
        raise TextrnnError(f"{path}: cannot read ({e.strerror})") from None
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[257:262] == b"ustar":
        return "tar"
    named_tar = re.search(r"\.(tar(\.(gz|bz2|xz))?|tgz|tbz2|txz)$", path.name.lower())
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path) as g:
                inner = g.read(512)
        except _ARCHIVE_ERRORS as e:
            raise TextrnnError(f"{path}: not a readable gzip file ({_reason(e)})") from None
        return "tar" if inner[257:262] == b"ustar" or named_tar else "gz"
    if named_tar and len(head) >= 512 and not head[:512].strip(b"\x00"):
        return "tar"  # an empty tar: end-of-archive blocks only
    if head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return "tar"  # tarfile reads bzip2 / xz; a lone .bz2 / .xz is refused when read
    suffix = "".join(path.suffixes[-2:]).lower()
    for ext in (".zip", ".tar.gz", ".tgz", ".tar", ".gz"):
        if suffix.endswith(ext):
            raise TextrnnError(f"{path}: not a readable {ext} archive (its content is not "
                               f"{'a zip' if ext == '.zip' else 'tar or gzip'})")
    return "file"


def members(path: Path, kind: str, ignored: Ignored, advance: Callable[[int], None]
            ) -> Iterator[Member]:
    """The files of ``path`` (see :func:`kind_of`), in a stable order.

    Hidden files and folders (``.name``) and macOS' ``__MACOSX`` are skipped, as
    scikit-learn's ``load_files`` and most archivers do. ``advance(n)`` is told the
    position reached in the source, in bytes, for a progress bar.
    """
    if kind == "dir":
        yield from _dir_members(path, advance)
    elif kind == "zip":
        yield from _zip_members(path, ignored, advance)
    elif kind == "tar":
        yield from _tar_members(path, ignored, advance)
    else:
        yield _file_member(path, kind == "gz", advance)


def _file_member(path: Path, compressed: bool, advance) -> Member:
    """A plain file, or the one file inside a ``.gz``; the bar follows the bytes read."""
    name = path.name[:-3] if compressed and path.name.lower().endswith(".gz") else path.name
    limit = MAX_MEMBER_BYTES if compressed else None

    def opener():
        try:
            stream = gzip.open(path) if compressed else open(path, "rb")
        except OSError as e:
            raise TextrnnError(f"{path}: cannot read ({e.strerror})") from None
        raw = stream.fileobj if compressed else stream  # the bar follows the file's bytes
        return LimitedReader(stream, limit, str(path), tick=lambda: advance(raw.tell()))
    return Member(name, str(path), opener, limit)


def _skipped(parts: list[str]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _unsafe(name: str) -> str | None:
    """Why a member's path cannot be trusted, or None."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "path climbs out with '..'"
    return None


def _clean(name: str) -> str:
    return "/".join(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))


def _member_name(raw: str, where: str, ignored: "Ignored", why: str | None = None) -> str | None:
    """The clean name of an archive member to read, or None: a member whose path cannot be
    trusted (or ``why`` not, e.g. a link) is ignored with a reason; hidden and __MACOSX
    members are skipped silently. Shared by the zip and tar readers."""
    why = _unsafe(raw) or why
    if why:
        ignored.add(where, why)
        return None
    name = _clean(raw)
    return None if not name or _skipped(name.split("/")) else name


def _dir_members(root: Path, advance) -> Iterator[Member]:
    done = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not _skipped([d]))
        for f in sorted(filenames):
            full = Path(dirpath) / f
            if _skipped([f]) or not full.is_file():
                continue
            rel = full.relative_to(root).as_posix()
            yield Member(rel, str(full), lambda full=full: _open_file(full), limit=None)
            try:
                done += full.stat().st_size
            except OSError:
                pass
            advance(done)


def _open_file(path: Path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as e:
        raise TextrnnError(f"{path}: cannot read ({e.strerror})") from None


def _zip_members(path: Path, ignored: Ignored, advance) -> Iterator[Member]:
    budget = Budget()
    try:
        z = zipfile.ZipFile(path)
    except _ARCHIVE_ERRORS as e:
        raise TextrnnError(f"{path}: not a readable .zip ({_reason(e)})") from None
    with z:
        done = 0
        for info in z.infolist():
            done += info.compress_size
            where = f"{path}:{info.filename}"
            if info.is_dir():
                continue
            name = _member_name(info.filename, where, ignored)
            if name is None:
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                raise TextrnnError(f"{where}: declares {_size(info.file_size)}, past the "
                                   f"{_size(MAX_MEMBER_BYTES)} limit for one member; not read")

            def opener(info=info, where=where):
                try:
                    raw = z.open(info)
                except _ARCHIVE_ERRORS as e:
                    raise TextrnnError(f"{where}: cannot read ({_reason(e)})") from None
                return LimitedReader(raw, MAX_MEMBER_BYTES, where, budget)
            yield Member(name, where, opener)
            advance(done)


def _tar_members(path: Path, ignored: Ignored, advance) -> Iterator[Member]:
    budget = Budget()
    try:
        f = open(path, "rb")
    except OSError as e:
        raise TextrnnError(f"{path}: cannot read ({e.strerror})") from None
    with f:
        try:
            tar = tarfile.open(fileobj=_decompressed(f), mode="r|")
        except _ARCHIVE_ERRORS as e:
            raise TextrnnError(f"{path}: not a readable tar archive ({_reason(e)})") from None
        it = iter(tar)
        while True:
            try:
                info = next(it)
            except StopIteration:
                break
            except _ARCHIVE_ERRORS as e:
                raise TextrnnError(f"{path}: damaged tar archive ({_reason(e)})") from None
            where = f"{path}:{info.name}"
            if info.isdir():
                continue
            name = _member_name(info.name, where, ignored,
                                None if info.isfile() else "a link or special file")
            if name is None:
                continue

            def opener(info=info, where=where):
                return LimitedReader(tar.extractfile(info), MAX_MEMBER_BYTES, where, budget)
            yield Member(name, where, opener)
            advance(f.tell())


def _decompressed(f: BinaryIO) -> BinaryIO:
    """``f`` through gzip / bzip2 / xz as its first bytes say. These readers raise
    EOFError on a cut stream, where tarfile's own stream reader stops silently."""
    head = f.read(6)
    f.seek(0)
    if head[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=f, mode="rb")
    if head[:3] == b"BZh":
        import bz2
        return bz2.BZ2File(f)
    if head == b"\xfd7zXZ\x00":
        return lzma.LZMAFile(f)
    return f


def _reason(e: BaseException) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__


def _size(n: int) -> str:
    if n >= 1 << 30:
        return f"{n / (1 << 30):g} GiB"
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n:,} bytes"
