"""Token ids in memory or memory-mapped: same values, same batches, same training;
the temporary file written atomically and gone afterwards; tokens/s in the history."""

import hashlib
import tempfile

import numpy as np
import pytest
import torch

from textrnn import token_ids
from textrnn.config import preset
from textrnn.model import RecurrentClassifier
from textrnn.resume import fingerprint
from textrnn.token_ids import encode, mapped_ids, row_lengths
from textrnn.tokenizer import Tokenizer
from textrnn.train import bucketed_batches, fit, trim

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()


def corpus(n: int = 120, seed: int = 0) -> tuple[list[str], torch.Tensor]:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, rng.integers(0, 30))) for _ in range(n)]
    labels = torch.tensor([t.count("alpha") > t.count("beta") for t in texts]).long()
    return texts, labels


@pytest.fixture
def tmpdir_only(tmp_path, monkeypatch):
    """Point tempfile's $TMPDIR at an empty folder of our own."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("padding,truncating", [("pre", "pre"), ("post", "post")])
def test_memory_mapped_ids_equal_the_in_memory_ids(tmpdir_only, padding, truncating):
    texts, _ = corpus()
    cfg = preset("default", "gru", maxlen=16, padding=padding, truncating=truncating)
    tok = Tokenizer(8).fit(texts)
    expected = tok.ids_for(texts, cfg)
    memory, mapped = encode(tok, texts, cfg, mmap=False), encode(tok, texts, cfg, mmap=True)
    assert mapped.dtype == memory.dtype == torch.int32 and mapped.shape == (len(texts), 16)
    np.testing.assert_array_equal(memory.numpy(), expected)
    np.testing.assert_array_equal(mapped.numpy(), expected)
    assert (mapped == 0).any() and (mapped != 0).any()  # padding and words both present
    assert list(tmpdir_only.iterdir()) == []  # the file is gone once mapped


def test_the_file_is_renamed_into_place_whole_and_removed_on_failure(tmp_path):
    seen = {}

    def fill(out):
        seen["during"] = sorted(p.name for p in tmp_path.glob("textrnn-ids-*/*"))
        out[:] = 7

    array = mapped_ids(3, 4, fill, where=tmp_path)
    assert seen["during"] == ["ids.npy.part"]  # never a half-written ids.npy
    assert array.dtype == np.int32 and (array == 7).all()
    array[0, 0] = 1  # copy-on-write: writable for torch, nothing written back
    assert list(tmp_path.iterdir()) == []

    def broken(out):
        raise RuntimeError("interrupted")
    with pytest.raises(RuntimeError, match="interrupted"):
        mapped_ids(3, 4, broken, where=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_large_matrices_are_mapped_and_a_full_disk_falls_back_to_memory(monkeypatch):
    texts, _ = corpus(20)
    cfg = preset("default", "gru", maxlen=8)
    tok = Tokenizer(8).fit(texts)
    calls = []
    real = token_ids.mapped_ids
    monkeypatch.setattr(token_ids, "mapped_ids", lambda *a, **k: calls.append(1) or real(*a, **k))
    encode(tok, texts, cfg)
    assert calls == []  # 20 x 8 x 4 bytes: far below MMAP_BYTES
    monkeypatch.setattr(token_ids, "MMAP_BYTES", 20 * 8 * 4 - 1)
    encode(tok, texts, cfg)
    assert calls == [1]

    def full(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(token_ids, "mapped_ids", full)
    with pytest.warns(UserWarning, match=r"No space left on device\); keeping them in memory"):
        ids = encode(tok, texts, cfg)
    np.testing.assert_array_equal(ids.numpy(), tok.ids_for(texts, cfg))


def test_row_lengths_by_chunks_equal_the_direct_count():
    x = torch.randint(0, 3, (1000, 9), dtype=torch.int32)
    assert torch.equal(row_lengths(x, chunk=64), (x != 0).sum(1))
    assert torch.equal(row_lengths(x[:0]), torch.zeros(0, dtype=torch.long))


def test_fingerprint_is_the_hash_of_the_bytes_as_before():
    """Checkpoints made before the copy-free hashing still resume."""
    x, y = torch.randint(0, 9, (7, 5), dtype=torch.int32), torch.arange(7)
    h = hashlib.sha256()
    for t in (x, y):
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.contiguous().numpy().tobytes())
    assert fingerprint(x, None, y) == h.hexdigest()
    assert fingerprint(x[:, 1:]) == fingerprint(x[:, 1:].contiguous())


def _train(x: torch.Tensor, y: torch.Tensor, verbose: bool = False,
           **kw) -> tuple[dict, list[dict], list]:
    cfg = preset("default", "gru", epochs=2, embedding_dim=8, hidden_size=8, batch_size=16,
                 maxlen=x.shape[1], seed=3, **kw)
    torch.manual_seed(3)
    model = RecurrentClassifier(8, 2, cfg)
    seen = []
    history = fit(model, cfg, (x, y), None, verbose=verbose,
                  on_batch=lambda s: seen.append((s.epoch, s.batch, s.tokens)))
    return model.state_dict(), history, seen


def test_training_on_mapped_ids_gives_the_same_batches_and_weights(tmpdir_only):
    texts, y = corpus()
    cfg = preset("default", "gru", maxlen=24)
    tok = Tokenizer(8).fit(texts)
    memory, mapped = encode(tok, texts, cfg, mmap=False), encode(tok, texts, cfg, mmap=True)
    order = bucketed_batches(row_lengths(mapped), 16, torch.Generator().manual_seed(0))
    assert all(torch.equal(trim(memory[b]), trim(mapped[b])) for b in order)
    w1, h1, _ = _train(memory, y)
    w2, h2, _ = _train(mapped, y)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    timed = ("seconds", "tokens_per_second")
    assert [{k: v for k, v in r.items() if k not in timed} for r in h1] == \
           [{k: v for k, v in r.items() if k not in timed} for r in h2]


def test_history_and_progress_bar_have_tokens_per_second(capsys):
    texts, y = corpus()
    tok = Tokenizer(8).fit(texts)
    x = encode(tok, texts, preset("default", "gru", maxlen=24), mmap=False)
    _, history, seen = _train(x, y, verbose=True)
    out, err = capsys.readouterr()
    assert "tok/s=" in err and "tokens_per_second" in out  # the bar, the epoch's line
    total = int((x != 0).sum())
    ends = [t for (e, b, t) in seen if b == -(-len(x) // 16)]
    assert ends == [total, total]  # every real token of the epoch counted, once
    for row in history:
        assert row["tokens_per_second"] > 0
        assert row["tokens_per_second"] == pytest.approx(total / row["seconds"])


def test_a_checkpoint_keeps_the_epochs_token_count(tmp_path):
    """Resumed mid-epoch, tokens/s still counts the batches done before the interruption."""
    from textrnn.resume import Checkpoints, TrainState
    cfg = preset("default", "gru", embedding_dim=4, hidden_size=4)
    model = RecurrentClassifier(8, 2, cfg)
    opt = torch.optim.Adam(model.parameters())
    gen = torch.Generator().manual_seed(0)
    state = TrainState()
    state.start_epoch([torch.arange(3), torch.arange(3, 5)])
    state.add_batch(3, 0.5, 2, tokens=41)
    Checkpoints(tmp_path, save_every=1).bind(cfg, "data", model, opt, None, gen).save(state)
    again = TrainState()
    Checkpoints(tmp_path, resume=True).bind(cfg, "data", model, opt, None, gen).restore(again)
    assert (again.batch, again.seen, again.tokens) == (1, 3, 41)
