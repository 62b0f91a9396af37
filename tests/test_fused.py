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


def _run(module, x, mask, h0=None):
    """Outputs, final states and the gradients of a loss through both, with respect to
    the input, the initial state (when given) and every parameter."""
    x = x.detach().clone().requires_grad_(True)
    h0 = h0.detach().clone().requires_grad_(True) if h0 is not None else None
    module.zero_grad()
    out, h_n = module(x, h0, mask=mask)
    (out.sin().sum() + 2 * h_n.cos().sum()).backward()
    grads = [x.grad] + ([h0.grad] if h0 is not None else [])
    return [out.detach(), h_n.detach()] + grads + [p.grad for p in module.parameters()]


def _lengths(B: int, T: int) -> torch.Tensor:
    """Random lengths with the edge cases in: an empty row, a full row, a single step."""
    lengths = torch.randint(1, T + 1, (B,))
    lengths[:3] = torch.tensor([0, T, 1])
    return lengths


@pytest.mark.parametrize("layer", [GRU, RNN])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_fast_equals_reference_outputs_and_gradients(layer, dtype, tol, loops):
    """Both step loops (C++ and Python) against the reference cells: outputs, h_n, and
    the gradients of x, h0 and every weight, with a zero-length row among the others."""
    torch.manual_seed(0)
    ref = layer(6, 5, num_layers=2, bidirectional=True, impl="reference").to(dtype)
    fast = layer(6, 5, num_layers=2, bidirectional=True, impl="fast").to(dtype)
    fast.load_state_dict(ref.state_dict())
    B, T = 37, 9       # 37 rows: the C++ loops give each thread a block (19 + 18 rows)
    x = torch.randn(B, T, 6, dtype=dtype)
    h0 = torch.randn(4, B, 5, dtype=dtype)
    lengths = _lengths(B, T)
    for mask in (None, lengths_to_mask(lengths, T, "post"), lengths_to_mask(lengths, T, "pre")):
        for init in (None, h0):
            a, b = _run(ref, x, mask, init), _run(fast, x, mask, init)
            assert len(a) == len(b) == 3 + (init is not None) + len(list(ref.parameters()))
            for ga, gb in zip(a, b):
                assert ga is not None and gb is not None
                torch.testing.assert_close(gb, ga, atol=tol, rtol=tol)
        if mask is not None:     # the empty row: h_n is h0 and its gradient passes straight
            out, h_n = fast(x, h0, mask=mask)
            assert torch.equal(h_n[:, 0], h0[:, 0]) and torch.all(out[0] == 0)


@pytest.mark.parametrize("layer", [GRU, RNN])
def test_fast_path_gradcheck(layer, loops):
    torch.manual_seed(1)
    m = layer(3, 4, impl="fast").double()
    x = torch.randn(5, 4, 3, dtype=torch.double, requires_grad=True)
    mask = lengths_to_mask(torch.tensor([4, 2, 3, 1, 4]), 4, "pre")
    assert torch.autograd.gradcheck(lambda x, *p: m(x, mask=mask)[0].sum(1) + m(x, mask=mask)[1][0],
                                    (x, *m.parameters()), atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("layer", [GRU, RNN])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_inference_mode_equals_reference_cells(layer, dtype, tol, loops):
    """The inference-only forward (for the GRU in C++, one step of gate buffers instead
    of all T) against the reference cells, not against the fast path's training mode."""
    torch.manual_seed(2)
    ref = layer(4, 8, num_layers=2, bidirectional=True, impl="reference").to(dtype)
    fast = layer(4, 8, num_layers=2, bidirectional=True, impl="fast").to(dtype)
    fast.load_state_dict(ref.state_dict())
    B, T = 20, 6
    x = torch.randn(B, T, 4, dtype=dtype)
    h0 = torch.randn(4, B, 8, dtype=dtype)
    lengths = _lengths(B, T)
    for mk in (None, lengths_to_mask(lengths, T, "post"), lengths_to_mask(lengths, T, "pre")):
        for init in (None, h0):
            with torch.no_grad():
                out_ref, h_ref = ref(x, init, mask=mk)
            with torch.inference_mode():
                out_inf, h_inf = fast(x, init, mask=mk)
            assert torch.is_inference(out_inf)
            torch.testing.assert_close(out_inf, out_ref, atol=tol, rtol=tol)
            torch.testing.assert_close(h_inf, h_ref, atol=tol, rtol=tol)


@pytest.mark.parametrize("op,layer", [("gru_forward", GRU), ("rnn_forward", RNN)])
def test_inference_takes_the_forward_only_kernel(monkeypatch, op, layer):
    """Without gradients (inference_mode or no_grad) the layers call the C++ forward with
    the input weights (the projection done inside the loop; for the GRU with save=False,
    no autograd Function), so the tests above do test that path; with gradients, the
    projected input and no input weights."""
    assert fused.native_available(), "the C++ step loops failed to build"
    calls = []
    real = getattr(torch.ops.textrnn, op)

    class Spy:
        def __call__(self, *args):
            weights = args[6:] if op == "gru_forward" else args[4:]   # W_x, b_x
            calls.append((len(weights) == 2 and weights[0] is not None,
                          args[5] if op == "gru_forward" else None, args[0].shape[-1]))
            return real(*args)
    monkeypatch.setattr(fused.torch.ops.textrnn, op, Spy(), raising=False)
    m = layer(4, 8, impl="fast")
    x = torch.randn(3, 5, 4)
    with torch.inference_mode():
        a = m(x)[0]
    with torch.no_grad():
        b = m(x)[0]
    c = m(x)[0]
    save = {"gru_forward": (False, True), "rnn_forward": (None, None)}[op]
    G = 24 if op == "gru_forward" else 8
    assert calls == [(True, save[0], 4), (True, save[0], 4), (False, save[1], G)]
    torch.testing.assert_close(a, c.detach(), atol=1e-6, rtol=1e-6)
    assert torch.equal(a, b)


@pytest.mark.parametrize("layer", [GRU, RNN])
def test_threads_do_not_change_results(layer, loops):
    """Rows split across threads or not: the same results (up to BLAS rounding), with
    and without a mask (an empty row included), in training and in inference."""
    torch.manual_seed(3)
    m = layer(4, 16, impl="fast")
    B, T = 40, 7       # 40 rows: 2 threads get 20 each (the C++ loops split from 16 up)
    x = torch.randn(B, T, 4)
    h0 = torch.randn(1, B, 16)
    lengths = _lengths(B, T)
    masks = (None, lengths_to_mask(lengths, T, "post"), lengths_to_mask(lengths, T, "pre"))
    n = torch.get_num_threads()
    results = {}
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            assert torch.get_num_threads() == threads
            for k, mk in enumerate(masks):
                results[threads, k] = _run(m, x, mk, h0)
                with torch.inference_mode():
                    results[threads, k, "inference"] = list(m(x, h0, mask=mk))
    finally:
        torch.set_num_threads(n)
    for key, one in results.items():
        if key[0] == 1:
            two = results[(2,) + key[1:]]
            assert len(one) == len(two)
            for a, b in zip(one, two):
                torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)


# Shapes that reach every product kernel of the C++ loops: batch 1 (the vector-matrix
# product on a transposed weight: register blocks of 64 or 128 columns and a leftover),
# row blocks of a few to a few dozen rows (6-row tiles, a leftover tile, full and
# zero-padded column panels), and more than 512 hidden units (BLAS); in inference, the
# input projection one step at a time (13 rows) or in chunks of steps (fewer than 6).
KERNEL_SHAPES = [(1, 136), (2, 40), (13, 40), (3, 520)]


@pytest.mark.parametrize("layer", [GRU, RNN])
@pytest.mark.parametrize("B,H", KERNEL_SHAPES)
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
def test_every_product_kernel_equals_reference(layer, B, H, dtype, tol):
    assert fused.native_available(), "the C++ step loops failed to build"
    torch.manual_seed(4)
    ref = layer(5, H, impl="reference").to(dtype)
    fast = layer(5, H, impl="fast").to(dtype)
    fast.load_state_dict(ref.state_dict())
    T = 4 if H > 500 else 27   # 27: past the 24-step chunks of the input projection
    x = torch.randn(B, T, 5, dtype=dtype)
    h0 = torch.randn(1, B, H, dtype=dtype)
    mask = lengths_to_mask(torch.tensor([T, 2, 3][:B] + [1] * (B - 3)), T, "post")
    for mk in (None, mask):
        for ga, gb in zip(_run(ref, x, mk, h0), _run(fast, x, mk, h0)):
            torch.testing.assert_close(gb, ga, atol=tol, rtol=tol)
        with torch.no_grad():
            expect = ref(x, h0, mask=mk)
        with torch.inference_mode():
            got = fast(x, h0, mask=mk)
        for a, b in zip(expect, got):
            torch.testing.assert_close(b, a, atol=tol, rtol=tol)
