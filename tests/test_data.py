"""Reading documents (CSV, folder per class, .zip), labels, the BBC dataset's home and
download, and the assignment's splits with their duplicate trap."""

from __future__ import annotations

import collections
import hashlib
import http.server
import os
import shutil
import socket
import threading
import zipfile
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from textrnn.data import (BBC_ALIASES, BBC_LABELS, BBC_ZIP_SHA256, load_bbc, load_csv,
                          load_dataset, load_folder, split)
from textrnn.errors import TextrnnError

NAMES = ["Politics", "Sport", "Technology", "Entertainment", "Business"]


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# -- the BBC files ------------------------------------------------------------------
def test_load_csv_bbc(bbc):
    assert len(bbc) == 2225
    assert bbc.label_names == NAMES == BBC_LABELS
    assert bbc.labels.dtype == np.int64
    assert collections.Counter(bbc.labels.tolist()) == {0: 417, 1: 511, 2: 401, 3: 386, 4: 510}
    assert all(t and t == t.strip() for t in bbc.texts)
    assert list(bbc.labels) == sorted(bbc.labels)  # rows are ordered by label


def test_load_folder_zip_matches_csv(bbc, bbc_dir):
    with pytest.warns(UserWarning, match=r"^1 text not valid UTF-8.*sport/199\.txt as cp1252"):
        z = load_folder(bbc_dir / "bbc-fulltext.zip", BBC_LABELS, BBC_ALIASES)
    assert z.label_names == NAMES
    assert z.texts == bbc.texts  # same texts, same order
    np.testing.assert_array_equal(z.labels, bbc.labels)
    # the cp1252 file is decoded to the same text as in the CSV (a pound sign)
    assert any("£" in t for t in z.texts)
    # load_dataset picks the loader by the path; outside load_bbc, the class names are
    # the data's own: the zip's folder names, the CSV's integer ids
    with pytest.warns(UserWarning):
        z = load_dataset(bbc_dir / "bbc-fulltext.zip")
    assert sorted(z.texts) == sorted(bbc.texts)
    assert z.label_names == ["business", "entertainment", "politics", "sport", "tech"]
    c = load_dataset(bbc_dir / "df_file.csv")
    assert c.texts == bbc.texts and c.label_names == ["0", "1", "2", "3", "4"]


# -- folders --------------------------------------------------------------------------
def _make_folder(root: Path, docs: dict[str, dict[str, str]]) -> Path:
    for cls, files in docs.items():
        (root / cls).mkdir(parents=True)
        for name, text in files.items():
            (root / cls / name).write_text(text, encoding="utf-8")
    return root


def test_folder_per_class_directory(tmp_path):
    root = _make_folder(tmp_path / "corpus", {
        "dogs": {"10.txt": "dog ten", "2.txt": "dog two", "1.txt": "  dog one\n"},
        "cats": {"1.txt": "cat one", "notes": "any file name is a document", ".hidden": "no"},
    })
    (root / "README.txt").write_text("not a document: not in a class folder")
    ds = load_folder(root)
    assert ds.label_names == ["cats", "dogs"]
    # class order, then file numbers compared as numbers; text stripped; hidden skipped
    assert ds.texts == ["cat one", "any file name is a document", "dog one", "dog two",
                        "dog ten"]
    assert ds.labels.tolist() == [0, 0, 1, 1, 1]
    assert ds.splits is None
    assert load_dataset(root).texts == ds.texts


def test_folder_zip_made_here(tmp_path):
    src = _make_folder(tmp_path / "corpus", {"Sport": {"1.txt": "goal"},
                                             "tech": {"1.txt": "chip", "2.txt": "web"}})
    zpath = tmp_path / "corpus.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for f in sorted(src.rglob("*.txt")):
            z.write(f, f"top/{f.relative_to(src)}")
        z.writestr("__MACOSX/tech/._1.txt", b"\x00\x05junk")
    ds = load_folder(zpath)
    # the class names are the folders' (BBC's names are for the BBC data only)
    assert ds.label_names == ["Sport", "tech"]
    assert ds.texts == ["goal", "chip", "web"] and ds.labels.tolist() == [0, 1, 1]


def test_folder_errors(tmp_path):
    with pytest.raises(TextrnnError, match="no such file or directory"):
        load_folder(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TextrnnError, match="no files found"):
        load_folder(tmp_path / "empty")
    one = _make_folder(tmp_path / "one", {"a": {"1.txt": "x"}})
    with pytest.raises(TextrnnError, match=r"found one class \(a\), need at least two"):
        load_folder(one)
    blank = _make_folder(tmp_path / "blank", {"a": {"1.txt": "x"}, "b": {"1.txt": " \n"}})
    with pytest.raises(TextrnnError, match=r"b/1\.txt: empty text"):
        load_folder(blank)
    (tmp_path / "bad.zip").write_bytes(b"this is not a zip")
    with pytest.raises(TextrnnError, match="not a readable .zip"):
        load_folder(tmp_path / "bad.zip")


# -- labels and columns -----------------------------------------------------------------
def test_bbc_label_names_only_for_the_bbc(tmp_path):
    p = _csv(tmp_path / "a.csv", "Text,Label\none,politics\ntwo,SPORT\nthree, Tech \n"
                                 "four,technology\nfive,Business\n")
    ds = load_csv(p)  # names from the data, sorted
    assert ds.label_names == ["Business", "SPORT", "Tech", "politics", "technology"]
    assert ds.labels.tolist() == [3, 1, 2, 4, 0]
    # what load_bbc does: the BBC names, any case, and the zip's folder aliases
    ds = load_dataset(p, label_names=BBC_LABELS, label_aliases=BBC_ALIASES)
    assert ds.label_names == NAMES
    assert ds.labels.tolist() == [0, 1, 2, 2, 4]


def test_arbitrary_string_labels_are_sorted(tmp_path):
    p = _csv(tmp_path / "a.csv", "Text,Label\na,spam\nb,ham\nc,spam\nd,eggs\n")
    ds = load_csv(p)
    assert ds.label_names == ["eggs", "ham", "spam"]
    assert ds.labels.tolist() == [2, 1, 2, 0]


def test_int_labels(tmp_path):
    ds = load_csv(_csv(tmp_path / "a.csv", "Text,Label\na,1\nb,0\nc,2\nd,1\n"))
    assert ds.label_names == ["0", "1", "2"] and ds.labels.tolist() == [1, 0, 2, 1]
    ds = load_csv(_csv(tmp_path / "b.csv", "Text,Label\na,4\nb,0\nc,1\nd,2\ne,3\n"))
    # five integer classes stay integers (once they were named after BBC's classes)
    assert ds.label_names == ["0", "1", "2", "3", "4"] and ds.labels.tolist() == [4, 0, 1, 2, 3]
    ds = load_csv(_csv(tmp_path / "d.csv", "Text,Label\na,10\nb,9\nc,-1\n"))
    assert ds.label_names == ["-1", "9", "10"] and ds.labels.tolist() == [2, 1, 0]  # numeric order
    ds = load_csv(_csv(tmp_path / "c.csv", "Text,Label\na,7\nb,3\nc,7\n"))
    assert ds.label_names == ["3", "7"] and ds.labels.tolist() == [1, 0, 1]


def test_labels_against_a_label_set(tmp_path):
    p = _csv(tmp_path / "a.csv", "Text,Label\na,0\nb,sport\nc,Business\n")
    ds = load_csv(p, label_names=NAMES)
    assert ds.labels.tolist() == [0, 1, 4] and ds.label_names == NAMES
    p = _csv(tmp_path / "b.csv", "Text,Label\na,0\nb,5\n")
    with pytest.raises(TextrnnError, match=r"b\.csv, row 2 .*label '5' is not in the label set"):
        load_csv(p, label_names=NAMES)


def test_other_column_names(tmp_path):
    p = _csv(tmp_path / "a.csv", 'id,body,category\n1,"first, with comma",x\n2,second,y\n')
    ds = load_csv(p, text_column="body", label_column="category")
    assert ds.texts == ["first, with comma", "second"] and ds.label_names == ["x", "y"]
    assert load_dataset(p, "body", "category").texts == ds.texts
    with pytest.raises(TextrnnError, match=r"no column 'Text' \(found: id, body, category\); "
                                           r"name it with --text-column"):
        load_csv(p)
    with pytest.raises(TextrnnError, match="no column 'Label'.*--label-column"):
        load_csv(p, text_column="body")


def test_multiline_quoted_text_and_blank_lines(tmp_path):
    p = _csv(tmp_path / "a.csv", 'Text,Label\n"Title\n\nBody, more",a\n\n"x ""q""",b\n')
    ds = load_csv(p)
    assert ds.texts == ["Title\n\nBody, more", 'x "q"']


@pytest.mark.parametrize("content, message", [
    (b"", "file is empty"),
    (b"Text,Label\n", "no data rows after the header"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV file"),
    (b"Text,Label\na,1\n,2\n", r"row 2 \(line 3\), column 'Text': empty text"),
    (b"Text,Label\na,1\nb, \n", r"row 2 \(line 3\), column 'Label': missing label"),
    (b"Text,Label\na,1,2\n", "3 fields, expected 2"),
])
def test_bad_csv(tmp_path, content, message):
    p = tmp_path / "bad.csv"
    p.write_bytes(content)
    with pytest.raises(TextrnnError, match=message):
        load_csv(p)


def test_missing_csv(tmp_path):
    with pytest.raises(TextrnnError, match="no such file"):
        load_csv(tmp_path / "nope.csv")
    with pytest.raises(TextrnnError, match="is a directory"):
        load_csv(tmp_path)


def test_cp1252_csv_is_read_with_a_warning(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes("Text,Label\nprice \u00a35,a\nok,b\n".encode("cp1252"))
    with pytest.warns(UserWarning, match=r"1 text not valid UTF-8.*a\.csv, line 2 as cp1252"):
        ds = load_csv(p)
    assert ds.texts[0] == "price \u00a35"


# -- splits --------------------------------------------------------------------------
def test_split_sizes_and_the_assignments_split(bbc):
    splits, dropped = split(bbc, seed=42)
    assert dropped == 0
    assert {k: len(v) for k, v in splits.items()} == {"train": 1557, "val": 334, "test": 334}
    # the assignment: train_test_split(test_size=0.3, random_state=42) on texts and
    # labels, then the held-out 30% half and half with the same seed
    X_train, X_temp, y_train, y_temp = train_test_split(bbc.texts, bbc.labels, test_size=0.3,
                                                        random_state=42)
    X_val, X_test, y_val, y_test = train_test_split(X_temp, y_temp, test_size=0.5,
                                                    random_state=42)
    for name, X, y in (("train", X_train, y_train), ("val", X_val, y_val),
                       ("test", X_test, y_test)):
        assert [bbc.texts[i] for i in splits[name]] == X
        np.testing.assert_array_equal(bbc.labels[splits[name]], y)
    # a partition of all the documents
    every = np.concatenate(list(splits.values()))
    assert sorted(every.tolist()) == list(range(2225))
    # another seed, another split; the same seed, the same split
    assert not np.array_equal(split(bbc, seed=1)[0]["test"], splits["test"])
    np.testing.assert_array_equal(split(bbc, seed=42)[0]["test"], splits["test"])


def test_stratified_split_keeps_class_proportions(bbc):
    splits, _ = split(bbc, stratify=True)
    assert {k: len(v) for k, v in splits.items()} == {"train": 1557, "val": 334, "test": 334}
    overall = np.bincount(bbc.labels, minlength=5) / len(bbc)
    for idx in splits.values():
        share = np.bincount(bbc.labels[idx], minlength=5) / len(idx)
        assert np.abs(share - overall).max() < 0.01
    plain, _ = split(bbc)
    worst_plain = max(np.abs(np.bincount(bbc.labels[i], minlength=5) / len(i) - overall).max()
                      for i in plain.values())
    assert worst_plain > 0.01  # the unstratified split drifts more


def test_duplicates_trap_and_dedupe(bbc):
    # the trap: 98 exact duplicates; a random split puts copies on both sides
    assert len(bbc.texts) - len(set(bbc.texts)) == 98
    splits, _ = split(bbc)
    train = {bbc.texts[i] for i in splits["train"]}
    leaked = [i for i in splits["test"] if bbc.texts[i] in train]
    assert len(leaked) > 0
    # dedupe drops exactly the 98 later copies, and then no text is in two splits
    splits, dropped = split(bbc, dedupe=True)
    assert dropped == 98
    assert sum(len(v) for v in splits.values()) == 2225 - 98
    sets = {k: {bbc.texts[i] for i in v} for k, v in splits.items()}
    assert sum(len(s) for s in sets.values()) == 2225 - 98
    assert not (sets["train"] & sets["test"] or sets["train"] & sets["val"]
                or sets["val"] & sets["test"])
    # duplicates are exact copies with the same label: the first copy is the one kept
    first = {}
    for i, t in enumerate(bbc.texts):
        first.setdefault(t, i)
        assert bbc.labels[first[t]] == bbc.labels[i]
    assert sorted(np.concatenate(list(splits.values())).tolist()) == sorted(first.values())


def test_split_too_small(tmp_path):
    ds = load_csv(_csv(tmp_path / "a.csv", "Text,Label\na,x\nb,y\nc,x\n"))
    with pytest.raises(TextrnnError, match="cannot split 3 documents"):
        split(ds)


# -- the BBC home and download ------------------------------------------------------------
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def serve(directory: Path):
    """An HTTP server on 127.0.0.1 serving ``directory``, in a thread."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             partial(_Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(bbc_dir, tmp_path):
    d = tmp_path / "www"
    d.mkdir()
    shutil.copy(bbc_dir / "bbc-fulltext.zip", d / "bbc-fulltext.zip")
    (d / "wrong.zip").write_bytes(b"PK\x03\x04 not the BBC zip" * 1000)
    with serve(d) as url:
        yield url


def test_load_bbc_downloads_checks_and_keeps_the_zip(served, tmp_path):
    home = tmp_path / "home"
    with pytest.warns(UserWarning, match=r"sport/199\.txt"):
        ds = load_bbc(home=home, url=f"{served}/bbc-fulltext.zip")
    assert len(ds) == 2225 and ds.label_names == NAMES
    assert [p.name for p in home.iterdir()] == ["bbc-fulltext.zip"]  # no partial files
    assert hashlib.sha256((home / "bbc-fulltext.zip").read_bytes()).hexdigest() == BBC_ZIP_SHA256
    umask = os.umask(0)
    os.umask(umask)
    assert (home / "bbc-fulltext.zip").stat().st_mode & 0o777 == 0o666 & ~umask
    # the next load reads the zip from the home: no server needed
    with pytest.warns(UserWarning):
        again = load_bbc(home=home, url=f"http://127.0.0.1:{_closed_port()}/x.zip")
    assert again.texts == ds.texts


def test_load_bbc_from_environment(served, tmp_path, monkeypatch, bbc):
    home = tmp_path / "cache"
    monkeypatch.setenv("TEXTRNN_DATA", str(home))
    monkeypatch.setenv("TEXTRNN_BBC_URL", f"{served}/bbc-fulltext.zip")
    with pytest.warns(UserWarning, match=r"sport/199\.txt"):
        ds = load_dataset(None)
    assert ds.texts == bbc.texts
    assert (home / "bbc-fulltext.zip").is_file()


def test_load_bbc_prefers_the_csv(bbc_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTRNN_DATA", str(bbc_dir))
    monkeypatch.setenv("TEXTRNN_BBC_URL", f"http://127.0.0.1:{_closed_port()}/x.zip")
    assert len(load_bbc()) == 2225


def test_download_with_wrong_content(served, tmp_path):
    home = tmp_path / "home"
    with pytest.raises(TextrnnError, match="checksum mismatch") as e:
        load_bbc(home=home, url=f"{served}/wrong.zip")
    assert "wrong.zip" in str(e.value) and BBC_ZIP_SHA256 in str(e.value)
    assert not home.exists() or list(home.iterdir()) == []


def test_download_unreachable(tmp_path, monkeypatch):
    home = tmp_path / "home"
    url = f"http://127.0.0.1:{_closed_port()}/bbc-fulltext.zip"
    with pytest.raises(TextrnnError, match="download failed") as e:
        load_bbc(home=home, url=url)
    msg = str(e.value)
    assert url in msg and str(home) in msg and "TEXTRNN_DATA" in msg
    assert "\n" not in msg
    assert not home.exists() or list(home.iterdir()) == []
    # the same through the environment
    monkeypatch.setenv("TEXTRNN_DATA", str(home))
    monkeypatch.setenv("TEXTRNN_BBC_URL", url)
    with pytest.raises(TextrnnError, match="download failed"):
        load_bbc()


def test_download_not_found(served, tmp_path):
    with pytest.raises(TextrnnError, match="download failed.*404"):
        load_bbc(home=tmp_path / "home", url=f"{served}/missing.zip")


def test_download_from_a_server_that_does_not_speak_http(tmp_path):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)

        def answer():
            conn, _ = srv.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        t = threading.Thread(target=answer, daemon=True)
        t.start()
        url = f"http://127.0.0.1:{srv.getsockname()[1]}/bbc.zip"
        with pytest.raises(TextrnnError, match="download failed"):
            load_bbc(home=tmp_path / "home", url=url)
        t.join(5)


def test_download_with_a_malformed_url(tmp_path, monkeypatch):
    monkeypatch.setenv("TEXTRNN_DATA", str(tmp_path / "home"))
    monkeypatch.setenv("TEXTRNN_BBC_URL", "example.invalid/bbc-fulltext.zip")
    with pytest.raises(TextrnnError, match="example.invalid/bbc-fulltext.zip"):
        load_bbc()


def test_data_home_that_is_a_file(bbc_dir, tmp_path, monkeypatch):
    """A common slip: TEXTRNN_DATA naming df_file.csv itself instead of its folder."""
    monkeypatch.setenv("TEXTRNN_DATA", str(bbc_dir / "df_file.csv"))
    monkeypatch.setenv("TEXTRNN_BBC_URL", f"http://127.0.0.1:{_closed_port()}/x.zip")
    with pytest.raises(TextrnnError, match="df_file.csv.*not a directory"):
        load_bbc()


def test_data_home_holding_something_else(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "df_file.csv").write_text("Text,Label\na,x\nb,y\n")
    with pytest.raises(TextrnnError, match="label 'x' is not in the label set.*expected the BBC"):
        load_bbc(home=home)
