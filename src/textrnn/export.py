"""``textrnn export RUN_DIR --format onnx``: the classifier as an ONNX graph.

The fast path's recurrences are custom autograd Functions with C++ loops
(:mod:`textrnn.fused`), which no exporter can see into, and the ``"reference"`` /
``"loop"`` layers are Python loops, which ``torch.export`` would unroll to the one
length it was shown. So the exported model is the same module with each recurrent
layer's time loop written as ``torch.ops.higher_order.scan``: the step is the cell's
own ``recur`` (the equations of :mod:`textrnn.cells`) with the padding mask applied
as in :mod:`textrnn.layers` (a padded step keeps the state), and
``torch.onnx.export(..., dynamo=True)`` turns the scan into one ONNX ``Scan`` node.
Batch and time are dynamic axes: any number of documents of any length from 1 to the
run's ``maxlen`` tokens.

The graph takes ``ids`` (``(B, T)`` int64, 0 = padding, as the tokenizer writes
them) and returns ``probabilities`` (``(B, C)`` float32, softmax of the logits),
so a consumer needs onnxruntime, numpy and ``vocab.json`` only
(:mod:`textrnn.onnx_backend`).

Needs the ``onnx`` extra (``pip install 'textrnn[onnx]'``: onnx, onnxscript,
onnxruntime).
"""

from __future__ import annotations

import copy
import logging
import shutil
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

from .checkpoint import CONFIG, METRICS, VOCAB, write_atomic
from .errors import TextrnnError
from .layers import _Recurrent
from .model import classifiers
from .onnx_backend import ONNX_FILE

OPSET = 18


def _run_scan(self: _Recurrent, cell: nn.Module, x: Tensor, h: Tensor, mask: Tensor | None,
              reverse: bool) -> Tensor:
    """One direction of one layer as a scan over time: ``(T, B, I) -> (T, B, H)``
    states, a padded step repeating the previous state (``_Recurrent._run_loop``'s
    contract, so ``_Recurrent.forward`` runs unchanged around it)."""
    from torch._higher_order_ops.scan import scan

    step = self._recur_step(cell)
    xp = cell.project(x)
    if mask is None:   # one body for both cases: an all-true mask keeps every step
        mask = torch.ones(xp.shape[0], xp.shape[1], 1, dtype=torch.bool, device=xp.device)
    if reverse:
        xp, mask = xp.flip(0), mask.flip(0)

    def body(h_prev: Tensor, xs: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        xp_t, m_t = xs
        h_t = torch.where(m_t, step(xp_t, h_prev), h_prev)
        return h_t, h_t.clone()   # carry and output may not alias

    _, hs = scan(body, h, (xp, mask))
    return hs.flip(0) if reverse else hs


def scan_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (a :class:`~textrnn.model.RecurrentClassifier` or an
    :class:`~textrnn.model.Ensemble` of them) in eval mode whose recurrent layers run
    their time loop as a scan; same weights, same outputs.
    Its weights do not require gradients: with them, the exporter traces the scan
    through autograd, whose saved GRU intermediates it cannot export (torch 2.13)."""
    model = copy.deepcopy(model).cpu().float().eval().requires_grad_(False)
    for member in classifiers(model):
        layer = member.rnn
        layer.__class__ = type(f"Scan{type(layer).__name__}", (type(layer),),
                               {"_run_loop": _run_scan})
        layer.impl = "loop"   # _Recurrent.forward then calls _run_loop, i.e. the scan
    return model


class ProbabilityModel(nn.Module):
    """``ids -> softmax(logits)``: what the exported graph computes."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: Tensor) -> Tensor:
        return torch.softmax(self.model(ids), dim=-1)


def export_onnx(run_dir: str | Path, out: str | Path | None = None, check: bool = True) -> Path:
    """Write ``model.onnx`` for the run in ``run_dir`` into ``out`` (default: the run
    directory itself). When ``out`` is another folder, ``config.json``, ``vocab.json``
    and ``metrics.json`` are copied beside it, so that folder alone serves with
    ``--backend onnx``. With ``check``, onnxruntime runs the file on a few documents
    of several lengths and its probabilities must match PyTorch's within 1e-4.
    Returns the path of the ONNX file."""
    try:
        import onnx  # noqa: F401  (torch.onnx needs onnx and onnxscript)
        import onnxscript  # noqa: F401
    except ImportError as e:
        raise TextrnnError(f"ONNX export needs the onnx extra (pip install 'textrnn[onnx]'): "
                           f"{e}") from None
    from .api import TextClassifier

    run_dir = Path(run_dir)
    clf = TextClassifier.load(run_dir)
    cfg = clf.config_
    module = ProbabilityModel(scan_model(clf.model_)).eval()
    T = max(2, min(cfg.maxlen, 8))   # example length; torch.export specialises sizes 0/1
    example = torch.randint(1, clf.tokenizer_.vocab_size, (2, T))
    if cfg.maxlen >= 2:
        shapes = {"ids": {0: torch.export.Dim("batch", min=1),
                          1: torch.export.Dim("time", min=1, max=cfg.maxlen)}}
    else:
        shapes = {"ids": {0: torch.export.Dim("batch", min=1)}}
        example = example[:, :1]
    out_dir = Path(out) if out is not None else run_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / ONNX_FILE
    quiet = logging.getLogger("torch.onnx")   # torchvision-not-installed notices
    level = quiet.level
    try:
        quiet.setLevel(logging.ERROR)
        with warnings.catch_warnings():     # the exporter's own deprecation chatter
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, (example,), dynamo=True,
                                        dynamic_shapes=shapes, input_names=["ids"],
                                        output_names=["probabilities"], opset_version=OPSET,
                                        verbose=False)
    except Exception as e:  # an exporter failure is a bug to report, with its reason
        raise TextrnnError(f"ONNX export of {run_dir} failed: {type(e).__name__}: "
                           f"{' '.join(str(e).split())[:400]}") from None
    finally:
        quiet.setLevel(level)

    def save(tmp: Path) -> None:   # checked before it replaces anything
        program.save(str(tmp))
        if check:
            _check(tmp, clf)

    write_atomic(target, save)
    if out_dir.resolve() != run_dir.resolve():
        for name in (CONFIG, VOCAB, METRICS):
            if (run_dir / name).is_file():
                write_atomic(out_dir / name, lambda p, n=name: shutil.copyfile(run_dir / n, p))
    return target


@torch.inference_mode()
def _check(path: Path, clf) -> None:
    """onnxruntime against PyTorch on random documents of lengths 1, a few, maxlen."""
    import numpy as np

    from .onnx_backend import session

    sess = session(path)
    maxlen, V = clf.config_.maxlen, clf.tokenizer_.vocab_size
    g = torch.Generator().manual_seed(0)
    for T in sorted({1, min(maxlen, 7), maxlen}):
        ids = torch.randint(1, max(V, 2), (3, T), generator=g)
        ids[1, : T // 2] = 0   # some padding too (where the run masks it, it is skipped)
        want = torch.softmax(clf.model_.eval()(ids), -1).numpy()
        got = sess.run(None, {"ids": ids.numpy()})[0]
        diff = float(np.abs(got - want).max())
        if not diff <= 1e-4:
            raise TextrnnError(f"{path}: onnxruntime differs from PyTorch by {diff:.2e} "
                               f"on {T}-token documents (more than 1e-4)")
