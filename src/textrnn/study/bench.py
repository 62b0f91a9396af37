"""Side-by-side speed benchmark of the recurrent implementations, in one process.

For each shape and cell it times, interleaved round by round so that machine noise
hits every variant alike:

  assignment   the course's skeleton loop (RNN_skeleton.py / GRU_skeleton.py), if found
  reference    textrnn, ``impl="reference"``: the cells' equations in an autograd loop
  loop         textrnn, ``impl="loop"``: input products hoisted, autograd loop
  fast         textrnn, ``impl="fast"``: hand-written BPTT (the default)
  torch.nn     ``torch.nn.RNN`` / ``torch.nn.GRU``

Training = embedding, layer, linear head on the final state, cross-entropy,
backward, Adam step (fused Adam for every variant, as textrnn's training loop uses). Inference = forward under ``torch.inference_mode``. Memory is
the bytes autograd saves for backward in one training step (counted with saved
tensor hooks), the part of peak memory that differs between implementations.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from ..layers import GRU, RNN

ROOT = Path(__file__).resolve().parents[2]   # the repository, in a source checkout
SHAPES = [dict(batch=32, steps=100, embed=64, hidden=128),
          dict(batch=32, steps=400, embed=64, hidden=256)]
VOCAB, CLASSES = 5000, 5


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


def run(shapes=SHAPES, cells=("gru", "rnn"), rounds: int = 5, iters: int = 3,
        log: Callable[[str], None] = print) -> list[dict]:
    torch.manual_seed(0)
    rows = []
    for shape in shapes:
        B, T, E, H = shape["batch"], shape["steps"], shape["embed"], shape["hidden"]
        ids = torch.randint(1, VOCAB, (B, T))
        y = torch.randint(0, CLASSES, (B,))
        for cell in cells:
            models = {k: make() for k, make in variants(cell, E, H).items()}
            opts = {k: torch.optim.Adam(m.parameters(), 1e-3, fused=True) for k, m in models.items()}
            train = {k: [] for k in models}
            infer = {k: [] for k in models}
            for k, m in models.items():          # warm-up (allocator, kernels)
                _train_step(m, opts[k], ids, y)
            for _ in range(rounds):
                for k, m in models.items():
                    m.train()
                    t0 = time.perf_counter()
                    for _ in range(iters):
                        _train_step(m, opts[k], ids, y)
                    train[k].append(B * T * iters / (time.perf_counter() - t0))
                    m.eval()
                    with torch.inference_mode():
                        t0 = time.perf_counter()
                        for _ in range(iters):
                            m(ids)
                        infer[k].append(B * T * iters / (time.perf_counter() - t0))
            base_t, base_i = statistics.median(train["torch.nn"]), statistics.median(infer["torch.nn"])
            for k, m in models.items():
                m.train()
                row = {"cell": cell, **shape, "impl": k,
                       "train_tok_s": statistics.median(train[k]),
                       "infer_tok_s": statistics.median(infer[k]),
                       "saved_mb": saved_bytes(m, ids, y) / 2**20}
                row["train_vs_torch"] = row["train_tok_s"] / base_t
                row["infer_vs_torch"] = row["infer_tok_s"] / base_i
                if "assignment" in train:
                    row["train_vs_assignment"] = row["train_tok_s"] / statistics.median(train["assignment"])
                rows.append(row)
            log(table([r for r in rows if r["cell"] == cell and r["steps"] == T
                       and r["hidden"] == H]))
    return rows


def table(rows: list[dict]) -> str:
    r0 = rows[0]
    lines = [f"{r0['cell'].upper()}  batch {r0['batch']}, {r0['steps']} steps, embedding "
             f"{r0['embed']}, hidden {r0['hidden']}, {torch.get_num_threads()} threads",
             "| implementation | train tok/s | vs torch.nn | vs assignment | infer tok/s "
             "| vs torch.nn | saved for backward |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        va = f"{r['train_vs_assignment']:.2f}x" if "train_vs_assignment" in r else "-"
        lines.append(f"| {r['impl']} | {r['train_tok_s']:,.0f} | {r['train_vs_torch']:.2f}x | "
                     f"{va} | {r['infer_tok_s']:,.0f} | {r['infer_vs_torch']:.2f}x | "
                     f"{r['saved_mb']:.1f} MB |")
    return "\n".join(lines)


def full_run_seconds(model: str = "gru") -> tuple[float, dict]:
    """Wall time of one full default-preset training on the BBC data (no files written)."""
    from ..config import preset
    from ..runs import DataSpec, train_run
    t0 = time.perf_counter()
    m = train_run(preset("default", model), DataSpec(), None, verbose=False, log=lambda s: None)
    return time.perf_counter() - t0, m
