"""Batching, the comparison table and the classical baseline."""

import copy
import json
import dataclasses

import pytest
import torch

from textrnn.study.compare import _slim, summarise, table
from textrnn.config import preset
from textrnn.errors import TextrnnError
from textrnn.model import RecurrentClassifier
from textrnn.train import _score, average_weights, bucketed_batches, evaluate, fit


def test_bucketed_batches_cover_every_item_once_and_group_similar_lengths():
    lengths = torch.randint(1, 400, (1000,))
    gen = torch.Generator().manual_seed(0)
    got = bucketed_batches(lengths, 32, gen)
    flat = torch.cat(got)
    assert sorted(flat.tolist()) == list(range(1000))
    assert all(len(b) <= 32 for b in got)
    # within a batch, lengths spread far less than in a random batch
    spread = torch.tensor([float(lengths[b].max() - lengths[b].min()) for b in got]).mean()
    assert spread < 100
    again = bucketed_batches(lengths, 32, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(got, again))


def test_options_that_need_masking_are_refused_without_it():
    with pytest.raises(TextrnnError, match="word_dropout needs mask"):
        preset("seed", "gru", word_dropout=0.1)
    with pytest.raises(TextrnnError, match="schedule"):
        preset("default", "gru", schedule="linear")


def test_selection_scores_rank_accuracy_first_then_loss():
    a = {"train_loss": 0.1, "val_loss": 0.30, "val_acc": 0.97}
    b = {"train_loss": 0.1, "val_loss": 0.20, "val_acc": 0.96}
    c = {"train_loss": 0.1, "val_loss": 0.25, "val_acc": 0.97}
    assert min([a, b, c], key=lambda r: _score(r, "loss")) is b
    assert min([a, b, c], key=lambda r: _score(r, "acc")) is c
    assert _score({"train_loss": 0.5}, "acc") == (0.5,)


@pytest.mark.parametrize("select", ["loss", "acc"])
def test_fit_keeps_the_weights_of_the_epoch_it_marks_best(select):
    torch.manual_seed(0)
    x = torch.randint(1, 50, (96, 12))
    y = (x[:, 0] > 25).long()  # learnable, but not perfectly in a few epochs
    cfg = preset("default", "gru", epochs=6, patience=0, embedding_dim=8, hidden_size=8,
                 batch_size=16, select=select, seed=0)
    model = RecurrentClassifier(50, 2, cfg)
    history = fit(model, cfg, (x[:64], y[:64]), (x[64:], y[64:]), verbose=False)
    best = [r for r in history if r["best"]]
    assert len(best) == 1
    assert best[0] == min(history, key=lambda r: _score(r, select))
    loss, acc = evaluate(model, x[64:], y[64:], "cpu", True)
    assert (loss, acc) == pytest.approx((best[0]["val_loss"], best[0]["val_acc"]))
    with pytest.raises(TextrnnError, match="select"):
        preset("default", "gru", select="f1")


def test_average_weights_is_the_mean_of_float_tensors_and_keeps_the_rest():
    a = {"w": torch.tensor([1.0, 2.0]), "n": torch.tensor(3)}
    b = {"w": torch.tensor([3.0, 6.0]), "n": torch.tensor(3)}
    got = average_weights([a, b])
    assert torch.equal(got["w"], torch.tensor([2.0, 4.0])) and torch.equal(got["n"], a["n"])
    assert average_weights([a]) is a


def test_fit_with_average_follows_the_same_path_and_keeps_the_mean_of_the_best_epochs():
    torch.manual_seed(0)
    x = torch.randint(1, 50, (96, 12))
    y = (x[:, 0] > 25).long()
    runs = {}
    for k in (1, 3):
        cfg = preset("default", "rnn", epochs=5, patience=0, embedding_dim=8, hidden_size=8,
                     batch_size=16, average=k, seed=0)
        torch.manual_seed(1)  # the same initial weights
        model = RecurrentClassifier(50, 2, cfg)
        runs[k] = (model, fit(model, cfg, (x[:64], y[:64]), (x[64:], y[64:]), verbose=False))
    (one, h1), (three, h3) = runs[1], runs[3]
    strip = lambda h: [{k: v for k, v in r.items() if k not in ("best", "seconds", "tokens_per_second")} for r in h]  # noqa: E731
    assert strip(h1) == strip(h3)  # averaging changes what is kept, not the training
    marked = sorted(r["epoch"] for r in h3 if r["best"])
    assert marked == sorted(r["epoch"] for r in sorted(h3, key=lambda r: r["val_loss"])[:3])
    assert not torch.equal(one.head.weight, three.head.weight)
    with pytest.raises(TextrnnError, match="average"):
        preset("default", "gru", average=0)


def test_summary_means_and_spreads_over_runs():
    runs = [{"protocol": "split", "run": f"seed{i}", "model": "gru", "preset": "default",
             "train_seconds": s, "history": [{}] * 3,
             "val": {"accuracy": v}, "test": {"accuracy": a, "macro_f1": a - 0.01, "n": 334}}
            for i, (a, v, s) in enumerate(((0.97, 0.95, 10), (0.99, 0.96, 20)))]
    (row,) = summarise([_slim(r) for r in runs])
    assert row["runs"] == 2 and row["acc_mean"] == pytest.approx(0.98)
    assert row["acc_std"] == pytest.approx(0.0141421, rel=1e-4)
    assert row["val_mean"] == pytest.approx(0.955) and row["test_size"] == 334
    assert "| 95.50% ± 0.71 | 98.00% ± 1.41 |" in table([row])


def test_tfidf_baseline_is_strong_on_bbc(bbc_dir):
    from textrnn.study.baselines import baseline_run
    from textrnn.runs import DataSpec
    m = baseline_run(DataSpec(), None, log=lambda s: None)
    assert m["data"]["sizes"] == {"train": 1557, "val": 334, "test": 334}
    assert m["test"]["accuracy"] > 0.95


def test_steps_set_the_number_of_epochs_from_the_corpus_size():
    from textrnn.train import planned_epochs
    cfg = preset("default", "gru", epochs=15, batch_size=32, steps=1800)
    assert planned_epochs(cfg, 9617) == 6           # 301 batches an epoch
    assert planned_epochs(cfg, 1557) == 15          # 49 batches: capped at epochs
    assert planned_epochs(cfg, 10**6) == 1
    assert planned_epochs(preset("default", "gru", epochs=7, steps=0), 10**6) == 7  # off
    # the default rule: 20 Newsgroups' 10,183 training posts (90% of 11,314) get 5 epochs
    # for each of the GRU's three members (1,500 steps), 6 for each of the RNN's two
    # (1,800), BBC's 1,557 articles each cell's cap
    assert planned_epochs(preset("default", "gru"), 10183) == 5
    assert planned_epochs(preset("default", "rnn"), 10183) == 6
    assert planned_epochs(preset("default", "gru"), 1557) == preset("default", "gru").epochs
    assert planned_epochs(preset("default", "rnn"), 1557) == preset("default", "rnn").epochs
    with pytest.raises(TextrnnError, match="steps"):
        preset("default", "gru", steps=-1)


def test_members_fill_the_step_budget_that_a_small_corpus_leaves():
    from textrnn.train import planned_members
    gru = preset("default", "gru", fill_budget=True)
    rnn = preset("default", "rnn")
    # 20 Newsgroups (10,183 posts: 319 batches) uses each cell's budget: its own members
    assert planned_members(gru, 10183) == gru.members == 3
    assert planned_members(rnn, 10183) == rnn.members == 2
    # BBC's split (1,557 articles, 49 batches): RNN 2 x 1,800 steps / (12 x 49) -> 6,
    # GRU 3 x 1,500 / (15 x 49) -> 6 when asked for (its default keeps 3)
    assert planned_members(rnn, 1557) == 6
    assert planned_members(gru, 1557) == 6
    assert planned_members(preset("default", "gru"), 1557) == 3
    assert planned_members(rnn, 60) == 8                       # at most 8
    assert planned_members(rnn, 10**6) == 2                    # never fewer
    assert planned_members(preset("default", "rnn", fill_budget=False), 1557) == 2
    assert planned_members(preset("default", "rnn", steps=0), 1557) == 2   # no budget
    # members given: that many, unless fill_budget is asked for too (then at least that)
    assert planned_members(preset("default", "rnn", members=3), 1557) == 3
    assert planned_members(preset("default", "rnn", members=10, fill_budget=True), 60) == 10
    assert planned_members(preset("seed", "rnn"), 60) == 1     # the notebook's one model


def test_fit_trains_the_members_the_budget_holds_and_load_rebuilds_them(tmp_path):
    """A small corpus gets more members; the run directory records how many, so that
    loading rebuilds them (and predicts the same), while ``config_`` keeps the settings
    as given (fitting again gives the same number)."""
    from textrnn.api import TextClassifier
    texts = [f"w{i % 7} w{(i * 3) % 5} x{i % 2}" for i in range(40)]
    labels = [i % 2 for i in range(40)]
    kw = dict(epochs=1, steps=20, embedding_dim=4, hidden_size=4, seed=0)
    clf = TextClassifier("rnn", **kw).fit(texts[:32], labels[:32], texts[32:], labels[32:])
    # 32 documents: one batch of 32 a epoch, 1 epoch: 2 x 20 / 1 -> 40, at most 8
    assert clf.members_ == len(clf.model_.members) == 8 and clf.config_.members == 2
    back = TextClassifier.load(clf.save(tmp_path / "run"))
    assert back.members_ == 8 and back.config_ == clf.config_
    assert (back.predict_proba(texts) == clf.predict_proba(texts)).all()
    # a config.json naming more members than the rule can give is refused, not built
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    for bad in (9, 1, "8", 10**9):
        (tmp_path / "run" / "config.json").write_text(json.dumps({**meta, "members_trained": bad}))
        with pytest.raises(TextrnnError, match="members_trained"):
            TextClassifier.load(tmp_path / "run")
    assert TextClassifier("rnn", **kw).fit(texts[:32], labels[:32]).members_ == 8
    fixed = TextClassifier("rnn", members=2, **kw).fit(texts[:32], labels[:32])
    assert fixed.members_ == len(fixed.model_.members) == 2 and not fixed.config_.fill_budget
    assert TextClassifier("gru", **kw).fit(texts[:32], labels[:32]).members_ == 3


def test_each_member_of_an_ensemble_trains_as_it_would_alone():
    """Without dropout, a member of ``members=2`` ends where the same initial weights end
    when trained alone on the same batches: its own loss, its own clipping, Adam per
    weight. Only the prediction is shared."""
    from textrnn.model import build
    torch.manual_seed(0)
    x = torch.randint(1, 50, (96, 12))
    x[torch.arange(12) >= torch.randint(2, 13, (96, 1))] = 0   # documents of 2 to 12 tokens
    y = (x[:, 0] > 25).long()
    cfg = preset("default", "gru", epochs=2, embedding_dim=8, hidden_size=8, batch_size=16,
                 dropout=0.0, members=2, clip=0.05, seed=0)
    torch.manual_seed(1)
    ens = build(50, 2, cfg)
    alone = [copy.deepcopy(m) for m in ens.members]
    fit(ens, cfg, (x, y), None, verbose=False)
    single = dataclasses.replace(cfg, members=1)
    for before, after in zip(alone, ens.members):
        fit(before, single, (x, y), None, verbose=False)
        for a, b in zip(before.parameters(), after.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(TextrnnError, match="members"):
        preset("default", "gru", members=0)
