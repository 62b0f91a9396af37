"""The CUDA path: the step loops of csrc/recurrent_cuda.cu against the reference cells
on the CPU, in outputs and every gradient, and a whole training on the GPU. Run wherever
a CUDA device is present (skipped elsewhere: CI has none); on a GPU machine, run alone
with ``python -m pytest tests/test_cuda.py``."""

import numpy as np
import pytest
import torch

from test_fused import _run as _outputs_and_grads
from textrnn import fused
from textrnn.layers import GRU, RNN, lengths_to_mask

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(params=["cuda-loops", "python"])
def loops(request, monkeypatch):
    if request.param == "cuda-loops":
        assert fused.cuda_loops_available(), "the CUDA step loops failed to build"
    else:
        monkeypatch.setattr(fused, "_cuda_state", False)
    return request.param


def _run(module, x, mask, h0=None):
    """test_fused's outputs and gradients, brought to the CPU."""
    return [t.cpu() for t in _outputs_and_grads(module, x, mask, h0)]


@pytest.mark.parametrize("layer", [GRU, RNN])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 1e-4)])
def test_cuda_fast_equals_cpu_reference(layer, dtype, tol, loops):
    """The fast path on CUDA (its compiled loops, and the Python ones) against the
    reference cells on the CPU: outputs, h_n and the gradients of x, h0 and every weight,
    with padding after or before, an empty row, a full row and a one-step row."""
    torch.manual_seed(0)
    ref = layer(6, 5, num_layers=2, bidirectional=True, impl="reference").to(dtype)
    fast = layer(6, 5, num_layers=2, bidirectional=True, impl="fast").to(dtype)
    fast.load_state_dict(ref.state_dict())
    fast.cuda()
    B, T = 37, 9
    x = torch.randn(B, T, 6, dtype=dtype)
    h0 = torch.randn(4, B, 5, dtype=dtype)
    lengths = torch.randint(1, T + 1, (B,))
    lengths[:3] = torch.tensor([0, T, 1])
    for mask in (None, lengths_to_mask(lengths, T, "post"), lengths_to_mask(lengths, T, "pre")):
        for init in (None, h0):
            a = _run(ref, x, mask, init)
            b = _run(fast, x.cuda(), None if mask is None else mask.cuda(),
                     None if init is None else init.cuda())
            assert len(a) == len(b) == 3 + (init is not None) + len(list(ref.parameters()))
            for ga, gb in zip(a, b):
                torch.testing.assert_close(gb, ga, atol=tol, rtol=tol)


@pytest.mark.parametrize("layer", [GRU, RNN])
def test_cuda_loops_gradcheck(layer, loops):
    torch.manual_seed(1)
    m = layer(3, 4, impl="fast").double().cuda()
    x = torch.randn(5, 4, 3, dtype=torch.double, device="cuda", requires_grad=True)
    mask = lengths_to_mask(torch.tensor([4, 2, 3, 1, 4]), 4, "pre").cuda()
    assert torch.autograd.gradcheck(lambda x, *p: m(x, mask=mask)[0].sum(1) + m(x, mask=mask)[1][0],
                                    (x, *m.parameters()), atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("layer", [GRU, RNN])
def test_cuda_inference_equals_training_forward(layer, loops):
    """Under inference_mode the GRU keeps one step of gate buffers (save=False): same
    states as the training forward, and as the reference on the CPU."""
    torch.manual_seed(2)
    ref = layer(4, 8, num_layers=2, bidirectional=True, impl="reference")
    fast = layer(4, 8, num_layers=2, bidirectional=True, impl="fast")
    fast.load_state_dict(ref.state_dict())
    fast.cuda()
    x = torch.randn(6, 11, 4)
    mask = lengths_to_mask(torch.tensor([11, 3, 0, 7, 1, 11]), 11, "post")
    with torch.inference_mode():
        out_inf, h_inf = fast(x.cuda(), mask=mask.cuda())
    out_tr, h_tr = fast(x.cuda(), mask=mask.cuda())
    out_ref, h_ref = ref(x, mask=mask)
    torch.testing.assert_close(out_inf, out_tr.detach(), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(h_inf.cpu(), h_ref.detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out_inf.cpu(), out_ref.detach(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("op,layer", [("gru_forward", GRU), ("rnn_forward", RNN)])
def test_cuda_layers_take_the_cuda_loops(monkeypatch, op, layer):
    """On CUDA tensors the layers call torch.ops.textrnn_cuda (not the Python loops), in
    training and in inference."""
    assert fused.cuda_loops_available()
    calls = []
    real = getattr(torch.ops.textrnn_cuda, op)

    def spy(*args):
        calls.append(args[0].device.type)
        return real(*args)
    monkeypatch.setattr(fused.torch.ops.textrnn_cuda, op, spy, raising=False)
    m = layer(4, 8, impl="fast").cuda()
    x = torch.randn(3, 5, 4, device="cuda")
    m(x)[0].sum().backward()
    with torch.inference_mode():
        m(x)
    assert calls == ["cuda", "cuda"]


def test_empty_batch_on_cuda():
    for layer in (GRU, RNN):
        m = layer(4, 8, impl="fast").cuda()
        out, h = m(torch.randn(0, 5, 4, device="cuda"))
        assert out.shape == (0, 5, 8) and h.shape == (1, 0, 8)


def test_training_on_cuda_learns_and_predicts_on_cpu(tmp_path):
    """A whole fit on the GPU (the estimator's device='cuda'): it learns a separable toy
    corpus, saves, and the saved model loads and predicts on the CPU with the same
    probabilities to float tolerance."""
    from textrnn import TextClassifier
    rng = np.random.default_rng(0)
    words = {"sport": ["goal", "match", "team", "league"], "tech": ["chip", "code", "phone", "web"]}
    texts, labels = [], []
    for _ in range(400):
        lab = str(rng.choice(list(words)))
        texts.append(" ".join(rng.choice(words[lab] + ["the", "a", "of"], 12)))
        labels.append(lab)
    for model in ("gru", "rnn"):
        clf = TextClassifier(model, device="cuda", epochs=10, hidden_size=16, embedding_dim=16,
                             maxlen=20, seed=1).fit(texts[:320], labels[:320])
        assert clf.score(texts[320:], labels[320:]) > 0.9
        clf.save(tmp_path / model)
        cpu = TextClassifier.load(tmp_path / model)
        np.testing.assert_allclose(cpu.predict_proba(texts[320:]), clf.predict_proba(texts[320:]),
                                   atol=1e-4)
