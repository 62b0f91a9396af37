"""The two ways to run a saved model for inference, behind one small interface.

``load_classifier(run_dir, "torch" | "onnx")`` returns an object with ``classes_``,
``config``, ``tokenizer_``, ``encode(texts) -> (B, maxlen) int64 ids``,
``predict_proba_ids(ids) -> (B, C)`` and ``predict_proba(texts)``: what
``textrnn predict`` and ``textrnn serve`` need. The torch backend is the PyTorch
fast path (:class:`textrnn.TextClassifier`); the onnx backend is
:class:`textrnn.onnx_backend.OnnxClassifier` and never imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import TextrnnError

BACKENDS = ("torch", "onnx")


class TorchClassifier:
    """:class:`textrnn.TextClassifier` with the ids-level entry point serving needs;
    ``predict_proba`` is the estimator's own, so ``textrnn predict`` is unchanged."""

    backend = "torch"

    def __init__(self, clf) -> None:
        self.clf = clf
        self.classes_, self.config, self.tokenizer_ = clf.classes_, clf.config_, clf.tokenizer_
        self.members_ = clf.members_

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.tokenizer_.ids_for(texts, self.config)

    def predict_proba_ids(self, ids: np.ndarray) -> np.ndarray:
        import torch

        from .train import predict_logits
        if len(ids) == 0:
            return np.empty((0, len(self.classes_)), dtype=np.float32)
        logits = predict_logits(self.clf.model_, torch.from_numpy(np.asarray(ids, np.int64)),
                                device=self.clf.device, trim_padding=self.config.mask)
        return torch.softmax(logits, dim=-1).numpy()

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.clf.predict_proba(texts)


def load_classifier(run_dir: str | Path, backend: str = "torch", threads: int | None = None):
    """Load ``run_dir`` for inference with ``backend`` ('torch' or 'onnx')."""
    if backend == "onnx":
        from .onnx_backend import OnnxClassifier
        return OnnxClassifier.load(run_dir, threads)
    if backend == "torch":
        from .api import TextClassifier
        if threads:
            import torch
            torch.set_num_threads(threads)
        return TorchClassifier(TextClassifier.load(run_dir))
    raise TextrnnError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
