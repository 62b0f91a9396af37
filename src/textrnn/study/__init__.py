"""The study: what textrnn's figures come from, kept apart from the library.

``compare`` (presets x cells x protocols, with the TF-IDF + SVM baseline),
``baselines``, ``bench`` (speed side by side), ``report`` (the one-page CVPR
report) and ``scaling`` (bytes all-reduced per step, the projection to N
machines). Everything here depends on the core package; the core never imports it.
"""
