"""``textrnn export --format onnx`` and ``--backend onnx``: onnxruntime gives PyTorch's
probabilities (within 1e-4) over the BBC test split and for every length up to the
run's maxlen, and the onnx path runs in a process where torch cannot be imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def onnx_dir(tiny_run, tmp_path_factory) -> Path:
    from textrnn.cli import main
    out = tmp_path_factory.mktemp("onnx") / "bbc-gru-onnx"
    assert main(["export", str(tiny_run), "--format", "onnx", "--out", str(out)]) == 0
    return out


def test_export_writes_a_self_contained_folder(onnx_dir):
    assert sorted(p.name for p in onnx_dir.iterdir()) == [
        "config.json", "metrics.json", "model.onnx", "vocab.json"]


def test_onnx_matches_pytorch_over_the_bbc_test_split(tiny_run, onnx_dir):
    from textrnn import TextClassifier
    from textrnn.onnx_backend import OnnxClassifier
    from textrnn.runs import stored_data_spec
    ds, splits, _ = stored_data_spec(tiny_run).load()
    texts = ds.subset(splits["test"]).texts
    assert len(texts) == 334
    want = TextClassifier.load(tiny_run).predict_proba(texts)   # the fast path
    got = OnnxClassifier.load(onnx_dir).predict_proba(texts)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-4
    assert (got.argmax(1) == want.argmax(1)).all()


def test_onnx_matches_pytorch_at_every_length(tiny_run, onnx_dir):
    """Dynamic time axis: lengths from 1 to maxlen (64; every third one, to keep the test
    short), part of a row padding as the run pads (after the text)."""
    from textrnn import TextClassifier
    from textrnn.onnx_backend import session
    clf = TextClassifier.load(tiny_run)
    sess = session(onnx_dir / "model.onnx")
    g = torch.Generator().manual_seed(1)
    for T in [*range(1, clf.config_.maxlen, 3), clf.config_.maxlen]:
        ids = torch.randint(1, clf.tokenizer_.vocab_size, (3, T), generator=g)
        ids[0, T // 2:] = 0      # a shorter document padded to T
        with torch.inference_mode():
            want = torch.softmax(clf.model_.eval()(ids), -1).numpy()
        got = sess.run(None, {"ids": ids.numpy()})[0]
        assert np.abs(got - want).max() <= 1e-4, T


def test_export_handles_stacked_bidirectional_rnn_with_attention(tmp_path):
    """Two layers, both directions, attention pooling over the outputs and the word
    embeddings (the RNN's default ``pool_words``), padding before the text."""
    from textrnn import TextClassifier
    from textrnn.export import export_onnx
    from textrnn.onnx_backend import OnnxClassifier
    texts = ["the cat sat on the mat", "stocks fell in early trading today",
             "the match ended in a draw", "shares rose after the results"] * 3
    labels = ["a", "b", "a", "b"] * 3
    clf = TextClassifier("rnn", epochs=1, num_layers=2, bidirectional=True,
                         pooling="attention", padding="pre", maxlen=12, hidden_size=8,
                         embedding_dim=8, num_words=50).fit(texts, labels)
    assert clf.config_.pool_words
    clf.save(tmp_path / "run")
    export_onnx(tmp_path / "run")
    probe = texts + ["cat", "a much longer text about the cat that sat on the mat and "
                            "the shares that rose and fell in trading"]
    got = OnnxClassifier.load(tmp_path / "run").predict_proba(probe)
    assert np.abs(got - clf.predict_proba(probe)).max() <= 1e-4


def test_onnx_errors_are_one_line(tiny_run, tmp_path, capsys):
    from textrnn.cli import main
    assert main(["predict", str(tiny_run), "--backend", "onnx", "a text"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no model.onnx" in err[0] and "textrnn export" in err[0]
    assert main(["export", str(tmp_path / "missing")]) == 1
    assert "no such run directory" in capsys.readouterr().err


NO_TORCH = r"""
import importlib.abc, json, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError(f"torch is blocked in this test ({name})")
        return None

sys.meta_path.insert(0, NoTorch())
run_dir, text = sys.argv[1], sys.argv[2]

from textrnn.cli import main
code = main(["predict", run_dir, "--backend", "onnx", "--json", "-k", "5", text])
assert code == 0, code

from fastapi.testclient import TestClient
from textrnn.onnx_backend import OnnxClassifier
from textrnn.serve import create_app
with TestClient(create_app(OnnxClassifier.load(run_dir))) as client:
    r = client.post("/predict", json={"texts": [text], "k": 5})
    assert r.status_code == 200, r.text
    e = client.post("/explain", json={"text": text})
    assert e.status_code == 200, e.text
    assert client.get("/info").json()["backend"] == "onnx"
print(json.dumps({"served": r.json(), "torch_loaded": any(m == "torch" or m.startswith("torch.")
                                                         for m in sys.modules)}))
"""


def test_onnx_backend_runs_without_torch(tiny_run, onnx_dir):
    from textrnn import TextClassifier
    text = "Chelsea beat Arsenal 2-0 to go top of the Premier League table."
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", NO_TORCH, str(onnx_dir), text],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    out = r.stdout.strip().splitlines()
    predicted = json.loads("\n".join(out[:-1]))[0]["labels"]
    last = json.loads(out[-1])
    assert last["torch_loaded"] is False
    clf = TextClassifier.load(tiny_run)
    want = dict(zip(clf.classes_, clf.predict_proba([text])[0].tolist()))
    for source in (predicted, last["served"]["predictions"][0]["labels"]):
        assert len(source) == 5
        for x in source:
            assert x["probability"] == pytest.approx(want[x["label"]], abs=1e-4)


def test_an_ensemble_exports_and_reloads_with_its_averaged_probabilities(bbc_dir, tmp_path):
    """``members=2``: the saved run reloads to the same probabilities, and its ONNX graph
    gives them too (each member's scan, their probabilities averaged)."""
    from textrnn import TextClassifier
    from textrnn.cli import main
    from textrnn.onnx_backend import OnnxClassifier
    from textrnn.runs import DataSpec
    ds, splits, _ = DataSpec(path=str(bbc_dir / "df_file.csv")).load()
    names = ds.label_names
    part = lambda k, n: ([ds.texts[i] for i in splits[k][:n]],  # noqa: E731
                         [names[ds.labels[i]] for i in splits[k][:n]])
    clf = TextClassifier("gru", members=2, epochs=1, maxlen=32, num_words=2000,
                         hidden_size=8, embedding_dim=8, seed=3)
    clf.fit(*part("train", 200), *part("val", 20), classes=names)
    clf.save(tmp_path / "run")
    texts = part("test", 40)[0]
    want = clf.predict_proba(texts)
    members = [torch.softmax(m.eval()(clf._encode(texts)), -1) for m in clf.model_.members]
    assert np.abs(want - torch.stack(members).mean(0).detach().numpy()).max() <= 1e-5
    assert np.array_equal(TextClassifier.load(tmp_path / "run").predict_proba(texts), want)
    assert main(["export", str(tmp_path / "run"), "--format", "onnx", "--out",
                 str(tmp_path / "onnx")]) == 0
    got = OnnxClassifier.load(tmp_path / "onnx").predict_proba(texts)
    assert np.abs(got - want).max() <= 1e-4
