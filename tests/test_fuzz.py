"""Property-based fuzzing (hypothesis) of every data reader and of the tokenizer:
whatever the bytes, either one TextrnnError with a one-line message or a correct
result; never another exception, never a hang (each test runs under an alarm)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import signal
import tarfile
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textrnn.data import corpus_splits, load_dataset
from textrnn.errors import TextrnnError
from textrnn.tokenizer import KERAS_FILTERS, Tokenizer

pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile, writing the fuzz
FUZZ = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def no_hang():
    """A test still running after 60 s is a hang: fail it instead of waiting."""
    def hang(*_):
        raise TimeoutError("fuzz test ran past 60 s")
    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def check(ds) -> None:
    """What a successful load promises."""
    n = len(ds.texts)
    assert n >= 1 and len(ds.labels) == n and ds.labels.dtype == np.int64
    assert len(ds.label_names) >= 2
    assert ds.labels.min() >= 0 and ds.labels.max() < len(ds.label_names)
    assert all(isinstance(t, str) and t and t == t.strip() for t in ds.texts)
    if ds.splits is not None:
        every = np.sort(np.concatenate(list(ds.splits.values())))
        np.testing.assert_array_equal(every, np.arange(n))


def load_or_error(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = load_dataset(path, progress=False, **kw)
        except TextrnnError as e:
            msg = str(e)
            assert msg and "\n" not in msg and "Traceback" not in msg
            return None
    check(ds)
    return ds


# -- arbitrary bytes in every format ---------------------------------------------------------
NAMES = ["d.csv", "d.tsv", "d.jsonl", "d.ft", "d.txt", "d.dat"]
lines = st.lists(st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"Text,Label", b"text\tlabel", b"__label__a x", b"__label__b y z",
                     b'{"Text": "a", "Label": 1}', b'{"text": "b", "label": "q"}', b'"',
                     b"a,b", b"\xff\xfe", b"x\t2", b"", b"\x00"])), max_size=12)


@FUZZ
@given(name=st.sampled_from(NAMES), body=lines, split_column=st.sampled_from([None, "Label"]))
def test_any_bytes_in_a_table(tmp_path_factory, name, body, split_column):
    path = tmp_path_factory.mktemp("f") / name
    path.write_bytes(b"\n".join(body))
    load_or_error(path, split_column=split_column)


@FUZZ
@given(raw=st.binary(max_size=300), name=st.sampled_from(["d.csv.gz", "d.zip", "d.tar.gz",
                                                           "d.tgz", "d.tar"]))
def test_any_bytes_as_an_archive(tmp_path_factory, raw, name):
    path = tmp_path_factory.mktemp("a") / name
    path.write_bytes(raw)
    load_or_error(path)


member_names = st.lists(st.text(st.sampled_from("ab/._\\:C-"), min_size=1, max_size=12),
                        max_size=6)


@FUZZ
@given(names=member_names, contents=st.lists(st.binary(max_size=30), max_size=6),
       kind=st.sampled_from(["zip", "tar.gz"]))
def test_any_members_in_an_archive(tmp_path_factory, names, contents, kind):
    """Member names include absolute paths, '..', backslashes and drive letters:
    nothing is written, and the result is a dataset or one error."""
    root = tmp_path_factory.mktemp("m")
    path = root / f"x.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(path, "w") as z:
            for name, raw in zip(names, contents):
                z.writestr(name, raw)
    else:
        with tarfile.open(path, "w:gz") as t:
            for name, raw in zip(names, contents):
                info = tarfile.TarInfo(name)
                info.size = len(raw)
                t.addfile(info, io.BytesIO(raw))
    before = sorted(root.parent.rglob("*"))
    load_or_error(path)
    assert sorted(root.parent.rglob("*")) == before


# -- well-formed data round-trips through every format ----------------------------------------
words = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"),
                              blacklist_characters="\u0085"), min_size=1, max_size=20)
labels = st.sampled_from(["pos", "neg", "neutral", "7", "12"])
rows = st.lists(st.tuples(words.filter(lambda t: t.strip() and "__label__" not in t), labels),
                min_size=1, max_size=15)


def _write_rows(path, fmt, data) -> None:
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["Text", "Label"])
        w.writerows(data)
        path.write_bytes(buf.getvalue().encode())
    elif fmt == "jsonl":
        path.write_bytes("\n".join(json.dumps({"Text": t, "Label": y}) for t, y in data).encode())
    else:
        path.write_bytes("\n".join(f"__label__{y} {t}" for t, y in data).encode())


@FUZZ
@given(data=rows, fmt=st.sampled_from(["csv", "jsonl", "ft"]), compress=st.booleans())
def test_valid_rows_round_trip(tmp_path_factory, data, fmt, compress):
    path = tmp_path_factory.mktemp("r") / f"d.{fmt}"
    _write_rows(path, fmt, data)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(path.with_suffix("").read_bytes()))
    ds = load_or_error(path)
    kept = [(t, y) for t, y in data]
    if ds is None:  # the one legitimate refusal of such rows: a single class
        assert len({y for _, y in kept}) < 2
        return
    want = [" ".join(t.split()) if fmt == "ft" else t.strip() for t, _ in kept]
    assert ds.texts == want
    assert [ds.label_names[i] for i in ds.labels] == [y for _, y in kept]
    names = ds.label_names
    if all(n.isdigit() for n in names):
        assert names == sorted(names, key=int)  # integer labels stay integers, in order


@FUZZ
@given(data=rows)
def test_splits_never_crash(tmp_path_factory, data):
    """Any labelled corpus: a split, or one clear error (too few documents)."""
    path = tmp_path_factory.mktemp("s") / "d.jsonl"
    _write_rows(path, "jsonl", data)
    ds = load_or_error(path)
    if ds is None:
        return
    for stratify in (False, True):
        try:
            parts, _, said = corpus_splits(ds, stratify=stratify)
        except TextrnnError as e:
            assert "\n" not in str(e)
            continue
        every = np.sort(np.concatenate(list(parts.values())))
        np.testing.assert_array_equal(every, np.arange(len(ds)))


# -- the tokenizer ------------------------------------------------------------------------------
def keras_encode(tok: Tokenizer, text: str) -> list[int]:
    """The per-word loop of Keras' texts_to_sequences, as textrnn had it: the reference."""
    oov = tok.word_index.get(tok.oov_token) if tok.oov_token is not None else None
    limit = tok.num_words or len(tok.word_index) + 1
    out = []
    for w in tok.split(text):
        i = tok.word_index.get(w)
        if i is not None and i < limit:
            out.append(i)
        elif oov is not None:
            out.append(oov)
    return out


texts = st.lists(st.text(st.sampled_from("ab c.,!\t\nÄß" + KERAS_FILTERS[:5]), max_size=30),
                 max_size=8)


@FUZZ
@given(fit_texts=texts, other=texts, num_words=st.one_of(st.none(), st.integers(2, 8)),
       oov=st.sampled_from([None, "<oov>"]), maxlen=st.integers(1, 6),
       padding=st.sampled_from(["pre", "post"]), truncating=st.sampled_from(["pre", "post"]))
def test_tokenizer_matches_the_reference(fit_texts, other, num_words, oov, maxlen, padding,
                                         truncating):
    tok = Tokenizer(num_words, oov).fit(fit_texts)
    for t in fit_texts + other:
        assert tok.encode(t) == keras_encode(tok, t)
    ids = tok.transform(other, maxlen, padding, truncating)
    assert ids.dtype == np.int32 and ids.shape == (len(other), maxlen)
    assert ids.min(initial=0) >= 0 and ids.max(initial=0) < tok.vocab_size
    for row, t in zip(ids, other):
        seq = keras_encode(tok, t)
        seq = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        pad = [0] * (maxlen - len(seq))
        assert row.tolist() == (pad + seq if padding == "pre" else seq + pad)
    again = Tokenizer.from_dict(json.loads(json.dumps(tok.to_dict())))
    np.testing.assert_array_equal(again.transform(other, maxlen), tok.transform(other, maxlen))
