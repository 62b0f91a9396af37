"""The C++ loops' build survives a build killed midway: torch's lock file left behind
must not make every later run wait forever."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from textrnn import fused


def test_stale_build_lock_does_not_hang(tmp_path, monkeypatch):
    if not fused.native_available():
        pytest.skip("no C++ toolchain here: the Python loops are used, nothing is built")
    from torch.utils.cpp_extension import _get_build_directory
    built = _get_build_directory(fused._NATIVE, False)
    ext = tmp_path / "ext"
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(ext))
    copy = Path(_get_build_directory(fused._NATIVE, False))  # where the child will look
    shutil.copytree(built, copy, dirs_exist_ok=True)  # built already: no compile needed
    (copy / "lock").write_text("")  # what a build killed with SIGKILL leaves
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(ext)}
    r = subprocess.run([sys.executable, "-c", "from textrnn import fused; "
                        "print(fused.native_available())"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr
    assert not (copy / "lock").exists()
