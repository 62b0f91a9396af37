"""Nothing fitted sees the val or test texts under the default preset (vocabulary,
word counts for min_count, word2vec pretraining, the weights), while the ``seed``
preset keeps the assignment notebook's leak on purpose (its tokenizer sees them all)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from textrnn import TextClassifier, Tokenizer
from textrnn.config import preset
from textrnn.runs import DataSpec, train_run

SMALL = dict(epochs=1, maxlen=16, hidden_size=4, embedding_dim=4, batch_size=4)
TOPIC = {"alpha": "goal match team coach", "beta": "vote minister party law",
         "gamma": "chip phone software web"}
# Words only val or test documents hold, each many times, so that a leak would rank them
# first in the vocabulary; "rareword" is once in train and often in val and test, so it
# passes min_count=2 only if val or test texts are counted.
VAL_ONLY, TEST_ONLY = "valonlyword", "testonlyword"


def _docs(test_word: str = TEST_ONLY) -> tuple[list[str], list[str], dict]:
    texts, labels, splits = [], [], {"train": [], "val": [], "test": []}
    for c, (label, words) in enumerate(TOPIC.items()):
        for i in range(8):
            part = "train" if i < 5 else "val" if i < 6 else "test"
            text = f"the {words} of {label} news {i}"
            if part == "val":
                text += f" {VAL_ONLY} {VAL_ONLY} {VAL_ONLY} rareword rareword"
            if part == "test":
                text += f" {test_word} {test_word} {test_word} rareword rareword"
            if part == "train" and c == 0 and i == 0:
                text += " rareword"
            splits[part].append(len(texts))
            texts.append(text)
            labels.append(label)
    return texts, labels, {k: np.array(v) for k, v in splits.items()}


def _csv(path: Path, texts, labels) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Text", "Label"])
        w.writerows(zip(texts, labels))
    return path


def _vocab(run: Path) -> dict[str, int]:
    return json.loads((run / "vocab.json").read_text())["word_index"]


def _expected(texts, cfg) -> dict[str, int]:
    """The vocabulary a tokenizer fit on exactly ``texts`` keeps."""
    return Tokenizer(cfg.num_words, "<oov>" if cfg.oov else None,
                     min_count=cfg.min_count).fit(texts).to_dict()["word_index"]


@pytest.mark.parametrize("overrides", [dict(), dict(min_count=2), dict(num_words=8),
                                       dict(oov=True)], ids=["plain", "min_count", "cut", "oov"])
def test_default_preset_vocabulary_is_the_training_split_only(tmp_path, overrides):
    texts, labels, splits = _docs()
    cfg = preset("default", "gru", **SMALL, **overrides)
    assert cfg.tokenizer_fit == "train"
    data = DataSpec(path=str(_csv(tmp_path / "d.csv", texts, labels)))
    train_run(cfg, data, tmp_path / "run", verbose=False, log=lambda s: None, splits=splits)
    vocab = _vocab(tmp_path / "run")
    train_texts = [texts[i] for i in splits["train"]]
    assert vocab == _expected(train_texts, cfg)
    assert VAL_ONLY not in vocab and TEST_ONLY not in vocab
    if cfg.min_count == 2:
        assert "rareword" not in vocab          # once in train; val and test do not count
    # the leak this guards against would have changed it
    assert vocab != _expected(texts, cfg)


def test_seed_preset_keeps_the_notebooks_leak(tmp_path):
    """On purpose: the seed preset reproduces the assignment's tokenizer fit on all texts."""
    texts, labels, splits = _docs()
    cfg = preset("seed", "rnn", **SMALL)
    assert cfg.tokenizer_fit == "all"
    data = DataSpec(path=str(_csv(tmp_path / "d.csv", texts, labels)))
    train_run(cfg, data, tmp_path / "run", verbose=False, log=lambda s: None, splits=splits)
    vocab = _vocab(tmp_path / "run")
    assert VAL_ONLY in vocab and TEST_ONLY in vocab
    order = [texts[i] for k in ("train", "val", "test") for i in splits[k]]
    assert vocab == _expected(order, cfg)


@pytest.mark.parametrize("name,leaks", [("default", False), ("seed", True)])
def test_fit_extra_texts_reach_the_tokenizer_only_under_the_seed_preset(name, leaks):
    texts, labels, splits = _docs()
    pick = lambda k: [texts[i] for i in splits[k]]  # noqa: E731
    clf = TextClassifier("gru", name, **SMALL).fit(
        pick("train"), [labels[i] for i in splits["train"]], pick("val"),
        [labels[i] for i in splits["val"]], extra_texts=pick("val") + pick("test"))
    words = clf.tokenizer_.word_index
    assert (VAL_ONLY in words) is leaks and (TEST_ONLY in words) is leaks


def test_word2vec_pretraining_reads_the_training_texts_only(monkeypatch):
    """The vectors come from the train split alone, whatever fit is handed besides."""
    import textrnn.pretrain
    seen = []

    def record(embedding, texts, tokenizer, seed, scale, **kw):
        seen.append(list(texts))
        return 0.0
    monkeypatch.setattr(textrnn.pretrain, "word2vec_init", record)
    texts, labels, splits = _docs()
    pick = lambda k: [texts[i] for i in splits[k]]  # noqa: E731
    TextClassifier("gru", "default", pretrain="word2vec", **SMALL).fit(
        pick("train"), [labels[i] for i in splits["train"]], pick("val"),
        [labels[i] for i in splits["val"]], extra_texts=pick("val") + pick("test"))
    assert seen == [pick("train")]


def test_default_run_does_not_depend_on_the_test_texts(tmp_path):
    """Changing only the test documents changes nothing that was learned: same
    vocabulary and bit-identical weights (val may steer selection, test never)."""
    outs = []
    for k, word in enumerate((TEST_ONLY, "otherword")):
        texts, labels, splits = _docs(word)
        if k:        # the test documents rewritten entirely
            for i in splits["test"]:
                texts[i] = f"{word} something else entirely {i}"
        data = DataSpec(path=str(_csv(tmp_path / f"d{k}.csv", texts, labels)))
        out = tmp_path / f"run{k}"
        train_run(preset("default", "gru", **SMALL), data, out, verbose=False,
                  log=lambda s: None, splits=splits)
        outs.append(out)
    assert _vocab(outs[0]) == _vocab(outs[1])
    a, b = (load_file(str(o / "model.safetensors")) for o in outs)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # while the seed preset's vocabulary does move with them
    seeds = []
    for k, word in enumerate((TEST_ONLY, "otherword")):
        texts, labels, splits = _docs(word)
        data = DataSpec(path=str(_csv(tmp_path / f"s{k}.csv", texts, labels)))
        train_run(preset("seed", "gru", **SMALL), data, tmp_path / f"seed{k}", verbose=False,
                  log=lambda s: None, splits=splits)
        seeds.append(_vocab(tmp_path / f"seed{k}"))
    assert seeds[0] != seeds[1]


def test_tfidf_baseline_fits_on_the_training_texts_only(tmp_path, monkeypatch):
    """The baseline beside every compare row: its TF-IDF vocabulary and document
    frequencies come from the train split alone."""
    from textrnn.study import baselines
    made = []
    real = baselines.tfidf_svm

    def spy(seed=42):
        made.append(real(seed))
        return made[-1]
    monkeypatch.setattr(baselines, "tfidf_svm", spy)
    texts, labels, splits = _docs()
    data = DataSpec(path=str(_csv(tmp_path / "d.csv", texts, labels)))
    baselines.baseline_run(data, None, log=lambda s: None, splits=splits)
    vocab = made[0].steps[0][1].vocabulary_
    assert not any(VAL_ONLY in term or TEST_ONLY in term for term in vocab)
    assert "rareword" not in vocab           # min_df=2: one training document holds it
    expected = real().steps[0][1].fit([texts[i] for i in splits["train"]]).vocabulary_
    assert vocab == expected
