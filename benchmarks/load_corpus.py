"""Loading + tokenizing speed and peak memory (not a test; run it on a quiet machine).

    python benchmarks/load_corpus.py                        # the 20NG archive, then the
                                                            # 100x corpus if it was built
    python benchmarks/load_corpus.py /tmp/textrnn-big/corpus.csv
    python benchmarks/make_big_corpus.py && python benchmarks/load_corpus.py

Each corpus runs in a fresh process, so its peak memory (``ru_maxrss``, the resident
set's high-water mark, which includes Python, numpy, torch and sklearn imported by
textrnn: about 0.3 GB before any data) is its own. Timed: :func:`textrnn.load_dataset`
(read, decode, parse, labels), ``Tokenizer.fit`` and ``Tokenizer.transform`` to the
int32 id matrix, with the default preset's vocabulary (10,000) and length (400).
Words are whitespace-separated words, counted outside the timing. CPU time is
printed beside wall time: on a shared machine, wall time measures the neighbours.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NG20 = REPO.parent / "shared" / "data" / "20ng" / "20news-bydate.tar.gz"
BIG = Path("/tmp/textrnn-big/corpus.csv")


def measure(path: str, num_words: int, maxlen: int) -> dict:
    from textrnn.data import load_dataset
    from textrnn.tokenizer import Tokenizer
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    c0 = time.process_time()
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = load_dataset(path, progress=False)
    t1 = time.perf_counter()
    tok = Tokenizer(num_words).fit(ds.texts)
    t2 = time.perf_counter()
    ids = tok.transform(ds.texts, maxlen)
    t3 = time.perf_counter()
    cpu = time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    words = sum(len(t.split()) for t in ds.texts)
    return {"path": path, "documents": len(ds), "words": words, "classes": len(ds.label_names),
            "own_split": {k: len(v) for k, v in (ds.splits or {}).items()},
            "load_s": t1 - t0, "fit_s": t2 - t1, "transform_s": t3 - t2, "total_s": t3 - t0,
            "words_per_s": words / (t3 - t0),
            "cpu_s": cpu, "words_per_cpu_s": words / cpu, "ids": f"{ids.shape} {ids.dtype}",
            "ids_mb": ids.nbytes / 1e6, "peak_rss_gb": peak / 1e9,
            "rss_before_gb": rss0 * 1024 / 1e9,
            "warnings": [str(w.message) for w in caught]}


def machine() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in out.splitlines()
                     if line.startswith("Model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} threads, load average {os.getloadavg()[0]:.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="corpora (default: the 20NG archive, and the "
                                             f"100x corpus at {BIG} if built)")
    ap.add_argument("--num-words", type=int, default=10000)
    ap.add_argument("--maxlen", type=int, default=400)
    ap.add_argument("--one", help=argparse.SUPPRESS)  # the child process's job
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.num_words, args.maxlen)))
        return 0
    paths = args.paths or [str(NG20)] + ([str(BIG)] if BIG.exists() else [])
    print(f"machine: {machine()}")
    for p in paths:
        out = subprocess.run([sys.executable, __file__, "--one", p, "--num-words",
                              str(args.num_words), "--maxlen", str(args.maxlen)],
                             capture_output=True, text=True)
        if out.returncode:
            print(out.stderr, file=sys.stderr)
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{Path(p).name}: {r['documents']:,} documents, {r['words']:,} words, "
              f"{r['classes']} classes, own split {r['own_split'] or 'none'}\n"
              f"  load {r['load_s']:.1f} s + fit {r['fit_s']:.1f} s + transform "
              f"{r['transform_s']:.1f} s = {r['total_s']:.1f} s, "
              f"{r['words_per_s'] / 1e6:.2f} M words/s (CPU time {r['cpu_s']:.1f} s: "
              f"{r['words_per_cpu_s'] / 1e6:.2f} M words per CPU second); ids {r['ids']} ({r['ids_mb']:.0f} MB); "
              f"peak RSS {r['peak_rss_gb']:.2f} GB (of which {r['rss_before_gb']:.2f} GB "
              f"before loading)")
        for w in r["warnings"]:
            print(f"  warning: {w}")
    print(f"machine after: load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
