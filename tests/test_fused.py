"""The fast path (hand-written BPTT; C++ step loops or their Python twins) equals the
reference cells in outputs and in every gradient."""

import pytest
import torch

from textrnn import fused
from textrnn.layers import GRU, RNN, lengths_to_mask


@pytest.fixture(params=["native", "python"])
def loops(request, monkeypatch):
    if request.param == "native":
        assert fused.native_available(), "the C++ step loops failed to build"
    else:
        monkeypatch.setattr(fused, "_native_state", False)
    return request.param


def _run(module, x, mask):
    x = x.detach().clone().requires_grad_(True)
    module.zero_grad()
    out, h_n = module(x, mask=mask)
    (out.sin().sum() + 2 * h_n.cos().sum()).backward()
    return [out.detach(), h_n.detach(), x.grad] + [p.grad for p in module.parameters()]


@pytest.mark.parametrize("layer", [GRU, RNN])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_fast_equals_reference_outputs_and_gradients(layer, dtype, tol, loops):
    torch.manual_seed(0)
    ref = layer(6, 5, num_layers=2, bidirectional=True, impl="reference").to(dtype)
    fast = layer(6, 5, num_layers=2, bidirectional=True, impl="fast").to(dtype)
    fast.load_state_dict(ref.state_dict())
    B, T = 37, 9       # 37 rows: the C++ loops give each thread a block (19 + 18 rows)
    x = torch.randn(B, T, 6, dtype=dtype)
    lengths = torch.randint(1, T + 1, (B,))
    for mask in (None, lengths_to_mask(lengths, T, "post"), lengths_to_mask(lengths, T, "pre")):
        for a, b in zip(_run(ref, x, mask), _run(fast, x, mask)):
            torch.testing.assert_close(b, a, atol=tol, rtol=tol)


@pytest.mark.parametrize("layer", [GRU, RNN])
def test_fast_path_gradcheck(layer, loops):
    torch.manual_seed(1)
    m = layer(3, 4, impl="fast").double()
    x = torch.randn(5, 4, 3, dtype=torch.double, requires_grad=True)
    mask = lengths_to_mask(torch.tensor([4, 2, 3, 1, 4]), 4, "pre")
    assert torch.autograd.gradcheck(lambda x, *p: m(x, mask=mask)[0].sum(1) + m(x, mask=mask)[1][0],
                                    (x, *m.parameters()), atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("layer", [GRU, RNN])
def test_inference_mode_matches_training_forward(layer, loops):
    """Inference keeps one step of gate buffers instead of all T: same outputs."""
    torch.manual_seed(2)
    m = layer(4, 8, impl="fast")
    x = torch.randn(20, 6, 4)
    mask = lengths_to_mask(torch.randint(1, 7, (20,)), 6, "post")
    for mk in (None, mask):
        with torch.inference_mode():
            out_inf, h_inf = m(x, mask=mk)
        out, h = m(x, mask=mk)
        torch.testing.assert_close(out_inf, out.detach())
        torch.testing.assert_close(h_inf, h.detach())


def test_threads_do_not_change_results():
    """Rows split across threads or not: the same results (up to BLAS rounding)."""
    torch.manual_seed(3)
    m = GRU(4, 16, impl="fast")
    x = torch.randn(40, 7, 4)
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _run(m, x, None)
        torch.set_num_threads(2)
        two = _run(m, x, None)
    finally:
        torch.set_num_threads(n)
    for a, b in zip(one, two):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)
