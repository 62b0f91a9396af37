"""What more machines buy: 1 process x 2 threads vs 2 processes x 1 thread (torchrun,
DistributedDataParallel over gloo) vs 1 process x 1 thread, the bytes all-reduced per
step, and a projection of the time per epoch on N machines (docs/scaling.md).

    python benchmarks/ddp_scaling.py --out results/ddp-scaling            # alone: ~5 min
    python benchmarks/ddp_scaling.py --reps 1 --warmup 1 --steps 3 --out /tmp/ddp-check

Configurations, on the same data, default preset and global batch (GRU, 32):

  a  1 process, ``--threads`` threads (2): the whole machine in one process
  b  ``torchrun --standalone --nproc-per-node THREADS``, 1 thread each: DDP over gloo,
     each rank its rows of each global batch (textrnn.distributed.my_rows)
  c  1 process, 1 thread: the per-core baseline

Each repetition launches a, b, c in turn (a, b, c, a, b, c, ...), so that machine
noise hits all alike; the tables give the median over repetitions and the lowest and
highest. Inside each launch: ``--warmup`` steps, then the timed steps (the first
``--steps`` batches of the first epoch's order, or the whole epoch), timed inside the
workers with the weights and optimizer state restored before each timed block, so
every block computes the same thing. Process start-up, data loading and
tokenization are not timed.

Inside b, DDP runs with :class:`textrnn.study.scaling.CommMeter` as its communication
hook: DDP's own all-reduce, with the bytes of every bucket counted and the time from
launch to completion of each all-reduce recorded. b times two blocks on the same
batches: ``sync`` (the real step) and ``local`` (the hook skips the all-reduce), so
compute = local and the cost of the all-reduce = sync - local.

a also times the step at the rows one rank would get with N = 2, 4, 8, 16 ranks (rank
0's share of the global batch, the largest) and one validation pass: the measured
inputs of the projection on N machines (textrnn.study.scaling.project), whose network
bandwidth and latency are assumed (``--gbits``, ``--latency-us``).

Writes ``results.json`` and ``results.md`` (tables to paste into docs/scaling.md) to
``--out``, atomically, and prints the markdown.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from textrnn import distributed, fused
from textrnn.checkpoint import atomic_dir, write_atomic
from textrnn.config import preset
from textrnn.errors import TextrnnError
from textrnn.model import RecurrentClassifier
from textrnn.runs import DataSpec
from textrnn.study.bench import cpu_model
from textrnn.study.scaling import (MACHINES, STATS_BYTES, CommMeter, gradient_bytes,
                                   project, projection_table)
from textrnn.tokenizer import Tokenizer
from textrnn.train import bucketed_batches, evaluate, trim

NAMES = {"a": "1 process x {t} threads", "b": "{t} processes x 1 thread (torchrun, gloo)",
         "c": "1 process x 1 thread"}


# -- worker (one launch; under torchrun for b) -----------------------------------------
def prepare(args):
    """The training (and validation) ids and labels, the model and its optimizer: as
    ``textrnn train`` builds them for the default preset, with one model of hidden 128
    (``members=1``: both defaults train two members, each one of these steps in turn, the
    GRU's at hidden 64; docs/scaling.md's figures are of this one-model shape)."""
    cfg = preset("default", args.model, batch_size=args.batch_size, members=1, hidden_size=128)
    ds, splits, _ = DataSpec(path=args.data).load(progress=False)
    tr, va = splits["train"], splits["val"]
    if args.docs:  # a slice of a large corpus: the first N training documents
        va = va[:max(1, round(args.docs * len(va) / max(1, len(tr))))]
        tr = tr[:args.docs]
    texts = [ds.texts[i] for i in tr]
    tok = Tokenizer(cfg.num_words, "<oov>" if cfg.oov else None,
                    min_count=cfg.min_count).fit(texts)
    x = torch.from_numpy(tok.ids_for(texts, cfg))
    y = torch.as_tensor(ds.labels[tr], dtype=torch.long)
    xv = torch.from_numpy(tok.ids_for([ds.texts[i] for i in va], cfg))
    yv = torch.as_tensor(ds.labels[va], dtype=torch.long)
    torch.manual_seed(cfg.seed)
    model = RecurrentClassifier(tok.vocab_size, len(ds.label_names), cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                           fused=True)  # as train.fit on CPU
    return cfg, ds.source, (x, y), (xv, yv), model, opt


def block(net, model, opt, cfg, x, y, order, share: int, meter: CommMeter | None) -> dict:
    """Time the training steps over ``order`` (global batches of indices), as
    ``train.fit`` runs them. ``share`` 0: under DDP, this rank's rows; N >= 1 in one
    process: the rows rank 0 would get of N ranks (1: the whole batch)."""
    fwd = bwd = upd = 0.0
    comm = []
    distributed.barrier()
    start = time.perf_counter()
    for step, b in enumerate(order):
        xb = trim(x[b]) if cfg.mask else x[b]
        if share == 0:
            rows, weight = distributed.my_rows(len(b))
        else:
            rows, weight = torch.arange(0, len(b), share), share / len(b)
        distributed.seed_step(cfg.seed, step)
        xb, yb = xb[rows], y[b][rows]
        t0 = time.perf_counter()
        logits = net(xb)
        if share <= 1:  # the loop's own loss (and, under DDP, its stats all-reduce)
            loss, _, _ = distributed.loss_and_stats(logits, yb, len(b), weight,
                                                    cfg.label_smoothing)
        else:  # what loss_and_stats computes on one rank of N, minus the all-reduce
            loss = nn.functional.cross_entropy(logits, yb, reduction="sum",
                                               label_smoothing=cfg.label_smoothing) * weight
            int((logits.argmax(1) == yb).sum())
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()  # under DDP: returns once every bucket is all-reduced
        t2 = time.perf_counter()
        if cfg.clip:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        t3 = time.perf_counter()
        fwd, bwd, upd = fwd + t1 - t0, bwd + t2 - t1, upd + t3 - t2
        if meter is not None:
            comm.append(meter.take())
    seconds = time.perf_counter() - start
    n = len(order)
    out = {"steps": n, "seconds": seconds, "forward_s": fwd / n, "backward_s": bwd / n,
           "optimizer_s": upd / n}
    if meter is not None and not meter.local:
        out["bytes_per_step"] = [sum(b for b, _ in c) for c in comm]
        out["buckets_per_step"] = [len(c) for c in comm]
        out["bucket_bytes"] = [b for b, _ in comm[-1]] if comm else []
        out["allreduce_s_per_step"] = statistics.mean(sum(s for _, s in c) for c in comm)
    return out


def worker(args) -> int:
    torch.set_num_threads(args.threads)
    with distributed.session("cpu"):
        cfg, source, (x, y), (xv, yv), model, opt = prepare(args)
        net = distributed.wrap(model, "cpu")
        meter = CommMeter().attach(net) if distributed.active() else None
        order = bucketed_batches((x != 0).sum(1), cfg.batch_size,
                                 torch.Generator().manual_seed(cfg.seed))
        timed = order[:args.steps] if args.steps else order
        block(net, model, opt, cfg, x, y, order[:args.warmup], 0 if meter else 1, meter)
        snapshot = copy.deepcopy(model.state_dict()), copy.deepcopy(opt.state_dict())

        def timed_block(share: int) -> dict:
            model.load_state_dict(snapshot[0])
            opt.load_state_dict(snapshot[1])
            return block(net, model, opt, cfg, x, y, timed, share, meter)

        blocks = {}
        if meter is not None:  # b: the real step and the same without the all-reduce
            for mode in (("sync", "local") if args.rep % 2 == 0 else ("local", "sync")):
                meter.local = mode == "local"
                blocks[mode] = timed_block(0)
            meter.local = False
        else:
            for n in (MACHINES if args.sweep else (1,)):
                blocks[f"share-{n}"] = timed_block(n)
        ranks = [None] * distributed.world()
        if distributed.active():
            torch.distributed.all_gather_object(ranks, blocks)
        else:
            ranks = [blocks]
        if not distributed.is_main():
            return 0
        val_s = None
        if args.sweep:
            model.load_state_dict(snapshot[0])
            t0 = time.perf_counter()
            evaluate(model, xv, yv, "cpu", cfg.mask)
            val_s = time.perf_counter() - t0
        emb = model.embedding.weight
        result = {
            "config": args.worker, "processes": distributed.world(), "threads": args.threads,
            "torch_threads": torch.get_num_threads(), "native": fused.native_available(),
            "source": source, "n_train": len(x), "n_val": len(xv),
            "batch_size": cfg.batch_size, "steps_per_epoch": len(order),
            "warmup": len(order[:args.warmup]),
            "timed_tokens": int(sum(int((x[b] != 0).sum()) for b in timed)),
            "embedding_rows": emb.shape[0],
            "embedding_rows_touched": [int(x[b][x[b] != 0].unique().numel()) for b in timed],
            "gradient_bytes": gradient_bytes(model),
            "embedding_bytes": emb.numel() * emb.element_size(),
            "ranks": ranks, "val_s": val_s}
        write_atomic(args.result, lambda p: p.write_text(json.dumps(result)))
    return 0


# -- driver --------------------------------------------------------------------------
def launch(config: str, rep: int, args, result: Path) -> dict:
    common = ["--worker", config, "--rep", str(rep), "--result", str(result),
              "--warmup", str(args.warmup), "--steps", str(args.steps),
              "--model", args.model, "--batch-size", str(args.batch_size),
              "--docs", str(args.docs), *(["--data", args.data] if args.data else [])]
    me = str(Path(__file__).resolve())
    if config == "b":
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc-per-node", str(args.threads), me, *common, "--threads", "1"]
        threads = 1
    else:
        threads = args.threads if config == "a" else 1
        cmd = [sys.executable, me, *common, "--threads", str(threads),
               *(["--sweep"] if config == "a" else [])]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    try:
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        raise TextrnnError(f"configuration {config}, repetition {rep + 1} ran past --timeout "
                           f"{args.timeout:g} s: {shlex.join(cmd)}") from None
    if r.returncode != 0 or not result.exists():
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-15:])
        raise TextrnnError(f"configuration {config}, repetition {rep + 1} failed "
                           f"(exit {r.returncode}): {shlex.join(cmd)}\n{tail}")
    return json.loads(result.read_text())


def spread(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "reps": xs}


def fmt(s: dict, scale: float = 1.0, digits: int = 1) -> str:
    return (f"{s['median'] * scale:,.{digits}f} ({s['min'] * scale:,.{digits}f}-"
            f"{s['max'] * scale:,.{digits}f})")


def summarize(runs: dict[str, list[dict]], args, command: str) -> dict:
    first = runs["a"][0]
    tokens, spe = first["timed_tokens"], first["steps_per_epoch"]
    summary = {"configs": {}}
    for c, reps in runs.items():
        key = "sync" if c == "b" else "share-1"
        blocks = [r["ranks"] for r in reps]
        # the step ends when the slowest rank ends it: wall time = max over ranks
        secs = [max(rk[key]["seconds"] for rk in b) for b in blocks]
        steps = blocks[0][0][key]["steps"]
        s = {"name": NAMES[c].format(t=args.threads), "processes": reps[0]["processes"],
             "threads_per_process": reps[0]["threads"],
             "step_s": spread([t / steps for t in secs]),
             "tokens_per_s": spread([tokens / t for t in secs]),
             "train_epoch_s": spread([spe * t / steps for t in secs])}
        for phase in ("forward_s", "backward_s", "optimizer_s"):  # rank 0's
            s[phase] = spread([b[0][key][phase] for b in blocks])
        summary["configs"][c] = s
    b = [r["ranks"] for r in runs["b"]]
    steps = b[0][0]["sync"]["steps"]
    local = [max(rk["local"]["seconds"] for rk in x) / steps for x in b]
    sync = [max(rk["sync"]["seconds"] for rk in x) / steps for x in b]
    per_step = {v for x in b for rk in x for v in rk["sync"]["bytes_per_step"]}
    buckets = {v for x in b for rk in x for v in rk["sync"]["buckets_per_step"]}
    nbytes, grad, emb = max(per_step), first["gradient_bytes"], first["embedding_bytes"]
    touched = first["embedding_rows_touched"]
    summary["comm"] = {
        "bytes_per_step": sorted(per_step), "buckets_per_step": sorted(buckets),
        "bucket_bytes": b[0][0]["sync"]["bucket_bytes"],
        "gradient_bytes": grad, "agree": per_step == {grad},
        "stats_bytes": STATS_BYTES, "embedding_bytes": emb, "embedding_share": emb / grad,
        "embedding_rows": first["embedding_rows"],
        "embedding_rows_touched_median": statistics.median(touched),
        "local_step_s": spread(local),
        "exposed_allreduce_s": spread([s - lo for s, lo in zip(sync, local)]),
        "hook_allreduce_s": spread([x[0]["sync"]["allreduce_s_per_step"] for x in b])}
    # what the hook's time implies for this machine's loopback, by the ring model
    w = runs["b"][0]["processes"]
    c = summary["comm"]
    c["loopback_gbit_s"] = 2 * (w - 1) / w * nbytes * 8 / c["hook_allreduce_s"]["median"] / 1e9
    # a sparse embedding gradient (rows touched, each its values and an int64 index),
    # computed from the rows the global batches touch, not measured as communication
    dim = emb // first["embedding_rows"] // 4
    c["sparse_embedding_bytes"] = statistics.median(touched) * (dim * 4 + 8)
    compute = {n: statistics.median(r["ranks"][0][f"share-{n}"]["seconds"]
                                    / r["ranks"][0][f"share-{n}"]["steps"] for r in runs["a"])
               for n in MACHINES}
    val_s = statistics.median(r["val_s"] for r in runs["a"])
    networks = [(f"{g:g} Gb/s", g, args.latency_us * 1e-6) for g in args.gbits]
    rows = project(compute, nbytes + STATS_BYTES, max(buckets) + 1, spe, val_s, networks)
    for r in rows:
        r["rows"] = -(-args.batch_size // r["machines"])
    summary["projection"] = {"compute_s": compute, "val_s": val_s, "steps_per_epoch": spe,
                             "bytes_per_step": nbytes + STATS_BYTES,
                             "messages_per_step": max(buckets) + 1,
                             "networks": networks, "rows": rows}
    summary["machine"] = {"cpu": cpu_model(), "logical_cpus": os.cpu_count(),
                          "torch": torch.__version__, "python": platform.python_version(),
                          "native": first["native"]}
    summary["data"] = {"source": first["source"], "n_train": first["n_train"],
                       "n_val": first["n_val"], "batch_size": first["batch_size"],
                       "timed_steps": steps, "warmup": first["warmup"],
                       "timed_tokens": tokens, "reps": args.reps}
    summary["command"] = command
    return summary


def markdown(s: dict) -> str:
    m, d, c, p = s["machine"], s["data"], s["comm"], s["projection"]
    lines = [
        f"Measured by `{s['command']}` on {m['cpu']} ({m['logical_cpus']} logical CPUs), "
        f"torch {m['torch']}, C++ step loops: {'yes' if m['native'] else 'no'}. "
        f"{Path(d['source']).name or d['source']}: {d['n_train']:,} training documents, "
        f"{p['steps_per_epoch']} global batches of {d['batch_size']} per epoch; "
        f"{d['timed_steps']} timed steps ({d['timed_tokens']:,} tokens) after "
        f"{d['warmup']} warm-up, {d['reps']} repetitions interleaved a, b, c; "
        "median (min-max) over repetitions.", "",
        "| configuration | ms/step | training tokens/s | forward ms | backward ms "
        "| optimizer ms | training s/epoch |", "|---|---:|---:|---:|---:|---:|---:|"]
    for key, v in s["configs"].items():
        lines.append(f"| {key}: {v['name']} | {fmt(v['step_s'], 1e3)} | "
                     f"{fmt(v['tokens_per_s'], 1, 0)} | {v['forward_s']['median'] * 1e3:.1f} | "
                     f"{v['backward_s']['median'] * 1e3:.1f} | "
                     f"{v['optimizer_s']['median'] * 1e3:.1f} | {fmt(v['train_epoch_s'], 1, 2)} |")
    lines += [
        "", "(forward, backward, optimizer: rank 0's mean per step, median over repetitions; "
        "under DDP backward includes waiting for the gradient all-reduce.)", "",
        f"Bytes all-reduced per step and rank (counted by the comm hook): "
        f"{', '.join(f'{v:,}' for v in c['bytes_per_step'])} in "
        f"{'/'.join(map(str, c['buckets_per_step']))} bucket(s) "
        f"({', '.join(f'{v:,}' for v in c['bucket_bytes'])}), plus {c['stats_bytes']} bytes "
        f"of loss and accuracy; the gradients of the parameters hold {c['gradient_bytes']:,} "
        f"bytes: {'they agree' if c['agree'] else 'THEY DIFFER'}. The embedding is "
        f"{c['embedding_bytes']:,} bytes, {c['embedding_share']:.1%} of them; a global batch "
        f"touches a median {c['embedding_rows_touched_median']:,.0f} of its "
        f"{c['embedding_rows']:,} rows "
        f"({c['embedding_rows_touched_median'] / c['embedding_rows']:.1%}): as a sparse "
        f"gradient (values and an int64 index per row) about "
        f"{c['sparse_embedding_bytes']:,.0f} bytes instead of {c['embedding_bytes']:,} "
        "(computed from the rows, not measured).", "",
        f"b without the all-reduce (same DDP, the hook skips it): "
        f"{fmt(c['local_step_s'], 1e3)} ms/step; cost of the all-reduce (with - without): "
        f"{fmt(c['exposed_allreduce_s'], 1e3)} ms/step; the hook's all-reduce time (launch "
        f"to completion, summed over buckets): {fmt(c['hook_allreduce_s'], 1e3)} ms/step, "
        f"which the ring model reads as {c['loopback_gbit_s']:.1f} Gbit/s over this "
        "machine's loopback (gloo, latency neglected).",
        "", "Projection (compute and validation measured in a; network assumed: "
        f"latency {p['networks'][0][2] * 1e6:g} us per message, {p['messages_per_step']} "
        f"messages and {p['bytes_per_step']:,} bytes per step; validation "
        f"{p['val_s']:.2f} s per epoch on every machine):", "",
        projection_table(p["rows"])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="corpus (default: BBC from TEXTRNN_DATA / ../shared)")
    ap.add_argument("--docs", type=int, default=0,
                    help="use the first N training documents (a slice of a large corpus)")
    ap.add_argument("--model", default="gru")
    ap.add_argument("--batch-size", type=int, default=32, help="the global batch (32)")
    ap.add_argument("--threads", type=int, default=2, help="threads of a; processes of b (2)")
    ap.add_argument("--reps", type=int, default=5, help="repetitions of a, b, c (5)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps per launch (5)")
    ap.add_argument("--steps", type=int, default=0,
                    help="timed steps per block (0: the whole first epoch)")
    ap.add_argument("--gbits", type=float, nargs="+", default=[10.0, 25.0],
                    help="assumed network bandwidths, Gbit/s (10 25)")
    ap.add_argument("--latency-us", type=float, default=50.0,
                    help="assumed latency per message, microseconds (50)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per launch")
    ap.add_argument("--out", type=Path, help="directory for results.json and results.md")
    ap.add_argument("--worker", choices=("a", "b", "c"), help=argparse.SUPPRESS)
    ap.add_argument("--rep", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--sweep", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    for name in ("reps", "threads", "batch_size"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.warmup < 1:  # DDP settles its buckets in the first step
        ap.error("--warmup must be at least 1")
    if args.steps < 0 or args.docs < 0:
        ap.error("--steps and --docs must be 0 or more")
    command = shlex.join(["python", "benchmarks/ddp_scaling.py", *(argv or sys.argv[1:])])
    fused.native_available()  # build the C++ loops once, before the workers race for it
    runs: dict[str, list[dict]] = {"a": [], "b": [], "c": []}
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="ddp-scaling-") as tmp:
            for rep in range(args.reps):
                for config in runs:
                    print(f"repetition {rep + 1}/{args.reps}: {config} "
                          f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
                    result = Path(tmp) / f"{config}{rep}.json"
                    runs[config].append(launch(config, rep, args, result))
    except TextrnnError as e:
        print(f"ddp_scaling: error: {e}", file=sys.stderr)
        return 1
    summary = summarize(runs, args, command)
    summary["wall_s"] = time.perf_counter() - t0
    text = markdown(summary)
    print(text)
    if args.out:
        with atomic_dir(args.out) as d:
            (d / "results.json").write_text(json.dumps({"summary": summary, "runs": runs},
                                                       indent=1))
            (d / "results.md").write_text(text)
        print(f"written: {args.out}/results.json, results.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
