"""TF-IDF + linear SVM (textrnn.study.baselines.tfidf_svm) on the recipe study's 20NG
split: trained on the same 85% of the training posts, scored on the same val 15% and
on test, so the recurrent cells' val figures can be read against it.

    python benchmarks/svm_val.py [random] [latest]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from newsgroups import carve_latest, carve_val, load_20ng  # noqa: E402

from textrnn.study.baselines import tfidf_svm  # noqa: E402

if __name__ == "__main__":
    (tr, ytr, names), (te, yte, _) = load_20ng()
    which = sys.argv[1:] or ["random", "latest"]
    for name, carve in (("random", carve_val), ("latest", carve_latest)):
        if name not in which:
            continue
        itr, iva = carve(ytr)
        clf = tfidf_svm().fit([tr[i] for i in itr], ytr[itr])
        val = np.mean(clf.predict([tr[i] for i in iva]) == ytr[iva])
        test = np.mean(clf.predict(te) == yte)
        print(f"tfidf-svm on 85% of train, val = {name} 15%: val {100 * val:.2f}%, "
              f"test {100 * test:.2f}%", flush=True)
