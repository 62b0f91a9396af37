"""Files on disk: atomic writes and the safe loading of model directories.

Weights are safetensors and everything else JSON, so loading a model someone sent
you never runs their code (no pickle anywhere).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from .errors import TextrnnError

CONFIG, VOCAB, WEIGHTS, METRICS = "config.json", "vocab.json", "model.safetensors", "metrics.json"


def default_mode(base: int = 0o666) -> int:
    """``base`` less the umask: the mode ``open()`` / ``mkdir()`` would give. Temporary
    files and directories are created private (0600 / 0700), so anything renamed into
    place gets this mode first."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` then rename ``tmp`` over ``path``: readers see the old file
    or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_json(path: str | Path, obj) -> None:
    write_atomic(path, lambda p: p.write_text(json.dumps(obj, indent=2) + "\n"))


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise TextrnnError(f"{path}: missing")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TextrnnError(f"{path}: corrupt JSON ({e})") from None
    if not isinstance(obj, dict):
        raise TextrnnError(f"{path}: corrupt (expected a JSON object)")
    return obj


@contextmanager
def atomic_dir(path: str | Path):
    """Build a directory under a temporary name and move it into place at the end,
    so an interrupted run never leaves a half-written run directory at ``path``. An
    existing directory at ``path`` is swapped out in one step (Linux's
    ``renameat2(RENAME_EXCHANGE)``; elsewhere two renames, undone if the second fails):
    at every moment ``path`` holds the old directory or the new one."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise TextrnnError(f"{path}: exists and is not a directory")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        os.chmod(tmp, default_mode(0o777))
        yield tmp
        if not path.exists():
            os.replace(tmp, path)
        elif _exchange(tmp, path):
            shutil.rmtree(tmp, ignore_errors=True)  # now the old directory
        else:
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old."))
            os.replace(path, old / "x")
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old / "x", path)  # put the previous one back
                raise
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the system cannot (then nothing moved)."""
    import ctypes
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2  # glibc >= 2.28
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False  # a filesystem or kernel without RENAME_EXCHANGE
    raise OSError(err, os.strerror(err), str(b))


def check_run_dir(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise TextrnnError(f"{path}: no such run directory")
    if not path.is_dir():
        raise TextrnnError(f"{path}: not a run directory (expected a folder)")
    missing = [f for f in (CONFIG, VOCAB, WEIGHTS) if not (path / f).is_file()]
    if missing and (path / "checkpoints").is_dir():
        raise TextrnnError(f"{path}: training has not finished (only checkpoints so far): "
                           f"resume it with 'textrnn train --resume {path}'")
    if missing:
        raise TextrnnError(f"{path}: incomplete run directory (missing {', '.join(missing)})")
    return path
