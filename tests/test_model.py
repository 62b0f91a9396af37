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
