"""Reading the runs a report is made of.

A recurrent run directory is read through the same checks as ``textrnn test`` and
``TextClassifier.load`` (``check_run_dir``, ``read_json``, ``Config.from_dict``). A
baseline run directory (written by :mod:`textrnn.study.baselines`) has ``config.json``
and ``metrics.json`` but no vocabulary or weights; :func:`_baseline_meta` recognises it
from its ``config.json`` before those checks would call it incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...checkpoint import CONFIG, METRICS, check_run_dir, read_json
from ...config import MODELS, Config, preset
from ...errors import TextrnnError
from .. import baselines
from .formatting import tex

# LaTeX names of the models. Baselines: only what textrnn.study.baselines writes; any
# other model name is shown as written.
CELL_NAMES = {"rnn": "Vanilla RNN", "gru": "GRU"}
CELL_PROSE = {"rnn": "vanilla RNN", "gru": "GRU"}
BASELINE_NAMES = {baselines.MODEL: "TF-IDF + SVM"}
PRESET_ORDER = ("seed", "default")
# Config fields that name a run rather than set it: never a row of the settings table.
IDENTITY = ("model", "preset")


@dataclass
class Run:
    """One run directory: its ``metrics.json``, its ``config.json``, and for a
    recurrent run its validated :class:`Config` (``None`` for a baseline)."""
    path: Path
    metrics: dict
    meta: dict
    config: Config | None

    @property
    def recurrent(self) -> bool:
        return self.config is not None

    @property
    def model(self) -> str:
        return self.config.model if self.config else str(self.meta["config"]["model"])

    @property
    def preset(self) -> str:
        if self.config:
            return self.config.preset
        return str(self.meta["config"].get("preset") or self.metrics.get("preset") or "")

    @property
    def acc(self) -> float:
        return float(self.metrics["test"]["accuracy"])

    @property
    def f1(self) -> float:
        return float(self.metrics["test"]["macro_f1"])

    @property
    def name(self) -> str:
        """'GRU' or 'TF-IDF + SVM' (LaTeX)."""
        if self.recurrent:
            return CELL_NAMES[self.model]
        return BASELINE_NAMES.get(self.model) or tex(self.model)

    @property
    def prose(self) -> str:
        """The name inside a sentence: 'vanilla RNN'."""
        return CELL_PROSE[self.model] if self.recurrent else self.name

    @property
    def settings(self) -> dict:
        """The run's settings as ``config.json`` has them (a baseline's as written)."""
        if self.config:
            return self.config.to_dict()
        return {k: v for k, v in self.meta["config"].items() if k not in IDENTITY}

    @property
    def changes(self) -> dict:
        """The settings on which this recurrent run differs from the default preset
        of its cell (``preset('default', model)``); empty for a baseline."""
        if not self.config:
            return {}
        ref = preset("default", self.model).to_dict()
        return {k: v for k, v in self.config.to_dict().items()
                if k not in IDENTITY and v != ref[k]}

    @property
    def labels(self) -> list[str]:
        return [str(x) for x in self.metrics["test"].get("labels") or self.meta.get("classes")
                or []]

    @property
    def matrix(self) -> list[list[int]] | None:
        """The test confusion matrix, if there is a well-formed one matching the labels."""
        cm, n = self.metrics["test"].get("confusion_matrix"), len(self.labels)
        ok = (isinstance(cm, list) and len(cm) == n > 1 and all(
            isinstance(row, list) and len(row) == n and
            all(isinstance(v, int) and v >= 0 for v in row) for row in cm))
        return cm if ok else None


def _baseline_meta(path: Path) -> dict | None:
    """``config.json`` of a baseline run directory (a model other than rnn / gru, with
    no weights to check), or None for anything else."""
    if not (path / CONFIG).is_file():
        return None
    meta = read_json(path / CONFIG)
    cfg = meta.get("config")
    if isinstance(cfg, dict) and isinstance(cfg.get("model"), str) \
            and cfg["model"] not in MODELS:
        return meta
    return None


def load_run(path: str | Path) -> Run:
    path = Path(path)
    meta = _baseline_meta(path)
    config = None
    if meta is None:
        check_run_dir(path)
        meta = read_json(path / CONFIG)
        try:
            config = Config.from_dict(meta["config"])
        except TextrnnError as e:
            raise TextrnnError(f"{path}: corrupt run directory ({e})") from None
        except (KeyError, TypeError) as e:
            raise TextrnnError(f"{path}: corrupt run directory (bad or missing {e} in "
                               f"{CONFIG})") from None
    metrics = read_json(path / METRICS)
    test = metrics.get("test")
    if not isinstance(test, dict) or not all(
            isinstance(test.get(k), (int, float)) for k in ("accuracy", "macro_f1")):
        raise TextrnnError(f"{path / METRICS}: no test accuracy and macro_f1 "
                           "(not a finished run?)")
    return Run(path, metrics, meta, config)


def load_runs(run_dirs) -> list[Run]:
    """The runs, recurrent first (seed preset, then default, then others; RNN before
    GRU), baselines last."""
    if not run_dirs:
        raise TextrnnError("no run directory given")
    runs = [load_run(d) for d in run_dirs]

    def order(r: Run):
        p = PRESET_ORDER.index(r.preset) if r.preset in PRESET_ORDER else len(PRESET_ORDER)
        return (not r.recurrent, p, r.preset, MODELS.index(r.model) if r.recurrent else 0, r.model)
    return sorted(runs, key=order)
