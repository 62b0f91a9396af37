"""The classifier's pooling: every way of summarising the states ignores padding."""

from __future__ import annotations

import pytest
import torch

from textrnn.config import POOLINGS, preset
from textrnn.model import RecurrentClassifier


@pytest.mark.parametrize("pooling, words", [(p, w) for p in POOLINGS if p != "last"
                                             for w in (False, True)] + [("last", False)])
@pytest.mark.parametrize("model", ["rnn", "gru"])
def test_pooling_ignores_padding(model, pooling, words):
    torch.manual_seed(0)
    cfg = preset("default", model, pooling=pooling, embedding_dim=8, hidden_size=6, dropout=0.0,
                 pool_words=words)
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
        x = clf.embedding(rows)
        out, _ = clf.rnn(x, mask=rows != 0)
        if cfg.pool_words:                          # the RNN's default: words pooled too
            out = torch.cat([out, x], dim=-1)
        outputs, mask = out.reshape(2, 12, -1), (rows != 0).view(2, 12)
        from textrnn.model import pool
        want = clf.head(pool(outputs, None, mask, pooling, 1, clf.score))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(got, plain(ids))      # the state is reset between windows


def test_windows_need_a_pooling_over_all_steps():
    from textrnn.errors import TextrnnError
    with pytest.raises(TextrnnError, match="window"):
        preset("default", "gru", pooling="last", window=100)


def test_an_ensemble_averages_its_members_probabilities():
    """``members=K``: in training mode each member's logits, ``(B, K, C)``; in eval mode
    logits whose softmax is the mean of the members' probabilities."""
    from textrnn.model import Ensemble, build
    torch.manual_seed(0)
    cfg = preset("default", "gru", members=3, embedding_dim=8, hidden_size=6, dropout=0.0)
    ens = build(50, 5, cfg)
    assert isinstance(ens, Ensemble) and len(ens.members) == 3
    assert isinstance(build(50, 5, preset("default", "gru", members=1)), RecurrentClassifier)
    assert len(build(50, 5, preset("default", "gru")).members) == 3   # the GRU's default
    assert len(build(50, 5, preset("default", "rnn")).members) == 2   # the RNN's
    assert not torch.equal(ens.members[0].head.weight, ens.members[1].head.weight)
    ids = torch.randint(1, 50, (4, 9))
    with torch.no_grad():
        each = torch.stack([m.eval()(ids) for m in ens.members], dim=1)
        train_out = ens.train()(ids)
        probs = torch.softmax(ens.eval()(ids), -1)
    assert train_out.shape == (4, 3, 5)
    torch.testing.assert_close(train_out, each)
    torch.testing.assert_close(probs, torch.softmax(each, -1).mean(1))


def test_an_ensembles_loss_gives_each_member_its_own_gradient():
    """The training loss of ``(B, K, C)`` logits is the sum of the members' mean
    cross-entropies (each member's gradient is its own); the reported loss is their mean,
    and a prediction is right when the averaged probabilities are."""
    from textrnn.distributed import loss_and_stats
    torch.manual_seed(0)
    logits = torch.randn(6, 2, 4, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    loss, mean_loss, correct = loss_and_stats(logits, y, 6, 1.0, 0.1)
    each = [torch.nn.functional.cross_entropy(logits[:, k], y, label_smoothing=0.1)
            for k in range(2)]
    torch.testing.assert_close(loss, each[0] + each[1])
    assert mean_loss == pytest.approx((each[0] + each[1]).item() / 2)
    assert correct == int((torch.softmax(logits, -1).mean(1).argmax(1) == y).sum())
    loss.backward()
    alone = torch.autograd.grad(each[0], logits)[0]
    torch.testing.assert_close(logits.grad[:, 0], alone[:, 0])


@pytest.mark.parametrize("pooling", ["mean", "max", "meanmax", "attention"])
def test_pool_words_pools_embeddings_beside_the_outputs(pooling):
    """``pool_words``: each step's vector is the recurrent output with the word's
    embedding after it, and the pooling runs over those."""
    from textrnn.model import pool
    torch.manual_seed(0)
    cfg = preset("default", "gru", pooling=pooling, embedding_dim=8, hidden_size=6,
                 dropout=0.0, pool_words=True, members=1)
    clf = RecurrentClassifier(50, 5, cfg).eval()
    width = (2 * 6 + 8) * (2 if pooling == "meanmax" else 1)
    assert clf.head.in_features == width
    ids = torch.randint(1, 50, (2, 9))
    ids[0, 5:] = 0
    with torch.no_grad():
        x = clf.embedding(ids)
        out, h_n = clf.rnn(x, mask=ids != 0)
        both = torch.cat([out, x], dim=-1)
        want = clf.head(pool(both, h_n, ids != 0, pooling, 2, clf.score))
        torch.testing.assert_close(clf(ids), want)
        # the words change the prediction: without them the head reads other features
        assert not torch.allclose(want, clf.head(pool(torch.cat([out, 0 * x], -1), h_n,
                                                      ids != 0, pooling, 2, clf.score)))


def test_pool_words_needs_a_pooling_over_all_steps():
    """Asked for with pooling 'last', an error; as the RNN's default, 'last' turns it off."""
    from textrnn.errors import TextrnnError
    with pytest.raises(TextrnnError, match="pool_words"):
        preset("default", "gru", pooling="last", pool_words=True)
    assert preset("default", "rnn").pool_words and not preset("default", "gru").pool_words
    assert not preset("default", "rnn", pooling="last").pool_words
    assert not preset("seed", "rnn").pool_words and not preset("seed", "gru").pool_words
