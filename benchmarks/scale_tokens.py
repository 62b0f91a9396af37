"""Training tokens/s and peak memory at 1x, 10x and 100x BBC (not a test; run it alone).

    python benchmarks/scale_tokens.py                    # 1x, 10x, 100x; 2 rounds of 200 batches
    python benchmarks/scale_tokens.py --scales 1 2 --batches 10 --warmup 2 --chunk 5 --rounds 1
                                                         # a quick check that it runs

The corpora are built by ``make_big_corpus.py`` (real BBC and 20 Newsgroups documents
drawn with replacement, seed 0, until the corpus holds SCALE times BBC's words) into
``--dir`` as ``corpus-SCALEx.csv``, unless already there. Each size then runs in a fresh
process, so that its peak memory (``ru_maxrss``: the resident set's high-water mark,
Python, torch and the documents included) is its own, doing what ``textrnn train
--data CORPUS`` does up to training: load the corpus, split it (70 / 15 / 15), fit the
default preset's tokenizer on the train part, encode the train and val parts (the ids a
run holds while it trains), then train the default GRU (:func:`textrnn.train.fit`, as
the CLI calls it) for ``--warmup`` batches, untimed, and ``--batches`` more, the same
number at every size. Training tokens/s is the non-padding tokens of the timed batches
over their wall time, per chunk of ``--chunk`` batches: the table gives the median
over all chunks of all rounds, and the lowest and highest chunk.

Fairness: the sizes run in turn within a round, in the opposite order in the next round
(1, 10, 100 then 100, 10, 1), so that a drift of the machine's speed falls on every
size alike. CPU time is printed beside wall time: on a shared machine, wall time
measures the neighbours. The target (issue 15) is the largest size's tokens/s within
10% of the smallest's, and a peak of at most 3 GB at 100x.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIG = Path("/tmp/textrnn-big")


class _Done(Exception):
    """Raised from the batch callback to stop training after the timed batches."""


def _proc_status() -> dict:
    """VmHWM, VmRSS, RssAnon and RssFile of this process, in bytes (Linux)."""
    out = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


def measure(path: str, warmup: int, batches: int, chunk: int, mmap: str,
            threads: int | None) -> dict:
    """Load, split, tokenize and train on one corpus; the timings and memory."""
    import torch
    if threads:
        torch.set_num_threads(threads)
    from textrnn.config import preset
    from textrnn.data import corpus_splits, load_dataset
    from textrnn.model import RecurrentClassifier
    from textrnn.token_ids import MMAP_BYTES, encode, row_lengths
    from textrnn.tokenizer import Tokenizer
    from textrnn.train import fit

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 20NG's latin-1 posts: load_corpus.py counts them
        ds = load_dataset(path, progress=False)
    stages = {"loaded": _proc_status()}  # memory after each step, to see where it goes
    splits, _, _ = corpus_splits(ds)
    train, val = ds.subset(splits["train"]), ds.subset(splits["val"])
    per_epoch = -(-len(train) // preset().batch_size)
    # enough epochs for the batches at the smallest size; the loop is stopped before
    cfg = preset("default", "gru", epochs=-(-(warmup + batches) // per_epoch) + 1, patience=0)
    torch.manual_seed(cfg.seed)
    tok = Tokenizer(cfg.num_words, "<oov>" if cfg.oov else None,
                    min_count=cfg.min_count).fit(train.texts)
    stages["vocabulary"] = _proc_status()
    use = {"auto": None, "on": True, "off": False}[mmap]
    x = encode(tok, train.texts, cfg, mmap=use)
    x_val = encode(tok, val.texts, cfg, mmap=use)  # noqa: F841 (held, as a run holds it)
    stages["encoded"] = _proc_status()
    y = torch.as_tensor(train.labels, dtype=torch.long)
    model = RecurrentClassifier(tok.vocab_size, len(ds.label_names), cfg)
    t1 = time.perf_counter()

    marks: list[tuple[float, float, int]] = []  # (wall, cpu, tokens so far) per chunk
    seen = {"tokens": 0, "epoch_tokens": 0, "batches": 0}

    def on_batch(state) -> None:
        if state.batch == 1:
            seen["epoch_tokens"] = 0
        seen["tokens"] += state.tokens - seen["epoch_tokens"]
        seen["epoch_tokens"] = state.tokens
        seen["batches"] += 1
        done = seen["batches"] - warmup
        if done >= 0 and done % chunk == 0:
            marks.append((time.perf_counter(), time.process_time(), seen["tokens"]))
        if done >= batches:
            raise _Done

    try:
        fit(model, cfg, (x, y), None, verbose=False, on_batch=on_batch)
        raise RuntimeError(f"training ended after {seen['batches']} batches, before "
                           f"{warmup} + {batches}")
    except _Done:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    status = stages["trained"] = _proc_status()
    rates = [(b[2] - a[2]) / (b[0] - a[0]) for a, b in zip(marks, marks[1:])]
    wall = marks[-1][0] - marks[0][0]
    cpu = marks[-1][1] - marks[0][1]
    timed_tokens = marks[-1][2] - marks[0][2]
    words = sum(len(t.split()) for t in ds.texts)  # outside every timing
    return {"path": path, "documents": len(ds), "words": words, "train_documents": len(train),
            "batches_per_epoch": per_epoch, "timed_batches": batches,
            "timed_tokens": timed_tokens, "chunk_tokens_per_s": rates,
            "tokens_per_s": timed_tokens / wall, "tokens_per_cpu_s": timed_tokens / cpu,
            "train_ids": f"{tuple(x.shape)} {x.dtype}", "train_ids_mb": x.numel() * 4 / 1e6,
            "padding": 1 - float(row_lengths(x).sum()) / max(x.numel(), 1),
            "mapped": use if use is not None else x.numel() * 4 > MMAP_BYTES,
            "prepare_s": t1 - t0, "memory_by_stage": stages, "threads": torch.get_num_threads(),
            "peak_rss_gb": peak / 1e9,
            **{f"{k}_gb": v / 1e9 for k, v in status.items()}}


def corpus(scale: float, folder: Path) -> Path:
    """``folder/corpus-SCALEx.csv``, built by make_big_corpus.py if missing; at 100x,
    make_big_corpus.py's default output ``folder/corpus.csv`` if there (the same file:
    same scale, same seed)."""
    path = folder / f"corpus-{scale:g}x.csv"
    if scale == 100 and not path.exists() and (folder / "corpus.csv").exists():
        return folder / "corpus.csv"
    if not path.exists():
        subprocess.run([sys.executable, str(REPO / "benchmarks" / "make_big_corpus.py"),
                        "--scale", str(scale), "--out", str(path)], check=True,
                       stdout=sys.stderr)  # stdout is the table (or the JSON)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", type=float, nargs="+", default=[1, 10, 100],
                    help="corpus sizes, times BBC's words (1 10 100)")
    ap.add_argument("--dir", type=Path, default=BIG, help=f"where the corpora are ({BIG})")
    ap.add_argument("--batches", type=int, default=200, help="timed batches per size (200)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed batches first (10)")
    ap.add_argument("--chunk", type=int, default=20, help="batches per timed chunk (20)")
    ap.add_argument("--rounds", type=int, default=2, help="runs of every size (2)")
    ap.add_argument("--mmap", choices=("auto", "on", "off"), default="auto",
                    help="memory-map the token ids: by size (textrnn's rule), always, never")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # a child process's corpus
    args = ap.parse_args(argv)
    if args.batches < args.chunk or args.batches % args.chunk or args.chunk < 1:
        ap.error("--batches must be a multiple of --chunk")
    if args.warmup < 1:
        ap.error("--warmup must be at least 1 (the first timed chunk starts after it)")
    if args.one:
        print(json.dumps(measure(args.one, args.warmup, args.batches, args.chunk, args.mmap,
                                 args.threads)))
        return 0

    from textrnn.study.bench import cpu_model
    paths = {s: corpus(s, args.dir) for s in args.scales}
    load_before = os.getloadavg()[0]
    runs: dict[float, list[dict]] = {s: [] for s in args.scales}
    for r in range(args.rounds):
        for s in args.scales if r % 2 == 0 else args.scales[::-1]:
            cmd = [sys.executable, __file__, "--one", str(paths[s]), "--warmup",
                   str(args.warmup), "--batches", str(args.batches), "--chunk",
                   str(args.chunk), "--mmap", args.mmap]
            cmd += ["--threads", str(args.threads)] if args.threads else []
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode:
                print(out.stderr, file=sys.stderr)
                return 1
            runs[s].append(json.loads(out.stdout.strip().splitlines()[-1]))
            if not args.json:
                print(f"round {r + 1}, {s:g}x: {runs[s][-1]['tokens_per_s']:,.0f} tokens/s",
                      file=sys.stderr)
    rows = []
    for s, rs in runs.items():
        chunks = [c for r in rs for c in r["chunk_tokens_per_s"]]
        rows.append({"scale": s, **{k: rs[0][k] for k in (
            "documents", "words", "train_documents", "train_ids", "train_ids_mb", "padding",
            "mapped", "threads")},
            "median_tokens_per_s": statistics.median(chunks),
            "min_tokens_per_s": min(chunks), "max_tokens_per_s": max(chunks),
            "round_tokens_per_s": [r["tokens_per_s"] for r in rs],
            "tokens_per_cpu_s": statistics.median(r["tokens_per_cpu_s"] for r in rs),
            "prepare_s": max(r["prepare_s"] for r in rs),
            "peak_rss_gb": max(r["peak_rss_gb"] for r in rs),
            "end_rss_anon_gb": rs[0].get("RssAnon_gb"), "end_rss_file_gb": rs[0].get("RssFile_gb"),
            "memory_by_stage": rs[0]["memory_by_stage"]})
    small, large = rows[0], rows[-1]
    ratio = large["median_tokens_per_s"] / small["median_tokens_per_s"]
    result = {"command": " ".join([Path(sys.executable).name, *sys.argv]),
              "cpu": cpu_model(), "threads": rows[0]["threads"],
              "load_average": [load_before, os.getloadavg()[0]],
              "batches": args.batches, "warmup": args.warmup, "chunk": args.chunk,
              "rounds": args.rounds, "mmap": args.mmap, "rows": rows,
              "ratio": ratio, "within_10_percent": ratio >= 0.9}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"machine: {result['cpu']}, {result['threads']} torch threads, load average "
          f"{load_before:.2f} before, {result['load_average'][1]:.2f} after")
    print(f"default GRU, {args.warmup} warm-up + {args.batches} timed batches per size, "
          f"chunks of {args.chunk}, {args.rounds} rounds, mmap {args.mmap}\n")
    print("| corpus | documents | words | train ids | training tokens/s: median "
          "(chunk min-max) | per round | tokens per CPU s | load + tokenize | peak RSS |")
    print("| --- | ---: | ---: | --- | --- | --- | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['scale']:g}x BBC | {r['documents']:,} | {r['words']:,} | {r['train_ids']}"
              f"{' mapped' if r['mapped'] else ''}, {100 * r['padding']:.0f}% padding | "
              f"{r['median_tokens_per_s']:,.0f} ({r['min_tokens_per_s']:,.0f}-"
              f"{r['max_tokens_per_s']:,.0f}) | "
              f"{', '.join(f'{v:,.0f}' for v in r['round_tokens_per_s'])} | "
              f"{r['tokens_per_cpu_s']:,.0f} | {r['prepare_s']:.0f} s | "
              f"{r['peak_rss_gb']:.2f} GB |")
    print(f"\n{large['scale']:g}x / {small['scale']:g}x tokens/s: {ratio:.3f} "
          f"(target: at least 0.90, {'met' if ratio >= 0.9 else 'NOT met'}); peak RSS at "
          f"{large['scale']:g}x: {large['peak_rss_gb']:.2f} GB (target 3 GB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
