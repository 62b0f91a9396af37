"""Resumable training: checkpoints of everything the loop needs to go on bit for bit.

A checkpoint is a directory ``step-NNNNNNNNN`` (batches done so far) in the checkpoint
folder (``RUN_DIR/checkpoints`` for the CLI) holding two files:

* ``state.safetensors``: the weights, Adam's moments and step counts, the best weights
  so far (``average`` of them), the current epoch's batch order, and every random
  generator's state as ``uint8`` tensors (torch's global CPU generator, which dropout
  draws from; the loop's own generator for shuffling and word dropout; CUDA's; numpy's);
* ``state.json``: the position (epoch, batch, step), the epoch's running sums, the
  history, the kept epochs' scores, the early-stopping counter, Adam's hyper-parameters,
  the learning-rate schedule, Python's ``random`` state, the config, a fingerprint of
  the training data, and the SHA-256 of ``state.safetensors``.

Each is built under a temporary name and renamed into place (:func:`atomic_dir`), then
the older ones beyond the newest two are deleted: a crash at any moment leaves the
previous checkpoint whole. Loading takes the newest that reads back whole (its
checksum matches), warning about any newer one that does not.

No pickle anywhere: a checkpoint someone sent you cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from . import distributed
from .checkpoint import atomic_dir, read_json
from .config import Config
from .errors import TextrnnError

FORMAT = 1
KEEP = 2                      # complete checkpoints kept: the newest and the one before
TENSORS, STATE = "state.safetensors", "state.json"
CHECKPOINTS, RUN = "checkpoints", "run.json"  # in a run directory
_NAME = re.compile(r"step-\d{9}")


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped training after saving a checkpoint. A
    ``KeyboardInterrupt``, so code that stops on Ctrl-C stops on it too."""

    def __init__(self, signum: int, checkpoint: Path, epoch: int, batch: int) -> None:
        self.signum, self.checkpoint, self.epoch, self.batch = signum, checkpoint, epoch, batch
        where = f"at epoch {epoch}, batch {batch}" if batch else f"after epoch {epoch}"
        super().__init__(f"training interrupted by {signal.Signals(signum).name} {where}; "
                         f"checkpoint saved in {checkpoint}")


@dataclass
class TrainState:
    """Where the training loop stands, apart from the model, optimizer, schedule and
    generators (which are saved beside it)."""
    epoch: int = 0                 # epochs finished
    batch: int = 0                 # batches finished in epoch ``epoch + 1``
    step: int = 0                  # batches finished in all
    order: list[Tensor] = field(default_factory=list)  # epoch ``epoch + 1``'s batches
    seen: int = 0                  # running sums of the epoch's training loss / accuracy
    loss_sum: float = 0.0
    correct: int = 0
    tokens: int = 0                # non-padding tokens of the epoch's batches so far
    seconds: float = 0.0           # time spent on this epoch before ``started``
    started: float = field(default_factory=time.perf_counter)
    history: list[dict] = field(default_factory=list)
    kept: list[tuple[tuple, int, dict]] = field(default_factory=list)  # (score, epoch, weights)
    bad_epochs: int = 0
    stopped: bool = False          # early stopping fired

    def done(self, epochs: int) -> bool:
        return self.stopped or self.epoch >= epochs

    def start_epoch(self, order: list[Tensor]) -> None:
        self.order, self.batch, self.seen, self.loss_sum, self.correct = order, 0, 0, 0.0, 0
        self.tokens = 0
        self.seconds, self.started = 0.0, time.perf_counter()

    def add_batch(self, n: int, loss: float, correct: int, tokens: int = 0) -> None:
        self.batch, self.step, self.seen = self.batch + 1, self.step + 1, self.seen + n
        self.loss_sum += loss * n
        self.correct += correct
        self.tokens += tokens

    def epoch_seconds(self) -> float:
        return self.seconds + time.perf_counter() - self.started

    def end_epoch(self, row: dict, stop: bool) -> None:
        self.history.append(row)
        self.epoch, self.batch, self.order, self.stopped = self.epoch + 1, 0, [], stop


# -- signals and the test hook --------------------------------------------------------
@contextmanager
def catch_signals():
    """While inside, SIGINT and SIGTERM only append their number to the yielded list,
    which the loop reads after each batch (to save and stop); a second signal raises
    ``KeyboardInterrupt`` at once. Signal handlers belong to the main thread: elsewhere
    nothing is caught."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def handler(signum, frame):
        if caught:
            raise KeyboardInterrupt
        caught.append(signum)
    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for s, h in old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


_hook_counts: dict[str, int] = {}


def test_hook(point: str) -> None:
    """For the tests of interruption: ``TEXTRNN_TEST_SIGNAL=POINT:N:SIG`` (e.g.
    ``batch:7:KILL``) sends ``SIGSIG`` to this process the N-th time the loop passes
    POINT: 'batch' (after an optimizer step), 'epoch' (after the end-of-epoch
    checkpoint) or 'checkpoint' (half-way through writing one).

    Under torchrun, ``TEXTRNN_TEST_RANK=R`` limits it to rank R, and it fires in the
    first attempt only (not after torchrun restarts the workers)."""
    spec = os.environ.get("TEXTRNN_TEST_SIGNAL")
    if not spec:
        return
    only = os.environ.get("TEXTRNN_TEST_RANK")
    if only is not None and (only != os.environ.get("RANK") or distributed.restarted()):
        return
    where, n, sig = spec.split(":")
    if where == point:
        _hook_counts[point] = _hook_counts.get(point, 0) + 1
        if _hook_counts[point] == int(n):
            os.kill(os.getpid(), getattr(signal, f"SIG{sig}"))


# -- the checkpoint folder ------------------------------------------------------------
def fingerprint(*tensors: Tensor | None) -> str:
    """SHA-256 of the training (and validation) ids and labels: resuming on other data
    would silently train a different model."""
    h = hashlib.sha256()
    for t in tensors:
        if t is not None:
            h.update(str((tuple(t.shape), str(t.dtype))).encode())
            # the array's own buffer: the same bytes as ``.tobytes()`` without a copy of
            # the whole matrix (465 MB at 100x BBC), and a memory map is read in place
            h.update(np.ascontiguousarray(t.numpy()).reshape(-1).view(np.uint8))
    return h.hexdigest()


def _checksum(tensors: Path, meta: dict) -> str:
    """SHA-256 of the tensor file and of the JSON (less this checksum): a byte changed
    in either is found."""
    h = hashlib.sha256()
    with open(tensors, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    h.update(json.dumps({k: v for k, v in meta.items() if k != "sha256"},
                        sort_keys=True).encode())
    return h.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def list_checkpoints(folder: str | Path) -> list[Path]:
    """The complete checkpoints in ``folder``, newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if _NAME.fullmatch(p.name) and p.is_dir()),
                  reverse=True)


class Checkpoints:
    """The checkpoint folder of one training run, bound by :func:`textrnn.train.fit` to
    the objects it saves and restores.

    Args:
        folder: where the ``step-*`` directories go.
        save_every: also save every this many batches (0: at the end of each epoch only).
        resume: continue from the newest readable checkpoint in ``folder``, if any
            (else start from scratch); without it, a folder holding checkpoints is an
            error rather than something to overwrite.
    """

    def __init__(self, folder: str | Path, save_every: int = 0, resume: bool = False) -> None:
        if save_every < 0:
            raise TextrnnError(f"save_every must be >= 0, got {save_every}")
        self.folder, self.save_every, self.resume = Path(folder), save_every, resume
        found = list_checkpoints(self.folder)
        if found and not resume:
            raise TextrnnError(f"{self.folder} holds checkpoints of an earlier run "
                               f"({found[0].name}): resume it, or delete them to start over")

    def bind(self, cfg: Config, data: str, model: nn.Module, opt: torch.optim.Optimizer,
             sched, gen: torch.Generator) -> "Checkpoints":
        self.cfg, self.data, self.model, self.opt, self.sched, self.gen = (
            cfg, data, model, opt, sched, gen)
        return self

    # -- saving ------------------------------------------------------------------------
    def due(self, state: TrainState) -> bool:
        """Every ``save_every`` batches, except at the end of an epoch (saved just after)."""
        return bool(self.save_every) and state.step % self.save_every == 0 \
            and state.batch < len(state.order)

    def save(self, state: TrainState) -> Path:
        """Write a checkpoint of ``state`` and the bound objects; return its path. Under
        torchrun, rank 0 writes (every rank holds the same state) and the others wait
        at a barrier until it is whole on disk."""
        path = self.folder / f"step-{state.step:09d}"
        if not distributed.is_main():
            distributed.barrier()
            return path
        try:
            self._write(path, state)
        finally:
            distributed.barrier()
        return path

    def _write(self, path: Path, state: TrainState) -> None:
        tensors, meta = self._collect(state)
        try:
            for p in self.folder.glob(".step-*"):  # left by a crash while saving
                shutil.rmtree(p, ignore_errors=True)
            with atomic_dir(path) as tmp:
                from safetensors.torch import save_file
                save_file(tensors, str(tmp / TENSORS))
                _fsync(tmp / TENSORS)
                test_hook("checkpoint")
                meta["sha256"] = _checksum(tmp / TENSORS, meta)
                (tmp / STATE).write_text(json.dumps(meta) + "\n")
                _fsync(tmp / STATE)
            _fsync(self.folder)
        except OSError as e:
            raise TextrnnError(f"{path}: could not write the checkpoint ({e.strerror or e}); "
                               f"the previous one is intact") from None
        for old in list_checkpoints(self.folder)[KEEP:]:
            shutil.rmtree(old, ignore_errors=True)

    def _collect(self, state: TrainState) -> tuple[dict, dict]:
        t = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        opt = self.opt.state_dict()
        for i, s in opt["state"].items():
            t.update({f"optim.{i}.{k}": v for k, v in s.items()})
        for j, (_, _, w) in enumerate(state.kept):
            t.update({f"kept.{j}.{k}": v for k, v in w.items()})
        if state.order:
            t["order"] = torch.cat(state.order)
        t["rng.torch"] = torch.get_rng_state()
        t["rng.loop"] = self.gen.get_state()
        if torch.cuda.is_initialized():  # else no CUDA random number was drawn
            t.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        t["rng.numpy"] = torch.from_numpy(keys.astype("<u4").view(np.uint8).copy())
        tensors = {k: v.detach().cpu().contiguous() for k, v in t.items()}
        meta = {
            "format": FORMAT, "epoch": state.epoch, "batch": state.batch, "step": state.step,
            "sizes": [len(b) for b in state.order], "seen": state.seen,
            "loss_sum": state.loss_sum, "correct": state.correct, "tokens": state.tokens,
            "seconds": state.epoch_seconds() if state.order else 0.0,
            "history": state.history, "kept": [[list(s), e] for s, e, _ in state.kept],
            "bad_epochs": state.bad_epochs, "stopped": state.stopped,
            "param_groups": [{k: v for k, v in g.items() if k != "params"}
                             for g in opt["param_groups"]],
            "schedule": self.sched.state_dict() if self.sched is not None else None,
            "random": _jsonable_random(random.getstate()),
            "numpy": [kind, int(pos), int(has_gauss), float(gauss)],
            "config": self.cfg.to_dict(), "data": self.data,
            "threads": torch.get_num_threads(), "torch": torch.__version__,
        }
        return tensors, meta

    # -- restoring ---------------------------------------------------------------------
    def restore(self, state: TrainState) -> Path | None:
        """Load the newest checkpoint that reads back whole into ``state`` and the bound
        objects; warn about each newer one that does not. None if there is none."""
        found = list_checkpoints(self.folder)
        for path in found:
            try:
                tensors, meta = _read(path)
            except TextrnnError as e:
                # set aside, not deleted (evidence), and out of the way of the new ones
                aside = path.with_name(f"corrupt-{path.name}")
                if distributed.is_main():  # the other ranks skip it too, moving nothing
                    shutil.rmtree(aside, ignore_errors=True)
                    path.rename(aside)
                warnings.warn(f"{e}; falling back to the checkpoint before it (this one "
                              f"is now {aside.name})", stacklevel=2)
                continue
            self._check_same_run(path, meta)
            try:
                self._apply(state, tensors, meta)
            except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as e:
                reason = " ".join(str(e).split())[:300]
                raise TextrnnError(f"{path}: checkpoint does not fit this model ({reason})") \
                    from None
            return path
        if found:
            raise TextrnnError(f"{self.folder}: no readable checkpoint (all {len(found)} "
                               f"are corrupt)")
        return None

    def _check_same_run(self, path: Path, meta: dict) -> None:
        ours = self.cfg.to_dict()
        theirs = meta.get("config")
        if not isinstance(theirs, dict):
            raise TextrnnError(f"{path / STATE}: corrupt (no config)")
        diff = [f"{k} {theirs.get(k)!r} (now {v!r})" for k, v in ours.items()
                if theirs.get(k) != v]
        if diff:
            raise TextrnnError(f"{path}: the run was started with other settings: "
                               f"{'; '.join(diff)}")
        if meta.get("data") != self.data:
            raise TextrnnError(f"{path}: the run was started on other training data (its "
                               f"fingerprint differs): resume it on the same data")
        if meta.get("threads") != torch.get_num_threads():
            warnings.warn(f"{path}: the run was started with {meta.get('threads')} threads, "
                          f"now {torch.get_num_threads()}: the result will not be "
                          f"bit-identical to an uninterrupted run", stacklevel=3)

    def _apply(self, state: TrainState, t: dict[str, Tensor], meta: dict) -> None:
        model_state = {k[6:]: v for k, v in t.items() if k.startswith("model.")}
        self.model.load_state_dict(model_state)
        opt = self.opt.state_dict()
        per_param: dict[int, dict] = {}
        for k, v in t.items():
            if k.startswith("optim."):
                _, i, name = k.split(".", 2)
                per_param.setdefault(int(i), {})[name] = v
        groups = [{**saved, "params": g["params"],
                   **({"betas": tuple(saved["betas"])} if "betas" in saved else {})}
                  for saved, g in zip(meta["param_groups"], opt["param_groups"], strict=True)]
        self.opt.load_state_dict({"state": per_param, "param_groups": groups})
        if self.sched is not None:
            self.sched.load_state_dict(meta["schedule"])
        n_kept = len(meta["kept"])
        state.kept = [(tuple(s), int(e), {k[len(f"kept.{j}."):]: v for k, v in t.items()
                                          if k.startswith(f"kept.{j}.")})
                      for j, (s, e) in enumerate(meta["kept"])]
        for j in range(n_kept):  # fail here, not at the end of training
            self.model.load_state_dict(state.kept[j][2])
        self.model.load_state_dict(model_state)
        sizes = meta["sizes"]
        state.order = list(t["order"].split(sizes)) if sizes else []
        state.epoch, state.batch, state.step = meta["epoch"], meta["batch"], meta["step"]
        state.seen, state.loss_sum, state.correct = meta["seen"], meta["loss_sum"], meta["correct"]
        state.tokens = int(meta.get("tokens", 0))  # absent from checkpoints made before it
        state.seconds, state.started = meta["seconds"], time.perf_counter()
        state.history, state.bad_epochs = meta["history"], meta["bad_epochs"]
        state.stopped = meta["stopped"]
        self.gen.set_state(t["rng.loop"])
        torch.set_rng_state(t["rng.torch"])
        cuda = [t[f"rng.cuda.{i}"] for i in range(len(t)) if f"rng.cuda.{i}" in t]
        if cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda[:torch.cuda.device_count()])
        random.setstate(_tuples(meta["random"]))
        kind, pos, has_gauss, gauss = meta["numpy"]
        keys = t["rng.numpy"].numpy().view("<u4").astype(np.uint32)
        np.random.set_state((kind, keys, pos, has_gauss, gauss))


_META_TYPES = {"epoch": int, "batch": int, "step": int, "sizes": list, "seen": int,
               "loss_sum": (int, float), "correct": int, "seconds": (int, float),
               "history": list, "kept": list, "bad_epochs": int, "stopped": bool,
               "param_groups": list, "random": list, "numpy": list, "config": dict}


def _read(path: Path) -> tuple[dict[str, Tensor], dict]:
    """A checkpoint's tensors and JSON, or a TextrnnError saying what is wrong."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    meta = read_json(path / STATE)
    if meta.get("format") != FORMAT:
        raise TextrnnError(f"{path / STATE}: unknown checkpoint format {meta.get('format')!r}")
    if not (path / TENSORS).is_file() or _checksum(path / TENSORS, meta) != meta.get("sha256"):
        raise TextrnnError(f"{path}: corrupt checkpoint (a file is missing, or the checksum "
                           f"does not match)")
    wrong = [k for k, t in _META_TYPES.items()
             if not isinstance(meta.get(k), t) or (isinstance(meta.get(k), bool) and t is int)]
    if wrong:
        raise TextrnnError(f"{path / STATE}: corrupt checkpoint (bad {', '.join(wrong)})")
    try:
        tensors = load_file(str(path / TENSORS))
    except (SafetensorError, OSError, ValueError) as e:
        raise TextrnnError(f"{path / TENSORS}: corrupt checkpoint ({e})") from None
    return tensors, meta


def _jsonable_random(state):
    return [_jsonable_random(s) for s in state] if isinstance(state, tuple) else state


def _tuples(obj):
    return tuple(_tuples(s) for s in obj) if isinstance(obj, list) else obj


# -- a run's settings, for ``textrnn train --resume`` -----------------------------------
def write_run_settings(folder: Path, settings: dict) -> None:
    """The settings a run started with (config and data), written before training so
    that ``--resume`` needs nothing else."""
    from .checkpoint import write_json
    write_json(folder / RUN, settings)


def read_run_settings(run_dir: str | Path) -> dict:
    folder = Path(run_dir) / CHECKPOINTS
    if not Path(run_dir).is_dir():
        raise TextrnnError(f"{run_dir}: no such run directory")
    if not (folder / RUN).is_file():
        raise TextrnnError(f"{run_dir}: nothing to resume (no {CHECKPOINTS}/{RUN}: "
                           f"the run finished, or never started)")
    return read_json(folder / RUN)
