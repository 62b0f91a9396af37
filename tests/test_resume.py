"""Interrupted training resumes exactly: real training processes killed with SIGKILL at
three moments (mid-epoch, between epochs, while a checkpoint is being written),
stopped by SIGINT and SIGTERM, resumed, and compared bit for bit (every tensor of
model.safetensors, every metric but wall times) with a run never interrupted.

The signals are sent by the process to itself at a named point of the loop
(``TEXTRNN_TEST_SIGNAL=POINT:N:SIG``, see :func:`textrnn.resume.test_hook`), so each
test kills at exactly the moment it names, however busy the machine is.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

# GRU: cosine schedule (its state is saved), dropout (torch's global generator), word
# dropout and shuffling (the loop's generator), the mean of the 2 best epochs (kept
# weights); 63 training documents in batches of 8: 8 batches an epoch, 24 in all.
ARGS = ["--epochs", "3", "--maxlen", "20", "--num-words", "200", "--hidden-size", "8",
        "--embedding-dim", "8", "--batch-size", "8", "--word-dropout", "0.1",
        "--average", "2", "--quiet"]




def train(cli, corpus, out, *extra, signal=None):
    env = {"TEXTRNN_TEST_SIGNAL": signal} if signal else {}
    return cli("train", "--data", corpus, "--out", out, *ARGS, *extra, env=env)


@pytest.fixture(scope="module")
def reference(cli, corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref") / "run"
    r = train(cli, corpus, out)
    assert r.rc == 0, r.err
    return out


def assert_same_bits(a: Path, b: Path) -> None:
    """Every tensor equal bit for bit; every metric equal but wall times."""
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        assert wa[k].dtype == wb[k].dtype and torch.equal(wa[k], wb[k]), k
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    for m in (ma, mb):
        del m["train_seconds"]
        for row in m["history"]:  # wall times
            del row["seconds"], row["tokens_per_second"]
    assert ma == mb
    for name in ("config.json", "vocab.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def checkpoints(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "checkpoints").iterdir() if p.name.startswith("step-"))


def test_same_seed_same_bits(cli, corpus, reference, tmp_path):
    """Two uninterrupted runs in two processes: identical weights and metrics, and no
    checkpoint folder left in a finished run."""
    r = train(cli, corpus, tmp_path / "again")
    assert r.rc == 0, r.err
    assert_same_bits(reference, tmp_path / "again")
    assert not (reference / "checkpoints").exists()
    m = json.loads((reference / "metrics.json").read_text())
    assert len(m["history"]) == 3 and sum(r["best"] for r in m["history"]) == 2


@pytest.mark.parametrize("moment, extra, left", [
    # killed after batch 11 (epoch 2, batch 3); checkpoints every 3 batches: step 9 is
    # the newest, so batches 10 and 11 are lost and redone
    ("batch:11:KILL", ["--save-every", "3"], ["step-000000008", "step-000000009"]),
    # killed just after the end-of-epoch-2 checkpoint, before epoch 3 starts
    ("epoch:2:KILL", [], ["step-000000008", "step-000000016"]),
    # killed half-way through writing the end-of-epoch-3 checkpoint: the half-written
    # one is a hidden temporary directory, ignored; epoch 2's is the newest
    ("checkpoint:3:KILL", [], ["step-000000008", "step-000000016"]),
])
def test_sigkill_then_resume_is_bit_identical(cli, corpus, reference, tmp_path, moment,
                                              extra, left):
    out = tmp_path / "run"
    r = train(cli, corpus, out, *extra, signal=moment)
    assert r.rc == -9, r.err
    assert checkpoints(out) == left
    if moment.startswith("checkpoint"):  # the half-written one, under its temporary name
        assert [p.name[:16] for p in (out / "checkpoints").iterdir()
                if p.name.startswith(".")] == [".step-000000024."]
    assert not (out / "model.safetensors").exists()  # no half-finished run directory
    r = cli("train", "--resume", out, "--quiet")
    assert r.rc == 0, r.err
    assert_same_bits(reference, out)
    assert not (out / "checkpoints").exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("sig, code", [("INT", 130), ("TERM", 143)])
def test_sigint_and_sigterm_save_and_say_how_to_resume(cli, corpus, reference, tmp_path,
                                                       sig, code):
    out = tmp_path / "run"
    r = train(cli, corpus, out, signal=f"batch:13:{sig}")
    assert r.rc == code, r.err
    lines = r.err.strip().splitlines()
    assert lines[-1] == (f"textrnn: training interrupted by SIG{sig} at epoch 2, batch 5; "
                         f"checkpoint saved in {out / 'checkpoints' / 'step-000000013'}; "
                         f"resume with: textrnn train --resume {out}")
    assert "Traceback" not in r.err
    assert checkpoints(out) == ["step-000000008", "step-000000013"]
    r = cli("train", "--resume", out, "--quiet")
    assert r.rc == 0, r.err
    assert_same_bits(reference, out)


def test_corrupt_latest_checkpoint_falls_back_with_a_warning(cli, corpus, reference, tmp_path):
    out = tmp_path / "run"
    assert train(cli, corpus, out, signal="epoch:2:KILL").rc == -9
    latest = out / "checkpoints" / "step-000000016" / "state.safetensors"
    data = bytearray(latest.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the tensors
    latest.write_bytes(bytes(data))
    r = cli("train", "--resume", out, "--quiet")
    assert r.rc == 0, r.err
    warning = [line for line in r.err.splitlines() if line.startswith("textrnn: warning:")]
    assert len(warning) == 1 and "step-000000016" in warning[0] and "checksum" in warning[0] \
        and "falling back" in warning[0], r.err
    assert_same_bits(reference, out)


def test_resume_keeps_the_settings_and_refuses_others(cli, corpus, tmp_path):
    out = tmp_path / "run"
    assert train(cli, corpus, out, signal="epoch:1:KILL").rc == -9
    r = cli("train", "--resume", out, "--epochs", "4")
    assert r.rc == 1 and r.err.strip().splitlines() == [
        "textrnn: error: --epochs 4 conflicts with the run being resumed (3): a resumed "
        "run keeps the settings it started with"]
    r = cli("train", "--resume", out, "--model", "rnn")
    assert r.rc == 1 and "--model rnn conflicts" in r.err
    # the same values, given again, are no conflict; neither are run options
    # a fresh run over an interrupted one is refused, not overwritten
    r = train(cli, corpus, out)
    assert r.rc == 1 and "holds checkpoints of an earlier run" in r.err and "resume" in r.err
    assert checkpoints(out) == ["step-000000008"]
    # an unfinished run directory is not a model yet, and says so
    r = cli("predict", out, "some text")
    assert r.rc == 1 and f"resume it with 'textrnn train --resume {out}'" in r.err
    r = cli("train", "--resume", out, "--epochs", "3", "--hidden-size", "8", "--quiet",
            "--save-every", "5", "--data", corpus)
    assert r.rc == 0, r.err
    r = cli("train", "--resume", out)
    assert r.rc == 1 and "nothing to resume" in r.err and "Traceback" not in r.err


def test_interrupted_retrain_keeps_the_previous_run(cli, corpus, reference, tmp_path):
    """Until the new run is complete, the old one at the same path stays usable."""
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    before = (out / "model.safetensors").read_bytes()
    r = train(cli, corpus, out, "--hidden-size", "6", signal="epoch:1:KILL")
    assert r.rc == -9
    assert (out / "model.safetensors").read_bytes() == before
    assert cli("predict", out, "the match and the goal").rc == 0
    assert cli("train", "--resume", out, "--quiet").rc == 0
    assert json.loads((out / "config.json").read_text())["config"]["hidden_size"] == 6


# -- the same through the API, in this process ------------------------------------------
def test_api_resume_after_interruption(corpus, tmp_path, monkeypatch):
    from textrnn import TextClassifier
    from textrnn.data import load_csv
    from textrnn.resume import TrainingInterrupted
    ds = load_csv(corpus)
    texts, labels = ds.texts[:70], [ds.label_names[i] for i in ds.labels[:70]]
    vt, vl = ds.texts[70:], [ds.label_names[i] for i in ds.labels[70:]]
    kw = dict(model="rnn", epochs=3, maxlen=20, num_words=200, hidden_size=8, embedding_dim=8,
              batch_size=8, word_dropout=0.1)
    ref = TextClassifier(**kw).fit(texts, labels, vt, vl)
    monkeypatch.setenv("TEXTRNN_TEST_SIGNAL", "batch:11:TERM")
    with pytest.raises(TrainingInterrupted) as e:
        TextClassifier(**kw).fit(texts, labels, vt, vl, checkpoint_dir=tmp_path / "ck")
    assert e.value.checkpoint == tmp_path / "ck" / "step-000000011"
    assert (e.value.epoch, e.value.batch) == (2, 2)
    monkeypatch.delenv("TEXTRNN_TEST_SIGNAL")
    with pytest.raises(Exception, match="holds checkpoints of an earlier run"):
        TextClassifier(**kw).fit(texts, labels, vt, vl, checkpoint_dir=tmp_path / "ck")
    with pytest.raises(Exception, match="other settings: hidden_size 8 \\(now 9\\)"):
        TextClassifier(**{**kw, "hidden_size": 9}).fit(
            texts, labels, vt, vl, checkpoint_dir=tmp_path / "ck", resume=True)
    with pytest.raises(Exception, match="other training data"):
        TextClassifier(**kw).fit(texts[1:], labels[1:], vt, vl,
                                 checkpoint_dir=tmp_path / "ck", resume=True)
    clf = TextClassifier(**kw).fit(texts, labels, vt, vl, checkpoint_dir=tmp_path / "ck",
                                   resume=True)
    a, b = ref.model_.state_dict(), clf.model_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    timed = ("seconds", "tokens_per_second")
    assert [{k: v for k, v in r.items() if k not in timed} for r in ref.history_] == \
           [{k: v for k, v in r.items() if k not in timed} for r in clf.history_]
    # resume=True with no checkpoint starts from scratch
    fresh = TextClassifier(**kw).fit(texts, labels, vt, vl, checkpoint_dir=tmp_path / "new",
                                     resume=True)
    assert all(torch.equal(a[k], v) for k, v in fresh.model_.state_dict().items())


def test_only_the_two_newest_checkpoints_stay(corpus, tmp_path):
    from textrnn import TextClassifier
    from textrnn.data import load_csv
    ds = load_csv(corpus)
    labels = [ds.label_names[i] for i in ds.labels]
    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / ".step-000000003.x1").mkdir()  # left by a crash while saving
    # 80 training texts in batches of 16: 5 a epoch; saved at steps 2, 4, 5 (end of
    # epoch 1), 6, 8, 10 (end of epoch 2)
    TextClassifier(model="rnn", epochs=2, maxlen=10, num_words=50, hidden_size=4,
                   embedding_dim=4, batch_size=16).fit(
        ds.texts[:80], labels[:80], ds.texts[80:], labels[80:], checkpoint_dir=tmp_path / "ck",
        save_every=2)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir()) == [
        "step-000000008", "step-000000010"]


def test_an_ensemble_resumes_bit_identical(cli, corpus, tmp_path):
    """``members=2`` (the RNN's default shape): killed mid-epoch, resumed, the same bits as
    the run never interrupted; both members' weights are in the checkpoint."""
    extra = ["--model", "rnn", "--members", "2"]
    r = train(cli, corpus, tmp_path / "ref", *extra)
    assert r.rc == 0, r.err
    out = tmp_path / "run"
    r = train(cli, corpus, out, *extra, "--save-every", "3", signal="batch:11:KILL")
    assert r.rc == -9, r.err
    r = cli("train", "--resume", out, "--quiet")
    assert r.rc == 0, r.err
    assert_same_bits(tmp_path / "ref", out)
    assert any(k.startswith("members.1.") for k in load_file(str(out / "model.safetensors")))
