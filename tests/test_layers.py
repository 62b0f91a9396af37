"""Sequence layers textrnn.RNN / textrnn.GRU: impls agree, padding is invisible, shapes,
gradcheck, and the vanilla layer equals torch.nn.RNN."""

import pytest
import torch

from textrnn import GRU, RNN, lengths_to_mask
from textrnn.layers import IMPLS

DT = torch.float64
LAYERS = [RNN, GRU]
both = pytest.mark.parametrize("cls", LAYERS, ids=["RNN", "GRU"])
every_impl = pytest.mark.parametrize("impl", IMPLS)
# every implementation other than the reference is held to the reference
other_impls = pytest.mark.parametrize("impl", [i for i in IMPLS if i != "reference"])


def _close(a, b, atol=1e-12):
    torch.testing.assert_close(a, b, rtol=0, atol=atol)


def _pair(cls, impl, **kw):
    torch.manual_seed(0)
    fast = cls(3, 4, impl=impl, **kw).double()
    ref = cls(3, 4, impl="reference", **kw).double()
    ref.load_state_dict(fast.state_dict())
    return fast, ref


# ------------------------------------------------------------- impl == reference ----

def test_impls_include_reference_and_fast():
    assert "reference" in IMPLS and "fast" in IMPLS


@both
@other_impls
def test_impl_equals_reference_forward_and_backward(cls, impl):
    fast, ref = _pair(cls, impl, num_layers=2, bidirectional=True)
    torch.manual_seed(1)
    x = torch.randn(4, 6, 3, dtype=DT)
    h0 = torch.randn(4, 4, 4, dtype=DT)
    mask = lengths_to_mask(torch.tensor([6, 4, 2, 0]), 6, "pre")  # row 3: empty
    mask[1, 0], mask[1, 3] = True, False  # row 1: real, pad, real, pad, real, real
    results = []
    for layer in (fast, ref):
        xi = x.clone().requires_grad_()
        hi = h0.clone().requires_grad_()
        out, h_n = layer(xi, hi, mask=mask)
        (out.sin().sum() + h_n.cos().sum()).backward()
        results.append((out, h_n, xi.grad, hi.grad,
                        {n: p.grad for n, p in layer.named_parameters()}))
    (o1, h1, gx1, gh1, gp1), (o2, h2, gx2, gh2, gp2) = results
    _close(o1, o2)
    _close(h1, h2)
    _close(gx1, gx2)
    _close(gh1, gh2)
    assert gp1.keys() == gp2.keys() and len(gp1) > 0
    for n in gp1:
        assert gp1[n] is not None, n
        _close(gp1[n], gp2[n])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@both
def test_fast_on_cuda_equals_reference_on_cpu(cls):
    """The fast path's Python loops on CUDA (the C++ loops are CPU only)."""
    fast, ref = _pair(cls, "fast", num_layers=2, bidirectional=True)
    fast = fast.cuda()
    torch.manual_seed(1)
    x = torch.randn(4, 6, 3, dtype=DT)
    h0 = torch.randn(4, 4, 4, dtype=DT)
    mask = lengths_to_mask(torch.tensor([6, 4, 2, 0]), 6, "post")
    grads = []
    for layer, dev in ((fast, "cuda"), (ref, "cpu")):
        xi = x.clone().to(dev).requires_grad_()
        hi = h0.clone().to(dev).requires_grad_()
        out, h_n = layer(xi, hi, mask=mask.to(dev))
        (out.sin().sum() + h_n.cos().sum()).backward()
        grads.append([out.cpu(), h_n.cpu(), xi.grad.cpu(), hi.grad.cpu()]
                     + [p.grad.cpu() for p in layer.parameters()])
    for a, b in zip(*grads):
        _close(a, b, atol=1e-10)


@both
def test_bad_arguments(cls):
    with pytest.raises(ValueError):
        cls(3, 4, impl="nope")
    with pytest.raises(ValueError):
        cls(3, 4, num_layers=0)
    with pytest.raises(ValueError):
        lengths_to_mask(torch.tensor([1]), 3, "middle")


# ------------------------------------------------------------- padding --------------

CONFIGS = [dict(), dict(bidirectional=True), dict(num_layers=2),
           dict(num_layers=2, bidirectional=True)]
CFG_IDS = ["uni", "bi", "stacked", "stacked-bi"]


@both
@every_impl
@pytest.mark.parametrize("cfg", CONFIGS, ids=CFG_IDS)
def test_padding_invariance(cls, impl, cfg):
    torch.manual_seed(2)
    layer = cls(3, 4, impl=impl, **cfg).double()
    L, T = 4, 7
    seq = torch.randn(L, 3, dtype=DT)
    alone_out, alone_h = layer(seq[None])
    o1, h1 = layer(seq[None], mask=torch.ones(1, L, dtype=torch.bool))  # no padding
    assert torch.equal(o1, alone_out) and torch.equal(h1, alone_h)
    # (pad before, pad after) for each row of one batch
    layouts = [(0, 3), (3, 0), (1, 2), (2, 1)]
    x = torch.randn(len(layouts), T, 3, dtype=DT) * 5  # pad positions hold junk
    mask = torch.zeros(len(layouts), T, dtype=torch.bool)
    for b, (pre, _post) in enumerate(layouts):
        x[b, pre:pre + L] = seq
        mask[b, pre:pre + L] = True
    out, h_n = layer(x, mask=mask)
    nd = layer.num_directions
    assert out.shape == (len(layouts), T, 4 * nd)
    for b, (pre, _post) in enumerate(layouts):
        _close(h_n[:, b], alone_h[:, 0])
        _close(out[b, pre:pre + L], alone_out[0])
        assert torch.all(out[b, ~mask[b]] == 0)


@both
@every_impl
def test_all_true_mask_equals_no_mask(cls, impl):
    torch.manual_seed(3)
    layer = cls(3, 4, num_layers=2, bidirectional=True, impl=impl).double()
    x = torch.randn(2, 5, 3, dtype=DT)
    o1, h1 = layer(x)
    o2, h2 = layer(x, mask=torch.ones(2, 5, dtype=torch.bool))
    assert torch.equal(o1, o2) and torch.equal(h1, h2)


@both
@every_impl
def test_fully_padded_row_keeps_h0(cls, impl):
    torch.manual_seed(8)
    layer = cls(3, 4, num_layers=2, bidirectional=True, impl=impl).double()
    x = torch.randn(2, 4, 3, dtype=DT)
    h0 = torch.randn(4, 2, 4, dtype=DT)
    out, h_n = layer(x, h0, lengths=torch.tensor([4, 0]))
    assert torch.equal(h_n[:, 1], h0[:, 1])
    assert torch.all(out[1] == 0)


@both
@every_impl
def test_lengths_equals_post_mask(cls, impl):
    torch.manual_seed(4)
    layer = cls(3, 4, bidirectional=True, impl=impl).double()
    x = torch.randn(3, 5, 3, dtype=DT)
    lengths = torch.tensor([5, 2, 3])
    o1, h1 = layer(x, lengths=lengths)
    o2, h2 = layer(x, mask=lengths_to_mask(lengths, 5, "post"))
    o3, h3 = layer(x, mask=lengths_to_mask(lengths, 5, "post").long())  # int mask ok
    assert torch.equal(o1, o2) and torch.equal(h1, h2)
    assert torch.equal(o1, o3) and torch.equal(h1, h3)


def test_lengths_to_mask():
    lengths = torch.tensor([3, 0, 5, 1])
    post = lengths_to_mask(lengths, 5, "post")
    pre = lengths_to_mask(lengths, 5, "pre")
    assert post.dtype == torch.bool and post.shape == (4, 5)
    assert post.tolist() == [[1, 1, 1, 0, 0], [0, 0, 0, 0, 0],
                             [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
    assert pre.tolist() == [[0, 0, 1, 1, 1], [0, 0, 0, 0, 0],
                            [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]]
    assert lengths_to_mask(lengths, 5).tolist() == post.tolist()  # default is post


# ------------------------------------------------------------- shapes ---------------

@both
@pytest.mark.parametrize("num_layers,bidirectional", [(1, False), (2, True), (3, False)])
def test_shapes(cls, num_layers, bidirectional):
    layer = cls(3, 4, num_layers=num_layers, bidirectional=bidirectional)
    out, h_n = layer(torch.randn(2, 5, 3))
    d = 2 if bidirectional else 1
    assert out.shape == (2, 5, 4 * d)
    assert h_n.shape == (num_layers * d, 2, 4)


@both
@every_impl
def test_last_output_is_final_state(cls, impl):
    """Without padding, h_n of the top forward direction is the last output."""
    layer = cls(3, 4, num_layers=2, bidirectional=True, impl=impl).double()
    out, h_n = layer(torch.randn(2, 5, 3, dtype=DT))
    assert torch.equal(out[:, -1, :4], h_n[2])   # top layer, forward
    assert torch.equal(out[:, 0, 4:], h_n[3])    # top layer, backward


@both
@every_impl
def test_batch_first_false(cls, impl):
    torch.manual_seed(5)
    kw = dict(num_layers=2, bidirectional=True, impl=impl)
    bf = cls(3, 4, batch_first=True, **kw).double()
    tf = cls(3, 4, batch_first=False, **kw).double()
    tf.load_state_dict(bf.state_dict())
    x = torch.randn(2, 5, 3, dtype=DT)
    h0 = torch.randn(4, 2, 4, dtype=DT)
    mask = lengths_to_mask(torch.tensor([5, 3]), 5, "pre")
    o1, h1 = bf(x, h0, mask=mask)
    o2, h2 = tf(x.transpose(0, 1), h0, mask=mask)
    assert o2.shape == (5, 2, 8)
    assert torch.equal(o1, o2.transpose(0, 1))
    assert torch.equal(h1, h2)


# ------------------------------------------------------------- gradcheck ------------

@both
@every_impl
def test_layer_gradcheck_with_mask(cls, impl):
    torch.manual_seed(6)
    layer = cls(2, 2, bidirectional=True, impl=impl).double()
    names = [n for n, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in layer.parameters())
    x = torch.randn(2, 3, 2, dtype=DT, requires_grad=True)
    h0 = torch.randn(2, 2, 2, dtype=DT, requires_grad=True)
    mask = torch.tensor([[True, True, False], [False, True, True]])

    def fn(x, h0, *ps):
        out, h_n = torch.func.functional_call(layer, dict(zip(names, ps)), (x, h0),
                                              {"mask": mask})
        return out, h_n

    assert torch.autograd.gradcheck(fn, (x, h0, *params), eps=1e-6, atol=1e-8)


# ------------------------------------------------------------- torch.nn.RNN ---------

def test_rnn_equals_torch_rnn():
    torch.manual_seed(7)
    ref = torch.nn.RNN(3, 4, batch_first=True).double()
    layer = RNN(3, 4).double()
    cell = layer.cells[0]
    with torch.no_grad():
        cell.W_x.copy_(ref.weight_ih_l0)
        cell.W_h.copy_(ref.weight_hh_l0)
        cell.b_h.copy_(ref.bias_ih_l0 + ref.bias_hh_l0)
    x = torch.randn(2, 6, 3, dtype=DT)
    h0 = torch.randn(1, 2, 4, dtype=DT)
    for impl in IMPLS:
        layer.impl = impl
        o, h = layer(x, h0)
        o_ref, h_ref = ref(x, h0)
        _close(o, o_ref, atol=1e-13)
        _close(h, h_ref, atol=1e-13)
