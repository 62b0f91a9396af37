"""Distributed training under torchrun, on CPU with gloo, two processes on loopback:
the same weights and test metrics as one process with the same global batch; a rank
killed mid-run fails the run without a hang, and torchrun's restart (or a later
``--resume``) goes on from the last checkpoint to the same weights, bit for bit, as a
run never interrupted.

Each run is a real ``torchrun`` (``python -m torch.distributed.run --standalone``: a
free port on 127.0.0.1) of ``python -m textrnn train``, one thread per process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from textrnn import distributed

SRC = str(Path(__file__).resolve().parents[1] / "src")
TIMEOUT = 300  # s: a hang fails the test instead of the suite

# 63 training documents in global batches of 31: 31, 31, 1 per epoch (bucketed), so the
# ranks' shares are uneven (16 / 15) and in the last batch rank 1 has no row at all.
# No dropout: each rank draws its own masks (see docs/distributed.md); word dropout
# is drawn from the loop's generator over the global batch, so it stays in.
ARGS = ["--epochs", "3", "--maxlen", "20", "--num-words", "200", "--hidden-size", "8",
        "--embedding-dim", "8", "--batch-size", "31", "--lr", "0.01", "--dropout", "0",
        "--word-dropout", "0.1", "--average", "2", "--quiet"]


def run(cmd: list, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": SRC, **(env or {})}
    return subprocess.run([sys.executable, *map(str, cmd)], env=env, capture_output=True,
                          text=True, timeout=TIMEOUT)


def torchrun(nproc: int, *args, restarts: int = 0, env: dict | None = None):
    return run(["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", nproc,
                "--max-restarts", restarts, "-m", "textrnn", "train", *args], env)




@pytest.fixture(scope="module")
def runs(corpus, tmp_path_factory) -> dict[str, Path]:
    """The same run in one process and in two."""
    base = tmp_path_factory.mktemp("runs")
    one = run(["-m", "textrnn", "train", "--data", corpus, "--out", base / "one", *ARGS])
    assert one.returncode == 0, one.stderr
    two = torchrun(2, "--data", corpus, "--out", base / "two", *ARGS)
    assert two.returncode == 0, two.stderr
    assert two.stdout.count("run directory:") == 1, two.stdout  # rank 0 alone prints
    return {"one": base / "one", "two": base / "two"}


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run_dir / "model.safetensors"))


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text())


def test_outside_torchrun_nothing_changes():
    assert not distributed.active() and distributed.is_main()
    assert (distributed.rank(), distributed.world()) == (0, 1)
    rows, weight = distributed.my_rows(7)
    assert rows == slice(None) and weight == 1 / 7
    logits, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 1, 0])
    loss, mean, correct = distributed.loss_and_stats(logits, y, 5, 1 / 5, 0.1)
    assert torch.equal(loss, torch.nn.functional.cross_entropy(logits, y, label_smoothing=0.1))
    assert mean == loss.item() and correct == int((logits.argmax(1) == y).sum())


def test_two_processes_match_one(runs):
    one, two = weights(runs["one"]), weights(runs["two"])
    assert one.keys() == two.keys()
    init = max((one[k] - two[k]).abs().max().item() for k in one)
    assert init < 1e-5, init
    m1, m2 = metrics(runs["one"]), metrics(runs["two"])
    assert m2["processes"] == 2 and "processes" not in m1
    for split in ("val", "test"):  # computed over the whole split
        assert m1[split]["confusion_matrix"] == m2[split]["confusion_matrix"]
        assert sum(map(sum, m2[split]["confusion_matrix"])) == m2["data"]["sizes"][split]
        assert m1[split]["accuracy"] == m2[split]["accuracy"]
    for r1, r2 in zip(m1["history"], m2["history"], strict=True):
        assert r1["epoch"] == r2["epoch"] and r1["best"] == r2["best"]
        for k in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert r1[k] == pytest.approx(r2[k], abs=1e-5), k
    assert not (runs["two"] / "checkpoints").exists()  # rank 0 wrote a finished run


def test_killed_rank_restarts_from_the_last_checkpoint(corpus, runs, tmp_path):
    """Rank 1 is SIGKILLed after batch 5 (checkpoints every 2 batches): torchrun stops
    rank 0, starts both again, and they resume from step 4 to the same weights."""
    out = tmp_path / "run"
    r = torchrun(2, "--data", corpus, "--out", out, *ARGS, "--save-every", "2", restarts=1,
                 env={"TEXTRNN_TEST_SIGNAL": "batch:5:KILL", "TEXTRNN_TEST_RANK": "1"})
    assert r.returncode == 0, r.stderr
    assert "exitcode: -9" in r.stderr or "exitcode  : -9" in r.stderr, r.stderr  # it did die
    a, b = weights(runs["two"]), weights(out)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert metrics(out)["test"] == metrics(runs["two"])["test"]


def test_killed_rank_fails_cleanly_then_resumes(corpus, runs, tmp_path):
    """Without restarts the run fails (no hang), leaves its checkpoints and no run
    directory; ``--resume`` under torchrun finishes it with the same weights."""
    out = tmp_path / "run"
    r = torchrun(2, "--data", corpus, "--out", out, *ARGS, "--save-every", "2",
                 env={"TEXTRNN_TEST_SIGNAL": "batch:5:KILL", "TEXTRNN_TEST_RANK": "1"})
    assert r.returncode != 0
    assert not (out / "model.safetensors").exists()
    assert sorted(p.name for p in (out / "checkpoints").glob("step-*")) == [
        "step-000000003", "step-000000004"]
    r = torchrun(2, "--resume", out, "--quiet")
    assert r.returncode == 0, r.stderr
    a, b = weights(runs["two"]), weights(out)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_two_processes_match_one_for_an_ensemble(corpus, tmp_path):
    """``members=2`` (the RNN's default shape): each rank's loss is the members' summed
    loss over its rows, and two processes end where one does."""
    args = [*ARGS, "--model", "rnn", "--members", "2"]
    one = run(["-m", "textrnn", "train", "--data", corpus, "--out", tmp_path / "one", *args])
    assert one.returncode == 0, one.stderr
    two = torchrun(2, "--data", corpus, "--out", tmp_path / "two", *args)
    assert two.returncode == 0, two.stderr
    w1, w2 = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert w1.keys() == w2.keys() and any(k.startswith("members.1.") for k in w1)
    assert max((w1[k] - w2[k]).abs().max().item() for k in w1) < 1e-5
    m1, m2 = metrics(tmp_path / "one"), metrics(tmp_path / "two")
    for r1, r2 in zip(m1["history"], m2["history"], strict=True):
        for k in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert r1[k] == pytest.approx(r2[k], abs=1e-5), k
