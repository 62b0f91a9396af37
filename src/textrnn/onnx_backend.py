"""Run an exported model with onnxruntime: numpy, onnxruntime and ``vocab.json`` only.

This module must not import torch (directly or through ``textrnn``'s other modules):
``--backend onnx`` is for machines where PyTorch is too heavy. A test runs it in a
process where importing torch fails.

:class:`OnnxClassifier` has the inference half of
:class:`textrnn.TextClassifier`'s interface (``classes_``, ``predict_proba``,
``predict``), so ``textrnn predict`` and ``textrnn serve`` take either.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .checkpoint import CONFIG, VOCAB, read_json
from .config import Config
from .errors import TextrnnError
from .tokenizer import Tokenizer

ONNX_FILE = "model.onnx"   # the name textrnn.export writes


def session(path: str | Path, threads: int | None = None):
    """An onnxruntime CPU session; ``threads`` caps intra-op threads (default: ORT's)."""
    try:
        import onnxruntime as ort
    except ImportError as e:
        raise TextrnnError(f"--backend onnx needs onnxruntime (pip install 'textrnn[onnx]'): "
                           f"{e}") from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3   # no warnings about unused initializers on stderr
    if threads:
        opts.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        raise TextrnnError(f"{path}: not a loadable ONNX model ({' '.join(str(e).split())[:300]})"
                           ) from None


def trim_padding(ids: np.ndarray) -> np.ndarray:
    """Drop the columns that are padding in every row (as ``textrnn.train.trim``): a
    masked model skips them anyway, and a batch of short texts then costs its length."""
    real = np.flatnonzero((ids != 0).any(0))
    if len(real) == 0:
        return ids[:, :1]
    return ids[:, real[0]: real[-1] + 1]


class OnnxClassifier:
    """A run directory's ``model.onnx`` (from ``textrnn export``) with its tokenizer.

    >>> clf = OnnxClassifier.load("runs/gru")
    >>> clf.predict_proba(["Chelsea win the league"])   # (1, C) float32
    """

    backend = "onnx"

    def __init__(self, path: Path, config: Config, classes: list, tokenizer: Tokenizer,
                 threads: int | None = None) -> None:
        self.path, self.config, self.classes_, self.tokenizer_ = path, config, classes, tokenizer
        self.session_ = session(path, threads)

    @classmethod
    def load(cls, run_dir: str | Path, threads: int | None = None) -> "OnnxClassifier":
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise TextrnnError(f"{run_dir}: no such run directory")
        onnx_path = run_dir / ONNX_FILE
        if not onnx_path.is_file():
            raise TextrnnError(f"{run_dir}: no {ONNX_FILE} (write it with: textrnn export "
                               f"{run_dir} --format onnx)")
        meta = read_json(run_dir / CONFIG)
        try:
            config = Config.from_dict(meta["config"])
            classes = list(meta["classes"])
            tokenizer = Tokenizer.from_dict(read_json(run_dir / VOCAB))
        except TextrnnError as e:
            raise TextrnnError(f"{run_dir}: corrupt run directory ({e})") from None
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise TextrnnError(f"{run_dir}: corrupt run directory (bad or missing "
                               f"{' '.join(str(e).split())[:300]})") from None
        threads = threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or None
        clf = cls(onnx_path, config, classes, tokenizer, threads)
        clf.members_ = meta.get("members_trained", config.members)  # for /info
        return clf

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.tokenizer_.ids_for(texts, self.config)

    def predict_proba_ids(self, ids: np.ndarray) -> np.ndarray:
        """``(B, T)`` int64 ids (``T <= maxlen``) to ``(B, C)`` probabilities."""
        if len(ids) == 0:
            return np.empty((0, len(self.classes_)), dtype=np.float32)
        if self.config.mask:
            ids = trim_padding(ids)
        return self.session_.run(None, {"ids": np.ascontiguousarray(ids, dtype=np.int64)})[0]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.predict_proba_ids(self.encode(texts))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([self.classes_[i] for i in self.predict_proba(texts).argmax(1)])
