"""Corpora as distributed: each format, each split layout, archives read in place
and not trusted, encodings, labels, and 20 Newsgroups from ../shared end to end."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from textrnn.corpus import archives
from textrnn.data import corpus_splits, load_dataset, split
from textrnn.errors import TextrnnError
from textrnn.runs import DataSpec
from textrnn.tokenizer import Tokenizer

NG20 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "20ng" / "20news-bydate.tar.gz"


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def _tar(path: Path, files: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as t:
        for name, raw in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            t.addfile(info, io.BytesIO(raw))
    return path


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, raw in files.items():
            z.writestr(name, raw)
    return path


def _quiet_load(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none expected
        return load_dataset(*args, **kwargs)


# -- formats ---------------------------------------------------------------------------
def test_tsv_with_lower_case_columns(tmp_path):
    p = _write(tmp_path / "a.tsv", 'label\ttext\npos\tgood, "very" good\nneg\tbad\n')
    ds = _quiet_load(p)  # --text-column Text matches 'text' when no column is 'Text'
    assert ds.texts == ['good, "very" good', "bad"]
    assert ds.label_names == ["neg", "pos"] and ds.labels.tolist() == [1, 0]
    assert ds.splits is None


def test_delimiter_sniffed_when_the_extension_says_nothing(tmp_path):
    p = _write(tmp_path / "corpus.data", "Text;Label\nfirst one;a\nsecond;b\n")
    ds = _quiet_load(p)
    assert ds.texts == ["first one", "second"] and ds.label_names == ["a", "b"]


def test_jsonl_fields_and_integer_labels(tmp_path):
    rows = [{"body": "one", "y": 10}, {"body": "two", "y": 2}, {"body": "three", "y": 10}]
    p = _write(tmp_path / "a.jsonl", "\n".join(map(json.dumps, rows)) + "\n\n")
    ds = _quiet_load(p, text_column="body", label_column="y")
    assert ds.texts == ["one", "two", "three"]
    assert ds.label_names == ["2", "10"] and ds.labels.tolist() == [1, 0, 1]  # numeric order


@pytest.mark.parametrize("content, message", [
    ('{"Text": "a", "Label": "x"}\n{"Text": "b", "Label": \n', r"a\.jsonl, line 2: not valid JSON"),
    ('{"Text": "a", "Label": "x"}\n{"Text": "b"}\n', r"line 2: no field 'Label' \(found: Text\);"
                                                     r" name it with --label-column"),
    ('{"Text": "a", "Label": ["x", "y"]}\n', r"line 1: field 'Label' is not a string or an int"),
    ('{"Text": 3, "Label": "x"}\n', r"line 1: field 'Text' is not a string"),
    ('[{"Text": "a", "Label": "x"}]\n', "line 1: expected a JSON object.*list"),
    ('{"Text": "  ", "Label": "x"}\n', "line 1, field 'Text': empty text"),
    ("\n\n", "file is empty"),
])
def test_bad_jsonl(tmp_path, content, message):
    with pytest.raises(TextrnnError, match=message):
        load_dataset(_write(tmp_path / "a.jsonl", content))


def test_fasttext_keeps_the_first_label_and_says_so_once(tmp_path):
    p = _write(tmp_path / "cooking.txt", "__label__baking how to bake bread\n"
               "__label__sauce __label__baking why does my sauce split?\n\n"
               "__label__sauce __label__pasta __label__baking al dente\n")
    with pytest.warns(UserWarning, match=r"2 lines have several labels \(first: line 2\).*"
                                         r"kept the first") as w:
        ds = load_dataset(p)
    assert len(w) == 1
    assert ds.texts == ["how to bake bread", "why does my sauce split?", "al dente"]
    assert ds.label_names == ["baking", "sauce"] and ds.labels.tolist() == [0, 1, 1]


@pytest.mark.parametrize("content, message", [
    ("__label__a text\njust words, no label\n", r"line 2: no label"),
    ("__label__a text\n__label__b\n", r"line 2: no text after the label"),
    ("__label__ text\n", r"line 1: empty label"),
])
def test_bad_fasttext(tmp_path, content, message):
    with pytest.raises(TextrnnError, match=message):
        load_dataset(_write(tmp_path / "a.ft", content))


def test_gzip_compressed_table(tmp_path):
    p = tmp_path / "train.csv.gz"
    p.write_bytes(gzip.compress(b"Text,Label\nalpha,x\nbeta,y\n"))
    ds = _quiet_load(p)
    assert ds.texts == ["alpha", "beta"] and ds.splits is None


def test_folder_per_class_with_files_without_extension(tmp_path):
    for cls, name, text in (("sci.space", "51060", "orbit"), ("sci.space", "9", "moon"),
                            ("rec.autos", "101", "engine")):
        _write(tmp_path / "c" / cls / name, text)
    ds = _quiet_load(tmp_path / "c")
    assert ds.label_names == ["rec.autos", "sci.space"]
    assert ds.texts == ["engine", "moon", "orbit"]  # class, then number order


# -- split layouts -------------------------------------------------------------------------
def _ng_like(n_train: int = 6, n_test: int = 4) -> dict[str, bytes]:
    files = {}
    for split_name, n in (("train", n_train), ("test", n_test)):
        for cls in ("comp.graphics", "rec.sport.hockey"):
            for i in range(n):
                files[f"news-bydate-{split_name}/{cls}/{1000 + i}"] = \
                    f"{cls} {split_name} post {i}".encode()
    files["news-bydate-train/README"] = b"loose in a split folder: not a document"
    return files


@pytest.mark.parametrize("kind", ["tar.gz", "tgz", "tar", "tar.bz2", "tar.xz", "zip", "dir"])
def test_split_folders_found_without_flags(tmp_path, kind):
    files = _ng_like()
    if kind == "dir":
        for name, raw in files.items():
            _write(tmp_path / "corpus" / name, raw)
        path = tmp_path / "corpus"
    elif kind == "zip":
        path = _zip(tmp_path / "corpus.zip", {f"wrap/{k}": v for k, v in files.items()})
    else:
        mode = {"tar": "w", "tar.bz2": "w:bz2", "tar.xz": "w:xz"}.get(kind, "w:gz")
        path = _tar(tmp_path / f"corpus.{kind}", files, mode)
    ds = _quiet_load(path)
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 12, "test": 8}
    assert all(ds.texts[i].split()[1] == k for k, v in ds.splits.items() for i in v)
    assert "split folders" in ds.layout and "news-bydate-train/ (train)" in ds.layout
    parts, dropped, said = corpus_splits(ds, val_size=0.25)
    assert {k: len(v) for k, v in parts.items()} == {"train": 9, "val": 3, "test": 8}
    assert np.array_equal(np.sort(parts["test"]), ds.splits["test"])  # test untouched
    assert set(parts["train"]) | set(parts["val"]) == set(ds.splits["train"].tolist())
    assert "12 train / 8 test" in said and "val: 25% of train (3 documents)" in said


def test_val_folder_named_dev(tmp_path):
    files = {f"{s}/{c}/{i}.txt": f"{c} {s} {i}".encode()
             for s in ("train", "dev", "test") for c in ("a", "b") for i in range(3)}
    ds = _quiet_load(_zip(tmp_path / "c.zip", files))
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 6, "val": 6, "test": 6}
    parts, _, said = corpus_splits(ds)
    assert {k: len(v) for k, v in parts.items()} == {"train": 6, "val": 6, "test": 6}
    assert "carve" not in said and "% of train" not in said


def test_split_files_in_an_archive(tmp_path):
    files = {"d/train.csv": b"text,label\na,x\nb,y\nc,x\nd,y\n",
             "d/dev.csv": b"text,label\ne,x\nf,y\n", "d/test.csv": b"text,label\ng,y\n",
             "d/README.md": b"# about"}
    ds = _quiet_load(_tar(tmp_path / "c.tar.gz", files))
    assert {k: sorted(ds.texts[i] for i in v) for k, v in ds.splits.items()} == \
        {"train": ["a", "b", "c", "d"], "val": ["e", "f"], "test": ["g"]}
    assert "train.csv (train)" in ds.layout


def test_fasttext_split_files_by_name(tmp_path):
    files = {"cooking.train": b"__label__a x y\n__label__b z\n__label__a w\n__label__b v\n",
             "cooking.valid": b"__label__a q\n__label__b r\n"}
    ds = _quiet_load(_zip(tmp_path / "cooking.zip", files))
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 4, "val": 2}


def test_table_files_without_split_names_are_an_error(tmp_path):
    files = {"a.csv": b"text,label\na,x\n", "b.csv": b"text,label\nb,y\n"}
    with pytest.raises(TextrnnError, match=r"a\.csv: several table files.*--train, --val"):
        load_dataset(_zip(tmp_path / "c.zip", files))


def test_split_column(tmp_path):
    p = _write(tmp_path / "a.csv", "text,label,part\na,x,train\nb,y,TRAIN\nc,x,validation\n"
                                   "d,y,dev\ne,x,test\nf,y,train\n")
    ds = _quiet_load(p, split_column="part")
    assert {k: v.tolist() for k, v in ds.splits.items()} == \
        {"train": [0, 1, 5], "val": [2, 3], "test": [4]}
    bad = _write(tmp_path / "b.csv", "text,label,part\na,x,train\nb,y,holdout\n")
    with pytest.raises(TextrnnError, match=r"b\.csv, row 2 \(line 3\), column 'part': unknown "
                                           r"split 'holdout' \(expected train, val"):
        load_dataset(bad, split_column="part")
    with pytest.raises(TextrnnError, match=r"no column 'fold'.*--split-column"):
        load_dataset(p, split_column="fold")


def test_split_column_where_there_are_no_columns(tmp_path):
    ft = _write(tmp_path / "a.ft", "__label__a x\n__label__b y\n")
    with pytest.raises(TextrnnError, match=r"a\.ft: a fastText file has no columns"):
        load_dataset(ft, split_column="split")
    _write(tmp_path / "c" / "a" / "1", "x")
    _write(tmp_path / "c" / "b" / "1", "y")
    with pytest.raises(TextrnnError, match=r"--split-column names a column of a table"):
        load_dataset(tmp_path / "c", split_column="split")


def test_split_field_in_jsonl(tmp_path):
    rows = [{"text": "a", "label": 1, "split": "train"}, {"text": "b", "label": 0, "split": "test"}]
    p = _write(tmp_path / "a.jsonl", "\n".join(map(json.dumps, rows)))
    ds = _quiet_load(p, split_column="split")
    assert {k: v.tolist() for k, v in ds.splits.items()} == {"train": [0], "test": [1]}


def test_parts_given_apart_in_any_mix_of_formats(tmp_path):
    train = _write(tmp_path / "tr.csv", "".join(["text,label\n"] + [f"t{i},{'xy'[i % 2]}\n"
                                                                    for i in range(20)]))
    test = _write(tmp_path / "te.ft", "__label__y last one\n__label__x another\n")
    ds = _quiet_load(train=train, test=test)
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 20, "test": 2}
    parts, _, said = corpus_splits(ds, val_size=0.2)
    assert {k: len(v) for k, v in parts.items()} == {"train": 16, "val": 4, "test": 2}
    assert "stratified by class" in said
    assert Counter(ds.labels[parts["val"]].tolist()) == {0: 2, 1: 2}
    with pytest.raises(TextrnnError, match="either --data or --train"):
        load_dataset(train, train=train)
    with pytest.raises(TextrnnError, match="need --train"):
        load_dataset(test=test)


def test_carving_val_unstratified_when_a_class_is_too_small(tmp_path):
    rows = "".join(f"t{i},big\n" for i in range(10)) + "lonely,tiny\n"
    train = _write(tmp_path / "tr.csv", "text,label\n" + rows)
    test = _write(tmp_path / "te.csv", "text,label\nq,big\nr,tiny\n")
    ds = _quiet_load(train=train, test=test)
    parts, _, said = corpus_splits(ds, val_size=0.3)
    assert "not stratified (class 'tiny' has 1 training document)" in said
    assert sum(len(v) for v in parts.values()) == 13


def test_missing_test_part_is_carved_and_said(tmp_path):
    train = _write(tmp_path / "tr.csv", "text,label\n" + "".join(
        f"t{i},{'ab'[i % 2]}\n" for i in range(20)))
    val = _write(tmp_path / "va.csv", "text,label\nv,a\nw,b\n")
    parts, _, said = corpus_splits(_quiet_load(train=train, val=val))  # val_size 0.1
    assert {k: len(v) for k, v in parts.items()} == {"train": 18, "val": 2, "test": 2}
    assert "test: 10% of train (2 documents)" in said


def test_bbc_keeps_the_assignments_split(bbc):
    parts, dropped, said = corpus_splits(bbc)
    legacy, _ = split(bbc)
    for k in legacy:
        np.testing.assert_array_equal(parts[k], legacy[k])
    assert "70/15/15" in said and dropped == 0


def test_stratified_split_with_a_one_document_class(tmp_path):
    p = _write(tmp_path / "a.csv", "text,label\n" + "".join(f"t{i},a\n" for i in range(9))
               + "solo,b\n")
    with pytest.raises(TextrnnError, match=r"class 'b' has 1 document.*drop --stratify"):
        split(load_dataset(p), stratify=True)


def test_one_class_is_an_error(tmp_path):
    with pytest.raises(TextrnnError, match=r"a\.jsonl: found one class \(x\), need at least two"):
        load_dataset(_write(tmp_path / "a.jsonl", '{"text": "a", "label": "x"}\n'))


def test_dataspec_stores_the_new_fields_and_redoes_the_split(tmp_path):
    p = _write(tmp_path / "a.csv", "text,label,part\n" + "".join(
        f"t{i},{'ab'[i % 2]},{'train' if i < 16 else 'test'}\n" for i in range(20)))
    spec = DataSpec(path=str(p), split_column="part", val_size=0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds, parts, _ = spec.load(progress=False)
        again = spec.load(progress=False)[1]
    assert {k: len(v) for k, v in parts.items()} == {"train": 12, "val": 4, "test": 4}
    for k in parts:
        np.testing.assert_array_equal(parts[k], again[k])
    assert any("split column 'part'" in n for n in ds.notes)


# -- encodings -------------------------------------------------------------------------------
def test_fallback_per_document_counted_once(tmp_path):
    _write(tmp_path / "c" / "a" / "1", "caf\u00e9 utf8".encode())
    _write(tmp_path / "c" / "a" / "2", "\u201csmart\u201d".encode("cp1252"))
    _write(tmp_path / "c" / "b" / "1", b"\x81 not cp1252 \xe9")  # 0x81: undefined in cp1252
    _write(tmp_path / "c" / "b" / "2", b"\xef\xbb\xbfwith a BOM")
    with pytest.warns(UserWarning, match=r"^2 texts not valid UTF-8.*first: .*a/2 as cp1252") as w:
        ds = load_dataset(tmp_path / "c")
    assert len(w) == 1
    assert ds.texts == ["caf\u00e9 utf8", "\u201csmart\u201d", "\x81 not cp1252 \u00e9", "with a BOM"]


def test_binary_document_is_an_error(tmp_path):
    _write(tmp_path / "c" / "a" / "1", "text")
    _write(tmp_path / "c" / "b" / "img.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    with pytest.raises(TextrnnError, match=r"b/img\.png: not a text document \(binary"):
        load_dataset(tmp_path / "c")


# -- archives are read, not trusted -----------------------------------------------------------
def test_unsafe_members_are_ignored_with_one_warning(tmp_path, monkeypatch):
    files = {"c/a/1.txt": b"alpha", "c/b/1.txt": b"beta", "../../escape/b/2.txt": b"evil",
             "/etc/b/3.txt": b"evil too"}
    work = tmp_path / "deep" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    for path in (_zip(tmp_path / "x.zip", files), _tar(tmp_path / "x.tar.gz", files)):
        before = sorted(p for p in tmp_path.rglob("*"))
        with pytest.warns(UserWarning, match=r"ignored 2 archive members.*first: .*escape.*"
                                             r"climbs out") as w:
            ds = load_dataset(path)
        assert len(w) == 1
        assert ds.texts == ["alpha", "beta"]
        assert sorted(p for p in tmp_path.rglob("*")) == before  # nothing written anywhere


def test_links_in_a_tar_are_ignored(tmp_path):
    path = tmp_path / "l.tar"
    with tarfile.open(path, "w") as t:
        for name, raw in (("a/1", b"one"), ("b/1", b"two")):
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            t.addfile(info, io.BytesIO(raw))
        link = tarfile.TarInfo("b/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(link)
    with pytest.warns(UserWarning, match=r"ignored 1 archive member.*b/passwd \(a link"):
        ds = load_dataset(path)
    assert ds.texts == ["one", "two"]


@pytest.mark.parametrize("kind", ["zip", "tar.gz", "gz"])
def test_zip_bomb_stops_at_the_limit(tmp_path, monkeypatch, kind):
    monkeypatch.setattr(archives, "MAX_MEMBER_BYTES", 1 << 20)
    bomb = b"Text,Label\n" + b"0" * (8 << 20)  # 8 MiB of zeros: a few KiB compressed
    if kind == "zip":
        path = _zip(tmp_path / "b.zip", {"bomb.csv": bomb, "other.csv": b"x"})
    elif kind == "tar.gz":
        path = _tar(tmp_path / "b.tar.gz", {"bomb.csv": bomb})
    else:
        path = tmp_path / "bomb.csv.gz"
        path.write_bytes(gzip.compress(bomb))
    assert path.stat().st_size < 100_000
    with pytest.raises(TextrnnError, match=r"bomb\.csv.*(inflates past|declares).*1 MiB"):
        load_dataset(path)


@pytest.mark.parametrize("kind", ["zip", "gz", "doc"])
def test_zip_bomb_memory_stays_bounded_by_the_limit(tmp_path, monkeypatch, kind):
    """64 MiB of zeros behind a 1 MiB limit: the load stops having held about the
    limit (a buffer and a chunk or two), never the 64 MiB."""
    import tracemalloc
    monkeypatch.setattr(archives, "MAX_MEMBER_BYTES", 1 << 20)
    monkeypatch.setattr(archives, "MAX_DOCUMENT_BYTES", 1 << 20)
    zeros = bytes(64 << 20)
    if kind == "gz":
        path = tmp_path / "bomb.csv.gz"
        path.write_bytes(gzip.compress(b"Text,Label\n" + zeros, compresslevel=1))
    else:
        name = "bomb.csv" if kind == "zip" else "a/bomb"
        path = _zip(tmp_path / "bomb.zip", {name: zeros, "b/1": b"x"})
    del zeros
    tracemalloc.start()
    try:
        with pytest.raises(TextrnnError, match="bomb"):
            load_dataset(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"peak {peak / (1 << 20):.1f} MiB"


def test_zip_bomb_in_a_document_and_in_total(tmp_path, monkeypatch):
    monkeypatch.setattr(archives, "MAX_DOCUMENT_BYTES", 1000)
    path = _zip(tmp_path / "d.zip", {"a/1": b"short", "b/1": b"z" * 5000})
    with pytest.raises(TextrnnError, match=r"d\.zip:b/1: larger than 1,000 bytes"):
        load_dataset(path)
    monkeypatch.setattr(archives, "MAX_DOCUMENT_BYTES", 1 << 20)
    monkeypatch.setattr(archives, "MAX_TOTAL_BYTES", 12_000)
    path = _tar(tmp_path / "t.tar.gz", {f"{c}/{i}": b"y" * 3000 for c in "ab" for i in range(3)})
    with pytest.raises(TextrnnError, match=r"t\.tar\.gz:b/\d: the archive inflates past "
                                           r"12,000 bytes in total"):
        load_dataset(path)


@pytest.mark.parametrize("make, message", [
    (lambda p: _zip(p / "e.zip", {}), "no files found (empty archive)"),
    (lambda p: _tar(p / "e.tar.gz", {}), "no files found (empty archive)"),
    (lambda p: _zip(p / "r.zip", {"README": b"hi", "LICENSE": b"x"}), "no documents found"),
    (lambda p: _write(p / "t.tar.gz", b"\x1f\x8b\x08\x00" + b"garbage" * 10), "not a readable"),
    (lambda p: _write(p / "x.zip", b"plain text, not a zip"), "not a readable .zip"),
    (lambda p: _write(p / "cut.tar.gz", _tar(p / "whole.tar.gz", _ng_like()).read_bytes()[:300]),
     "cut.tar.gz"),
])
def test_broken_or_empty_archives(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(TextrnnError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        load_dataset(path)
    assert "\n" not in str(e.value)


# -- 20 Newsgroups, as distributed ------------------------------------------------------------
def _count_not_utf8(path: Path) -> int:
    n = 0
    with tarfile.open(path, "r|gz") as t:
        for m in t:
            if m.isfile():
                try:
                    t.extractfile(m).read().decode("utf-8")
                except UnicodeDecodeError:
                    n += 1
    return n


def test_20_newsgroups_archive_end_to_end():
    if not NG20.exists():
        pytest.fail(f"20 Newsgroups not found at {NG20} (../shared beside the checkout)")
    with pytest.warns(UserWarning, match=r"texts not valid UTF-8") as w:
        ds, parts, _ = DataSpec(path=str(NG20)).load(progress=False)
    assert len(ds) == 18846 and len(ds.label_names) == 20
    assert {k: len(v) for k, v in ds.splits.items()} == {"train": 11314, "test": 7532}
    assert "rec.sport.hockey" in ds.label_names and "talk.politics.mideast" in ds.label_names
    # the non-UTF-8 posts: decoded, counted, and reported once, with an example
    msgs = [str(x.message) for x in w if "UTF-8" in str(x.message)]
    assert len(msgs) == 1
    assert msgs[0].startswith(f"{_count_not_utf8(NG20)} texts not valid UTF-8")
    assert "20news-bydate-" in msgs[0]
    # test is the corpus's own; val is carved from train, stratified
    np.testing.assert_array_equal(parts["test"], ds.splits["test"])
    assert len(parts["train"]) + len(parts["val"]) == 11314
    note = ds.notes[-1]
    assert "11,314 train / 7,532 test" in note and "stratified by class" in note
    # tokenizing stays in compact int32 arrays
    sample = [ds.texts[i] for i in parts["train"][:800]]
    ids = Tokenizer(num_words=5000).fit(sample).transform(sample, 200)
    assert ids.dtype == np.int32 and ids.shape == (800, 200) and ids.max() < 5000

