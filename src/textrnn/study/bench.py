"""Side-by-side speed benchmark of the recurrent implementations, in one process.

For each shape and cell it times, interleaved round by round so that machine noise
hits every variant alike:

  assignment   the course's skeleton loop (RNN_skeleton.py / GRU_skeleton.py), if found
  reference    textrnn, ``impl="reference"``: the cells' equations in an autograd loop
  loop         textrnn, ``impl="loop"``: input products hoisted, autograd loop
  fast         textrnn, ``impl="fast"``: hand-written BPTT (the default)
  torch.nn     ``torch.nn.RNN`` / ``torch.nn.GRU``

Shapes (:data:`SHAPES`, by name): ``assignment`` (batch 32, 100 steps, hidden 128),
``long`` (batch 32, 400 steps, hidden 256) and ``latency`` (one document of 400 steps,
hidden 128: what a server answering one request at a time waits for; inference only).

Training = embedding, layer, linear head on the final state, cross-entropy,
backward, Adam step (fused Adam for every variant, as textrnn's training loop uses).
Inference = forward under ``torch.inference_mode``; a round times ``iters`` forwards of
``ceil(32 / batch)`` batches each, so that a single-document forward (about a
millisecond) is not timed alone. Memory is the bytes autograd saves for backward in
one training step (counted with saved tensor hooks), the part of peak memory that
differs between implementations.

Ratios are paired: each round times every variant back to back, the ratio is taken
within the round, and the table shows the median over rounds with the lowest and
highest round. A speed target (:data:`TARGETS`) counts as met only when every round
clears it.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from .. import fused
from ..errors import TextrnnError
from ..layers import GRU, RNN

ROOT = Path(__file__).resolve().parents[3]   # the repository, in a source checkout
# name -> shape; ``train: False`` times inference only
SHAPES = {"assignment": dict(batch=32, steps=100, embed=64, hidden=128),
          "long": dict(batch=32, steps=400, embed=64, hidden=256),
          "latency": dict(batch=1, steps=400, embed=64, hidden=128, train=False)}
VOCAB, CLASSES = 5000, 5
SHAPE_KEYS = ("batch", "steps", "embed", "hidden")
INFER_BATCHES = 32   # a round's inference timing covers ceil(32 / batch) batches per iter


class Target(NamedTuple):
    """A speed target for ``impl="fast"``: ``ratio`` (a key of :data:`RATIO_NAMES`) of
    ``cell`` at the shape named ``shape`` must be at least ``target`` in every round."""
    cell: str
    ratio: str
    target: float
    shape: str = "assignment"
    issue: int = 3


TARGETS = [
    # issue 3: the assignment's shape
    Target("gru", "train_vs_torch", 1.5), Target("gru", "infer_vs_torch", 1.2),
    Target("rnn", "train_vs_torch", 1.2), Target("gru", "train_vs_assignment", 4.0),
    # issue 15: inference at the assignment's shape, single-document latency, long training
    Target("gru", "infer_vs_torch", 1.5, "assignment", 15),
    Target("gru", "infer_vs_torch", 3.0, "latency", 15),
    Target("rnn", "infer_vs_torch", 3.0, "latency", 15),
    Target("gru", "train_vs_torch", 1.6, "long", 15),
    Target("rnn", "train_vs_torch", 1.5, "long", 15),
]
RATIO_NAMES = {"train_vs_torch": "trains vs torch.nn", "infer_vs_torch": "infers vs torch.nn",
               "train_vs_assignment": "trains vs the assignment's loop"}


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":")[0].strip() in ("model name", "Hardware", "cpu model"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def environment(device: str = "cpu") -> dict:
    """What ran: the device, the fast path's step loops there (C++, CUDA or the Python
    fallback), threads, machine (and the GPU's name on CUDA)."""
    if device == "cpu":
        native = fused.native_available()
        loops = "C++" if native else "Python (C++ build unavailable)"
    else:
        native = fused.cuda_loops_available()
        loops = "CUDA" if native else "Python (CUDA build unavailable)"
    env = {"device": device, "fast_loops": loops, "native": native,
           "threads": torch.get_num_threads(), "cpu": cpu_model(), "cpus": os.cpu_count(),
           "machine": platform.machine(), "torch": torch.__version__,
           "python": platform.python_version()}
    if device != "cpu":
        env.update(gpu=torch.cuda.get_device_name(device), cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version())
    return env


def describe(env: dict) -> str:
    where = (f"{env['gpu']} (CUDA {env['cuda']}, cuDNN {env['cudnn']}) | host "
             if env.get("device", "cpu") != "cpu" else "")
    return (f"fast path: {env['fast_loops']} step loops | {where}{env['threads']} threads | "
            f"{env['cpu']} ({env['cpus']} CPUs, {env['machine']}) | torch {env['torch']}")


def check_options(shapes, cells, rounds: int, iters: int) -> None:
    """Every option of :func:`run`, checked before anything is timed."""
    def whole(name: str, v, least: int = 1) -> None:
        if isinstance(v, bool) or not isinstance(v, int) or v < least:
            raise TextrnnError(f"{name}: {v!r} is not a whole number >= {least}")
    whole("--rounds", rounds)
    whole("--iters", iters)
    if isinstance(cells, str) or not len(cells):
        raise TextrnnError("--cells: give at least one cell")
    for c in cells:
        if c not in ("gru", "rnn"):
            raise TextrnnError(f"--cells: unknown cell {c!r} (choose from gru, rnn)")
    if len(set(cells)) != len(cells):
        raise TextrnnError(f"--cells: repeated cell in {' '.join(cells)}")
    if not len(shapes):
        raise TextrnnError("no shapes to benchmark")
    for shape in shapes:
        for k in SHAPE_KEYS:
            whole(f"shape {k}", shape.get(k))
        if not isinstance(shape.get("train", True), bool):
            raise TextrnnError(f"shape train: {shape['train']!r} is not true or false")


class _Head(nn.Module):
    """Embedding -> sequence layer -> linear on the final state (the assignment's model)."""

    def __init__(self, layer: nn.Module, embed: int, hidden: int) -> None:
        super().__init__()
        self.embedding, self.layer = nn.Embedding(VOCAB, embed), layer
        self.fc = nn.Linear(hidden, CLASSES)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        _, h = self.layer(self.embedding(ids))
        return self.fc(h[-1])


def _skeleton(cell: str):
    """The assignment's own model class, loaded from the repo root when it is there."""
    name = "RNN_skeleton.py" if cell == "rnn" else "GRU_skeleton.py"
    path = ROOT / name
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(name[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.VanillaRNN if cell == "rnn" else mod.GRUModel


def variants(cell: str, embed: int, hidden: int) -> dict[str, Callable[[], nn.Module]]:
    layer = GRU if cell == "gru" else RNN
    torch_layer = nn.GRU if cell == "gru" else nn.RNN
    out: dict[str, Callable[[], nn.Module]] = {}
    skel = _skeleton(cell)
    if skel is not None:
        out["assignment"] = lambda: skel(VOCAB, embed, hidden, CLASSES)
    for impl in ("reference", "loop", "fast"):
        out[impl] = lambda impl=impl: _Head(layer(embed, hidden, impl=impl), embed, hidden)
    out["torch.nn"] = lambda: _Head(torch_layer(embed, hidden, batch_first=True), embed, hidden)
    return out


def _train_step(model: nn.Module, opt: torch.optim.Optimizer, ids, y) -> None:
    loss = nn.functional.cross_entropy(model(ids), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def saved_bytes(model: nn.Module, ids: torch.Tensor, y: torch.Tensor) -> int:
    """Bytes of distinct storages autograd keeps for the backward of one step."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor):
        s = t.untyped_storage()
        seen[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = nn.functional.cross_entropy(model(ids), y)
    loss.backward()
    return sum(seen.values())


def _spread(xs: list[float]) -> dict:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "rounds": xs}


def _timed(fn: Callable[[], object], n: int, device: str = "cpu") -> float:
    """Seconds for ``n`` calls; on CUDA, from an idle device to the last kernel's end
    (launches are asynchronous)."""
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    sync()
    return time.perf_counter() - t0


def run(shapes=None, cells=("gru", "rnn"), rounds: int = 5, iters: int = 3,
        log: Callable[[str], None] = print, device: str = "cpu") -> list[dict]:
    """Time every variant of each cell at each shape (default: all of :data:`SHAPES`);
    one row per variant. Throughputs are medians over rounds; each ratio
    (``train_vs_torch``, ...) is the median of the per-round ratios, with their spread
    under ``ratios``. ``infer_ms`` is the median time of one forward of one batch. On
    ``device='cuda'`` every variant runs on the GPU and torch.nn is cuDNN's."""
    shapes = list(SHAPES.values()) if shapes is None else shapes
    check_options(shapes, cells, rounds, iters)
    torch.manual_seed(0)
    rows = []
    for shape in shapes:
        B, T, E, H = shape["batch"], shape["steps"], shape["embed"], shape["hidden"]
        trains = shape.get("train", True)
        n_infer = iters * -(-INFER_BATCHES // B)
        ids = torch.randint(1, VOCAB, (B, T)).to(device)
        y = torch.randint(0, CLASSES, (B,)).to(device)
        for cell in cells:
            models = {k: make().to(device) for k, make in variants(cell, E, H).items()}
            opts = {k: torch.optim.Adam(m.parameters(), 1e-3, fused=True) for k, m in models.items()}
            train = {k: [] for k in models}
            infer = {k: [] for k in models}
            for k, m in models.items():          # warm-up (allocator, kernels)
                if trains:
                    _train_step(m, opts[k], ids, y)
                with torch.inference_mode():
                    m.eval()(ids)
            for _ in range(rounds):
                for k, m in models.items():
                    if trains:
                        m.train()
                        sec = _timed(lambda: _train_step(m, opts[k], ids, y), iters, device)
                        train[k].append(B * T * iters / sec)
                    m.eval()
                    with torch.inference_mode():
                        sec = _timed(lambda: m(ids), n_infer, device)
                    infer[k].append(B * T * n_infer / sec)
            bases = {"train_vs_torch": (train, "torch.nn"), "infer_vs_torch": (infer, "torch.nn"),
                     "train_vs_assignment": (train, "assignment")}
            for k, m in models.items():
                m.train()
                row = {"cell": cell, **shape, "train": trains, "impl": k,
                       "train_tok_s": statistics.median(train[k]) if trains else None,
                       "infer_tok_s": statistics.median(infer[k]),
                       "infer_ms": 1000 * B * T / statistics.median(infer[k]),
                       "saved_mb": saved_bytes(m, ids, y) / 2**20 if trains else None,
                       "rounds": {"train_tok_s": train[k], "infer_tok_s": infer[k]},
                       "ratios": {}}
                for name, (times, base) in bases.items():
                    if base in times and times[k]:   # paired: this variant and the base, per round
                        ratio = _spread([a / b for a, b in zip(times[k], times[base])])
                        row["ratios"][name] = ratio
                        row[name] = ratio["median"]
                rows.append(row)
            log(table([r for r in rows if r["cell"] == cell and all(
                r[key] == shape[key] for key in SHAPE_KEYS)], device))
    return rows


def _ratio(r: dict, name: str) -> str:
    """``median (lowest-highest round)``, or - where the base variant did not run."""
    x = r["ratios"].get(name)
    if x is None:
        return "-"
    return f"{x['median']:.2f}x ({x['min']:.2f}-{x['max']:.2f})"


def _num(x, fmt: str, unit: str = "") -> str:
    return "-" if x is None else f"{x:{fmt}}{unit}"


def table(rows: list[dict], device: str = "cpu") -> str:
    r0 = rows[0]
    what = "" if r0.get("train", True) else "inference only; "
    where = f"{torch.get_num_threads()} threads" if device == "cpu" else f"on {device}"
    lines = [f"{r0['cell'].upper()}  batch {r0['batch']}, {r0['steps']} steps, embedding "
             f"{r0['embed']}, hidden {r0['hidden']}, {where}; "
             f"{what}ratios: median of the per-round ratios (lowest-highest round)",
             "| implementation | train tok/s | vs torch.nn | vs assignment | infer tok/s "
             "| vs torch.nn | infer ms/batch | saved for backward |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['impl']} | {_num(r['train_tok_s'], ',.0f')} | "
                     f"{_ratio(r, 'train_vs_torch')} | {_ratio(r, 'train_vs_assignment')} | "
                     f"{r['infer_tok_s']:,.0f} | {_ratio(r, 'infer_vs_torch')} | "
                     f"{r['infer_ms']:.2f} | {_num(r['saved_mb'], '.1f', ' MB')} |")
    return "\n".join(lines)


def check_targets(rows: list[dict], targets=None, shapes: dict | None = None,
                  impl: str = "fast") -> list[dict]:
    """Each target (default :data:`TARGETS`) whose cell was measured at its shape (named
    in ``shapes``, default :data:`SHAPES`): met only if the *lowest* round clears it (a
    median that clears it while some rounds do not is reported as not met)."""
    targets = TARGETS if targets is None else targets
    shapes = SHAPES if shapes is None else shapes
    out = []
    for t in map(lambda t: Target(*t), targets):
        shape = {k: shapes[t.shape][k] for k in SHAPE_KEYS}
        for r in rows:
            if (r["cell"], r["impl"]) == (t.cell, impl) and all(
                    r[k] == shape[k] for k in SHAPE_KEYS):
                x = r["ratios"].get(t.ratio)   # None: the base variant did not run
                out.append({"cell": t.cell, "ratio": t.ratio, "target": t.target,
                            "shape": t.shape, "issue": t.issue, **shape,
                            "median": x and x["median"], "min": x and x["min"],
                            "max": x and x["max"], "rounds": x and x["rounds"],
                            "met": x is not None and x["min"] >= t.target})
    return out


def targets_text(results: list[dict]) -> str:
    lines = []
    for t in results:
        head = (f"{t['cell'].upper()} fast {RATIO_NAMES[t['ratio']]} at {t['shape']} "
                f"(batch {t['batch']}, {t['steps']} steps, hidden {t['hidden']}; "
                f"issue {t['issue']})")
        if t["min"] is None:
            base = ("the assignment's skeletons are read from the repository root"
                    if t["ratio"] == "train_vs_assignment" else "this shape times inference only")
            lines.append(f"{head}: not measured (its base did not run: {base}); "
                         f"target {t['target']}x")
            continue
        verdict = ("met: every round clears it" if t["met"] else
                   f"not met: lowest round {t['min']:.2f}x < {t['target']}x")
        rounds = " ".join(f"{x:.2f}" for x in t["rounds"])
        lines.append(f"{head}: median {t['median']:.2f}x, rounds {t['min']:.2f}-{t['max']:.2f}x "
                     f"[{rounds}]; target {t['target']}x: {verdict}")
    return "\n".join(lines)


def full_run_seconds(model: str = "gru") -> tuple[float, dict]:
    """Wall time of one full default-preset training on the BBC data (no files written)."""
    from ..config import preset
    from ..runs import DataSpec, train_run
    t0 = time.perf_counter()
    m = train_run(preset("default", model), DataSpec(), None, verbose=False, log=lambda s: None)
    return time.perf_counter() - t0, m
