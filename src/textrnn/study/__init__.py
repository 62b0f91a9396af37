"""The study: what textrnn's figures come from, kept apart from the library.

``compare`` (presets x cells x protocols, with the TF-IDF + SVM baseline),
``baselines``, ``bench`` (speed side by side) and ``report`` (the one-page CVPR
report). Everything here depends on the core package; the core never imports it.
"""
