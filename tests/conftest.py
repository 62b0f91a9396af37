"""Shared fixtures. The BBC data is read from ../shared/data/bbc beside the checkout
(CI's layout) unless TEXTRNN_DATA already points elsewhere."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_BBC = REPO.parent / "shared" / "data" / "bbc"

if not os.environ.get("TEXTRNN_DATA") and SHARED_BBC.is_dir():
    os.environ["TEXTRNN_DATA"] = str(SHARED_BBC)


@pytest.fixture(scope="session")
def bbc_dir() -> Path:
    path = Path(os.environ.get("TEXTRNN_DATA", SHARED_BBC))
    if not (path / "df_file.csv").exists():
        pytest.fail(f"BBC data not found in {path}: set TEXTRNN_DATA")
    return path


@pytest.fixture(scope="session")
def bbc(bbc_dir):
    from textrnn.data import load_bbc
    return load_bbc(home=bbc_dir)  # df_file.csv, with the BBC class names


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op thread for a module's tiny trainings: the two cores are shared with the
    test's own subprocesses, and small products gain nothing from a second thread.
    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, bbc_dir) -> Path:
    """A small GRU trained for a few seconds on the BBC train split (about 90% test
    accuracy): the model behind the serving, ONNX and page tests."""
    from textrnn.config import preset
    from textrnn.runs import DataSpec, train_run
    cfg = preset("default", "gru", epochs=2, maxlen=64, num_words=3000, hidden_size=16,
                 embedding_dim=16, lr=1e-2, schedule="constant", label_smoothing=0.0)
    out = tmp_path_factory.mktemp("serve") / "bbc-gru"
    train_run(cfg, DataSpec(path=str(bbc_dir / "df_file.csv")), out, verbose=False,
              log=lambda *a: None)
    return out


@pytest.fixture(scope="session")
def server(tiny_run, tmp_path_factory):
    """``textrnn serve`` on the tiny run, on a free loopback port, with small limits."""
    from servers import Server
    s = Server(tiny_run, "--max-texts", "4", "--max-chars", "30000", "--max-body-bytes",
               "200000", log=tmp_path_factory.mktemp("serve-log") / "server.log")
    try:
        yield s.wait_ready()
    finally:
        s.stop()


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """90 short synthetic documents in three classes, words drawn from shared and
    class-specific lists: learnable, but not in one epoch. Seconds to train on."""
    import csv
    import random
    rng = random.Random(0)
    topics = {"alpha": "goal match team league cup player coach win score season".split(),
              "beta": "vote party election minister law government policy debate".split(),
              "gamma": "software chip phone internet data computer network code".split()}
    common = "the a of and to in is was for on with as by at from it this that".split()
    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Text", "Label"])
        for i in range(90):
            label = list(topics)[i % 3]
            words = [rng.choice(topics[label] if rng.random() < 0.4 else common)
                     for _ in range(rng.randint(5, 40))]
            w.writerow([" ".join(words), label])
    return path


@pytest.fixture(scope="session")
def cli(tmp_path_factory):
    """Runs ``textrnn`` commands in processes forked from one warm interpreter
    (tests/zygote.py): each a real CLI run, without paying torch's import each time."""
    from zygote import Zygote
    z = Zygote(tmp_path_factory.mktemp("cli"))
    yield z
    z.close()
