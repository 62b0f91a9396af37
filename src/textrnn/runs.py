"""A run: load data, split, train, evaluate, and write one run directory.

Shared by the CLI verbs (``train``, ``test``, ``compare``) so that each verb is only
argument handling.
"""

from __future__ import annotations

import shutil
import time
import typing
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from .api import TextClassifier
from .checkpoint import METRICS, atomic_dir, check_run_dir, read_json, write_json
from .config import Config, _base_type, _is_a
from .data import Dataset, corpus_splits, load_dataset
from .errors import TextrnnError
from .metrics import classification_metrics
from .plots import plot_confusion, plot_curves
from .resume import CHECKPOINTS, Checkpoints, list_checkpoints, write_run_settings


@dataclass(frozen=True)
class DataSpec:
    """Which documents and which split: stored with each run so ``test`` can redo it."""
    path: str | None = None          # None = the BBC dataset from the data home
    text_column: str = "Text"
    label_column: str = "Label"
    split_seed: int = 42
    stratify: bool = False
    dedupe: bool = False
    split_column: str | None = None  # a column (or JSON field) naming each row's split
    train: str | None = None         # the parts given one path each, instead of path
    val: str | None = None
    test: str | None = None
    # share of train carved out when the data has no val part: the run's val_fraction
    # (stored here so `test` redoes the same carve); None: Config's default
    val_size: float | None = None

    @classmethod
    def from_dict(cls, d, where: Path) -> "DataSpec":
        """The spec stored in a run's JSON file ``where``, its types checked."""
        if not isinstance(d, dict):
            raise TextrnnError(f"{where}: corrupt ('data' is not an object)")
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            value, hint = d.get(f.name), hints[f.name]
            if f.name in d and not (value is None and type(None) in typing.get_args(hint)
                                    or _is_a(value, _base_type(hint))):
                raise TextrnnError(f"{where}: corrupt (data {f.name!r} must be "
                                   f"{_base_type(hint).__name__}, got {value!r})")
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    def load(self, label_names: list[str] | None = None, progress: bool = True,
             evaluate_only: bool = False) -> tuple[Dataset, dict, int]:
        """The documents, the split's index arrays and the duplicates dropped; what
        was found and done is in ``ds.notes`` (one line each). ``evaluate_only``: parts
        given without a train part (``textrnn test RUN --test new.csv``) are used as given."""
        ds = load_dataset(self.path, self.text_column, self.label_column, label_names,
                          split_column=self.split_column, train=self.train, val=self.val,
                          test=self.test, progress=progress, need_train=not evaluate_only)
        if evaluate_only and ds.splits and "train" not in ds.splits:
            return ds, dict(ds.splits), 0
        val_size = Config().val_fraction if self.val_size is None else self.val_size
        splits, dropped, said = corpus_splits(ds, self.split_seed, self.stratify, self.dedupe,
                                              val_size)
        ds.notes.append(f"{Path(ds.source).name or 'data'}: {len(ds):,} documents, "
                        f"{len(ds.label_names)} classes; {said}")
        return ds, splits, dropped


def train_run(cfg: Config, data: DataSpec, out: str | Path | None, device: str = "cpu",
              verbose: bool = True, log=print, splits: dict | None = None,
              save_every: int | None = None, resume: bool = False) -> dict:
    """Train ``cfg`` on ``data``'s train split, select on val, test once on test.
    ``splits`` (index arrays) replaces the data's own split (cross-validation folds).
    A corpus without a val part gives ``cfg.val_fraction`` of its train part to val.

    With ``save_every`` (None: no checkpoints), checkpoints go to ``out/checkpoints``
    at the end of each epoch and every ``save_every`` batches (0: never mid-epoch);
    ``resume`` continues from them. The finished run directory replaces ``out`` in one
    rename, checkpoints and any earlier run there with it."""
    if out is not None:
        _check_out(Path(out))
    folder = Path(out) / CHECKPOINTS if out is not None and save_every is not None else None
    if folder is not None and not resume:
        Checkpoints(folder)  # refuses to overwrite an interrupted run's checkpoints
    data = replace(data, val_size=cfg.val_fraction)
    ds, own_splits, dropped = data.load(progress=verbose)
    splits = own_splits if splits is None else splits
    for note in ds.notes:
        log(note)
    if dropped:
        log(f"--dedupe: dropped {dropped} duplicate texts before splitting")
    part = {k: ds.subset(v) for k, v in splits.items()}
    log(f"{cfg.model} ({cfg.preset} preset): {len(part['train'])} train / {len(part['val'])} "
        f"val / {len(part['test'])} test documents, {len(ds.label_names)} classes")
    names = ds.label_names
    as_names = lambda d: [names[i] for i in d.labels]  # noqa: E731
    clf = TextClassifier.from_config(cfg, device=device, verbose=verbose)
    t0 = time.perf_counter()
    with _writing(out, folder):
        if folder is not None:
            write_run_settings(folder, {"config": cfg.to_dict(), "data": asdict(data)})
        clf.fit(part["train"].texts, as_names(part["train"]), part["val"].texts,
                as_names(part["val"]), classes=names,
                extra_texts=part["val"].texts + part["test"].texts,
                checkpoint_dir=folder, save_every=save_every or 0, resume=resume)
    train_seconds = time.perf_counter() - t0
    metrics = {
        "model": cfg.model, "preset": cfg.preset,
        "parameters": sum(p.numel() for p in clf.model_.parameters()),
        "train_seconds": train_seconds, "threads": torch.get_num_threads(),
        "data": {**asdict(data), "dropped_duplicates": dropped,
                 "sizes": {k: len(v) for k, v in splits.items()}},
        "val": _evaluate(clf, part["val"]),
        "test": _evaluate(clf, part["test"]),
        "history": clf.history_,
    }
    if out is not None:
        with _writing(out), atomic_dir(out) as tmp:
            clf.save(tmp)
            write_json(tmp / METRICS, metrics)
            title = f"{cfg.model.upper()} ({cfg.preset})"
            plot_curves(clf.history_, tmp / "curves.png", title)
            plot_confusion(metrics["test"]["confusion_matrix"], names, tmp / "confusion.png",
                           f"{title}: test")
    return metrics


def _check_out(out: Path) -> None:
    """Fail before training, not after, on an output path that cannot be a directory."""
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                raise TextrnnError(f"{out}: cannot be a run directory ({p} is a file)")
            return


@contextmanager
def _writing(out: str | Path | None, folder: Path | None = None):
    """A failed write (full disk, read-only or missing folder) is one error naming
    ``out``; a run that fails before its first checkpoint leaves no checkpoint folder."""
    try:
        try:
            yield
        except OSError as e:
            where = f": {e.filename}" if e.filename else ""
            raise TextrnnError(f"{out}: could not write the run directory "
                               f"({e.strerror or e}{where})") from None
    except BaseException:
        if folder is not None and not list_checkpoints(folder):
            shutil.rmtree(folder, ignore_errors=True)
            with suppress(OSError):
                folder.parent.rmdir()  # only if empty: then it held our folder alone
        raise


def _evaluate(clf: TextClassifier, part: Dataset) -> dict:
    pred = clf.predict(part.texts)
    index = {c: i for i, c in enumerate(clf.classes_)}
    return classification_metrics(part.labels, np.array([index[p] for p in pred]), clf.classes_)


def stored_data_spec(run_dir: str | Path) -> DataSpec:
    """The data and split a run was trained on, or the defaults for a bare model dir."""
    path = check_run_dir(run_dir) / METRICS
    if not path.exists():
        return DataSpec()
    d = read_json(path).get("data", {})
    return DataSpec.from_dict(d, path)


def test_run(run_dir: str | Path, data: DataSpec, which: str = "test") -> dict:
    """Evaluate a saved model on one split (or 'all') of ``data``."""
    clf = TextClassifier.load(run_dir)
    ds, splits, _ = data.load(label_names=list(map(str, clf.classes_)), evaluate_only=True)
    if which != "all" and which not in splits:
        raise TextrnnError(f"{ds.source}: no {which} part in the data given "
                           f"(found: {', '.join(splits)}); choose one with --split")
    part = ds if which == "all" else ds.subset(splits[which])
    return _evaluate(clf, part)


def results_table(rows: list[dict]) -> str:
    """Markdown table: one row per run (``metrics.json`` dicts)."""
    head = "| model | preset | test accuracy | test macro-F1 | val accuracy | epochs | train time |"
    lines = [head, "|---|---|---:|---:|---:|---:|---:|"]
    for m in rows:
        lines.append(f"| {m['model']} | {m['preset']} | {100 * m['test']['accuracy']:.2f}% | "
                     f"{100 * m['test']['macro_f1']:.2f}% | {100 * m['val']['accuracy']:.2f}% | "
                     f"{len(m['history'])} | {m['train_seconds']:.0f} s |")
    return "\n".join(lines)
