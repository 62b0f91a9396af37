"""Which articles do the models get wrong, and would averaging seeds help?

    python benchmarks/errors.py runs/compare/split/gru-default-seed* runs/compare/split/rnn-default-seed*

Run directories of one data split (a ``textrnn compare`` protocol, or ``textrnn train``
runs with different seeds) are grouped by model. For each group it prints every run's
val and test accuracy, the accuracy of averaging the runs' probabilities (a seed
ensemble: measured here, not part of any preset), and the TF-IDF + linear SVM baseline
refit on the same split. Then each test article that any of them gets wrong, with its
label, what each model predicts, and its title, and the errors counted by true class:
the accuracy issue's error analysis.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict

import numpy as np

from textrnn.api import TextClassifier
from textrnn.study.baselines import tfidf_svm
from textrnn.errors import TextrnnError
from textrnn.runs import stored_data_spec


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="run directories trained on the same split")
    args = ap.parse_args(argv)
    specs = {stored_data_spec(d) for d in args.runs}
    if len(specs) != 1:
        raise TextrnnError("the run directories were trained on different data or splits")
    ds, splits, _ = specs.pop().load()
    groups: dict[str, list[TextClassifier]] = defaultdict(list)
    for d in args.runs:
        clf = TextClassifier.load(d)
        groups[f"{clf.config_.model}/{clf.config_.preset}"].append(clf)

    parts = {k: ds.subset(splits[k]) for k in ("train", "val", "test")}
    acc = lambda p, y: 100 * float(np.mean(p == y))  # noqa: E731
    test_pred: dict[str, np.ndarray] = {}
    print("| model | runs | val (each) | test (each) | val, averaged | test, averaged |")
    print("|---|---:|---|---|---:|---:|")
    for name, clfs in groups.items():
        row = {}
        for k in ("val", "test"):
            probs = [c.predict_proba(parts[k].texts) for c in clfs]
            each = " ".join(f"{acc(p.argmax(1), parts[k].labels):.2f}" for p in probs)
            ens = np.mean(probs, 0).argmax(1)
            row[k] = (each, acc(ens, parts[k].labels))
            if k == "test":
                test_pred[name] = ens
        print(f"| {name} | {len(clfs)} | {row['val'][0]} | {row['test'][0]} | "
              f"{row['val'][1]:.2f}% | {row['test'][1]:.2f}% |")
    svm = tfidf_svm().fit(parts["train"].texts, parts["train"].labels)
    svm_acc = {k: acc(svm.predict(parts[k].texts), parts[k].labels) for k in ("val", "test")}
    test_pred["tfidf-svm"] = svm.predict(parts["test"].texts)
    print(f"| tfidf-svm | 1 | {svm_acc['val']:.2f} | {svm_acc['test']:.2f} | | |")

    names, y = ds.label_names, parts["test"].labels
    wrong = sorted({i for p in test_pred.values() for i in np.flatnonzero(p != y)},
                   key=lambda i: -sum(p[i] != y[i] for p in test_pred.values()))
    print(f"\ntest articles wrong under any of {', '.join(test_pred)} "
          f"(averaged predictions); '.' = right")
    print("| article | label | " + " | ".join(test_pred) + " | title |")
    print("|---:|---|" + "---|" * len(test_pred) + "---|")
    for i in wrong:
        cells = [names[p[i]] if p[i] != y[i] else "." for p in test_pred.values()]
        title = parts["test"].texts[i].strip().split("\n")[0][:60]
        print(f"| {splits['test'][i]} | {names[y[i]]} | " + " | ".join(cells) + f" | {title} |")

    print("\ntest errors by true class (averaged predictions)")
    print("| class | test articles | " + " | ".join(test_pred) + " |")
    print("|---|---:|" + "---:|" * len(test_pred))
    for k, name in enumerate(names):
        rows = y == k
        errs = [int(np.sum(p[rows] != k)) for p in test_pred.values()]
        print(f"| {name} | {int(rows.sum())} | " + " | ".join(map(str, errs)) + " |")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TextrnnError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
