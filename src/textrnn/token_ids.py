"""Token ids of a whole corpus: one padded int32 matrix, in memory or memory-mapped.

Layout: the padded ``[N, maxlen]`` int32 matrix of :meth:`Tokenizer.transform`, not a
ragged one (one flat int32 array of real tokens plus int64 offsets, padded per batch).
Why:

* a training batch is then a gather of ``batch_size`` contiguous rows (``x[b]``, 1.6 KB
  a row at maxlen 400) followed by :func:`textrnn.train.trim`, O(batch) work whatever
  the corpus size, and the batches are the very tensors training has always seen, so
  results (and the resume fingerprint of the data) are unchanged to the bit;
* at 100x BBC (290,520 documents, 85 M words) the matrix is 465 MB, less than the
  documents' text that a run holds anyway, and well within the 3 GB target. A ragged
  layout would save the padding slots, 48% of them in these corpora at maxlen 400
  (``benchmarks/scale_tokens.py`` prints the share): about 0.16 GB of training ids at
  100x, not worth a second batching path to keep bit-identical with the first.

Memory-mapping: above :data:`MMAP_BYTES`, :func:`encode` streams the ids into a ``.npy``
file in a private temporary directory (under ``$TMPDIR``) and maps it (numpy's
``mmap_mode='c'``: copy-on-write, so torch gets a writable array and nothing is ever
written back). This does *not* lower the resident-set high-water mark (``ru_maxrss``
counts the mapped pages an epoch touches, and an epoch touches all of them); what it
changes is the kind of memory: clean file-backed pages that the kernel may drop and
read again under memory pressure (a container's memory limit, a machine without swap),
instead of anonymous memory it can only swap (measured at 100x in docs/large-corpora.md:
the same peak but for the validation ids not yet read, the 0.33 GB of training ids
moved from anonymous to file-backed memory). Below that size (100x BBC's training ids
are 325 MB) the file is a cost for nothing, so the ids stay in memory.

The file is written under a temporary name and renamed to ``ids.npy`` (never read half
written), mapped, then unlinked at once: the mapping keeps its pages alive on Linux, so
nothing is left on disk when the process ends, however it ends, after that point; a
failure before it removes the directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

#: id matrices larger than this many bytes are memory-mapped by :func:`encode` (1 GiB:
#: about 2.3 times the training ids of 100x BBC at maxlen 400)
MMAP_BYTES = 1 << 30


def encode(tokenizer, texts: Sequence[str], cfg, progress: bool = False,
           mmap: bool | None = None) -> Tensor:
    """``texts`` as the ``[len(texts), cfg.maxlen]`` int32 id tensor that
    ``tokenizer.ids_for`` gives, the same values whichever storage.

    Args:
        tokenizer: a fitted :class:`textrnn.tokenizer.Tokenizer`.
        texts: the documents.
        cfg: the :class:`textrnn.Config` (maxlen, padding, truncating).
        progress: a progress bar while encoding (on a terminal, after 2 s).
        mmap: memory-map the ids from a temporary file (True), keep them in memory
            (False), or decide by size, above :data:`MMAP_BYTES` (None). If the file
            cannot be written (disk full), the ids are kept in memory, with a warning.

    Outputs: an int32 tensor ``(N, maxlen)``.
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        return torch.from_numpy(tokenizer.ids_for(texts, cfg, progress))
    nbytes = len(texts) * cfg.maxlen * 4
    if mmap is None:
        mmap = nbytes > MMAP_BYTES
    if not mmap or len(texts) == 0:
        return torch.from_numpy(tokenizer.ids_for(texts, cfg, progress))
    try:
        array = mapped_ids(len(texts), cfg.maxlen, lambda out: tokenizer.transform(
            texts, cfg.maxlen, cfg.padding, cfg.truncating, progress, out=out))
    except OSError as e:
        warnings.warn(f"could not memory-map the token ids ({e.strerror or e}); keeping "
                      f"them in memory ({nbytes / 1e6:.0f} MB)", stacklevel=2)
        return torch.from_numpy(tokenizer.ids_for(texts, cfg, progress))
    return torch.from_numpy(array)


def mapped_ids(rows: int, cols: int, fill, where: str | Path | None = None) -> np.ndarray:
    """A ``(rows, cols)`` int32 array backed by a temporary file: ``fill(out)`` writes
    into it (a writable memory map of ``ids.npy.part``), the file is renamed to
    ``ids.npy``, mapped copy-on-write, then unlinked with its directory (a
    ``textrnn-ids-*`` directory made in ``where``, default ``$TMPDIR``). Any error
    removes the directory before it propagates."""
    folder = Path(tempfile.mkdtemp(prefix="textrnn-ids-", dir=where))
    try:
        part, final = folder / "ids.npy.part", folder / "ids.npy"
        out = np.lib.format.open_memmap(part, mode="w+", dtype=np.int32, shape=(rows, cols))
        fill(out)
        out.flush()
        del out
        os.replace(part, final)
        return np.load(final, mmap_mode="c")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def row_lengths(x: Tensor, chunk: int = 8192) -> Tensor:
    """The number of non-padding ids in each row of ``x`` (int64, ``(N,)``), counted
    ``chunk`` rows at a time by numpy's ``count_nonzero``. Not ``(x != 0).sum(1)``:
    torch sums a bool matrix through an int64 copy of it, 8 bytes a slot (650 MB for
    100x BBC's training ids at once), and even chunk by chunk the freed copies kept the
    process's resident set ~0.5 GB higher (measured: glibc keeps them in its heap)."""
    a = x.numpy() if x.device.type == "cpu" else x.cpu().numpy()
    return torch.from_numpy(np.concatenate(
        [np.count_nonzero(a[i:i + chunk], axis=1) for i in range(0, len(a), chunk)]
        or [np.zeros(0, dtype=np.int64)]).astype(np.int64, copy=False))
