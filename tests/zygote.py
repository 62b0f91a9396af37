"""A process that has imported ``textrnn.cli`` once and forks a child per CLI call.

Starting Python and importing torch costs ~5 s on this machine (far more when the two
cores are busy), so the tests that run the CLI fork each call from one "zygote" that
never runs a tensor op itself (forking is then safe): each child redirects fds 0/1/2
to files and runs ``sys.exit(main(argv))`` exactly like the ``textrnn`` console script,
so exit status, stdout, stderr, warnings, tracebacks and signals are the real ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_ZYGOTE = r"""
import json, os, sys, traceback
from textrnn.cli import main
import textrnn.runs  # noqa: F401  (torch, sklearn, matplotlib: imported once, here)
try:  # load the compiled recurrence once, here, not in every child (no threads start)
    from textrnn.fused import native_available
    native_available()
except Exception:
    pass
requests, replies = os.fdopen(0, "r"), os.fdopen(1, "w", buffering=1)
for line in requests:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.chdir(req["cwd"])
            os.environ.update(req["env"])
            for fd, path, flags in ((0, req["stdin"], os.O_RDONLY),
                                    (1, req["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                                    (2, req["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
                f = os.open(path, flags, 0o644)
                os.dup2(f, fd)
                os.close(f)
            sys.stdin = open(0, "r", encoding="utf-8", closefd=False)
            sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
            sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
            sys.argv = ["textrnn"] + req["argv"]
            try:
                code = main(req["argv"])
            except SystemExit as e:  # as the interpreter does at exit
                if e.code is not None and not isinstance(e.code, int):
                    print(e.code, file=sys.stderr)
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:
                traceback.print_exc()
                code = 1
        finally:
            for s in (sys.stdout, sys.stderr):
                try:
                    s.flush()
                except Exception:
                    pass
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    replies.write(f"{os.waitstatus_to_exitcode(status)}\n")
"""


@dataclass
class Result:
    rc: int
    out: str
    err: str


class Zygote:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.n = 0
        self.log = open(workdir / "zygote.log", "w")
        # one intra-op thread: the runs are tiny and the two cores are shared
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen([sys.executable, "-c", _ZYGOTE], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=env)

    def __call__(self, *argv: str, cwd: Path | None = None, stdin: str | None = None,
                 env: dict | None = None) -> Result:
        self.n += 1
        base = self.workdir / f"call{self.n}"
        stdin_path = base.with_suffix(".in")
        stdin_path.write_text(stdin or "", encoding="utf-8")
        req = {"argv": [str(a) for a in argv], "cwd": str(cwd or self.workdir),
               "env": env or {}, "stdin": str(stdin_path),
               "out": str(base.with_suffix(".out")), "err": str(base.with_suffix(".err"))}
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        assert reply, f"zygote died, see {self.workdir / 'zygote.log'}"
        return Result(int(reply), base.with_suffix(".out").read_text(encoding="utf-8"),
                      base.with_suffix(".err").read_text(encoding="utf-8"))

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.log.close()
