"""The two recurrent cells, written from their equations.

These cells are the reference: every faster path in :mod:`textrnn.layers` is tested
against ``forward`` here. Parameters follow the ``nn.Linear`` convention (a weight
of shape ``(out_features, in_features)``), so ``x @ W.T`` is ``W x`` in the paper.

Each cell also splits its step in two halves, ``project`` (the part that depends
only on the input ``x_t``) and ``recur`` (the part that depends on ``h_{t-1}``).
``project`` has no sequential dependency, so a sequence layer can run it for all
time steps as one matrix product and leave only ``recur`` inside the loop.
``forward(x, h) == recur(project(x), h)`` is a tested identity.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _uniform_(tensors: list[Tensor], hidden_size: int) -> None:
    """U(-1/sqrt(H), 1/sqrt(H)): torch.nn.RNN/GRU's initialisation, so results compare."""
    bound = 1.0 / math.sqrt(hidden_size)
    for t in tensors:
        nn.init.uniform_(t, -bound, bound)


class VanillaRNNCell(nn.Module):
    """Elman cell: ``h_t = tanh(W_x x_t + W_h h_{t-1} + b_h)``.

    ``torch.nn.RNNCell`` has two biases (``b_ih``, ``b_hh``) whose sum is our ``b_h``.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.W_x = nn.Parameter(torch.empty(hidden_size, input_size))
        self.W_h = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.b_h = nn.Parameter(torch.empty(hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _uniform_([self.W_x, self.W_h, self.b_h], self.hidden_size)

    def forward(self, x: Tensor, h_prev: Tensor) -> Tensor:
        return torch.tanh(x @ self.W_x.T + h_prev @ self.W_h.T + self.b_h)

    # -- the same step, split for sequence layers ---------------------------------
    def project(self, x: Tensor) -> Tensor:
        """``W_x x + b_h`` for any number of leading dims (all time steps at once)."""
        return torch.nn.functional.linear(x, self.W_x, self.b_h)

    def recur(self, xp: Tensor, h_prev: Tensor) -> Tensor:
        return torch.tanh(xp + h_prev @ self.W_h.T)


class GRUCell(nn.Module):
    """GRU of Cho et al. (2014), reset gate applied *before* the recurrent product.

        z  = sigmoid(W_z x + U_z h + b_z)          update gate
        r  = sigmoid(W_r x + U_r h + b_r)          reset gate
        ĥ  = tanh(W_h x + U_h (r ⊙ h) + b_h)       candidate state
        h' = (1 - z) ⊙ h + z ⊙ ĥ

    This differs from ``torch.nn.GRU`` (cuDNN), which computes ``r ⊙ (U_h h + b)``
    and whose ``z`` weighs the *old* state; the two are not weight-compatible.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        H, I = hidden_size, input_size
        self.W_z, self.U_z, self.b_z = (nn.Parameter(torch.empty(H, I)),
                                        nn.Parameter(torch.empty(H, H)),
                                        nn.Parameter(torch.empty(H)))
        self.W_r, self.U_r, self.b_r = (nn.Parameter(torch.empty(H, I)),
                                        nn.Parameter(torch.empty(H, H)),
                                        nn.Parameter(torch.empty(H)))
        self.W_h, self.U_h, self.b_h = (nn.Parameter(torch.empty(H, I)),
                                        nn.Parameter(torch.empty(H, H)),
                                        nn.Parameter(torch.empty(H)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _uniform_(list(self.parameters()), self.hidden_size)

    def forward(self, x: Tensor, h_prev: Tensor) -> Tensor:
        z = torch.sigmoid(x @ self.W_z.T + h_prev @ self.U_z.T + self.b_z)
        r = torch.sigmoid(x @ self.W_r.T + h_prev @ self.U_r.T + self.b_r)
        h_hat = torch.tanh(x @ self.W_h.T + (r * h_prev) @ self.U_h.T + self.b_h)
        return (1 - z) * h_prev + z * h_hat

    # -- the same step, split for sequence layers ---------------------------------
    def stacked_input_weights(self) -> tuple[Tensor, Tensor]:
        """``[W_z; W_r; W_h]`` and ``[b_z; b_r; b_h]``: three input products as one."""
        return (torch.cat([self.W_z, self.W_r, self.W_h]),
                torch.cat([self.b_z, self.b_r, self.b_h]))

    def stacked_recurrent_weights(self) -> Tensor:
        """``[U_z; U_r]``: z and r both act on ``h``, so they take one product."""
        return torch.cat([self.U_z, self.U_r])

    def project(self, x: Tensor) -> Tensor:
        """``[W_z x + b_z, W_r x + b_r, W_h x + b_h]`` concatenated on the last dim."""
        W, b = self.stacked_input_weights()
        return torch.nn.functional.linear(x, W, b)

    def recur(self, xp: Tensor, h_prev: Tensor, U_zr: Tensor | None = None) -> Tensor:
        """One step given ``project(x)``. ``U_zr = [U_z; U_r]`` may be passed in so a
        loop concatenates it once, not every step: z and r then cost one product."""
        H = self.hidden_size
        if U_zr is None:
            U_zr = self.stacked_recurrent_weights()
        zr = torch.sigmoid(xp[..., : 2 * H] + h_prev @ U_zr.T)
        z, r = zr[..., :H], zr[..., H:]
        h_hat = torch.tanh(xp[..., 2 * H:] + (r * h_prev) @ self.U_h.T)
        return h_prev + z * (h_hat - h_prev)
