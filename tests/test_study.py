"""``textrnn compare`` and ``textrnn bench`` end to end on tiny data, and every option
they take checked (one error line, exit status 1; argparse usage errors exit 2)."""

from __future__ import annotations

import csv
import json
import random
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch

from textrnn import cli, fused
from textrnn.runs import DataSpec
from textrnn.study import bench
from textrnn.study.compare import _cv_splits, run_compare, table

TINY = dict(epochs=1, maxlen=12, num_words=100, hidden_size=4, embedding_dim=4)
TINY_FLAGS = ["--epochs", "1", "--maxlen", "12", "--num-words", "100", "--hidden-size", "4",
              "--embedding-dim", "4", "--quiet"]
CLASS_WORDS = {"alpha": ["goal", "match", "team", "coach"],
               "beta": ["vote", "minister", "party", "law"],
               "gamma": ["chip", "phone", "software", "web"]}


def write_corpus(path: Path, sizes: dict[str, int], seed: int = 0) -> Path:
    """A synthetic CSV: each class has its own topic words among common ones."""
    rng = random.Random(seed)
    common = ["the", "a", "of", "and", "in", "new", "said", "year"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Text", "Label"])
        for label, n in sizes.items():
            for _ in range(n):
                w.writerow([" ".join(rng.choice(CLASS_WORDS[label] + common) for _ in range(12)),
                            label])
    return path


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("data") / "tiny.csv",
                        {"alpha": 10, "beta": 9, "gamma": 8})


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``textrnn ARGV`` in this process: exit status, stdout, stderr."""
    capsys.readouterr()
    try:
        rc = cli.main([str(a) for a in argv])
    except SystemExit as e:           # argparse usage errors
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def assert_error(rc: int, err: str, *needles: str) -> None:
    """Exit status 1 and exactly one ``textrnn: error:`` line naming the problem."""
    assert rc == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("textrnn: error: "), err
    for n in needles:
        assert n.lower() in lines[0].lower(), (n, lines[0])


# -- compare ------------------------------------------------------------------------
@pytest.mark.parametrize("folds", [3, 5])
def test_cv_folds_are_disjoint_and_cover_the_data(tiny_csv, folds):
    data = DataSpec(path=str(tiny_csv))
    ds = data.load()[0]
    n = len(ds)
    splits = _cv_splits(data, folds)
    assert len(splits) == folds
    tests = np.concatenate([s["test"] for s in splits])
    assert sorted(tests.tolist()) == list(range(n))          # each document tested once
    for s in splits:
        parts = [set(s[k].tolist()) for k in ("train", "val", "test")]
        assert sum(map(len, parts)) == n and set.union(*parts) == set(range(n))
        for k in ("train", "val"):               # stratified: every class in every part
            assert set(ds.labels[s[k]].tolist()) == {0, 1, 2}, k
        assert set(ds.labels[s["test"]].tolist()) == {0, 1, 2}
    assert _cv_splits(data, folds)[0]["test"].tolist() == splits[0]["test"].tolist()


def test_compare_end_to_end_summary_equals_the_runs(tiny_csv, tmp_path):
    data = DataSpec(path=str(tiny_csv))
    res = run_compare(["gru"], ["default"], data, ("split", "cv"), seeds=(3,), baseline=True,
                      out=tmp_path / "runs", results=tmp_path / "results", log=lambda s: None,
                      folds=3, **TINY)
    # every run directory written is in the record, and nothing else
    on_disk = sorted(str(p.parent) for p in (tmp_path / "runs").glob("*/*/metrics.json"))
    assert sorted(r["dir"] for r in res["runs"]) == on_disk
    assert len(on_disk) == 2 * (1 + 3)                # (gru + baseline) x (1 seed + 3 folds)
    # the summary, recomputed from each run's own metrics.json
    groups: dict[tuple, list[dict]] = {}
    for r in res["runs"]:
        m = json.loads((Path(r["dir"]) / "metrics.json").read_text())
        groups.setdefault((r["protocol"], m["model"], m["preset"]), []).append(m)
    assert {(s["protocol"], s["model"], s["preset"]) for s in res["summary"]} == set(groups)
    for s in res["summary"]:
        ms = groups[(s["protocol"], s["model"], s["preset"])]
        assert s["runs"] == len(ms) == (1 if s["protocol"] == "split" else 3)
        for key, split, metric in (("val", "val", "accuracy"), ("acc", "test", "accuracy"),
                                   ("f1", "test", "macro_f1")):
            xs = np.array([m[split][metric] for m in ms])
            assert s[f"{key}_mean"] == pytest.approx(xs.mean(), abs=1e-12)
            std = xs.std(ddof=1) if len(xs) > 1 else 0.0     # one run: no spread
            assert s[f"{key}_std"] == pytest.approx(std, abs=1e-12)
        assert s["train_seconds"] == pytest.approx(np.mean([m["train_seconds"] for m in ms]))
    # cv runs train on their fold, with the first seed
    folds = _cv_splits(data, 3)
    for r in res["runs"]:
        if r["protocol"] == "cv":
            k = int(r["run"][4:]) - 1
            m = json.loads((Path(r["dir"]) / "metrics.json").read_text())
            assert m["data"]["sizes"] == {p: len(folds[k][p]) for p in ("train", "val", "test")}
            assert m["test"]["n"] == len(folds[k]["test"])
            if r["model"] == "gru":
                cfg = json.loads((Path(r["dir"]) / "config.json").read_text())["config"]
                assert cfg["seed"] == 3 and cfg["hidden_size"] == 4
    # the files: the same summary, and its table
    stored = json.loads((tmp_path / "results" / "compare.json").read_text())
    assert stored["summary"] == res["summary"]
    assert (tmp_path / "results" / "compare.md").read_text() == table(res["summary"]) + "\n"


def test_compare_cli_prints_the_table(tiny_csv, tmp_path, capsys):
    rc, out, err = run_cli(capsys, "compare", "--data", tiny_csv, "--models", "rnn",
                           "--presets", "default", "--no-baseline", "--seeds", "5",
                           "--out", tmp_path / "runs", "--results", tmp_path / "res",
                           *TINY_FLAGS)
    assert rc == 0, err
    summary = json.loads((tmp_path / "res" / "compare.json").read_text())["summary"]
    assert table(summary) in out
    assert len(summary) == 1 and summary[0]["runs"] == 1 and summary[0]["model"] == "rnn"


def _bydate_tar(path: Path, n_train: int = 10, n_test: int = 5) -> Path:
    """A 20 Newsgroups-shaped archive (<split>/<group>/<number>) with its own split."""
    import io
    import tarfile
    rng = random.Random(1)
    with tarfile.open(path, "w:gz") as t:
        for part, n in (("train", n_train), ("test", n_test)):
            for g, words in CLASS_WORDS.items():
                for i in range(n):
                    raw = " ".join(rng.choice(words + ["the", "of"]) for _ in range(10)).encode()
                    info = tarfile.TarInfo(f"news-bydate-{part}/{g}/{100 + i}")
                    info.size = len(raw)
                    t.addfile(info, io.BytesIO(raw))
    return path


def test_compare_keeps_a_corpus_own_split_for_every_seed(tmp_path, capsys):
    """20 Newsgroups' way: the archive's test part is every seed's test set (val carved
    from its train part), and the SVM rows sit beside the cells' on the same parts."""
    data = _bydate_tar(tmp_path / "news.tar.gz")
    rc, out, err = run_cli(capsys, "compare", "--data", data, "--models", "rnn",
                           "--presets", "default", "--seeds", "1", "2", "--val-fraction", "0.2",
                           "--out", tmp_path / "runs", "--results", tmp_path / "res",
                           *TINY_FLAGS)
    assert rc == 0, err
    res = json.loads((tmp_path / "res" / "compare.json").read_text())
    assert {(s["model"], s["runs"]) for s in res["summary"]} == {("rnn", 2), ("tfidf-svm", 2)}
    for r in res["runs"]:
        m = json.loads((Path(r["dir"]) / "metrics.json").read_text())
        assert m["data"]["sizes"] == {"train": 24, "val": 6, "test": 15}, r["dir"]
        assert np.sum(m["test"]["confusion_matrix"]) == 15
    assert "tfidf-svm" in out and "rnn" in out


BAD_COMPARE = {
    "folds 0": (["--protocols", "cv", "--folds", "0"], ["--folds", "0", ">= 2"]),
    "folds 1": (["--protocols", "cv", "--folds", "1"], ["--folds", ">= 2"]),
    "folds negative": (["--protocols", "cv", "--folds", "-3"], ["--folds", "-3"]),
    "seed negative": (["--seeds", "1", "-2"], ["--seeds", "-2"]),
    "seed repeated": (["--seeds", "7", "7"], ["--seeds", "repeated"]),
    "bad setting": (["--epochs", "0"], ["epochs must be >= 1"]),
}


@pytest.mark.parametrize("case", list(BAD_COMPARE))
def test_compare_bad_options_are_one_error(tiny_csv, tmp_path, capsys, case):
    argv, needles = BAD_COMPARE[case]
    rc, out, err = run_cli(capsys, "compare", "--data", tiny_csv, "--out", tmp_path / "runs",
                           "--results", tmp_path / "res", "--quiet", *argv)
    assert_error(rc, err, *needles)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "res").exists()


@pytest.mark.parametrize("small", [1, 2, 4])
def test_compare_cv_with_a_class_smaller_than_the_folds(tmp_path, capsys, small):
    """No scikit-learn traceback: one line naming the class, before any run."""
    data = write_corpus(tmp_path / "small.csv", {"alpha": 10, "beta": 10, "gamma": small})
    rc, out, err = run_cli(capsys, "compare", "--data", data, "--protocols", "split", "cv",
                           "--out", tmp_path / "runs", "--results", tmp_path / "res",
                           *TINY_FLAGS)
    assert_error(rc, err, "small.csv", "'gamma'", f"has {small} document", "5-fold", "--folds")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "res").exists()
    # with fewer folds it is fine (here: only the folds are made, nothing trained)
    if small >= 3:
        assert len(_cv_splits(DataSpec(path=str(data)), small)) == small


def test_compare_usage_errors_exit_2(tiny_csv, capsys):
    for argv in (["--seeds"], ["--protocols", "loo"], ["--folds", "x"], ["--models"]):
        rc, _, err = run_cli(capsys, "compare", "--data", tiny_csv, *argv)
        assert rc == 2 and "usage:" in err and "Traceback" not in err, argv


# -- bench --------------------------------------------------------------------------
SHAPE = dict(batch=4, steps=3, embed=4, hidden=4)
TINY_SHAPES = {"assignment": SHAPE, "long": dict(batch=3, steps=5, embed=4, hidden=6),
               "latency": dict(batch=1, steps=5, embed=4, hidden=4, train=False)}


def test_bench_end_to_end_json_and_tables(monkeypatch, capsys):
    monkeypatch.setattr(bench, "SHAPES", TINY_SHAPES)
    rc, out, err = run_cli(capsys, "bench", "--rounds", "3", "--iters", "1", "--json")
    assert rc == 0, err
    res = json.loads(out)                       # stdout holds only the JSON
    assert res["shapes"] == ["assignment", "long", "latency"]
    env = res["environment"]
    assert env["native"] == fused.native_available()
    assert env["fast_loops"] == ("C++" if fused.native_available() else
                                 "Python (C++ build unavailable)")
    assert env["threads"] == torch.get_num_threads() and env["cpu"]
    assert bench.describe(env) in err           # what ran is printed beside the tables
    assert f"{env['threads']} threads" in err and env["cpu"] in err
    rows = res["rows"]
    for name, shape in TINY_SHAPES.items():
        trains = shape.get("train", True)
        for cell in ("gru", "rnn"):
            mine = [r for r in rows if r["cell"] == cell and all(r[k] == shape[k] for k in SHAPE)]
            assert [r["impl"] for r in mine] == ["assignment", "reference", "loop", "fast",
                                                 "torch.nn"]
            assert bench.table(mine) in err
            by = {r["impl"]: r for r in mine}
            pairs = {"infer_vs_torch": ("infer_tok_s", "torch.nn")}
            if trains:
                pairs.update(train_vs_torch=("train_tok_s", "torch.nn"),
                             train_vs_assignment=("train_tok_s", "assignment"))
            for r in mine:
                assert r["train"] is trains
                kinds = ("train_tok_s", "infer_tok_s") if trains else ("infer_tok_s",)
                for kind in kinds:
                    xs = r["rounds"][kind]
                    assert len(xs) == 3 and min(xs) > 0
                    assert r[kind] == statistics.median(xs)
                # one forward of one batch, from the median throughput
                assert r["infer_ms"] == pytest.approx(
                    1000 * shape["batch"] * shape["steps"] / r["infer_tok_s"])
                if not trains:   # inference only: no training figures, no made-up ones
                    assert r["train_tok_s"] is None and r["saved_mb"] is None
                    assert r["rounds"]["train_tok_s"] == []
                    assert set(r["ratios"]) == {"infer_vs_torch"}
                    assert "inference only" in bench.table(mine)
                else:
                    assert r["saved_mb"] > 0
                # ratios are paired: taken within each round, then summarised
                for ratio, (kind, base) in pairs.items():
                    per_round = [a / b for a, b in zip(r["rounds"][kind],
                                                       by[base]["rounds"][kind])]
                    x = r["ratios"][ratio]
                    assert x["rounds"] == pytest.approx(per_round, rel=1e-12)
                    assert x["median"] == pytest.approx(statistics.median(per_round), rel=1e-12)
                    assert (x["min"], x["max"]) == (min(x["rounds"]), max(x["rounds"]))
                    assert r[ratio] == x["median"]
    # every target is judged at its own (patched) shape, on the lowest round
    assert [(t["cell"], t["ratio"], t["target"], t["shape"]) for t in res["targets"]] == [
        (t.cell, t.ratio, t.target, t.shape) for t in bench.TARGETS]
    for t in res["targets"]:
        shape = TINY_SHAPES[t["shape"]]
        fast = next(r for r in rows if (r["cell"], r["impl"]) == (t["cell"], "fast")
                    and all(r[k] == shape[k] for k in SHAPE))
        assert t["rounds"] == fast["ratios"][t["ratio"]]["rounds"]
        assert t["min"] == min(fast["ratios"][t["ratio"]]["rounds"])
        assert t["met"] == (t["min"] >= t["target"])
    text = bench.targets_text(res["targets"])
    assert text in err
    # each line names its shape and issue and lists every round
    assert len(text.splitlines()) == len(bench.TARGETS)
    for line, t in zip(text.splitlines(), res["targets"]):
        assert f"at {t['shape']} (batch {t['batch']}" in line and f"issue {t['issue']}" in line
        assert "[" + " ".join(f"{x:.2f}" for x in t["rounds"]) + "]" in line


def test_bench_issue_15_shapes_and_targets():
    """The shapes and targets issue 15 asks for, at the sizes it names."""
    assert bench.SHAPES["latency"] == dict(batch=1, steps=400, embed=64, hidden=128,
                                           train=False)
    assert bench.SHAPES["long"] == dict(batch=32, steps=400, embed=64, hidden=256)
    mine = {(t.cell, t.ratio, t.shape): t.target for t in bench.TARGETS if t.issue == 15}
    assert mine == {("gru", "infer_vs_torch", "assignment"): 1.5,
                    ("gru", "infer_vs_torch", "latency"): 3.0,
                    ("rnn", "infer_vs_torch", "latency"): 3.0,
                    ("gru", "train_vs_torch", "long"): 1.6,
                    ("rnn", "train_vs_torch", "long"): 1.5}


def test_bench_shapes_option_picks_shapes(monkeypatch, capsys):
    monkeypatch.setattr(bench, "SHAPES", TINY_SHAPES)
    rc, out, err = run_cli(capsys, "bench", "--shapes", "latency", "--cells", "gru",
                           "--rounds", "1", "--iters", "1", "--json")
    assert rc == 0, err
    res = json.loads(out)
    assert res["shapes"] == ["latency"]
    assert {(r["batch"], r["steps"]) for r in res["rows"]} == {(1, 5)}
    # only the targets at the shape that ran are judged
    assert [(t["cell"], t["shape"]) for t in res["targets"]] == [("gru", "latency")]


def test_bench_says_when_the_python_loops_ran(monkeypatch, capsys):
    """A failed C++ build falls back to the Python loops: the output says so."""
    monkeypatch.setattr(fused, "_native_state", False)
    monkeypatch.setattr(bench, "SHAPES", TINY_SHAPES)
    rc, out, err = run_cli(capsys, "bench", "--quick", "--cells", "gru", "--rounds", "1",
                           "--iters", "1")
    assert rc == 0, err
    assert out.startswith("fast path: Python (C++ build unavailable) step loops |")


def test_bench_plain_output_goes_to_stdout(monkeypatch, capsys):
    monkeypatch.setattr(bench, "SHAPES", TINY_SHAPES)
    rc, out, err = run_cli(capsys, "bench", "--quick", "--cells", "rnn", "--rounds", "1",
                           "--iters", "1")
    assert rc == 0, err
    assert "fast path:" in out and "| implementation | train tok/s |" in out
    assert "RNN  batch 4, 3 steps" in out and "GRU" not in out.split("\n", 2)[2]
    assert "batch 1" not in out and "batch 3" not in out         # --quick: one shape


def _row(cell, lo, med, hi, name="train_vs_torch", shape="assignment"):
    return {"cell": cell, "impl": "fast", **bench.SHAPES[shape], "ratios": {
        name: {"median": med, "min": lo, "max": hi, "rounds": [lo, med, hi]}}}


def test_bench_target_needs_every_round_to_clear_it():
    targets = [("gru", "train_vs_torch", 1.2)]
    met = bench.check_targets([_row("gru", 1.21, 1.3, 1.4)], targets)
    assert [t["met"] for t in met] == [True]
    # the median clears 1.2 but one round does not: not met
    short = bench.check_targets([_row("gru", 1.15, 1.25, 1.4)], targets)
    assert [t["met"] for t in short] == [False]
    assert "not met: lowest round 1.15x < 1.2x" in bench.targets_text(short)
    assert "[1.15 1.25 1.40]" in bench.targets_text(short)
    assert "met: every round clears it" in bench.targets_text(met)
    # another shape or cell is not judged against the target
    other = {**_row("gru", 2, 2, 2), "steps": 7}
    assert bench.check_targets([other, _row("rnn", 2, 2, 2)], targets) == []
    # a ratio whose base variant did not run is reported, and not as met
    missing = bench.check_targets([_row("gru", 2, 2, 2, name="infer_vs_torch")], targets)
    assert [(t["met"], t["min"]) for t in missing] == [(False, None)]
    assert "not measured" in bench.targets_text(missing)


def test_bench_targets_are_judged_at_their_own_shape():
    """The same ratio at two shapes is two targets; a row counts only at its shape."""
    targets = [bench.Target("gru", "infer_vs_torch", 1.5, "assignment", 15),
               bench.Target("gru", "infer_vs_torch", 3.0, "latency", 15)]
    rows = [_row("gru", 1.6, 1.7, 1.8, "infer_vs_torch"),
            _row("gru", 2.9, 3.2, 3.4, "infer_vs_torch", shape="latency")]
    res = bench.check_targets(rows, targets)
    assert [(t["shape"], t["batch"], t["median"], t["met"]) for t in res] == [
        ("assignment", 32, 1.7, True), ("latency", 1, 3.2, False)]
    assert "not met: lowest round 2.90x < 3.0x" in bench.targets_text(res).splitlines()[1]


BAD_BENCH = {
    "rounds 0": (["--rounds", "0"], ["--rounds", "0", ">= 1"]),
    "rounds negative": (["--rounds", "-2"], ["--rounds", "-2"]),
    "iters 0": (["--iters", "0"], ["--iters", "0", ">= 1"]),
    "iters negative": (["--iters", "-1"], ["--iters", "-1"]),
    "repeated cell": (["--cells", "gru", "gru"], ["--cells", "repeated"]),
    "repeated shape": (["--shapes", "long", "long"], ["--shapes", "repeated"]),
    "quick and shapes": (["--shapes", "long"], ["--quick", "--shapes"]),
}


@pytest.mark.parametrize("case", list(BAD_BENCH))
def test_bench_bad_options_are_one_error(capsys, case):
    argv, needles = BAD_BENCH[case]
    rc, out, err = run_cli(capsys, "bench", "--quick", *argv)
    assert_error(rc, err, *needles)
    assert out == ""                     # checked before anything is timed or printed


def test_bench_usage_errors_exit_2(capsys):
    for argv in (["--rounds", "x"], ["--cells"], ["--cells", "lstm"], ["--json", "out.json"],
                 ["--shapes", "huge"], ["--shapes"]):
        rc, _, err = run_cli(capsys, "bench", *argv)
        assert rc == 2 and "usage:" in err, argv


def test_bench_run_checks_its_options_too():
    from textrnn.errors import TextrnnError
    with pytest.raises(TextrnnError, match="--rounds"):
        bench.run([SHAPE], ("gru",), rounds=0)
    with pytest.raises(TextrnnError, match="hidden"):
        bench.run([{**SHAPE, "hidden": 0}], ("gru",), rounds=1, iters=1)
    with pytest.raises(TextrnnError, match="no shapes"):
        bench.run([], ("gru",))
    with pytest.raises(TextrnnError, match="train"):
        bench.run([{**SHAPE, "train": "no"}], ("gru",), rounds=1, iters=1)


def run_benchmark(name: str, *argv: str) -> int:
    """Run ``benchmarks/name`` as its command line would, in this process; its exit code."""
    import runpy
    import sys
    path = Path(__file__).resolve().parents[1] / "benchmarks" / name
    saved = sys.argv
    try:
        sys.argv = [str(path), *argv]
        with pytest.raises(SystemExit) as e:
            runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = saved
    return e.value.code


def test_dropout_benchmark_runs_at_a_tiny_size(capsys):
    """benchmarks/dropout.py (the command behind layers.Dropout's docstring) runs."""
    assert run_benchmark("dropout.py", "--batch", "2", "--steps", "3", "--dim", "4",
                         "--repeat", "1", "--rounds", "1") == 0
    out = capsys.readouterr().out
    assert "2 x 3 x 4" in out and "threads" in out
    assert "torch nn.Dropout" in out and "textrnn Dropout" in out


def test_run_compare_checks_its_options_before_any_run(tiny_csv, tmp_path):
    from textrnn.errors import TextrnnError
    data = DataSpec(path=str(tiny_csv))
    cases = [(dict(seeds=()), "--seeds: give at least one"),
             (dict(models=[]), "--models: give at least one"),
             (dict(models=["lstm"]), "--models: unknown 'lstm'"),
             (dict(presets=["best"]), "--presets: unknown 'best'"),
             (dict(protocols=("split", "loo")), "--protocols: unknown 'loo'"),
             (dict(protocols=()), "--protocols: give at least one"),
             (dict(folds=0, protocols=("cv",)), "--folds: 0"),
             (dict(seeds=(1.5,)), "--seeds: 1.5")]
    for change, message in cases:
        kw = dict(models=["gru"], presets=["default"], data=data, protocols=("split",),
                  seeds=(1,), out=tmp_path / "runs", results=tmp_path / "res",
                  log=lambda s: None, **TINY)
        with pytest.raises(TextrnnError, match=message.replace("(", r"\(")):
            run_compare(**{**kw, **change})
        assert not (tmp_path / "runs").exists() and not (tmp_path / "res").exists()


@pytest.mark.parametrize("extra", [[], ["--cell", "rnn", "--infer", "--batch", "1", "--shapes"]])
def test_profile_benchmark_runs_at_a_tiny_size(capsys, extra):
    """benchmarks/profile_gru.py (the profile behind docs/speed.md) runs, training and
    inference, GRU and RNN."""
    assert run_benchmark("profile_gru.py", "--steps", "3", "--embed", "4", "--hidden", "4",
                         "--iters", "1", *extra) == 0
    out = capsys.readouterr().out
    assert "Self CPU" in out and "threads" in out
    assert ("per forward" in out and "RNN equations" in out) if extra else (
        "per training step" in out and "GRU equations" in out)


def test_compare_reuse_reads_back_finished_runs_and_retrains_changed_ones(tiny_csv, tmp_path,
                                                                          monkeypatch):
    data = DataSpec(path=str(tiny_csv))
    kw = dict(out=tmp_path / "runs", results=tmp_path / "results", log=lambda s: None,
              folds=3, baseline=False, **TINY)
    first = run_compare(["gru"], ["default"], data, ("split", "cv"), seeds=(3,), **kw)
    import textrnn.study.compare as compare_module
    trained = []
    real = compare_module.train_run
    monkeypatch.setattr(compare_module, "train_run",
                        lambda cfg, *a, **k: trained.append(cfg) or real(cfg, *a, **k))
    again = run_compare(["gru"], ["default"], data, ("split", "cv"), seeds=(3,), reuse=True, **kw)
    assert trained == []                                  # every run read back
    assert again["summary"] == first["summary"]
    # another fold count changes the cv folds' sizes, a setting changes every run: trained
    run_compare(["gru"], ["default"], data, ("cv",), seeds=(3,), reuse=True,
                **{**kw, "folds": 4})
    assert len(trained) == 4
    trained.clear()
    run_compare(["gru"], ["default"], data, ("split",), seeds=(3,), reuse=True,
                **{**kw, "hidden_size": 5})
    assert len(trained) == 1 and trained[0].hidden_size == 5
    # a run of other members than the recipe gives its corpus now is trained again
    meta_path = tmp_path / "runs" / "split" / "gru-default-seed3" / "config.json"
    meta = json.loads(meta_path.read_text())
    assert meta["members_trained"] == 3
    meta_path.write_text(json.dumps({**meta, "members_trained": 2}))
    trained.clear()
    run_compare(["gru"], ["default"], data, ("split",), seeds=(3,), reuse=True,
                **{**kw, "hidden_size": 5})
    assert len(trained) == 1
    # a half-written run directory is trained again, not read
    (tmp_path / "runs" / "split" / "gru-default-seed3" / "metrics.json").write_text("{")
    trained.clear()
    run_compare(["gru"], ["default"], data, ("split",), seeds=(3,), reuse=True,
                **{**kw, "hidden_size": 5})
    assert len(trained) == 1


def test_recipe_paired_differences_per_seed(tmp_path, capsys):
    """benchmarks/recipe.py --paired: each lever's val per seed and its paired difference
    against the reference lever (mean, standard error with ddof 1), and the unpaired
    difference of the two means with its standard error, from the stored runs."""
    val = {"base": {1: 0.97, 2: 0.96, 3: 0.98}, "bi max": {1: 0.98, 2: 0.96, 3: 0.95}}
    for lever, by_seed in val.items():
        folder = tmp_path / "bbc" / lever.replace(" ", "_")
        folder.mkdir(parents=True)
        for seed, acc in by_seed.items():
            (folder / f"rnn-seed{seed}.json").write_text(
                json.dumps({"seed": seed, "val": {"accuracy": acc}}))
    assert run_benchmark("recipe.py", "--runs", str(tmp_path), "--corpus", "bbc", "--cells",
                         "rnn", "--paired", "base", "--lever", "bi max") == 0
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")
            for line in capsys.readouterr().out.splitlines() if line.startswith("| b")}
    d = np.array([1.0, 0.0, -3.0])
    assert rows["base"][1:4] == ["97.00", "96.00", "98.00"]
    assert rows["bi max"][4:7] == ["96.33", f"{d.mean():+.2f}",
                                   f"{d.std(ddof=1) / np.sqrt(3):.2f}"]
    assert rows["bi max"][7].strip(" |") == "+1.00 +0.00 -3.00"
    # unpaired (the fifth round's BBC statistic): difference of the means, Welch's SE
    a, b = np.array([98.0, 96.0, 95.0]), np.array([97.0, 96.0, 98.0])
    se = np.sqrt(a.var(ddof=1) / 3 + b.var(ddof=1) / 3)
    assert [x.strip(" |") for x in rows["bi max"][8:10]] == [f"{a.mean() - b.mean():+.2f}",
                                                            f"{se:.2f}"]


def test_recipe_confusions_sum_the_seeds(tmp_path, capsys):
    """benchmarks/recipe.py --confusions: the runs' confusion matrices summed, the most
    frequent (true, predicted) pair, the errors inside a group of related classes and the
    recall of each class (rows are true classes)."""
    names = ["alt.atheism", "comp.graphics", "comp.windows.x", "rec.autos"]
    cms = [[[8, 0, 0, 2], [0, 9, 1, 0], [0, 3, 7, 0], [0, 0, 0, 10]],
           [[10, 0, 0, 0], [0, 8, 2, 0], [1, 2, 7, 0], [0, 0, 0, 10]]]
    folder = tmp_path / "20ng-latest" / "tiny"
    folder.mkdir(parents=True)
    for seed, cm in enumerate(cms, 1):
        (folder / f"gru-seed{seed}.json").write_text(json.dumps(
            {"seed": seed, "test": {"labels": names, "confusion_matrix": cm}}))
    assert run_benchmark("recipe.py", "--runs", str(tmp_path), "--corpus", "20ng-latest",
                         "--confusions", "tiny", "gru", "test") == 0
    out = capsys.readouterr().out
    total = np.sum(cms, axis=0)
    errors = total.sum() - np.trace(total)  # 11 of 80
    assert f"{errors} errors of {total.sum()}" in out
    assert "| comp.windows.x | comp.graphics | 5 |" in out.splitlines()[4]  # the largest
    assert "| comp.* and sci.electronics | 8 | 73% |" in out
    assert ("recall, lowest five: comp.windows.x 70.0%, comp.graphics 85.0%, alt.atheism "
            "90.0%, rec.autos 100.0%; highest: rec.autos 100.0%") in out


def bbc_runs_folder(tmp_path: Path):
    """BBC's documents and split, its class names, ``part(k, n)``: the first ``n`` texts
    and label names of part ``k`` (all with ``None``), and an empty lever folder
    ``tmp_path/bbc/tiny`` for benchmarks/recipe.py's stored runs."""
    ds, splits, _ = DataSpec().load()
    names = ds.label_names
    part = lambda k, n: ([ds.texts[i] for i in splits[k][:n]],  # noqa: E731
                         [names[ds.labels[i]] for i in splits[k][:n]])
    folder = tmp_path / "bbc" / "tiny"
    folder.mkdir(parents=True)
    return ds, splits, names, part, folder


def test_recipe_probe_reads_longer_and_averages_seeds(tmp_path, capsys):
    """benchmarks/recipe.py --probe: each stored run's val accuracy when it reads more
    tokens at prediction than it was trained on, and the accuracy of the seeds' averaged
    probabilities, against the same figures computed here from the loaded models."""
    import dataclasses

    from textrnn.api import TextClassifier
    ds, splits, names, part, folder = bbc_runs_folder(tmp_path)
    models = []
    for seed in (1, 2):
        # one max-pooled model: the probe's reading lengths, not the default's shape
        clf = TextClassifier("gru", seed=seed, **{**TINY, "epochs": 3}, members=1,
                             pooling="max")
        clf.fit(*part("train", 300), *part("val", 20), classes=names)
        clf.save(folder / f"gru-seed{seed}")
        (folder / f"gru-seed{seed}.json").write_text(json.dumps({"seed": seed}))
        models.append(TextClassifier.load(folder / f"gru-seed{seed}"))
    assert run_benchmark("recipe.py", "--runs", str(tmp_path), "--corpus", "bbc", "--probe",
                         "tiny", "gru", "--lengths", "2", "40") == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line.split(" | ")[0].strip("| "): [float(x) for x in line.strip(" |").split(" | ")[1:]]
            for line in out if line.startswith("| read") or line.startswith("| pair")}
    texts, labels = part("val", len(splits["val"]))
    for n in (2, 40):
        probs = []
        for clf in models:
            clf.config_ = dataclasses.replace(clf.config_, maxlen=n)
            probs.append(clf.predict_proba(texts))
        each = [100 * np.mean(np.array(names)[p.argmax(1)] == np.array(labels)) for p in probs]
        ensemble = 100 * np.mean(np.array(names)[sum(probs).argmax(1)] == np.array(labels))
        assert rows[f"read {n} tokens at prediction"] == pytest.approx(
            [*each, np.mean(each), ensemble], abs=0.006)
    assert rows["read 2 tokens at prediction"] != rows["read 40 tokens at prediction"]
    # two seeds make one pair: its ensemble is the seeds' at the first length read (2)
    assert rows["pair"] == pytest.approx([rows["read 2 tokens at prediction"][-1]] * 2,
                                         abs=0.006)


def test_recipe_versus_svm_counts_the_shared_errors(tmp_path, capsys):
    """benchmarks/recipe.py --versus-svm: per stored run, the cell's and the SVM's
    accuracy, the cell's errors the SVM makes too, the SVM's errors the cell gets right,
    and the share one of the two gets right, against the same counts made here."""
    from textrnn.api import TextClassifier
    from textrnn.study.baselines import tfidf_svm
    ds, splits, names, part_n, folder = bbc_runs_folder(tmp_path)
    part = lambda k: part_n(k, None)  # noqa: E731
    train = part("train")
    clf = TextClassifier("gru", seed=1, **{**TINY, "epochs": 1}, members=1)
    clf.fit(train[0][:200], train[1][:200], *part("val"), classes=names)
    clf.save(folder / "gru-seed1")
    (folder / "gru-seed1.json").write_text(json.dumps({"seed": 1}))
    assert run_benchmark("recipe.py", "--runs", str(tmp_path), "--corpus", "bbc",
                         "--versus-svm", "tiny", "gru") == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| seed 1")]
    texts, labels = part("val")
    y = np.array(labels)
    cell = np.array(TextClassifier.load(folder / "gru-seed1").predict(texts)) == y
    svm = tfidf_svm().fit(*train).predict(texts) == y
    both = (~cell & ~svm).sum()
    assert row == [f"| seed 1 | {100 * cell.mean():.2f} | {100 * svm.mean():.2f} | "
                   f"{(~cell).sum()} | {both} ({100 * both / max((~cell).sum(), 1):.0f}%) | "
                   f"{(cell & ~svm).sum()} | {100 * (cell | svm).mean():.2f} |"]
    assert (~cell).sum() > 0  # a one-epoch tiny model errs: the counts are not all zero


def test_member_cost_times_every_shape_against_the_default(capsys):
    """benchmarks/member_cost.py: one row per shape, medians and spreads in ms, the
    default's ratio 1.00 (a smoke run: tiny batches, one turn)."""
    assert run_benchmark("member_cost.py", "--cell", "rnn", "--batch", "2", "--tokens", "5",
                         "--steps", "1", "--reps", "2") == 0
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and "ms" not in line and "---" not in line]
    assert [r[0].strip("| ") for r in rows] == [
        "one model, hidden 128", "hidden 64", "members=2 (hidden 128)", "members=2, hidden 64",
        "members=3, hidden 64"]
    assert rows[0][-1].strip(" |") == "1.00"
    assert all(float(r[1]) > 0 for r in rows)


def test_dropout_draws_change_only_the_dropout_masks(capsys):
    """benchmarks/dropout_draws.py: the same seed and draw give the same val score twice
    (nothing else random moves); each row is a val accuracy in [0, 100]."""
    argv = ("--cell", "rnn", "--epochs", "1", "--hidden-size", "8", "--draws", "5", "5")
    assert run_benchmark("dropout_draws.py", *argv) == 0
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines()
            if line.startswith("| | ")]
    scores = [float(r[-1].strip(" |")) for r in rows]
    assert len(scores) == 2 and scores[0] == scores[1] and 0 <= scores[0] <= 100


def test_other_corpora_scores_each_model_and_resumes(tmp_path, capsys):
    """benchmarks/other_corpora.py: the reshaped corpora load (titles and subject lines
    are short, the small corpus keeps whole posts), each run is one stored line, a second
    call trains nothing new, and the table's SVM gap is the difference of the means."""
    import json
    out = tmp_path / "runs.jsonl"
    argv = ("--limit", "60", "--set", "epochs=1", "members=1", "hidden_size=4",
            "embedding_dim=4", "--seeds", "1", "--out", str(out))
    assert run_benchmark("other_corpora.py", *argv) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["corpus"], r["model"]) for r in rows] == [
        (c, m) for c in ("bbc-titles", "20ng-subjects", "20ng-small")
        for m in ("tfidf-svm", "gru", "rnn")]
    words = {r["corpus"]: r["mean_words"] for r in rows}
    assert words["bbc-titles"] < 20 and words["20ng-subjects"] < 20 < words["20ng-small"]
    assert all(0 <= r["test"] <= 1 for r in rows)
    capsys.readouterr()
    assert run_benchmark("other_corpora.py", *argv) == 0
    assert len(out.read_text().splitlines()) == len(rows)  # nothing trained again
    table = [line.split(" | ") for line in capsys.readouterr().out.splitlines()
             if line.startswith("| bbc-titles")]
    svm, gru = (100 * rows[0]["test"], 100 * rows[1]["test"])
    assert table[1][-1].strip(" |") == f"{gru - svm:+.2f}"


def test_subject_lines_lose_their_reply_markers():
    import runpy
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "other_corpora.py"
    subject = runpy.run_path(str(path))["subject"]
    assert subject("From: a@b\nSubject: Re: RE: Clipper chip\n\nbody") == "Clipper chip"
    assert subject("From: a@b\n\nno subject here") == ""


def test_other_corpora_refuses_bad_options_before_any_run(tmp_path):
    """An unknown corpus, a --set without '=' and an unknown setting each end in one
    line naming it, and nothing is written."""
    out = tmp_path / "runs.jsonl"
    cases = [(("--corpora", "20ng-0-per-group"), "unknown '20ng-0-per-group'"),
             (("--set", "epochs"), "expected NAME=VALUE, got 'epochs'"),
             (("--corpora", "bbc-titles", "--models", "gru", "--set", "colour=1"),
              "unknown setting 'colour'")]
    for argv, message in cases:
        assert message in str(run_benchmark("other_corpora.py", *argv, "--out", str(out)))
        assert not out.exists()


def test_other_corpora_table_in_recipe_md_is_the_stored_runs(capsys):
    """results/recipe.md's table of other corpora is what --table prints from
    results/other_corpora.jsonl (the runs kept in git), line for line."""
    root = Path(__file__).resolve().parents[1]
    assert run_benchmark("other_corpora.py", "--table", "--corpora", "bbc-titles",
                         "20ng-subjects", "20ng-small", "20ng-150-per-group",
                         "20ng-300-per-group") == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("|")]
    # header, rule, then each of 5 corpora x 3 models (today's recipe, an earlier one's
    # members, or both)
    cells = {(line.split(" | ")[0].strip("| "), line.split(" | ")[3].split(",")[0])
             for line in lines[2:]}
    assert lines[1].startswith("|---") and len(cells) == 5 * 3
    doc = (root / "results" / "recipe.md").read_text().splitlines()
    start = doc.index(lines[0])
    assert doc[start:start + len(lines)] == lines


def test_recipe_paired_without_copies_rescores_val_minus_train_copies(tmp_path, capsys):
    """benchmarks/recipe.py --paired --without-copies: each stored run is scored again on
    the val articles that have no exact copy in train (BBC's val holds some), in place of
    its stored val figure, and nothing stored is changed."""
    from textrnn.api import TextClassifier
    ds, splits, names, part, folder = bbc_runs_folder(tmp_path)
    clf = TextClassifier("rnn", seed=1, **{**TINY, "epochs": 2}, members=1)
    clf.fit(*part("train", 300), *part("val", 20), classes=names)
    clf.save(folder / "rnn-seed1")
    stored = json.dumps({"seed": 1, "val": {"accuracy": 0.5}})
    (folder / "rnn-seed1.json").write_text(stored)
    train = {ds.texts[i] for i in splits["train"]}
    kept = [i for i in splits["val"] if ds.texts[i] not in train]
    assert 0 < len(splits["val"]) - len(kept) < 40  # BBC's val has copies of train articles
    pred = TextClassifier.load(folder / "rnn-seed1").predict([ds.texts[i] for i in kept])
    expected = 100 * np.mean(np.array(pred) == np.array([names[ds.labels[i]] for i in kept]))
    argv = ("--runs", str(tmp_path), "--corpus", "bbc", "--cells", "rnn", "--paired", "tiny")
    assert run_benchmark("recipe.py", *argv, "--without-copies") == 0
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| tiny")]
    assert row[0].split(" | ")[1] == f"{expected:.2f}"
    assert run_benchmark("recipe.py", *argv) == 0  # without the flag: the stored figure
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| tiny")]
    assert row[0].split(" | ")[1] == "50.00"
    assert (folder / "rnn-seed1.json").read_text() == stored
