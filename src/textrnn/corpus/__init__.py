"""Reading labelled documents as corpora are distributed: the file formats
(:mod:`.readers`), archives and folders read in place (:mod:`.archives`), the
corpus's own train / val / test layout (:mod:`.layout`), text decoding
(:mod:`.decoding`) and the splits made from them (:mod:`.splits`).

:func:`textrnn.data.load_dataset` puts these together; see ``docs/corpora.md``.
"""
