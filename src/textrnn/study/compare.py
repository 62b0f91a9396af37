"""One table for everything: presets x cells x baselines, under several protocols.

Protocols (each row is the mean and spread over its runs):
  split   the assignment's split, one run per seed
  dedupe  the same after dropping exact duplicate texts (no copy on both sides)
  cv      k-fold stratified cross-validation (5 folds by default; 15% of each training
          part for validation)
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedKFold, train_test_split

from .baselines import baseline_run
from ..checkpoint import write_atomic, write_json
from ..config import MODELS, PRESETS, Config, preset
from ..errors import TextrnnError
from ..runs import DataSpec, train_run
from ..train import planned_members

PROTOCOLS = ("split", "dedupe", "cv")


def _cv_splits(data: DataSpec, folds: int = 5) -> list[dict]:
    """``folds`` stratified folds of the whole dataset: each fold's test part is one
    fold, and 15% of the rest (stratified) is its validation part."""
    ds = data.load()[0]
    idx, y = np.arange(len(ds)), ds.labels
    counts = np.bincount(y, minlength=len(ds.label_names))
    for name, n in zip(ds.label_names, counts):
        # fewer documents than folds leaves some folds without the class in test, and
        # the stratified validation split needs two of it in every training part
        if n < max(folds, 3):
            raise TextrnnError(
                f"{ds.source or 'data'}: class {name!r} has {int(n)} document{'s' * int(n != 1)}, "
                f"too few for {folds}-fold cross-validation (each class needs at least "
                f"{max(folds, 3)}; use fewer --folds or leave out the cv protocol)")
    out = []
    skf = StratifiedKFold(folds, shuffle=True, random_state=data.split_seed)
    try:
        for rest, test in skf.split(idx, y):
            train, val = train_test_split(rest, test_size=0.15, random_state=data.split_seed,
                                          stratify=y[rest])
            out.append({"train": train, "val": val, "test": test})
    except ValueError as e:   # e.g. a validation part smaller than the number of classes
        raise TextrnnError(f"{ds.source or 'data'}: cannot make {folds} cross-validation "
                           f"folds ({' '.join(str(e).split())})") from None
    return out


def check_options(models, presets, protocols, seeds, folds: int) -> None:
    """Every option of :func:`run_compare`, checked before any run starts."""
    def listed(name, values, allowed=None):
        if isinstance(values, str) or not len(values):
            raise TextrnnError(f"--{name}: give at least one value")
        if len(set(values)) != len(values):
            raise TextrnnError(f"--{name}: repeated value in {' '.join(map(str, values))}")
        bad = [v for v in values if allowed is not None and v not in allowed]
        if bad:
            raise TextrnnError(f"--{name}: unknown {bad[0]!r} (choose from {', '.join(allowed)})")
    listed("models", models, MODELS)
    listed("presets", presets, list(PRESETS))
    listed("protocols", protocols, PROTOCOLS)
    listed("seeds", seeds)
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise TextrnnError(f"--seeds: {s!r} is not a whole number >= 0")
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise TextrnnError(f"--folds: {folds!r} is not a whole number >= 2")


def run_compare(models, presets, data: DataSpec, protocols=("split",), seeds=(42,),
                baseline: bool = True, out: str | Path = "runs", device: str = "cpu",
                verbose: bool = False, log=print, results: str | Path = "results",
                folds: int = 5, reuse: bool = False, **overrides) -> dict:
    """Train every model x preset (and the baseline) under each protocol, write
    ``results/compare.json`` (summary and per-run records) and ``compare.md``.
    ``split`` and ``dedupe`` train once per seed; ``cv`` once per fold, with the first
    seed. Every option is checked, and the cv folds made, before the first run.

    With ``reuse``, a run whose directory already holds a finished run of the same
    settings on the same data (:func:`finished_run`) is read back instead of trained
    again: a long comparison that was stopped goes on where it was, and a protocol can
    be added to a finished one."""
    check_options(models, presets, protocols, seeds, folds)
    for preset_name in presets:      # bad overrides: one error now, not after hours
        for model in models:
            preset(preset_name, model, **{**overrides, "seed": seeds[0]})
    out, results = Path(out), Path(results)
    cv = _cv_splits(data, folds) if "cv" in protocols else None
    runs: list[dict] = []
    t_start = time.perf_counter()
    for protocol in protocols:
        if protocol == "cv":
            jobs = [(f"fold{k + 1}", data, s) for k, s in enumerate(cv)]
        else:
            spec = replace(data, dedupe=protocol == "dedupe")
            jobs = [(f"seed{seed}", spec, None) for seed in seeds]
        for tag, spec, splits in jobs:
            seed = seeds[0] if protocol == "cv" else int(tag[4:])
            for preset_name in presets:
                for model in models:
                    cfg = preset(preset_name, model, **{**overrides, "seed": seed})
                    d = out / protocol / f"{model}-{preset_name}-{tag}"
                    m = finished_run(d, cfg, spec, splits) if reuse else None
                    again = m is not None
                    if m is None:
                        m = train_run(cfg, spec, d, device, verbose, log, splits=splits)
                    runs.append({"protocol": protocol, "run": tag, "dir": str(d), **m})
                    log(f"[{protocol} {tag}] {model}/{preset_name}: test accuracy "
                        f"{100 * m['test']['accuracy']:.2f}%  ({m['train_seconds']:.0f} s"
                        f"{', reused' if again else ''})")
            if baseline:
                d = out / protocol / f"tfidf-svm-{tag}"
                m = baseline_run(spec, d, seed, log=lambda s: None, splits=splits)
                runs.append({"protocol": protocol, "run": tag, "dir": str(d), **m})
    slim = [_slim(r) for r in runs]
    summary = summarise(slim)
    result = {"summary": summary, "runs": slim,
              "seconds": time.perf_counter() - t_start}
    write_json(results / "compare.json", result)
    write_atomic(results / "compare.md", lambda p: p.write_text(table(summary) + "\n"))
    return result


def finished_run(d: Path, cfg: Config, data: DataSpec, splits: dict | None) -> dict | None:
    """``d``'s metrics if it holds a finished run of exactly ``cfg`` on ``data`` (and,
    for a cv fold, a split of the same sizes), else None: anything missing, unreadable
    or different means the run is trained again."""
    try:
        meta = json.loads((d / "config.json").read_text())
        m = json.loads((d / "metrics.json").read_text())
        saved = Config.from_dict(meta["config"])
        same = saved == cfg
        # the members the rule gives this corpus now (a run saved before fill_budget
        # trained the configuration's number)
        trained = meta.get("members_trained", saved.members)
        same &= trained == planned_members(cfg, m["data"]["sizes"]["train"])
        spec = asdict(replace(data, val_size=cfg.val_fraction))
        same &= {k: m["data"].get(k) for k in spec} == spec
        if splits is not None:
            same &= m["data"]["sizes"] == {k: len(v) for k, v in splits.items()}
        m["test"]["accuracy"], m["val"]["accuracy"], m["train_seconds"]  # noqa: B018
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return m if same else None


def _slim(r: dict) -> dict:
    keep = ("protocol", "run", "dir", "model", "preset", "train_seconds", "parameters", "data")
    return {**{k: r[k] for k in keep if k in r},
            "test_accuracy": r["test"]["accuracy"], "test_macro_f1": r["test"]["macro_f1"],
            "val_accuracy": r["val"]["accuracy"], "test_size": r["test"]["n"],
            "epochs": len(r["history"])}


def summarise(runs: list[dict]) -> list[dict]:
    """Mean and spread per (protocol, model, preset) over the slim run records. Val
    accuracy sits beside test: recipes are chosen on val, test is only reported."""
    groups: dict[tuple, list[dict]] = {}
    for r in runs:
        groups.setdefault((r["protocol"], r["model"], r["preset"]), []).append(r)
    rows = []
    for (protocol, model, preset_name), rs in groups.items():
        row = {"protocol": protocol, "model": model, "preset": preset_name, "runs": len(rs)}
        for key, name in (("val_accuracy", "val"), ("test_accuracy", "acc"), ("test_macro_f1", "f1")):
            xs = [r[key] for r in rs]
            row[f"{name}_mean"] = statistics.mean(xs)
            row[f"{name}_std"] = statistics.stdev(xs) if len(xs) > 1 else 0.0
        row["train_seconds"] = statistics.mean(r["train_seconds"] for r in rs)
        row["test_size"] = rs[0]["test_size"]
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| protocol | model | preset | runs | val accuracy | test accuracy | test macro-F1 | train time |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        pm = lambda m, s: f"{100 * m:.2f}%" + (f" ± {100 * s:.2f}" if r["runs"] > 1 else "")  # noqa: E731
        lines.append(f"| {r['protocol']} | {r['model']} | {r['preset']} | {r['runs']} | "
                     f"{pm(r['val_mean'], r['val_std'])} | {pm(r['acc_mean'], r['acc_std'])} | "
                     f"{pm(r['f1_mean'], r['f1_std'])} | {r['train_seconds']:.0f} s |")
    return "\n".join(lines)
