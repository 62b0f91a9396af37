"""Word vectors pre-trained on the training texts only, as the embedding's starting point.

1,557 articles are few for learning 10,000 embeddings from the labels alone; word2vec
learns them from co-occurrence in the same texts first (no outside corpus, no test
text), then training fine-tunes them. Optional: needs gensim (``textrnn[word2vec]``).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .errors import TextrnnError
from .tokenizer import Tokenizer


def _stable_hash(s: str) -> int:
    """gensim seeds each word's vector with ``hash(word + seed)``; Python's str hash
    changes per process, so a fixed one keeps 'same seed, same results'."""
    return zlib.crc32(s.encode())


def word2vec_init(embedding: nn.Embedding | Sequence[nn.Embedding], texts: Sequence[str],
                  tokenizer: Tokenizer, seed: int, scale: float, epochs: int = 10) -> float:
    """Train skip-gram word2vec on ``texts`` and copy each kept word's vector into its
    embedding row, rescaled to the standard deviation of the configured uniform init
    (so the learning rate still fits). ``embedding`` may be several tables of one shape
    (an ensemble's members): the vectors are trained once and copied into each. Returns
    the fraction of rows replaced."""
    try:
        from gensim.models import Word2Vec
    except ImportError:
        raise TextrnnError("pretrain 'word2vec' needs gensim: pip install 'textrnn[word2vec]'") from None
    tables = [embedding] if isinstance(embedding, nn.Embedding) else list(embedding)
    dim, rows = tables[0].embedding_dim, tables[0].num_embeddings
    w2v = Word2Vec([tokenizer.split(t) for t in texts], vector_size=dim, window=5, min_count=1,
                   sg=1, epochs=epochs, seed=seed, workers=1, hashfxn=_stable_hash)
    ids, vecs = [], []
    for word, i in tokenizer.word_index.items():
        if i < rows and word in w2v.wv:
            ids.append(i)
            vecs.append(w2v.wv[word])
    if not ids:
        return 0.0
    v = torch.from_numpy(np.stack(vecs)).float()
    target = scale / 3 ** 0.5 if scale else 1.0   # std of U(-a, a), or N(0, 1) when 0
    v = (v - v.mean()) * (target / v.std().clamp(min=1e-8))
    with torch.no_grad():
        for table in tables:
            table.weight[torch.tensor(ids)] = v
    return len(ids) / max(rows - 1, 1)
