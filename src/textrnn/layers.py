"""Sequence layers ``RNN`` and ``GRU``: the cells unrolled over time, torch.nn-style.

``layer(x, h0=None, mask=None) -> (outputs, h_n)`` with ``x`` of shape ``(B, T, I)``
(``batch_first=True``) and ``h_n`` of shape ``(num_layers * num_directions, B, H)``,
as in ``torch.nn.GRU``.

Padding. Pass ``mask`` (``(B, T)``, true on real tokens) or ``lengths`` (real tokens
first, padding after). At a padded step the state is carried over unchanged and the
output is zero, so a padded sequence ends in exactly the state of the same sequence
unpadded, whether the padding is before, after or on both sides, and in either
direction of a bidirectional layer.

Implementations (``impl=``), all computing the same equations:
  * ``"reference"``: calls ``cell.forward`` once per step, the equations as written,
    differentiated by autograd.
  * ``"loop"``: the input products of all steps as one matrix product
    (``cell.project``), then only the recurrent half (``cell.recur``) in an autograd loop.
  * ``"fast"`` (default): ``cell.project`` as above, then the whole recurrence as one
    autograd Function with backpropagation through time written by hand
    (:mod:`textrnn.fused`).
They agree up to float rounding; tests hold them to that, outputs and gradients.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .cells import GRUCell, VanillaRNNCell
from .config import IMPLS  # noqa: F401  ("reference", "loop", "fast"), re-exported here
from . import fused
from .fused import RNNSequence, gru_sequence


def lengths_to_mask(lengths: Tensor, max_len: int, padding_side: str = "post") -> Tensor:
    """Boolean ``(B, max_len)`` mask of real tokens, for padding after or before them."""
    steps = torch.arange(max_len, device=lengths.device)
    if padding_side == "post":
        return steps[None, :] < lengths[:, None]
    if padding_side == "pre":
        return steps[None, :] >= (max_len - lengths)[:, None]
    raise ValueError(f"padding_side must be 'pre' or 'post', got {padding_side!r}")


class Dropout(nn.Dropout):
    """``nn.Dropout`` with its mask drawn as uniform numbers compared with ``p``: the same
    distribution, but on CPU torch's dropout draws Bernoulli samples through a slower
    path. ``python benchmarks/dropout.py`` times both (forward and backward) on the
    default preset's embedding batch, 32 x 400 x 128."""

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.p == 1.0:
            return torch.zeros_like(x)
        return x * torch.rand_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))


class _Recurrent(nn.Module):
    cell_class: type[nn.Module]

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0,
                 batch_first: bool = True, impl: str = "fast") -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError("num_layers must be >= 1")
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        self.num_layers, self.bidirectional = num_layers, bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.batch_first, self.impl = batch_first, impl
        self.dropout = Dropout(dropout)  # between stacked layers, as in torch.nn
        # cells[layer * num_directions + direction], the order of h_n
        self.cells = nn.ModuleList(
            self.cell_class(input_size if layer == 0 else hidden_size * self.num_directions,
                            hidden_size)
            for layer in range(num_layers) for _ in range(self.num_directions))

    def forward(self, x: Tensor, h0: Tensor | None = None, mask: Tensor | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if self.batch_first:
            x = x.transpose(0, 1)          # work time-major: step t is a contiguous slab
        T, B, _ = x.shape
        if mask is None and lengths is not None:
            mask = lengths_to_mask(lengths.to(x.device), T, "post")
        if mask is not None:
            mask = mask.to(device=x.device, dtype=torch.bool).t().unsqueeze(-1)  # (T, B, 1)
        if h0 is None:
            h0 = x.new_zeros(self.num_layers * self.num_directions, B, self.hidden_size)
        run = self._run_fused if self.impl == "fast" else self._run_loop
        h_n = []
        for layer in range(self.num_layers):
            if layer > 0:
                x = self.dropout(x)
            outs = []
            for d in range(self.num_directions):
                i = layer * self.num_directions + d
                hs = run(self.cells[i], x, h0[i], mask, reverse=d == 1)
                h_n.append(hs[0] if d == 1 else hs[-1])
                outs.append(hs if mask is None else hs * mask)   # zero output on padding
            x = outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)
        if self.batch_first:
            x = x.transpose(0, 1)
        return x, torch.stack(h_n)

    def _run_loop(self, cell: nn.Module, x: Tensor, h: Tensor, mask: Tensor | None,
                  reverse: bool) -> Tensor:
        """One direction of one layer, autograd over a Python loop: ``(T, B, I) -> (T, B, H)``
        states (a padded step repeats the previous state)."""
        if self.impl == "reference":
            inputs, step = x, cell.forward
        else:
            inputs, step = cell.project(x), self._recur_step(cell)
        # unbind, not inputs[t]: indexing would make backward build a full-size
        # zero gradient per step (quadratic in T); unbind's backward is one stack.
        inputs = inputs.unbind(0)
        m = mask.unbind(0) if mask is not None else None
        hs: list[Tensor] = [h] * len(inputs)
        for t in (range(len(inputs) - 1, -1, -1) if reverse else range(len(inputs))):
            h_new = step(inputs[t], h)
            h = h_new if m is None else torch.where(m[t], h_new, h)
            hs[t] = h
        return torch.stack(hs)

    def _run_fused(self, cell: nn.Module, x: Tensor, h: Tensor, mask: Tensor | None,
                   reverse: bool) -> Tensor:
        """The same, as one autograd Function with hand-written BPTT (textrnn.fused);
        when no gradient is wanted, the C++ forward alone, projecting inside its loop."""
        if fused.infers_natively(x, h, *cell.parameters()):
            if reverse:
                x, mask = x.flip(0), (mask.flip(0) if mask is not None else None)
            hs = self._infer(cell, x, h, mask)
            return hs.flip(0) if reverse else hs
        # contiguous first: the time-major view of a batch-first input would make the
        # projection a batched product over the steps (torch.matmul cannot fold a
        # transposed 3-d input into one 2-d product without a copy), at half the speed
        # of one (T*B, I) x (I, G) product; the copy is of the narrower side, I.
        xp = fused.project(x.contiguous(), *self._input_weights(cell))
        if reverse:
            xp, mask = xp.flip(0), (mask.flip(0) if mask is not None else None)
        hs = self._fused(cell, xp.contiguous(), h, mask)
        return hs.flip(0) if reverse else hs

    @staticmethod
    def _recur_step(cell: nn.Module):
        return cell.recur

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"bidirectional={self.bidirectional}, impl={self.impl!r}")


class RNN(_Recurrent):
    """Stacked, optionally bidirectional Elman RNN built from :class:`VanillaRNNCell`."""
    cell_class = VanillaRNNCell

    @staticmethod
    def _fused(cell: VanillaRNNCell, xp: Tensor, h: Tensor, mask: Tensor | None) -> Tensor:
        return RNNSequence.apply(xp, h, cell.W_h, mask)

    @staticmethod
    def _input_weights(cell: VanillaRNNCell) -> tuple[Tensor, Tensor]:
        return cell.W_x, cell.b_h

    @staticmethod
    def _infer(cell: VanillaRNNCell, x: Tensor, h: Tensor, mask: Tensor | None) -> Tensor:
        return fused.rnn_infer(x, h, cell.W_x, cell.b_h, cell.W_h, mask)


class GRU(_Recurrent):
    """Stacked, optionally bidirectional GRU built from :class:`GRUCell`."""
    cell_class = GRUCell

    @staticmethod
    def _recur_step(cell: nn.Module):
        U_zr = cell.stacked_recurrent_weights()  # once per sequence, not once per step
        return lambda xp, h: cell.recur(xp, h, U_zr)

    @staticmethod
    def _fused(cell: GRUCell, xp: Tensor, h: Tensor, mask: Tensor | None) -> Tensor:
        m = mask.to(xp.dtype) if mask is not None else None
        return gru_sequence(xp, h, cell.stacked_recurrent_weights(), cell.U_h, m)

    @staticmethod
    def _input_weights(cell: GRUCell) -> tuple[Tensor, Tensor]:
        return cell.stacked_input_weights()

    @staticmethod
    def _infer(cell: GRUCell, x: Tensor, h: Tensor, mask: Tensor | None) -> Tensor:
        m = mask.to(x.dtype) if mask is not None else None
        W, b = cell.stacked_input_weights()
        return fused.gru_infer(x, h, W, b, cell.stacked_recurrent_weights(), cell.U_h, m)
