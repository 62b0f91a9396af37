"""The classifier's pooling: every way of summarising the states ignores padding."""

from __future__ import annotations

import pytest
import torch

from textrnn.config import POOLINGS, preset
from textrnn.model import RecurrentClassifier


@pytest.mark.parametrize("pooling", [p for p in POOLINGS if p != "last"] + ["last"])
@pytest.mark.parametrize("model", ["rnn", "gru"])
def test_pooling_ignores_padding(model, pooling):
    torch.manual_seed(0)
    cfg = preset("default", model, pooling=pooling, embedding_dim=8, hidden_size=6, dropout=0.0)
    clf = RecurrentClassifier(50, 5, cfg).eval()
    ids = torch.randint(1, 50, (3, 7))
    ids[1, 4:] = 0                                          # a shorter document
    padded = torch.cat([ids, torch.zeros(3, 5, dtype=torch.long)], dim=1)
    with torch.no_grad():
        a, b = clf(ids), clf(padded)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert a.shape == (3, 5)


def test_attention_pooling_learns_a_weighting():
    cfg = preset("default", "gru", pooling="attention", embedding_dim=8, hidden_size=6)
    clf = RecurrentClassifier(50, 5, cfg)
    loss = clf(torch.randint(1, 50, (4, 9))).sum()
    loss.backward()
    assert clf.score.weight.grad is not None and clf.score.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("pooling", ["mean", "max", "meanmax", "attention"])
@pytest.mark.parametrize("model", ["rnn", "gru"])
def test_windows_read_each_window_from_a_fresh_state(model, pooling):
    """``window=W``: a document of 2W+3 tokens is read as three windows, each from a
    zero state, and their outputs are pooled as one sequence; a text that fits in one
    window is read exactly as without windows."""
    torch.manual_seed(0)
    cfg = preset("default", model, pooling=pooling, embedding_dim=8, hidden_size=6,
                 dropout=0.0, window=4)
    clf = RecurrentClassifier(50, 5, cfg).eval()
    plain = RecurrentClassifier(50, 5, preset("default", model, pooling=pooling,
                                              embedding_dim=8, hidden_size=6, dropout=0.0))
    plain.load_state_dict(clf.state_dict())
    plain.eval()
    ids = torch.randint(1, 50, (2, 11))
    ids[1, 6:] = 0                                  # second document: 6 tokens, 2 windows
    with torch.no_grad():
        got = clf(ids)
        short = ids[:, :4]
        torch.testing.assert_close(clf(short), plain(short))     # fits: no windows
        # by hand: the windows as a batch of their own, outputs laid end to end
        rows = torch.nn.functional.pad(ids, (0, 1)).view(6, 4)
        out, _ = clf.rnn(clf.embedding(rows), mask=rows != 0)
        outputs, mask = out.reshape(2, 12, -1), (rows != 0).view(2, 12)
        from textrnn.model import pool
        want = clf.head(pool(outputs, None, mask, pooling, 1, clf.score))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(got, plain(ids))      # the state is reset between windows


def test_windows_need_a_pooling_over_all_steps():
    from textrnn.errors import TextrnnError
    with pytest.raises(TextrnnError, match="window"):
        preset("default", "gru", pooling="last", window=100)
