"""The two cells against their equations, torch.nn.RNNCell, their split form, and gradcheck."""

import math

import numpy as np
import pytest
import torch

from textrnn import GRUCell, VanillaRNNCell

DT = torch.float64


def _set(param, values):
    with torch.no_grad():
        param.copy_(torch.tensor(values, dtype=param.dtype))


def _sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def _matvec(W, v):
    return [sum(w * x for w, x in zip(row, v)) for row in W]


# ----------------------------------------------------------------- by hand ---------

def test_vanilla_cell_matches_hand_computation():
    cell = VanillaRNNCell(2, 2).double()
    Wx = [[0.5, -0.25], [0.125, 0.75]]
    Wh = [[-0.5, 0.25], [1.0, -0.375]]
    bh = [0.1, -0.2]
    _set(cell.W_x, Wx)
    _set(cell.W_h, Wh)
    _set(cell.b_h, bh)
    x = [[1.0, 2.0], [-0.5, 0.3]]
    h = [[0.2, -0.4], [0.0, 0.9]]
    got = cell(torch.tensor(x, dtype=DT), torch.tensor(h, dtype=DT))
    for b in range(2):
        # explicit scalars: h_j = tanh(sum_k Wx[j][k] x_k + sum_k Wh[j][k] h_k + b_j)
        for j in range(2):
            pre = (Wx[j][0] * x[b][0] + Wx[j][1] * x[b][1]
                   + Wh[j][0] * h[b][0] + Wh[j][1] * h[b][1] + bh[j])
            assert got[b, j].item() == pytest.approx(math.tanh(pre), abs=1e-14)
    # one value worked fully by hand: b=0, j=0
    # 0.5*1 - 0.25*2 + (-0.5*0.2 + 0.25*-0.4) + 0.1 = 0 - 0.2 + 0.1 = -0.1
    assert got[0, 0].item() == pytest.approx(math.tanh(-0.1), abs=1e-14)


def test_gru_cell_matches_hand_computation():
    cell = GRUCell(2, 2).double()
    P = {
        "W_z": [[0.3, -0.1], [0.2, 0.4]], "U_z": [[0.5, 0.0], [-0.3, 0.2]], "b_z": [0.1, -0.1],
        "W_r": [[-0.2, 0.6], [0.1, 0.1]], "U_r": [[0.25, -0.5], [0.7, 0.3]], "b_r": [0.0, 0.2],
        "W_h": [[0.9, -0.4], [-0.6, 0.5]], "U_h": [[0.2, 0.8], [-0.1, 0.35]], "b_h": [-0.05, 0.15],
    }
    for name, v in P.items():
        _set(getattr(cell, name), v)
    xs = [[1.0, -2.0], [0.25, 0.5]]
    hs = [[0.5, -0.3], [-0.9, 0.1]]
    got = cell(torch.tensor(xs, dtype=DT), torch.tensor(hs, dtype=DT))
    for b, (x, h) in enumerate(zip(xs, hs)):
        Wzx, Uzh = _matvec(P["W_z"], x), _matvec(P["U_z"], h)
        Wrx, Urh = _matvec(P["W_r"], x), _matvec(P["U_r"], h)
        z = [_sig(Wzx[j] + Uzh[j] + P["b_z"][j]) for j in range(2)]
        r = [_sig(Wrx[j] + Urh[j] + P["b_r"][j]) for j in range(2)]
        rh = [r[j] * h[j] for j in range(2)]
        Whx, Uhrh = _matvec(P["W_h"], x), _matvec(P["U_h"], rh)
        hhat = [math.tanh(Whx[j] + Uhrh[j] + P["b_h"][j]) for j in range(2)]
        expect = [(1 - z[j]) * h[j] + z[j] * hhat[j] for j in range(2)]
        for j in range(2):
            assert got[b, j].item() == pytest.approx(expect[j], abs=1e-14)


def test_gru_update_gate_extremes():
    """z -> 0 keeps h_prev; z -> 1 gives the candidate (z weighs the *new* state)."""
    cell = GRUCell(2, 2).double()
    x = torch.tensor([[0.3, -0.7]], dtype=DT)
    h = torch.tensor([[0.4, -0.2]], dtype=DT)
    with torch.no_grad():
        cell.W_z.zero_()
        cell.U_z.zero_()
        cell.b_z.fill_(-1e3)
    torch.testing.assert_close(cell(x, h), h, rtol=0, atol=1e-300)
    with torch.no_grad():
        cell.b_z.fill_(1e3)
        r = torch.sigmoid(x @ cell.W_r.T + h @ cell.U_r.T + cell.b_r)
        h_hat = torch.tanh(x @ cell.W_h.T + (r * h) @ cell.U_h.T + cell.b_h)
    torch.testing.assert_close(cell(x, h), h_hat, rtol=0, atol=1e-15)


# ----------------------------------------------------------------- torch.nn ---------

def test_vanilla_cell_equals_torch_rnncell():
    torch.manual_seed(0)
    ref = torch.nn.RNNCell(3, 4, nonlinearity="tanh").double()
    cell = VanillaRNNCell(3, 4).double()
    with torch.no_grad():
        cell.W_x.copy_(ref.weight_ih)
        cell.W_h.copy_(ref.weight_hh)
        cell.b_h.copy_(ref.bias_ih + ref.bias_hh)
    x = torch.randn(5, 3, dtype=DT)
    h = torch.randn(5, 4, dtype=DT)
    torch.testing.assert_close(cell(x, h), ref(x, h), rtol=0, atol=1e-14)


# ----------------------------------------------------------------- split form -------

@pytest.mark.parametrize("cls", [VanillaRNNCell, GRUCell])
def test_recur_of_project_equals_forward(cls):
    torch.manual_seed(1)
    cell = cls(3, 4).double()
    x = torch.randn(6, 3, dtype=DT)
    h = torch.randn(6, 4, dtype=DT)
    torch.testing.assert_close(cell.recur(cell.project(x), h), cell(x, h),
                               rtol=0, atol=1e-14)


def _gates_by_hand(W, U, b, x, h):
    """sigmoid(W x + U h + b) for each row and unit, one scalar at a time (numpy, float64)."""
    out = np.empty((x.shape[0], W.shape[0]))
    for n in range(x.shape[0]):
        for j in range(W.shape[0]):
            s = b[j] + sum(W[j, k] * x[n, k] for k in range(x.shape[1])) \
                + sum(U[j, k] * h[n, k] for k in range(h.shape[1]))
            out[n, j] = _sig(s)
    return out


def test_gru_stacked_weights_give_each_gate_its_own_equation():
    """Run z and r from the stacked ``[U_z; U_r]`` and ``[W_z; W_r; W_h]`` (as the
    sequence layers do) and hold each half to its gate's equation, computed by hand
    from the cell's separate parameters: a swapped, transposed or misplaced block fails."""
    torch.manual_seed(2)
    cell = GRUCell(3, 4).double()
    H = cell.hidden_size
    x, h = torch.randn(2, 3, dtype=DT), torch.randn(2, 4, dtype=DT)
    W, b = cell.stacked_input_weights()
    U_zr = cell.stacked_recurrent_weights()
    assert W.shape == (3 * H, 3) and b.shape == (3 * H,) and U_zr.shape == (2 * H, H)
    zr = torch.sigmoid(x @ W[:2 * H].T + b[:2 * H] + h @ U_zr.T).detach().numpy()
    P = {n: p.detach().numpy() for n, p in cell.named_parameters()}
    xn, hn = x.numpy(), h.numpy()
    np.testing.assert_allclose(zr[:, :H], _gates_by_hand(P["W_z"], P["U_z"], P["b_z"], xn, hn),
                               rtol=0, atol=1e-14)
    np.testing.assert_allclose(zr[:, H:], _gates_by_hand(P["W_r"], P["U_r"], P["b_r"], xn, hn),
                               rtol=0, atol=1e-14)
    # the candidate's input block: W_h x + b_h
    xp_h = cell.project(x)[:, 2 * H:].detach().numpy()
    expect = [[P["b_h"][j] + sum(P["W_h"][j, k] * xn[n, k] for k in range(3)) for j in range(H)]
              for n in range(2)]
    np.testing.assert_allclose(xp_h, expect, rtol=0, atol=1e-14)


def test_gru_recur_uses_the_U_zr_it_is_given():
    """``recur(xp, h, U_zr)`` takes z and r from the ``U_zr`` passed in (rows 0..H-1 for
    z, H..2H-1 for r), not from the cell's own parameters."""
    torch.manual_seed(2)
    cell = GRUCell(3, 4).double()
    H = cell.hidden_size
    x, h = torch.randn(2, 3, dtype=DT), torch.randn(2, 4, dtype=DT)
    U_z2, U_r2 = torch.randn(H, H, dtype=DT), torch.randn(H, H, dtype=DT)
    got = cell.recur(cell.project(x), h, torch.cat([U_z2, U_r2])).detach().numpy()
    P = {n: p.detach().numpy() for n, p in cell.named_parameters()}
    xn, hn = x.numpy(), h.numpy()
    z = _gates_by_hand(P["W_z"], U_z2.numpy(), P["b_z"], xn, hn)
    r = _gates_by_hand(P["W_r"], U_r2.numpy(), P["b_r"], xn, hn)
    for n in range(2):
        for j in range(H):
            pre = P["b_h"][j] + sum(P["W_h"][j, k] * xn[n, k] for k in range(3)) + sum(
                P["U_h"][j, k] * r[n, k] * hn[n, k] for k in range(H))
            expect = (1 - z[n, j]) * hn[n, j] + z[n, j] * math.tanh(pre)
            assert got[n, j] == pytest.approx(expect, abs=1e-14)
    # and without it, the cell's own U_z and U_r
    torch.testing.assert_close(cell.recur(cell.project(x), h), cell(x, h), rtol=0, atol=1e-14)


@pytest.mark.parametrize("cls", [VanillaRNNCell, GRUCell])
def test_project_handles_leading_dims(cls):
    torch.manual_seed(3)
    cell = cls(3, 4).double()
    x = torch.randn(2, 5, 3, dtype=DT)
    flat = cell.project(x.reshape(10, 3)).reshape(2, 5, -1)
    torch.testing.assert_close(cell.project(x), flat, rtol=0, atol=1e-15)


# ----------------------------------------------------------------- gradcheck --------

@pytest.mark.parametrize("cls", [VanillaRNNCell, GRUCell])
def test_cell_gradcheck(cls):
    torch.manual_seed(4)
    cell = cls(3, 2).double()
    names = [n for n, _ in cell.named_parameters()]
    x = torch.randn(2, 3, dtype=DT, requires_grad=True)
    h = torch.randn(2, 2, dtype=DT, requires_grad=True)
    params = tuple(p.detach().clone().requires_grad_() for p in cell.parameters())

    def fn(x, h, *ps):
        return torch.func.functional_call(cell, dict(zip(names, ps)), (x, h))

    assert torch.autograd.gradcheck(fn, (x, h, *params), eps=1e-6, atol=1e-8)
