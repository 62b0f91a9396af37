"""The command line, end to end and on bad input.

Every CLI call runs in its own process, so exit status, stdout, stderr, warnings and
any traceback are the real ones. Starting Python and importing torch costs ~5 s on
this machine, so most calls are forked from one "zygote" process that has imported
``textrnn.cli`` once and never runs a tensor op itself (``tests/zygote.py``): each
child redirects fds 0/1/2 to files and runs ``sys.exit(main(argv))`` exactly like the
``textrnn`` console script. A few tests also go through the real entry points
(``.venv/bin/textrnn`` and ``python -m textrnn.cli``).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from zygote import Result

TINY = ["--epochs", "1", "--maxlen", "30", "--num-words", "500", "--hidden-size", "16",
        "--embedding-dim", "16", "--quiet"]


def assert_one_error(r: Result, *needles: str) -> str:
    """Exit status 1 (what the CLI promises for bad input), exactly one stderr line
    ``textrnn: error: ...`` naming the problem."""
    assert r.rc == 1, (r.rc, r.out, r.err)
    assert "Traceback" not in r.err, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert lines[0].startswith("textrnn: error: "), r.err
    for n in needles:
        assert n.lower() in lines[0].lower(), (n, lines[0])
    return lines[0]


# -- data ------------------------------------------------------------------------
def _bbc_rows(bbc_dir: Path) -> tuple[list[str], list[list[str]]]:
    with open(bbc_dir / "df_file.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _write_csv(path: Path, header, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def small_csv(bbc_dir, tmp_path_factory) -> Path:
    """60 BBC articles, 12 per class, labelled with the class names (df_file.csv's ids
    0..4 would stay integers: BBC's names are for the BBC data itself only)."""
    header, rows = _bbc_rows(bbc_dir)
    names = ["Politics", "Sport", "Technology", "Entertainment", "Business"]
    by_label: dict[str, list] = {}
    for r in rows:
        by_label.setdefault(r[1], []).append([r[0], names[int(r[1])]])
    picked = [r for label in sorted(by_label) for r in by_label[label][:12]]
    return _write_csv(tmp_path_factory.mktemp("data") / "small.csv", header, picked)


@pytest.fixture(scope="module")
def run_dir(cli, small_csv, tmp_path_factory) -> tuple[Path, Result]:
    out = tmp_path_factory.mktemp("runs") / "gru-tiny"
    r = cli("train", "--data", small_csv, "--out", out, *TINY)
    assert r.rc == 0, r.err
    return out, r


# -- train / test / predict end to end -------------------------------------------
def test_train_writes_a_complete_run_directory(run_dir):
    out, r = run_dir
    for name in ("config.json", "vocab.json", "model.safetensors", "metrics.json",
                 "curves.png", "confusion.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp dirs
    m = json.loads((out / "metrics.json").read_text())
    t = m["test"]
    assert 0.0 <= t["accuracy"] <= 1.0 and 0.0 <= t["macro_f1"] <= 1.0
    assert set(t["per_class"]) == {"Politics", "Sport", "Technology", "Entertainment",
                                   "Business"}
    cm = t["confusion_matrix"]
    assert len(cm) == 5 and all(len(row) == 5 for row in cm) and sum(map(sum, cm)) == t["n"] == 9
    assert m["data"]["sizes"] == {"train": 42, "val": 9, "test": 9}
    assert len(m["history"]) == 1 and "val_loss" in m["history"][0]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["hidden_size"] == 16 and cfg["config"]["maxlen"] == 30
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the results table on stdout, the run directory named
    assert "| model | preset | test accuracy |" in r.out
    assert "| gru | default |" in r.out
    assert f"run directory: {out}" in r.out


def test_training_options_reach_the_saved_config(cli, small_csv, tmp_path):
    pytest.importorskip("gensim")
    out = tmp_path / "opts"
    r = cli("train", "--data", small_csv, "--out", out, *TINY, "--pooling", "attention",
            "--pretrain", "word2vec", "--label-smoothing", "0.1", "--model", "rnn",
            "--select", "acc")
    assert r.rc == 0, r.err
    cfg = json.loads((out / "config.json").read_text())["config"]
    assert (cfg["pooling"], cfg["pretrain"], cfg["label_smoothing"], cfg["model"],
            cfg["select"]) == ("attention", "word2vec", 0.1, "rnn", "acc")
    r = cli("test", out, "--json")                  # and the saved model loads back
    assert r.rc == 0, r.err


def test_run_directory_files_are_not_private(run_dir):
    """Files written via temporary names get normal permissions (umask), not 0600."""
    out, _ = run_dir
    umask = os.umask(0)
    os.umask(umask)
    assert (out.stat().st_mode & 0o777) == 0o777 & ~umask
    for name in ("config.json", "model.safetensors", "metrics.json", "curves.png"):
        assert ((out / name).stat().st_mode & 0o777) == 0o666 & ~umask, name


def test_test_prints_accuracy_and_json(cli, run_dir):
    out, _ = run_dir
    metrics = json.loads((out / "metrics.json").read_text())
    r = cli("test", out)
    assert r.rc == 0, r.err
    assert "test split: 9 documents, accuracy" in r.out
    assert f"{100 * metrics['test']['accuracy']:.2f}%" in r.out  # same data, same split
    assert "Politics" in r.out and "support" in r.out
    r = cli("test", out, "--json", "--split", "all")
    assert r.rc == 0, r.err
    m = json.loads(r.out)
    assert m["n"] == 60 and 0.0 <= m["accuracy"] <= 1.0
    assert len(m["confusion_matrix"]) == 5


def test_test_with_other_column_names(cli, run_dir, small_csv, tmp_path):
    out, _ = run_dir
    with open(small_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    alt = _write_csv(tmp_path / "alt.csv", ["id", "category", "body"],
                     [[i, r[1], r[0]] for i, r in enumerate(rows)])
    r = cli("test", out, "--data", alt, "--text-column", "body", "--label-column",
            "category", "--split", "all", "--json")
    assert r.rc == 0, r.err
    assert json.loads(r.out)["n"] == 60
    r = cli("test", out, "--data", alt)
    assert_one_error(r, "no column 'Text'", "--text-column")


def test_predict_top_k_json(cli, run_dir):
    out, _ = run_dir
    texts = ["The government announced a new tax on fuel.", "United won the cup final 2-0."]
    r = cli("predict", out, *texts, "-k", "3", "--json")
    assert r.rc == 0, r.err
    res = json.loads(r.out)
    assert [x["text"] for x in res] == texts
    names = {"Politics", "Sport", "Technology", "Entertainment", "Business"}
    for x in res:
        assert len(x["labels"]) == 3
        probs = [y["probability"] for y in x["labels"]]
        assert all(0.0 <= p <= 1.0 for p in probs)
        assert probs == sorted(probs, reverse=True)
        assert {y["label"] for y in x["labels"]} <= names
    # texts may come before, between or after the options
    for argv in ((texts[0], "-k", "3", "--json", texts[1]), ("-k", "3", "--json", *texts)):
        r2 = cli("predict", out, *argv)
        assert r2.rc == 0 and json.loads(r2.out) == res, r2.err
    r = cli("predict", out, *texts, "-k", "5", "--json")
    for x in json.loads(r.out):
        assert {y["label"] for y in x["labels"]} == names
        assert abs(sum(y["probability"] for y in x["labels"]) - 1.0) < 1e-5
    # plain output: one line per text, "label probability"
    r = cli("predict", out, *texts)
    assert r.rc == 0 and len(r.out.strip().splitlines()) == 2
    assert r.out.split()[0] in names


def test_predict_from_file_and_stdin(cli, run_dir, tmp_path):
    out, _ = run_dir
    texts = ["Shares fell on the stock market.", "", "A new film opens this week."]
    f = tmp_path / "texts.txt"
    f.write_text("\n".join(texts) + "\n", encoding="utf-8")
    from_args = json.loads(cli("predict", out, texts[0], texts[2], "--json").out)
    r_file = cli("predict", out, "--file", f, "--json")
    r_stdin = cli("predict", out, "--json", stdin="\n".join(texts))
    r_dash = cli("predict", out, "--file", "-", "--json", stdin="\n".join(texts))
    for r in (r_file, r_stdin, r_dash):
        assert r.rc == 0, r.err
        assert json.loads(r.out) == from_args  # blank lines skipped, same results


def test_help_of_every_verb_mentions_every_option(cli):
    from textrnn.cli import build_parser
    parser = build_parser()
    verbs = next(a for a in parser._actions if a.choices and a.dest == "command").choices
    assert {"train", "test", "predict", "compare"} <= set(verbs)
    r = cli("--help")
    assert r.rc == 0
    for verb in verbs:
        assert verb in r.out
    for verb, sub in verbs.items():
        r = cli(verb, "--help")
        assert r.rc == 0, (verb, r.err)
        for action in sub._actions:
            for opt in action.option_strings:
                assert opt in r.out, (verb, opt)


def test_real_entry_points(run_dir, tmp_path):
    """The installed console script and ``python -m textrnn.cli``, as real processes."""
    out, _ = run_dir
    script = Path(sys.executable).parent / "textrnn"
    r = subprocess.run([str(script), "predict", str(out), "-k", "2", "--json",
                        "Ministers debate the election."],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)[0]["labels"]) == 2
    r = subprocess.run([sys.executable, "-m", "textrnn.cli", "test", str(tmp_path / "nope")],
                       capture_output=True, text=True, timeout=120)
    assert_one_error(Result(r.returncode, r.stdout, r.stderr), "no such run directory")


# -- bad data ---------------------------------------------------------------------
BAD_FILES = {
    # name: (bytes, words the error must contain)
    "png.csv": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", ["png.csv", "not a CSV"]),
    # formats are told by content: a zip named .csv is read as a zip
    "zip.csv": (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)),
                ["zip.csv", "not a readable .zip"]),
    "empty.csv": (b"", ["empty.csv", "empty"]),
    "blank.csv": (b"\n\n  \n", ["blank.csv", "empty"]),
    "header.csv": (b"Text,Label\n", ["header.csv", "no data rows"]),
    "nocolumn.csv": (b"Body,Label\nhello world,1\n", ["nocolumn.csv", "no column 'Text'",
                                                      "--text-column"]),
    "nolabelcol.csv": (b"Text,Category\nhello world,1\n", ["no column 'Label'",
                                                           "--label-column"]),
    "emptytext.csv": (b"Text,Label\nhello world,1\n  ,2\n", ["emptytext.csv", "row 2",
                                                             "empty text"]),
    "nolabel.csv": (b'Text,Label\nhello world,1\n"foo, bar",\n', ["nolabel.csv", "row 2",
                                                                  "missing label"]),
    "fields.csv": (b"Text,Label\nhello world,1\nfoo,bar,baz\n", ["fields.csv", "row 2",
                                                                 "3 fields"]),
    "quote.csv": (b'Text,Label\n"hello "world,1\n', ["quote.csv", "not valid CSV"]),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_train_on_bad_csv_is_one_clear_error(cli, tmp_path, name):
    raw, needles = BAD_FILES[name]
    (tmp_path / name).write_bytes(raw)
    out = tmp_path / "runs" / "run"
    r = cli("train", "--data", tmp_path / name, "--out", out, *TINY)
    assert_one_error(r, *needles)
    assert not out.exists()
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


def test_train_on_missing_file(cli, tmp_path):
    r = cli("train", "--data", tmp_path / "nope.csv", "--out", tmp_path / "run", *TINY)
    assert_one_error(r, "nope.csv", "no such file")
    assert not (tmp_path / "run").exists()


def test_failed_retrain_keeps_the_old_run(cli, run_dir, tmp_path):
    out, _ = run_dir
    copy = tmp_path / "run"
    shutil.copytree(out, copy)
    before = {p.name: p.read_bytes() for p in copy.iterdir()}
    (tmp_path / "bad.csv").write_bytes(b"Text,Label\n")
    r = cli("train", "--data", tmp_path / "bad.csv", "--out", copy, *TINY)
    assert_one_error(r, "no data rows")
    assert {p.name: p.read_bytes() for p in copy.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "run"]


def test_training_failure_leaves_no_partial_run_directory(bbc, tmp_path, monkeypatch):
    """A failure after training started (here: while plotting) leaves nothing behind."""
    from textrnn import runs
    from textrnn.config import preset
    small = tmp_path / "s.csv"
    _write_csv(small, ["Text", "Label"],
               [[bbc.texts[i], bbc.labels[i]] for i in range(0, 2225, 45)])

    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(runs, "plot_confusion", boom)
    cfg = preset("default", "rnn", epochs=1, maxlen=20, num_words=200, hidden_size=8,
                 embedding_dim=8)
    with pytest.raises(RuntimeError, match="disk full"):
        runs.train_run(cfg, runs.DataSpec(path=str(small)), tmp_path / "runs" / "r",
                       verbose=False, log=lambda m: None)
    assert list((tmp_path / "runs").iterdir()) == []


def test_label_outside_the_label_set_at_test_time(cli, run_dir, small_csv, tmp_path):
    out, _ = run_dir
    with open(small_csv, newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    rows[4][1] = "9"
    bad = _write_csv(tmp_path / "label9.csv", header, rows)
    r = cli("test", out, "--data", bad)
    assert_one_error(r, "label9.csv", "row 5", "label '9' is not in the label set", "0..4",
                     "Politics")
    rows[4][1] = "Weather"
    bad = _write_csv(tmp_path / "weather.csv", header, rows)
    assert_one_error(cli("test", out, "--data", bad), "row 5", "'Weather'")


def test_default_bbc_data_unreachable(cli, tmp_path):
    """No data in the home and a download that fails: one line, saying what to do."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    home = tmp_path / "home"
    r = cli("train", "--out", tmp_path / "run", *TINY,
            env={"TEXTRNN_DATA": str(home), "TEXTRNN_BBC_URL": f"http://127.0.0.1:{port}/x.zip"})
    assert_one_error(r, f"127.0.0.1:{port}", "download failed", "TEXTRNN_DATA")
    assert not (tmp_path / "run").exists()
    assert not home.exists() or not list(home.iterdir())


# -- bad run directories ------------------------------------------------------------
def _corrupt_copy(src: Path, dst: Path, edit) -> Path:
    shutil.copytree(src, dst)
    edit(dst)
    return dst


def _edit_json(name, change):
    def edit(d: Path):
        obj = json.loads((d / name).read_text())
        change(obj)
        (d / name).write_text(json.dumps(obj))
    return edit


BAD_RUNS = {
    "incomplete": (lambda d: (d / "model.safetensors").unlink(),
                   ["incomplete run directory", "model.safetensors"]),
    "no-vocab": (lambda d: (d / "vocab.json").unlink(), ["incomplete", "vocab.json"]),
    "garbage-weights": (lambda d: (d / "model.safetensors").write_bytes(os.urandom(2000)),
                        ["model.safetensors", "corrupt"]),
    "empty-weights": (lambda d: (d / "model.safetensors").write_bytes(b""),
                      ["model.safetensors", "corrupt"]),
    "truncated-weights": (lambda d: (d / "model.safetensors").write_bytes(
        (d / "model.safetensors").read_bytes()[:3000]), ["model.safetensors", "corrupt"]),
    "truncated-config": (lambda d: (d / "config.json").write_text(
        (d / "config.json").read_text()[:100]), ["config.json", "corrupt JSON"]),
    "config-not-object": (lambda d: (d / "config.json").write_text("[1, 2]"),
                          ["config.json", "corrupt"]),
    "wrong-hidden-size": (_edit_json("config.json", lambda c: c["config"].update(hidden_size=32)),
                          ["model.safetensors", "size mismatch"]),
    "wrong-vocab-size": (_edit_json("config.json", lambda c: c.update(vocab_size=400)),
                         ["vocab", "400", "500"]),
    "negative-vocab-size": (_edit_json("config.json", lambda c: c.update(vocab_size=-1)),
                            ["vocab"]),
    "wrong-classes": (_edit_json("config.json", lambda c: c.update(classes=["a", "b", "c"])),
                      ["mismatch"]),
    "classes-not-a-list": (_edit_json("config.json", lambda c: c.update(classes="abcde")),
                           ["corrupt", "classes"]),
    "bad-model": (_edit_json("config.json", lambda c: c["config"].update(model="lstm")),
                  ["corrupt run directory", "model must be one of"]),
    "bad-impl": (_edit_json("config.json", lambda c: c["config"].update(impl="bogus")),
                 ["corrupt", "impl"]),
    "float-size": (_edit_json("config.json", lambda c: c["config"].update(hidden_size=16.5)),
                   ["corrupt"]),
    "unknown-key": (_edit_json("config.json", lambda c: c["config"].update(foo=1)),
                    ["corrupt", "foo"]),
    "no-config-key": (_edit_json("config.json", lambda c: c.pop("config")),
                      ["corrupt", "config"]),
    "truncated-vocab": (lambda d: (d / "vocab.json").write_text(
        (d / "vocab.json").read_text()[:50]), ["vocab.json", "corrupt"]),
    "vocab-word-index-list": (_edit_json("vocab.json", lambda v: v.update(word_index=[])),
                              ["corrupt"]),
    "vocab-num-words-str": (_edit_json("vocab.json", lambda v: v.update(num_words="x")),
                            ["corrupt"]),
}


@pytest.mark.parametrize("case", list(BAD_RUNS))
def test_predict_with_bad_run_directory(cli, run_dir, tmp_path, case):
    out, _ = run_dir
    edit, needles = BAD_RUNS[case]
    bad = _corrupt_copy(out, tmp_path / "bad-run", edit)
    assert_one_error(cli("predict", bad, "some text about the election"), str(bad), *needles)


def test_test_with_bad_run_directory(cli, run_dir, tmp_path):
    out, _ = run_dir
    assert_one_error(cli("test", tmp_path / "missing"), "missing", "no such run directory")
    bad = _corrupt_copy(out, tmp_path / "inc", lambda d: (d / "model.safetensors").unlink())
    assert_one_error(cli("test", bad), "incomplete run directory", "model.safetensors")
    f = tmp_path / "file"
    f.write_text("x")
    assert_one_error(cli("test", f), "not a run directory")
    bad = _corrupt_copy(out, tmp_path / "badmetrics",
                        lambda d: (d / "metrics.json").write_text("{"))
    assert_one_error(cli("test", bad), "metrics.json", "corrupt JSON")


def test_predict_with_missing_run_directory(cli, tmp_path):
    assert_one_error(cli("predict", tmp_path / "nope", "text"), "no such run directory")


def test_predict_with_no_text(cli, run_dir, tmp_path):
    out, _ = run_dir
    (tmp_path / "empty.txt").write_text("\n\n")
    for r in (cli("predict", out), cli("predict", out, stdin="\n  \n"), cli("predict", out, ""),
              cli("predict", out, "--file", tmp_path / "empty.txt")):
        assert_one_error(r, "no text to classify")
    assert_one_error(cli("predict", out, "--file", tmp_path / "nope.txt"), "nope.txt",
                     "no such file")


def test_device_cuda_without_cuda(cli, small_csv, tmp_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    r = cli("train", "--data", small_csv, "--device", "cuda", "--out", tmp_path / "r", *TINY)
    assert_one_error(r, "cuda", "not available")
    assert not (tmp_path / "r").exists()
    r = cli("train", "--data", small_csv, "--device", "tpu", "--out", tmp_path / "r", *TINY)
    assert_one_error(r, "unknown device 'tpu'")
    assert_one_error(cli("bench", "--quick", "--device", "cuda"), "cuda", "not available")
    assert_one_error(cli("bench", "--quick", "--device", "tpu"), "unknown device 'tpu'")


def test_bad_options_are_usage_errors(cli, small_csv, tmp_path):
    r = cli("train", "--data", small_csv, "--epochs", "0", "--out", tmp_path / "r")
    assert_one_error(r, "epochs must be >= 1")
    r = cli("train", "--model", "lstm")
    assert r.rc == 2 and "invalid choice" in r.err and "Traceback" not in r.err
    r = cli()
    assert r.rc == 2 and "train" in r.out


# -- corpora as distributed: formats, archives, their own splits -----------------------
LONG = ["comp.os.ms-windows.misc", "talk.politics.mideast", "rec.sport.hockey"]


def _split_tar(path: Path, n_train: int = 8, n_test: int = 4) -> Path:
    """A 20 Newsgroups-shaped archive: <split>/<group>/<number>, no file extensions."""
    import io
    import tarfile
    words = {g: g.replace(".", " ").replace("-", " ") for g in LONG}
    with tarfile.open(path, "w:gz") as t:
        for split_name, n in (("train", n_train), ("test", n_test)):
            for g in LONG:
                for i in range(n):
                    raw = f"Subject: {words[g]} {i}\n\n{words[g]} post number {i}".encode()
                    info = tarfile.TarInfo(f"news-bydate-{split_name}/{g}/{50000 + i}")
                    info.size = len(raw)
                    t.addfile(info, io.BytesIO(raw))
    return path


def test_train_and_test_on_an_archive_with_its_own_split(cli, tmp_path):
    data = _split_tar(tmp_path / "news.tar.gz")
    out = tmp_path / "run"
    r = cli("train", "--data", data, "--val-fraction", "0.25", "--out", out, *TINY)
    assert r.rc == 0, r.err
    assert ("the corpus's own split (split folders: news-bydate-train/ (train), "
            "news-bydate-test/ (test)): 24 train / 12 test") in r.err
    assert "val: 25% of train (6 documents), stratified by class" in r.err
    assert "used: 18 train / 6 val / 12 test" in r.err
    m = json.loads((out / "metrics.json").read_text())
    assert m["data"]["sizes"] == {"train": 18, "val": 6, "test": 12}
    assert m["data"]["val_size"] == 0.25
    assert m["test"]["n"] == 12
    # `test` redoes the same split from what metrics.json stored
    r = cli("test", out)
    assert r.rc == 0, r.err
    assert "test split: 12 documents" in r.out
    assert f"{100 * m['test']['accuracy']:.2f}%" in r.out
    table = r.out.splitlines()[1:]
    assert len(table) == 4 and {len(line) for line in table} == {len(table[0])}  # aligned
    for g in LONG:
        assert any(line.startswith(g + " ") for line in table), r.out  # whole, not cut
    r = cli("test", out, "--split", "val", "--json")
    assert r.rc == 0 and json.loads(r.out)["n"] == 6


def test_train_with_the_parts_given_apart(cli, tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(json.dumps({"text": f"{g} words {i}", "label": g})
                               for g in ("a", "b") for i in range(10)))
    test = tmp_path / "test.ft"
    test.write_text("__label__a a words 99\n__label__b b words 99\n__label__b b words 98\n")
    out = tmp_path / "run"
    r = cli("train", "--train", train, "--test", test, "--val-fraction", "0.2", "--out", out,
            *TINY)
    assert r.rc == 0, r.err
    assert json.loads((out / "metrics.json").read_text())["data"]["sizes"] == \
        {"train": 16, "val": 4, "test": 3}
    r = cli("test", out, "--json")
    assert r.rc == 0 and json.loads(r.out)["n"] == 3
    # new documents to evaluate on: a test part alone is enough at test time
    other = tmp_path / "other.csv"
    other.write_text("text,label\na words 1,a\nb words 2,b\n")
    r = cli("test", out, "--test", other, "--json")
    assert r.rc == 0, r.err
    assert json.loads(r.out)["n"] == 2
    assert_one_error(cli("test", out, "--test", other, "--split", "val"),
                     "no val part in the data given (found: test)")


def _zip_of(path: Path, files: dict) -> Path:
    import zipfile
    with zipfile.ZipFile(path, "w") as z:
        for name, raw in files.items():
            z.writestr(name, raw)
    return path


BAD_CORPORA = {
    "json": (lambda p: p / "bad.jsonl", b'{"Text": "a", "Label": "x"}\n{"Text": oops}\n',
             ["bad.jsonl, line 2", "not valid JSON"]),
    "nolabel-field": (lambda p: p / "nf.jsonl", b'{"Text": "a", "Label": "x"}\n{"Text": "b"}\n',
                      ["nf.jsonl, line 2", "no field 'Label'", "--label-column"]),
    "fasttext": (lambda p: p / "ft.train", b"__label__a one\n\nno label here\n",
                 ["ft.train, line 3", "no label"]),
    "empty-zip": (lambda p: _zip_of(p / "e.zip", {}), None, ["e.zip", "empty archive"]),
    "no-documents": (lambda p: _zip_of(p / "r.zip", {"README": "x"}), None,
                     ["r.zip", "no documents found"]),
    "binary-member": (lambda p: _zip_of(p / "b.zip", {"a/1": "text", "b/2": b"\x00\x01\x02"}),
                      None, ["b.zip:b/2", "not a text document"]),
}


@pytest.mark.parametrize("case", sorted(BAD_CORPORA))
def test_bad_corpora_are_one_error_line_and_exit_1(cli, tmp_path, case):
    make, raw, needles = BAD_CORPORA[case]
    path = make(tmp_path)
    if raw is not None:
        path.write_bytes(raw)
    out = tmp_path / "run"
    r = cli("train", "--data", path, "--out", out, *TINY)
    assert_one_error(r, *needles)
    assert r.rc == 1
    assert not out.exists()


def test_split_flag_errors(cli, tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("text,label,fold\na,x,train\nb,y,holdout\n")
    r = cli("train", "--data", p, "--split-column", "fold", "--out", tmp_path / "r", *TINY)
    assert_one_error(r, "a.csv, row 2", "unknown split 'holdout'")
    assert r.rc == 1
    r = cli("train", "--data", p, "--train", p, "--out", tmp_path / "r", *TINY)
    assert_one_error(r, "either --data or --train")
    assert r.rc == 1
