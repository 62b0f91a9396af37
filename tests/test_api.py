"""``TextClassifier``: fit / predict / predict_proba / score, save and load,
determinism, input checks, and one short real training on the BBC data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from textrnn import TextClassifier, TextrnnError
from textrnn.data import split


pytestmark = pytest.mark.usefixtures("one_thread")


TINY = dict(epochs=2, maxlen=30, num_words=500, hidden_size=16, embedding_dim=16)


@pytest.fixture(scope="module")
def small(bbc):
    """100 BBC articles with their class names as (string) labels, and 25 others."""
    idx = np.random.default_rng(0).permutation(len(bbc))[:125]
    texts = [bbc.texts[i] for i in idx]
    labels = [bbc.label_names[k] for k in bbc.labels[idx]]
    return texts[:100], labels[:100], texts[100:], labels[100:]


@pytest.fixture(scope="module")
def fitted(small):
    texts, labels, _, _ = small
    return TextClassifier(model="gru", **TINY).fit(texts, labels)


@pytest.mark.parametrize("model", ["rnn", "gru"])
def test_fit_predict_score(small, model):
    texts, labels, other, other_labels = small
    clf = TextClassifier(model=model, **TINY).fit(texts, labels, other, other_labels)
    assert clf.classes_ == sorted(set(labels))
    assert len(clf.history_) == 2 and "val_loss" in clf.history_[0]
    pred = clf.predict(other)
    assert pred.shape == (len(other),) and set(pred) <= set(labels)
    proba = clf.predict_proba(other)
    assert proba.shape == (len(other), len(set(labels)))
    assert np.all(proba >= 0) and np.all(proba <= 1)
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
    # predict is the argmax of predict_proba
    assert list(pred) == [clf.classes_[i] for i in proba.argmax(1)]
    s = clf.score(other, other_labels)
    assert 0.0 <= s <= 1.0
    assert s == pytest.approx(np.mean(pred == np.array(other_labels)))


def test_int_labels_come_back_as_given(small):
    texts, labels, other, _ = small
    ids = [len(lab) % 4 for lab in labels]  # any ints: 0, 1, 2 (8, 5, 10, 13 letters)
    clf = TextClassifier(model="rnn", **{**TINY, "epochs": 1}).fit(texts, np.array(ids))
    assert clf.classes_ == [0, 1, 2]
    assert set(clf.predict(other).tolist()) <= {0, 1, 2}


def test_save_load_round_trip(fitted, small, tmp_path):
    _, _, other, _ = small
    path = fitted.save(tmp_path / "model")
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "model.safetensors",
                                                      "vocab.json"]
    loaded = TextClassifier.load(path)
    assert loaded.classes_ == fitted.classes_ and loaded.config_ == fitted.config_
    np.testing.assert_array_equal(loaded.predict_proba(other), fitted.predict_proba(other))
    assert list(loaded.predict(other)) == list(fitted.predict(other))
    # saving again over the same directory works and changes nothing
    fitted.save(path)
    np.testing.assert_array_equal(TextClassifier.load(path).predict_proba(other),
                                  fitted.predict_proba(other))


def test_same_seed_same_model_other_seed_other_model(small, fitted):
    texts, labels, other, _ = small
    again = TextClassifier(model="gru", **TINY).fit(texts, labels)
    np.testing.assert_array_equal(again.predict_proba(other), fitted.predict_proba(other))
    assert again.history_ == [{**r, "seconds": a["seconds"],
                               "tokens_per_second": a["tokens_per_second"]}
                              for r, a in zip(fitted.history_, again.history_)]
    other_seed = TextClassifier(model="gru", seed=7, **TINY).fit(texts, labels)
    assert not np.allclose(other_seed.predict_proba(other), fitted.predict_proba(other))


def test_fit_input_checks(small):
    texts, labels, other, other_labels = small
    clf = TextClassifier(model="rnn", **TINY)
    with pytest.raises(TextrnnError, match="100 texts but 99 labels"):
        clf.fit(texts, labels[:-1])
    with pytest.raises(TextrnnError, match="no training texts"):
        clf.fit([], [])
    with pytest.raises(TextrnnError, match="label 'Weather' is not one of the classes"):
        clf.fit(texts, labels, other, ["Weather"] * len(other))
    with pytest.raises(TextrnnError, match="not fitted"):
        TextClassifier().predict(["text"])


def test_predict_input_checks(fitted):
    with pytest.raises(TextrnnError, match="one string"):
        fitted.predict("a single string, not a list")
    assert fitted.predict_proba([]).shape == (0, len(fitted.classes_))
    assert fitted.predict([]).shape == (0,)
    # texts with no known word still get a distribution
    proba = fitted.predict_proba(["", "zzzz qqqq"])
    np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)


def test_bad_settings(small):
    """scikit-learn's rule: __init__ stores, fit validates (unknown names aside, which
    no signature accepts)."""
    texts, labels, _, _ = small
    with pytest.raises(TextrnnError, match="unknown model 'lstm'"):
        TextClassifier(model="lstm").fit(texts, labels)
    with pytest.raises(TextrnnError, match="unknown setting 'hidden'"):
        TextClassifier(hidden=3)
    with pytest.raises(TextrnnError, match="dropout must be in"):
        TextClassifier(dropout=1.5).fit(texts, labels)
    with pytest.raises(TextrnnError, match="unknown preset"):
        TextClassifier(preset="best").fit(texts, labels)


def test_load_errors(tmp_path):
    with pytest.raises(TextrnnError, match="no such run directory"):
        TextClassifier.load(tmp_path / "nope")
    (tmp_path / "d").mkdir()
    with pytest.raises(TextrnnError, match="incomplete run directory"):
        TextClassifier.load(tmp_path / "d")


def test_short_bbc_training_is_well_above_chance(bbc):
    """Four epochs of a small GRU on the first 100 tokens: chance is ~0.23."""
    splits, _ = split(bbc)
    part = {k: bbc.subset(v) for k, v in splits.items()}
    clf = TextClassifier(model="gru", epochs=4, maxlen=100, num_words=5000,
                         embedding_dim=64, hidden_size=64)
    clf.fit(part["train"].texts, part["train"].labels, part["val"].texts, part["val"].labels)
    acc = clf.score(part["test"].texts, part["test"].labels)
    assert acc > 0.5, clf.history_


def test_word2vec_start_is_deterministic_and_replaces_the_random_embedding(small):
    pytest.importorskip("gensim")
    from textrnn.model import RecurrentClassifier
    from textrnn.pretrain import word2vec_init
    from textrnn.tokenizer import Tokenizer
    texts = small[0]
    tok = Tokenizer(500).fit(texts)
    rows = []
    for _ in range(2):
        torch.manual_seed(0)
        m = RecurrentClassifier(tok.vocab_size, 5, TextClassifier(model="gru", **TINY).resolved_config())
        before = m.embedding.weight.detach().clone()
        frac = word2vec_init(m.embedding, texts, tok, seed=1, scale=0.05, epochs=2)
        rows.append(m.embedding.weight.detach().clone())
    assert frac > 0.9
    assert torch.equal(rows[0], rows[1])                       # same seed, same vectors
    assert not torch.allclose(rows[0][1:], before[1:])
    assert torch.equal(rows[0][0], before[0])                  # padding row untouched
    assert rows[0][1:].std().item() == pytest.approx(0.05 / 3 ** 0.5, rel=0.05)
    # an ensemble's tables: trained once, the same vectors copied into each
    cfg = TextClassifier(model="gru", **TINY).resolved_config()
    a, b = (RecurrentClassifier(tok.vocab_size, 5, cfg).embedding for _ in range(2))
    word2vec_init([a, b], texts, tok, seed=1, scale=0.05, epochs=2)
    assert torch.equal(a.weight[1:], rows[0][1:]) and torch.equal(b.weight[1:], rows[0][1:])
