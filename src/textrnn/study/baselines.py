"""Classical baseline on the very same splits: TF-IDF + linear SVM (scikit-learn).

The bar the recurrent models have to clear: on BBC news a bag of words is already
very strong, because topic words ("minister", "striker", "shares") decide the class.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from ..checkpoint import CONFIG, METRICS, atomic_dir, write_json
from ..metrics import classification_metrics
from ..plots import plot_confusion

MODEL = "tfidf-svm"               # the model name its run directories carry
SETTINGS = {"ngram_range": [1, 2], "min_df": 2, "sublinear_tf": True, "C": 1.0}


def tfidf_svm(seed: int = 42):
    return make_pipeline(
        TfidfVectorizer(ngram_range=tuple(SETTINGS["ngram_range"]), min_df=SETTINGS["min_df"],
                        sublinear_tf=SETTINGS["sublinear_tf"]),
        LinearSVC(C=SETTINGS["C"], random_state=seed))


def baseline_run(data, out: str | Path | None = None, seed: int = 42, log=print,
                 splits=None) -> dict:
    """Fit on train, report val and test, in the same metrics.json layout as a neural run.
    ``splits`` (index arrays) may be given to reuse a split made elsewhere (folds)."""
    if splits is None:
        ds, splits, dropped = data.load()
    else:
        ds, _, dropped = data.load()
    part = {k: ds.subset(v) for k, v in splits.items()}
    t0 = time.perf_counter()
    clf = tfidf_svm(seed).fit(part["train"].texts, part["train"].labels)
    seconds = time.perf_counter() - t0
    names = ds.label_names
    metrics = {
        "model": MODEL, "preset": "baseline", "train_seconds": seconds,
        "data": {**asdict(data), "dropped_duplicates": dropped,
                 "sizes": {k: len(v) for k, v in splits.items()}},
        "val": classification_metrics(part["val"].labels, clf.predict(part["val"].texts), names),
        "test": classification_metrics(part["test"].labels, clf.predict(part["test"].texts), names),
        "history": [],
    }
    log(f"{MODEL}: test accuracy {100 * metrics['test']['accuracy']:.2f}%")
    if out is not None:
        with atomic_dir(out) as tmp:
            write_json(tmp / CONFIG, {"config": {"model": MODEL, "preset": "baseline",
                                                 "seed": seed, **SETTINGS},
                                      "classes": names})
            write_json(tmp / METRICS, metrics)
            plot_confusion(metrics["test"]["confusion_matrix"], names, tmp / "confusion.png",
                           "TF-IDF + linear SVM: test")
    return metrics
