"""``TextClassifier`` under scikit-learn's estimator rules, and each setting defined once:
the same name in ``Config``, the ``train`` flags and the estimator's parameters."""

from __future__ import annotations

import inspect
import warnings
from dataclasses import fields

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils import estimator_checks as checks

from textrnn import Config, TextClassifier, TextrnnError, preset
from textrnn.cli import build_parser
from textrnn.config import CELL_DEFAULTS, PRESETS, SETTINGS

TINY = dict(epochs=2, maxlen=30, num_words=300, hidden_size=8, embedding_dim=8)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def subset(bbc):
    idx = np.random.default_rng(1).permutation(len(bbc))[:90]
    return [bbc.texts[i] for i in idx], [bbc.label_names[k] for k in bbc.labels[idx]]


# -- each setting defined once ---------------------------------------------------------
def test_config_is_the_default_preset():
    for model in ("gru", "rnn"):
        assert preset("default", model) == Config(model=model)
    seed = preset("seed", "rnn")
    changed = {f.name for f in fields(Config) if getattr(seed, f.name) != getattr(Config(model="rnn"), f.name)}
    assert changed == set(PRESETS["seed"]("rnn")) - {
        k for k, v in PRESETS["seed"]("rnn").items() if getattr(Config(model="rnn"), k) == v} | {
        "preset", "fill_budget"}   # the preset gives members, so no members are added
    assert not seed.fill_budget and Config(model="rnn").fill_budget


def test_every_setting_is_a_train_flag_and_an_estimator_parameter():
    train = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices
                 and "train" in a.choices).choices["train"]
    dests = {a.dest for a in train._actions}
    assert set(SETTINGS) <= dests
    params = set(inspect.signature(TextClassifier).parameters) - {"device", "verbose"}
    assert params == set(SETTINGS)
    for f in fields(Config):
        assert f.metadata["help"], f"{f.name} has no help text"


def test_validation_covers_every_field():
    """A value of the wrong type is refused for every field, by name."""
    for f in fields(Config):
        with pytest.raises(TextrnnError, match=f"bad configuration: {f.name} "):
            Config(**{f.name: object()}).validate()
    for name, value in [("impl", "cuda"), ("schedule", "step"), ("num_words", True)]:
        with pytest.raises(TextrnnError, match=name):
            Config(**{name: value}).validate()


def test_cell_defaults_resolve_and_can_be_overridden():
    for model, values in CELL_DEFAULTS.items():
        cfg = Config(model=model)
        assert {k: getattr(cfg, k) for k in values} == values
    assert preset("default", "gru", epochs=3).epochs == 3
    assert preset("seed", "gru").epochs == 20 and preset("seed", "gru").patience == 0


def test_legacy_nulls_load():
    d = {**preset("seed", "gru").to_dict(), "clip": None, "embedding_init": None, "patience": None}
    cfg = Config.from_dict(d)
    assert (cfg.clip, cfg.embedding_init, cfg.patience) == (0.0, 0.0, 0)


def test_runs_saved_before_members_load_as_one_model():
    """A config.json from before ``members`` existed has no such key: one model, even for
    the RNN, whose default is two members now."""
    d = preset("default", "rnn").to_dict()
    assert d.pop("members") == 2
    assert Config.from_dict(d).members == 1
    assert Config.from_dict({**d, "members": 3}).members == 3


def test_runs_saved_before_fill_budget_read_as_their_preset_today():
    """A config.json from before ``fill_budget`` reads as what its preset gives now (so
    that ``compare --reuse`` recognises the default's runs); the model it holds is the
    members it names."""
    for model, preset_name, want in (("rnn", "default", True), ("gru", "default", False),
                                     ("rnn", "seed", False)):
        d = preset(preset_name, model).to_dict()
        d.pop("fill_budget")
        cfg = Config.from_dict(d)
        assert cfg.fill_budget is want and cfg == preset(preset_name, model)


def test_runs_saved_before_pool_words_load_without_it():
    """The RNN pools the words too now; a run saved before ``pool_words`` existed did not,
    and its head has the narrower input: it must load as it was trained."""
    d = preset("default", "rnn").to_dict()
    assert d.pop("pool_words") is True
    assert Config.from_dict(d).pool_words is False
    assert Config.from_dict({**d, "pool_words": True}).pool_words is True


# -- scikit-learn's rules -----------------------------------------------------------------
def test_init_stores_parameters_unchanged_and_validates_nothing():
    clf = TextClassifier(model="lstm", dropout=7.0)  # bad, but only fit says so
    assert clf.get_params()["model"] == "lstm" and clf.get_params()["dropout"] == 7.0
    assert clf.get_params()["lr"] is None
    assert not [k for k in vars(clf) if k.endswith("_")]


def test_clone_round_trips():
    clf = TextClassifier("rnn", "seed", lr=0.01, epochs=3)
    c = clone(clf)
    assert c is not clf and c.get_params() == clf.get_params()
    assert c.set_params(epochs=5).epochs == 5 and clf.epochs == 3


def test_fit_returns_self_and_learned_attributes_end_in_underscore(subset):
    texts, labels = subset
    clf = TextClassifier(**TINY)
    assert clf.fit(texts, labels) is clf
    assert {"config_", "classes_", "tokenizer_", "model_", "history_"} <= set(vars(clf))
    # no validation data given: a val_fraction of the training texts was held out
    assert "val_loss" in clf.history_[0]


def test_grid_search_picks_one_setting(subset):
    texts, labels = subset
    grid = GridSearchCV(TextClassifier(**TINY), {"hidden_size": [4, 8]}, cv=2)
    grid.fit(texts, labels)
    assert grid.best_params_["hidden_size"] in (4, 8)
    assert len(grid.cv_results_["mean_test_score"]) == 2
    assert grid.predict(texts[:3]).shape == (3,)


def test_pipeline_with_a_text_step(subset):
    texts, labels = subset
    lower = FunctionTransformer(lambda X: [t.lower() for t in X])
    pipe = make_pipeline(lower, TextClassifier(**TINY)).fit(texts, labels)
    assert set(pipe.predict(texts[:5])) <= set(labels)
    assert 0.0 <= pipe.score(texts, labels) <= 1.0


# The checks of sklearn.utils.estimator_checks that apply to an estimator of texts. The
# rest feed numeric matrices (X of shape (n, d)) and are not about texts: check_estimator
# itself skips an estimator whose tags say it takes no 2-D array, as ours do.
API_CHECKS = [checks.check_estimator_cloneable, checks.check_estimator_repr,
              checks.check_no_attributes_set_in_init, checks.check_parameters_default_constructible,
              checks.check_get_params_invariance, checks.check_set_params,
              checks.check_do_not_raise_errors_in_init_or_set_params, checks.check_mixin_order,
              checks.check_estimator_tags_renamed, checks.check_valid_tag_types]


@pytest.mark.parametrize("check", API_CHECKS, ids=lambda c: c.__name__)
def test_sklearn_estimator_checks(check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check("TextClassifier", TextClassifier(**TINY))


def test_not_fitted_is_sklearns_not_fitted_error():
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        TextClassifier().predict(["text"])
