"""Hostile input beyond the data readers: run directories with arbitrary bytes or
mutated JSON in any file (property-based, with hypothesis), a single class, ``-k 0``,
an output path under a regular file, and a full disk or an unwritable directory in the
middle of writing a run (injected: the tests run as root in CI, where chmod stops
nothing). Whatever happens: one TextrnnError or a correct result; never another
exception, never a half-written run directory, never a lost previous run."""

from __future__ import annotations

import errno
import json
import os
import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from textrnn import TextClassifier, TextrnnError
from textrnn.checkpoint import METRICS, write_json

FILES = ("config.json", "vocab.json", "model.safetensors", "metrics.json")
TINY = dict(model="gru", epochs=1, maxlen=12, num_words=40, hidden_size=4, embedding_dim=4,
            batch_size=16)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def texts_labels(bbc):
    idx = np.random.default_rng(1).permutation(len(bbc))[:60]
    return [bbc.texts[i] for i in idx], [bbc.label_names[k] for k in bbc.labels[idx]]


@pytest.fixture(scope="module")
def good_run(texts_labels, tmp_path_factory) -> Path:
    texts, labels = texts_labels
    d = tmp_path_factory.mktemp("good") / "run"
    TextClassifier(**TINY).fit(texts, labels).save(d)
    write_json(d / METRICS, {"data": {"path": None, "text_column": "Text",
                                      "label_column": "Label", "split_seed": 42,
                                      "stratify": False, "dedupe": False}})
    return d


def _json_paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _json_paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:20]):
            yield from _json_paths(v, prefix + (i,))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
    max_leaves=8)


@st.composite
def mutations(draw, good: Path):
    """One file of the run directory replaced by: random bytes, a truncation, one
    flipped byte, or (JSON, and the safetensors header) one value replaced or deleted."""
    name = draw(st.sampled_from(FILES))
    raw = (good / name).read_bytes()
    how = draw(st.sampled_from(["bytes", "truncate", "flip", "edit", "delete"]))
    if how == "bytes":
        return name, draw(st.binary(max_size=3000))
    if how == "truncate":
        return name, raw[:draw(st.integers(0, len(raw)))]
    if how == "flip":
        i = draw(st.integers(0, len(raw) - 1))
        return name, raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1:]
    if name.endswith(".safetensors"):  # edit the JSON header, keep the tensor bytes
        n = struct.unpack("<Q", raw[:8])[0]
        obj, body = json.loads(raw[8:8 + n]), raw[8 + n:]
    else:
        obj, body = json.loads(raw), None
    path = draw(st.sampled_from(list(_json_paths(obj))))
    if not path:
        obj = draw(json_values)
    else:
        parent = obj
        for k in path[:-1]:
            parent = parent[k]
        if how == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    text = json.dumps(obj).encode()
    return name, (struct.pack("<Q", len(text)) + text + body) if body is not None else text


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_run_directory_loads_or_fails_cleanly(good_run, data):
    from textrnn.runs import stored_data_spec
    name, content = data.draw(mutations(good_run))
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "run"
        shutil.copytree(good_run, d)
        (d / name).write_bytes(content)
        try:
            clf = TextClassifier.load(d)
        except TextrnnError as e:
            assert "\n" not in str(e) and str(d) in str(e)
        else:  # whatever loaded must work, and give probabilities over its classes
            p = clf.predict_proba(["the minister said the match was a goal", ""])
            assert p.shape == (2, len(clf.classes_))
            assert np.all(np.isfinite(p)) or name == "model.safetensors"
        try:
            spec = stored_data_spec(d)
        except TextrnnError as e:
            assert "\n" not in str(e)
        else:
            assert isinstance(spec.split_seed, int) and isinstance(spec.text_column, str)


def test_a_single_class_is_a_clear_error(texts_labels):
    texts, _ = texts_labels
    with pytest.raises(TextrnnError, match="single class \\('Sport'\\)"):
        TextClassifier(**TINY).fit(texts, ["Sport"] * len(texts))


# -- writing a run: full disk, unwritable directory, path under a file ------------------
@pytest.fixture()
def small_csv(bbc, tmp_path) -> Path:
    import csv
    path = tmp_path / "small.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Text", "Label"])
        for i in range(0, 2225, 30):
            w.writerow([bbc.texts[i], bbc.labels[i]])
    return path


def _train(small_csv, out, **kw):
    from textrnn import runs
    from textrnn.config import preset
    cfg = preset("default", "rnn", epochs=2, maxlen=12, num_words=100, hidden_size=4,
                 embedding_dim=4)
    return runs.train_run(cfg, runs.DataSpec(path=str(small_csv)), out, verbose=False,
                          log=lambda m: None, **kw)


def _snapshot(d: Path) -> dict:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("fault", ["ENOSPC in the weights", "EACCES on the final rename",
                                   "ENOSPC in a checkpoint"])
def test_a_failed_write_keeps_the_previous_run(small_csv, tmp_path, monkeypatch, fault):
    """A previous run at ``out``; the new one fails part-way through writing: one clear
    error, the old run byte for byte as it was, no temporary directory left."""
    out = tmp_path / "runs" / "r"
    _train(small_csv, out)
    before = _snapshot(out)
    import safetensors.torch
    from textrnn import checkpoint, resume
    if fault == "ENOSPC in the weights":
        def save_file(tensors, filename, *a, **k):  # half the file, then the disk is full
            Path(filename).write_bytes(b"\0" * 100)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), filename)
        monkeypatch.setattr(safetensors.torch, "save_file", save_file)
        needles = ["could not write the run directory", "No space left on device"]
        kw = {}
    elif fault == "EACCES on the final rename":
        real = os.replace

        def replace(src, dst, *a, **k):
            if Path(dst) == out:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dst))
            return real(src, dst, *a, **k)
        monkeypatch.setattr(checkpoint.os, "replace", replace)
        monkeypatch.setattr(checkpoint, "_exchange", lambda a, b: replace(a, b))
        needles = ["could not write the run directory", "Permission denied"]
        kw = {"save_every": 0}
    else:
        real_fsync = resume._fsync
        calls = []

        def fsync(path):
            calls.append(path)
            if len(calls) == 4:  # the second checkpoint's tensors
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
            real_fsync(path)
        monkeypatch.setattr(resume, "_fsync", fsync)
        needles = ["could not write the checkpoint", "No space left on device",
                   "the previous one is intact"]
        kw = {"save_every": 0}
    with pytest.raises(TextrnnError) as e:
        _train(small_csv, out, **kw)
    for n in needles:
        assert n in str(e.value)
    assert "\n" not in str(e.value)
    monkeypatch.undo()
    after = _snapshot(out)
    if kw:  # the checkpoints written so far stay, for --resume
        assert [k for k in after if k.startswith("checkpoints/")][:3] == [
            "checkpoints/run.json", "checkpoints/step-000000002/state.json",
            "checkpoints/step-000000002/state.safetensors"]
        after = {k: v for k, v in after.items() if not k.startswith("checkpoints/")}
    assert after == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["r"]  # no temporary dirs
    TextClassifier.load(out)


def test_output_path_under_a_regular_file(small_csv, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    for save_every in (None, 0):
        with pytest.raises(TextrnnError, match=f"{tmp_path / 'file'} is a file"):
            _train(small_csv, tmp_path / "file" / "run", save_every=save_every)
    assert (tmp_path / "file").read_text() == "not a folder"


def test_predict_k_must_be_positive(good_run, capsys):
    from textrnn.cli import main
    assert main(["predict", str(good_run), "-k", "0", "some text"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == ("textrnn: error: -k must be >= 1 (the number of top labels to "
                           "show), got 0")
    assert main(["predict", str(good_run), "-k", "99", "--json", "some text"]) == 0
    assert len(json.loads(capsys.readouterr().out)[0]["labels"]) == 5


# -- checkpoints ------------------------------------------------------------------------
CKPT = dict(TINY, epochs=2)


@pytest.fixture(scope="module")
def checkpointed(texts_labels, tmp_path_factory):
    """A finished 2-epoch run's checkpoint folder (the ends of epochs 1 and 2) and the
    weights that run ended with."""
    texts, labels = texts_labels
    d = tmp_path_factory.mktemp("ck") / "checkpoints"
    clf = TextClassifier(**CKPT).fit(texts[:40], labels[:40], texts[40:], labels[40:],
                                     checkpoint_dir=d)
    return d, clf.model_.state_dict()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_newest_checkpoint_is_found_and_skipped(checkpointed, texts_labels, data):
    """Any change to the newest checkpoint's files is caught by its checksum: resuming
    warns, falls back to the one before, and still ends bit for bit where the run did."""
    import warnings
    from textrnn.resume import list_checkpoints
    folder, weights = checkpointed
    texts, labels = texts_labels
    newest = list_checkpoints(folder)[0]
    name = data.draw(st.sampled_from(["state.json", "state.safetensors"]))
    raw = (newest / name).read_bytes()
    how = data.draw(st.sampled_from(["bytes", "truncate", "flip", "delete"]))
    if how == "bytes":
        content = data.draw(st.binary(max_size=3000))
    elif how == "truncate":
        content = raw[:data.draw(st.integers(0, len(raw) - 1))]
    elif how == "flip":
        i = data.draw(st.integers(0, len(raw) - 1))
        content = raw[:i] + bytes([raw[i] ^ data.draw(st.integers(1, 255))]) + raw[i + 1:]
    else:
        content = None
    # whitespace around JSON values changes nothing the checksum (of the parsed JSON) sees
    assume(not (name == "state.json" and content is not None and _same_json(content, raw)))
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "checkpoints"
        shutil.copytree(folder, d)
        target = d / newest.name / name
        target.unlink() if content is None else target.write_bytes(content)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf = TextClassifier(**CKPT).fit(texts[:40], labels[:40], texts[40:], labels[40:],
                                             checkpoint_dir=d, resume=True)
        msgs = [str(w.message) for w in caught]
        assert any(newest.name in m and "falling back" in m for m in msgs), msgs
        # the corrupt one set aside, a good one written in its place
        assert sorted(p.name for p in d.iterdir()) == sorted(
            [f"corrupt-{newest.name}", *(p.name for p in folder.iterdir())])
        assert (d / newest.name / "state.safetensors").read_bytes() == \
            (newest / "state.safetensors").read_bytes()
        got = clf.model_.state_dict()
        assert all(torch.equal(weights[k], got[k]) for k in weights)


def _same_json(a: bytes, b: bytes) -> bool:
    try:
        return json.loads(a) == json.loads(b)
    except ValueError:
        return False
