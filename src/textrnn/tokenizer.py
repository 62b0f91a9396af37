"""Word tokenizer with the exact behaviour of ``keras.preprocessing.text.Tokenizer``.

The assignment's figures depend on Keras' choices (its punctuation filter, ties in
word frequency broken by first occurrence, ``num_words - 1`` words kept, index 0
reserved for padding), so we reproduce them rather than approximate them with
another library's rules. The work is a ``str.translate`` and a ``Counter``; the
Keras specifics are pinned by hand-computed tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


class Tokenizer:
    """Fit a vocabulary on texts, then map texts to padded id arrays.

    Ids: 0 is padding; the out-of-vocabulary token, when given, is 1; words follow
    by decreasing frequency. Only ids ``< num_words`` are emitted (so ``num_words - 1``
    words, or ``num_words - 2`` plus the OOV id), as in Keras.
    """

    def __init__(self, num_words: int | None = None, oov_token: str | None = None,
                 lower: bool = True, filters: str = KERAS_FILTERS,
                 min_count: int = 1) -> None:
        self.num_words, self.oov_token = num_words, oov_token
        self.lower, self.filters, self.min_count = lower, filters, min_count
        self._table = str.maketrans({c: " " for c in filters})
        self.word_index: dict[str, int] = {}

    # -- words ---------------------------------------------------------------------
    def split(self, text: str) -> list[str]:
        """Keras' ``text_to_word_sequence``: lower, punctuation to spaces, split."""
        if self.lower:
            text = text.lower()
        return text.translate(self._table).split()

    def fit(self, texts: Iterable[str]) -> "Tokenizer":
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(self.split(text))
        # sorted() is stable and Counter keeps first-seen order: ties go as in Keras.
        words = [w for w, c in sorted(counts.items(), key=lambda wc: wc[1], reverse=True)
                 if c >= self.min_count]
        if self.oov_token is not None:
            words = [self.oov_token] + [w for w in words if w != self.oov_token]
        self.word_index = {w: i + 1 for i, w in enumerate(words)}
        return self

    @property
    def vocab_size(self) -> int:
        """Size of the embedding table needed: the largest id emitted, plus one."""
        n = len(self.word_index) + 1
        return min(n, self.num_words) if self.num_words else n

    def encode(self, text: str) -> list[int]:
        """Keras' ``texts_to_sequences`` for one text (no padding)."""
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        limit = self.num_words or len(self.word_index) + 1
        ids = []
        for w in self.split(text):
            i = self.word_index.get(w)
            if i is not None and i < limit:
                ids.append(i)
            elif oov is not None:
                ids.append(oov)
        return ids

    def transform(self, texts: Iterable[str], maxlen: int, padding: str = "pre",
                  truncating: str = "pre") -> np.ndarray:
        """Encode and pad to ``(n, maxlen)`` int64, like Keras' ``pad_sequences``."""
        return pad_sequences([self.encode(t) for t in texts], maxlen, padding, truncating)

    # -- persistence (JSON, never pickle) -------------------------------------------
    def to_dict(self) -> dict:
        limit = self.num_words or len(self.word_index) + 1
        return {"num_words": self.num_words, "oov_token": self.oov_token,
                "lower": self.lower, "filters": self.filters, "min_count": self.min_count,
                "word_index": {w: i for w, i in self.word_index.items() if i < limit}}

    @classmethod
    def from_dict(cls, d: dict) -> "Tokenizer":
        """The inverse of :meth:`to_dict`; a dict from elsewhere is checked, so that a
        loaded tokenizer can only emit ids its model has (ValueError if not)."""
        types = {"num_words": (int, type(None)), "oov_token": (str, type(None)),
                 "lower": (bool,), "filters": (str,), "min_count": (int,), "word_index": (dict,)}
        for k, t in types.items():
            if not isinstance(d[k], t) or (isinstance(d[k], bool) and bool not in t):
                raise ValueError(f"vocabulary: {k!r} has the wrong type ({type(d[k]).__name__})")
        ids = d["word_index"].values()
        if sorted(i if isinstance(i, int) and not isinstance(i, bool) else 0 for i in ids) \
                != list(range(1, len(ids) + 1)):
            raise ValueError("vocabulary: 'word_index' ids are not 1..N, each once")
        if d["num_words"] is not None and d["num_words"] < 1:
            raise ValueError("vocabulary: 'num_words' must be >= 1")
        tok = cls(d["num_words"], d["oov_token"], d["lower"], d["filters"], d["min_count"])
        tok.word_index = dict(d["word_index"])
        return tok


def pad_sequences(seqs: Sequence[Sequence[int]], maxlen: int, padding: str = "pre",
                  truncating: str = "pre", value: int = 0) -> np.ndarray:
    """Keras' ``pad_sequences``: 'pre' truncation keeps the *last* ``maxlen`` ids."""
    if padding not in ("pre", "post") or truncating not in ("pre", "post"):
        raise ValueError("padding and truncating must be 'pre' or 'post'")
    out = np.full((len(seqs), maxlen), value, dtype=np.int64)
    for i, s in enumerate(seqs):
        s = list(s[-maxlen:] if truncating == "pre" else s[:maxlen])
        if not s:
            continue
        if padding == "post":
            out[i, : len(s)] = s
        else:
            out[i, maxlen - len(s):] = s
    return out
