"""The default recipe on corpora unlike the two it was chosen on, judged as issue 13 says
an outside corpus will be: ``TextClassifier(model=cell).fit(train_texts, train_labels)``
with no validation data (fit holds out 10% of train for selection), then test accuracy,
beside TF-IDF + linear SVM on the same parts.

    python benchmarks/other_corpora.py                      # about 20 minutes on 2 cores
    python benchmarks/other_corpora.py --table              # the table of the stored runs

The corpora are made from the data in ../shared, reshaped to be unlike what the recipe
was chosen on (BBC's 1,557 articles and 20NG's 11,314 posts, hundreds of words each):

* ``bbc-titles``: each BBC article's first line, its title (5 words on average); the
  assignment's split, its train and val parts given to fit, its test part scored.
* ``20ng-subjects``: each 20NG post's Subject line, "Re:" removed (5 words on average);
  bydate's own train / test.
* ``20ng-small``: 60 training posts of each group, whole (1,200 posts, drawn with seed 0);
  bydate's test. A small corpus of long documents. ``20ng-N-per-group`` draws N instead
  (a learning curve: how many posts a group the cells need to catch the SVM).

Nothing here chooses anything: these test figures judge a recipe already chosen on val
(results/recipe.md). Each finished run is one line of ``--out`` (JSON; by default
results/other_corpora.jsonl, the runs results/recipe.md reports); runs already there are
not trained again.
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

from textrnn import TextClassifier
from textrnn.api import held_out_size
from textrnn.config import preset
from textrnn.errors import TextrnnError
from textrnn.runs import DataSpec
from textrnn.study.baselines import tfidf_svm
from textrnn.train import planned_members

sys.path.insert(0, str(Path(__file__).resolve().parent))
from newsgroups import load_20ng  # noqa: E402  (a sibling script, not a package)

CORPORA = ("bbc-titles", "20ng-subjects", "20ng-small")
_20ng = functools.cache(load_20ng)  # read the archive once per process
OUT = Path(__file__).resolve().parents[1] / "results" / "other_corpora.jsonl"  # kept in git


def subject(post: str) -> str:
    """A post's Subject header, its "Re:" markers removed ('' when it has none)."""
    m = re.search(r"^Subject:(.*)$", post, re.M)
    return re.sub(r"\bre:", " ", m.group(1), flags=re.I).strip() if m else ""


def check_corpus(name: str) -> None:
    """Exit with one line unless ``name`` is a corpus this script makes."""
    if name not in CORPORA and not re.fullmatch(r"20ng-[1-9]\d*-per-group", name):
        raise SystemExit(f"--corpora: unknown {name!r} (known: {', '.join(CORPORA)}, "
                         f"20ng-N-per-group)")


def setting(text: str) -> tuple[str, object]:
    """``NAME=VALUE`` -> (name, value): the value read as JSON, else kept as a string."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise SystemExit(f"--set: expected NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except json.JSONDecodeError:
        return name, value


def load(name: str, limit: int = 0):
    """``(train_texts, train_labels, test_texts, test_labels)`` of one corpus; ``limit``
    keeps about N of each part, evenly spaced (for a smoke run)."""
    check_corpus(name)
    if name == "bbc-titles":
        ds, sp, _ = DataSpec().load(progress=False)
        title = [t.split("\n", 1)[0] for t in ds.texts]
        train = [*sp["train"], *sp["val"]]
        parts = ([title[i] for i in train], [ds.labels[i] for i in train],
                 [title[i] for i in sp["test"]], [ds.labels[i] for i in sp["test"]])
    else:
        (tr_x, tr_y, names), (te_x, te_y, _) = _20ng()
        if name == "20ng-subjects":
            tr_x, te_x = [subject(t) for t in tr_x], [subject(t) for t in te_x]
        else:
            rng = np.random.default_rng(0)
            n = 60 if name == "20ng-small" else int(name.split("-")[1])
            keep = np.sort(np.concatenate([rng.choice(np.flatnonzero(tr_y == c),
                                                      min(n, int((tr_y == c).sum())),
                                                      replace=False)
                                           for c in range(len(names))]))
            tr_x, tr_y = [tr_x[i] for i in keep], tr_y[keep]
        parts = (tr_x, [names[i] for i in tr_y], te_x, [names[i] for i in te_y])
    if not limit:
        return parts
    return tuple(list(p)[::max(1, len(p) // limit)][:limit] for p in parts)


def run_one(corpus: str, model: str, seed: int, settings: dict, limit: int) -> dict:
    """Fit one model on one corpus and score it on test."""
    xtr, ytr, xte, yte = load(corpus, limit)
    t0 = time.perf_counter()
    if model == "tfidf-svm":
        clf, val = tfidf_svm(seed).fit(xtr, ytr), None
        acc = float(np.mean(clf.predict(xte) == np.asarray(yte)))
    else:
        clf = TextClassifier(model=model, seed=seed, **settings).fit(xtr, ytr)
        val = float(np.mean([h["val_acc"] for h in clf.history_ if h.get("best")]))  # kept epochs
        acc = clf.score(xte, yte)
    return {"corpus": corpus, "model": model, "seed": seed, "settings": settings,
            **({"limit": limit} if limit else {}),
            "train_docs": len(xtr), "mean_words": round(float(np.mean([len(t.split())
                                                                        for t in xtr])), 1),
            **({} if model == "tfidf-svm" else {"members": clf.members_}),
            "val": val, "test": acc, "seconds": round(time.perf_counter() - t0, 1)}


def trained_members(r: dict) -> int | None:
    """The members a stored run trained (runs from before fill_budget: the cell's
    default number); None for the SVM."""
    if r["model"] == "tfidf-svm":
        return None
    return r.get("members", preset("default", r["model"], **r["settings"]).members)


def members_now(model: str, settings: dict, train_docs: int) -> int | None:
    """The members today's recipe trains for ``train_docs`` texts given to ``fit``
    (``fill_budget`` counts the part left after fit's held-out val); None for the SVM."""
    if model == "tfidf-svm":
        return None
    cfg = preset("default", model, **settings)
    return planned_members(cfg, train_docs - held_out_size(train_docs, cfg.val_fraction))


def table(rows: list[dict]) -> str:
    """Mean ± std (ddof 0) of test accuracy per corpus and model, in %."""
    out = ["| corpus | train docs | words per doc | model | seeds | test accuracy | vs SVM |",
           "|---|---:|---:|---|---|---:|---:|"]
    for corpus in dict.fromkeys(r["corpus"] for r in rows):
        mine = [r for r in rows if r["corpus"] == corpus]
        svm = [r["test"] for r in mine if r["model"] == "tfidf-svm"]
        for model in dict.fromkeys(r["model"] for r in mine):
            runs = sorted((r for r in mine if r["model"] == model), key=lambda r: r["seed"])
            acc = 100 * np.array([r["test"] for r in runs])
            gap = (f"{round(acc.mean() - 100 * np.mean(svm), 2) + 0.0:+.2f}"  # no "-0.00"
                   if svm and model != "tfidf-svm" else "")
            spread = f" ± {acc.std():.2f}" if len(acc) > 1 else ""
            out.append(f"| {corpus} | {runs[0]['train_docs']:,} | {runs[0]['mean_words']} | "
                       f"{model} | {','.join(str(r['seed']) for r in runs)} | "
                       f"{acc.mean():.2f}%{spread} | {gap} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpora", nargs="+", default=list(CORPORA))
    p.add_argument("--models", nargs="+", default=["tfidf-svm", "gru", "rnn"])
    p.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    p.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                   help="settings for the cells (JSON values), e.g. epochs=1")
    p.add_argument("--limit", type=int, default=0, help="about N documents of each part")
    p.add_argument("--out", type=Path, default=OUT, help="the runs, one JSON line each")
    p.add_argument("--table", action="store_true", help="print the stored runs' table only")
    args = p.parse_args(argv)
    settings = dict(setting(s) for s in args.set)
    for name in args.corpora:
        check_corpus(name)  # before any run
    # a stored run is this call's when its corpus, model, seed, settings and --limit are
    # (a smoke run never stands in for a full one); it stands for today's recipe when it
    # also trained the members today's recipe would (runs from before fill_budget: the
    # cell's number); the table shows the others apart, as an earlier recipe's
    mine = lambda r, corpus, model, seed: (  # noqa: E731
        (r["corpus"], r["model"], r["seed"], r["settings"], r.get("limit", 0))
        == (corpus, model, seed, settings, args.limit))
    same = lambda r, corpus, model, seed: (  # noqa: E731
        mine(r, corpus, model, seed) and trained_members(r) == members_now(
            model, settings, r["train_docs"]))
    done = ([json.loads(line) for line in args.out.read_text().splitlines() if line.strip()]
            if args.out.exists() else [])
    if not args.table:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:
            for corpus in args.corpora:
                for model in args.models:
                    if any(same(r, corpus, model, seed) for r in done):
                        continue
                    try:
                        row = run_one(corpus, model, seed, settings, args.limit)
                    except TextrnnError as e:  # a bad setting: one line, no traceback
                        raise SystemExit(f"error: {e}") from None
                    print(json.dumps(row), flush=True)
                    with args.out.open("a") as f:  # one line per finished run
                        f.write(json.dumps(row) + "\n")
                    done.append(row)
    shown = [r for r in done if any(mine(r, c, m, s) for c in args.corpora
                                    for m in args.models for s in args.seeds)]
    for r in shown:
        if not same(r, r["corpus"], r["model"], r["seed"]):
            r["model"] = f"{r['model']}, {trained_members(r)} members (an earlier recipe)"
    print(table(shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
