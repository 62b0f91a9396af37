"""A one-page report in the CVPR layout, generated from run directories.

``write_report(run_dirs, "report.pdf")`` reads each run's ``metrics.json`` (and
``config.json`` when there is one), writes ``report.tex`` and its figure beside the
PDF, and compiles them with ``pdflatex``. Every number on the page, in the tables
and in the prose, is computed from those files: nothing is typed by hand.

The built-in layout reproduces the CVPR page (two columns, 10-point Times, US
letter, a 6.875 x 8.875 in text block one inch from the top, 3.25 in columns
0.3125 in apart, the CVPR title block and headings). Given the official author kit
(a folder with ``cvpr.sty``), the report loads ``\\usepackage[final]{cvpr}`` instead.
If the text does not fit on one page, the tables and the figure are made smaller
until it does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from ..checkpoint import CONFIG, METRICS, read_json, write_atomic
from ..config import MODELS, Config
from ..errors import TextrnnError

DEFAULT_TITLE = "Vanilla RNN versus GRU for News Topic Classification"
CELL_NAMES = {"rnn": "Vanilla RNN", "gru": "GRU"}
BASELINE_NAMES = {"tfidf-svm": "TF-IDF + SVM", "tfidf-logreg": "TF-IDF + log.\\ reg.",
                  "tfidf-nb": "TF-IDF + NB"}
PRESET_ORDER = ("seed", "default")
POOLING_WORDS = {"last": "the final state $h_T$", "mean": "the mean of $h_t$ over the words",
                 "max": "the element-wise maximum of $h_t$ over the words",
                 "meanmax": "the mean and the maximum of $h_t$ over the words, concatenated"}
PDFLATEX_TIMEOUT = 120
OVERFULL_PT = 2.0           # wider lines than this make the next, smaller layout be tried


# -- reading the runs --------------------------------------------------------------
@dataclass
class Run:
    path: Path
    metrics: dict
    config: dict = field(default_factory=dict)   # Config fields (empty for a baseline)
    classes: list = field(default_factory=list)
    raw_config: dict = field(default_factory=dict)  # config.json's "config", as written

    @property
    def model(self) -> str:
        return str(self.metrics.get("model", "?"))

    @property
    def preset(self) -> str:
        return str(self.metrics.get("preset") or "")

    @property
    def recurrent(self) -> bool:
        return self.model in MODELS

    @property
    def acc(self) -> float:
        return float(self.metrics["test"]["accuracy"])

    @property
    def f1(self) -> float:
        return float(self.metrics["test"]["macro_f1"])

    @property
    def name(self) -> str:
        """'GRU' or 'TF-IDF + SVM' (LaTeX)."""
        if self.recurrent:
            return CELL_NAMES[self.model]
        return BASELINE_NAMES.get(self.model, tex(self.model))

    @property
    def prose(self) -> str:
        """The name inside a sentence: 'vanilla RNN'."""
        return "vanilla RNN" if self.model == "rnn" else self.name

    @property
    def labels(self) -> list[str]:
        return [str(x) for x in self.metrics["test"].get("labels") or self.classes]

    @property
    def matrix(self) -> list[list[int]] | None:
        """The test confusion matrix, if there is a well-formed one matching the labels."""
        cm, n = self.metrics["test"].get("confusion_matrix"), len(self.labels)
        ok = (isinstance(cm, list) and len(cm) == n > 1 and all(
            isinstance(row, list) and len(row) == n and
            all(isinstance(v, int) and v >= 0 for v in row) for row in cm))
        return cm if ok else None


def load_runs(run_dirs) -> list[Run]:
    if not run_dirs:
        raise TextrnnError("no run directory given")
    runs = []
    for d in run_dirs:
        path = Path(d)
        if not path.exists():
            raise TextrnnError(f"{path}: no such run directory")
        if not path.is_dir():
            raise TextrnnError(f"{path}: not a run directory (expected a folder)")
        metrics = read_json(path / METRICS)
        test = metrics.get("test")
        if not isinstance(test, dict) or not all(
                isinstance(test.get(k), (int, float)) for k in ("accuracy", "macro_f1")):
            raise TextrnnError(f"{path / METRICS}: no test accuracy and macro_f1 "
                               "(not a finished run?)")
        run = Run(path, metrics)
        if (path / CONFIG).is_file():
            meta = read_json(path / CONFIG)
            cfg = meta.get("config", {})
            run.raw_config = cfg if isinstance(cfg, dict) else {}
            run.config = {**Config().to_dict(), **run.raw_config} if run.recurrent else {}
            run.classes = list(meta.get("classes") or [])
        elif run.recurrent:
            raise TextrnnError(f"{path}: incomplete run directory (missing {CONFIG})")
        runs.append(run)

    def order(r: Run):
        p = PRESET_ORDER.index(r.preset) if r.preset in PRESET_ORDER else len(PRESET_ORDER)
        return (not r.recurrent, p, r.preset, MODELS.index(r.model) if r.recurrent else 0, r.model)
    return sorted(runs, key=order)


# -- text helpers ------------------------------------------------------------------
_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                "^": r"\textasciicircum{}", "<": r"\textless{}", ">": r"\textgreater{}",
                "|": r"\textbar{}"}


def tex(text) -> str:
    """Text from a file, safe inside LaTeX: specials escaped, non-ASCII transliterated."""
    out = []
    for ch in str(text):
        if ch in _TEX_SPECIAL:
            out.append(_TEX_SPECIAL[ch])
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        elif ch in "\t\n\r":
            out.append(" ")
        else:
            ascii_ = unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode()
            out.append("".join(_TEX_SPECIAL.get(c, c) for c in ascii_) or "?")
    return "".join(out)


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def points(a: float, b: float) -> str:
    return f"{100 * abs(a - b):.2f}"


def seconds(s) -> str:
    if s is None:
        return "--"
    return f"{s:.1f}" if s < 10 else f"{s:,.0f}"


def count(n) -> str:
    if n is None:
        return "--"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e3 else str(n)


def _join(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + ", and " + items[-1]


# -- the pieces of the page --------------------------------------------------------
class Report:
    """All numbers and sentences of the page, computed once from the runs."""

    def __init__(self, runs: list[Run], title: str, author: str | None) -> None:
        self.runs = runs
        self.rec = [r for r in runs if r.recurrent]
        self.base = [r for r in runs if not r.recurrent]
        self.title, self.author = title, author
        self.best = max(self.rec or runs, key=lambda r: (r.acc, r.f1))
        keys = [(r.model, r.preset) for r in runs]
        self.clash = {k for k in keys if keys.count(k) > 1}
        self.presets = list(dict.fromkeys(r.preset for r in self.rec))

    def label(self, r: Run) -> str:
        """The run's preset, with its folder name when two runs share model and preset."""
        p = tex(r.preset) if r.preset else "--"
        return f"{p} ({tex(r.path.name)})" if (r.model, r.preset) in self.clash else p

    def first(self, model: str, preset: str) -> Run | None:
        return next((r for r in self.rec if r.model == model and r.preset == preset), None)

    # -- data -----------------------------------------------------------------------
    def data(self) -> dict:
        return (self.best.metrics.get("data") or {})

    def bbc(self) -> bool:
        return self.data().get("path") is None

    def classes(self) -> list[str]:
        return self.best.labels

    def intro(self) -> str:
        d, b = self.data(), self.best
        sizes = d.get("sizes") or {}
        n = sum(sizes.values()) + int(d.get("dropped_duplicates") or 0) if sizes else None
        classes = self.classes()
        if self.bbc():
            what = f"the {n:,} articles of the BBC News corpus~\\cite{{greene06}}"
        elif n:
            what = f"the {n:,} documents of \\texttt{{{tex(Path(str(d.get('path'))).name)}}}"
        else:
            what = "a labelled corpus"
        best = "best recurrent run" if self.base and b.recurrent else "best run"
        parts = [
            f"We classify {what} into {len(classes)} topic{'s' * (len(classes) != 1)} "
            f"({_join([tex(c) for c in classes])}) with the vanilla "
            "RNN~\\cite{elman90} and the gated recurrent unit (GRU)~\\cite{cho14}, written "
            "from their equations. All numbers come from the "
            f"{len(self.runs)} run{'s' * (len(self.runs) != 1)} given. The {best}, the "
            f"{b.prose} with the {tex(b.preset or 'given')} "
            f"{'preset' if b.recurrent else 'settings'}, reaches {pct(b.acc)}\\% test accuracy "
            f"and {pct(b.f1)}\\% macro-F1.",
        ]
        return " ".join(parts)

    def setup_data(self) -> str:
        d = self.data()
        sizes = d.get("sizes") or {}
        s = []
        if sizes:
            how = "stratified" if d.get("stratify") else "random"
            s.append(f"A {how} 70/15/15 split (seed {int(d.get('split_seed', 42))}) gives "
                     f"{sizes.get('train', 0):,} training, {sizes.get('val', 0):,} validation "
                     f"(model selection: lowest loss) and {sizes.get('test', 0):,} test "
                     "documents")
            dropped = int(d.get("dropped_duplicates") or 0)
            s[-1] += (f", after dropping {dropped} exact duplicate texts." if dropped else ".")
        keys = {json.dumps({k: (r.metrics.get("data") or {}).get(k) for k in
                            ("path", "split_seed", "stratify", "dedupe", "sizes")},
                           sort_keys=True) for r in self.runs}
        if len(keys) > 1:
            s.append("\\textbf{Caution:} the runs given were not trained on the same data "
                     "and split, so their comparison is not like for like.")
        return " ".join(s)

    def setup_prep(self) -> str:
        if not self.rec:
            return ""
        fits = {r.config.get("tokenizer_fit") for r in self.rec}
        s = ["Texts are tokenised as by Keras (lower-cased, punctuation removed), and each "
             "document is cut or padded to a fixed length (Tab.~\\ref{tab:hparams})."]
        if "all" in fits:
            who = _join([tex(p) for p in self.presets
                         if any(r.config.get("tokenizer_fit") == "all" for r in self.rec
                                if r.preset == p)])
            s.append(f"The {who} preset reproduces the assignment's notebook, vocabulary "
                     "leak from the test texts included.")
        pools = {r.config.get("pooling") for r in self.rec}
        if len(pools) == 1:
            s.append(f"The classifier reads {POOLING_WORDS.get(pools.pop(), 'the pooled states')}.")
        return " ".join(s)

    def setup_baselines(self) -> str:
        s = []
        for r in self.base:
            items = [f"{tex(k).replace(chr(92) + '_', ' ')} "
                     f"{tex(json.dumps(v) if isinstance(v, (list, dict)) else v)}"
                     for k, v in r.raw_config.items() if k not in ("model", "preset", "seed")]
            s.append(f"The {r.name} baseline is trained on the same training split"
                     + (f" ({', '.join(items)})." if items else "."))
        return " ".join(s)

    def classifier(self) -> str:
        return ("The classifier embeds the word ids, runs the recurrent layer, pools its states "
                "over time and applies dropout and a linear softmax layer; it is trained with "
                "cross-entropy and Adam~\\cite{kingma15}.")

    # -- tables ----------------------------------------------------------------------
    def results_rows(self) -> list[list[str]]:
        rows = []
        best_acc = max(r.acc for r in self.runs)
        best_f1 = max(r.f1 for r in self.runs)
        for r in self.runs:
            acc = pct(r.acc) if r.acc < best_acc else f"\\textbf{{{pct(r.acc)}}}"
            f1 = pct(r.f1) if r.f1 < best_f1 else f"\\textbf{{{pct(r.f1)}}}"
            hist = r.metrics.get("history")
            rows.append([r.name, self.label(r), count(r.metrics.get("parameters")),
                         str(len(hist)) if hist else "--", acc, f1,
                         seconds(r.metrics.get("train_seconds"))])
        return rows

    def hparam_rows(self) -> list[tuple[str, list[str]]]:
        """(setting, one value per preset); values that differ by cell name the cell."""
        def value(preset: str, fn) -> str:
            runs = [r for r in self.rec if r.preset == preset]
            vals = {r.model: fn(r.config) for r in runs}
            if len(set(vals.values())) == 1:
                return next(iter(vals.values()))
            return ", ".join(f"{v} ({CELL_NAMES[m].split()[-1]})" for m, v in vals.items())

        def vocab(c):
            return f"{c['num_words'] - 1:,}" + (" + OOV" if c.get("oov") else "")

        def epochs(c):
            return (f"$\\le${c['epochs']}, patience {c['patience']}" if c.get("patience")
                    else str(c["epochs"]))
        settings = [
            ("Vocabulary", lambda c: vocab(c) + (" (all texts)" if c["tokenizer_fit"] == "all"
                                                 else " (train)")),
            ("Tokens kept", lambda c: f"{'first' if c['truncating'] == 'post' else 'last'} "
             f"{c['maxlen']}, " + ("padding masked" if c["mask"] else
                                   f"{c['padding']}-padded")),
            ("Emb. / hidden / pool", lambda c: f"{c['embedding_dim']} / {c['hidden_size']} / "
             + {"last": "last", "meanmax": "mean+max"}.get(c["pooling"], c["pooling"])),
            ("Layers", lambda c: f"{c['num_layers']}" + (" (bidir.)" if c["bidirectional"]
                                                        else "")),
            ("Dropout / clipping", lambda c: (f"{c['dropout']:g}" if c["dropout"] else "none")
             + " / " + (f"{c['clip']:g}" if c.get("clip") else "none")),
            ("Adam lr / batch", lambda c: f"{c['lr']:g} / {c['batch_size']}"
             + (f", wd {c['weight_decay']:g}" if c.get("weight_decay") else "")),
            ("Epochs", epochs),
        ]
        # the values are numbers and fixed words (Config validates its enums): no escaping
        return [(name, [value(p, fn) for p in self.presets]) for name, fn in settings]

    def hparam_table(self) -> tuple[list[tuple[str, list[str]]], list[str]]:
        """Rows that differ between presets, and 'setting value' of those that don't."""
        rows = self.hparam_rows()
        if len(self.presets) < 2:
            return rows, []
        differ = [(n, v) for n, v in rows if len(set(v)) > 1]
        if not differ:
            return rows, []
        same = [f"{n.lower()} {v[0]}" for n, v in rows if len(set(v)) == 1]
        return differ, same

    # -- discussion --------------------------------------------------------------------
    def discussion(self) -> str:
        s = []
        cmp = [(p, self.first("rnn", p), self.first("gru", p)) for p in self.presets]
        cmp = [(p, rnn, gru) for p, rnn, gru in cmp if rnn and gru]
        for k, (p, rnn, gru) in enumerate(cmp):
            if gru.acc == rnn.acc:
                s.append(f"With the {tex(p)} preset the two cells tie at {pct(gru.acc)}\\% "
                         "test accuracy.")
            else:
                win, lose = (gru, rnn) if gru.acc > rnn.acc else (rnn, gru)
                s.append(f"With the {tex(p)} preset the {win.prose} beats the {lose.prose} by "
                         f"{points(win.acc, lose.acc)} points of accuracy "
                         f"({pct(win.acc)} vs.\\ {pct(lose.acc)}\\%"
                         + (", Tab.~\\ref{tab:results})." if k == 0 else ")."))
        ratios = []
        for p, rnn, gru in cmp:
            tr, tg = rnn.metrics.get("train_seconds"), gru.metrics.get("train_seconds")
            er, eg = len(rnn.metrics.get("history") or []), len(gru.metrics.get("history") or [])
            if tr and tg and er and eg:
                ratios.append(f"{tg / eg / (tr / er):.1f}$\\times$ ({tex(p)})")
        if ratios:
            s.append(f"A GRU epoch costs {_join(ratios)} the time of an RNN epoch.")
        if not cmp and len({r.model for r in self.rec}) == 2:
            s.append("The two cells were not run with the same preset, so they are not "
                     "compared directly.")
        if "seed" in self.presets:
            for other in [p for p in self.presets if p != "seed"]:
                gains = []
                for m in MODELS:
                    a, b = self.first(m, "seed"), self.first(m, other)
                    if a and b:
                        verb = "gains" if b.acc >= a.acc else "loses"
                        gains.append(f"the {a.prose} {verb} {points(b.acc, a.acc)} points")
                if gains:
                    s.append(f"From the seed to the {tex(other)} preset, {_join(gains)}.")
        b = self.best
        cm, labels = b.matrix, b.labels
        if cm:
            n = sum(map(sum, cm))
            errors = n - sum(cm[i][i] for i in range(len(cm)))
            who = f"the best {'recurrent ' if self.base and b.recurrent else ''}run"
            if errors == 0:
                s.append(f"{who[0].upper() + who[1:]} makes no error on the {n} test documents.")
            else:
                k, i, j = max((cm[i][j] + cm[j][i], i, j) for i in range(len(cm))
                              for j in range(i + 1, len(cm)))
                big, small = (i, j) if cm[i][j] >= cm[j][i] else (j, i)
                rest = (f"{cm[small][big]} the other way" if cm[small][big]
                        else "none the other way")
                s.append(f"{who[0].upper() + who[1:]} errs on {errors} of {n} test documents, "
                         f"most often between {tex(labels[i])} and {tex(labels[j])} "
                         f"({cm[big][small]} {tex(labels[big])} articles called "
                         f"{tex(labels[small])}, {rest}; Fig.~\\ref{{fig:main}}).")
                per = b.metrics["test"].get("per_class") or {}
                if per:
                    worst = min(per, key=lambda c: per[c]["f1"])
                    s.append(f"Its weakest class is {tex(worst)} (F1 {pct(per[worst]['f1'])}\\%).")
        if self.base and self.rec:
            best_rec = max(self.rec, key=lambda r: r.acc)
            for r in self.base:
                rel = "above" if r.acc > best_rec.acc else "below"
                s.append(f"The {r.name} baseline reaches {pct(r.acc)}\\%, "
                         f"{points(r.acc, best_rec.acc)} points {rel} the best recurrent run.")
        return " ".join(s)

    def panels(self) -> list[str]:
        """What the figure shows: 'curves' and/or 'confusion', else 'bars'."""
        out = []
        if any(r.metrics.get("history") for r in self.rec):
            out.append("curves")
        if self.best.matrix:
            out.append("confusion")
        return out or ["bars"]

    def figure_caption(self) -> str:
        b, panels = self.best, self.panels()
        curves = "validation" if any("val_acc" in h for r in self.rec
                                     for h in r.metrics.get("history") or []) else "training"
        text = {"curves": f"{curves} accuracy per epoch",
                "confusion": f"test confusion matrix of the best run ({b.name}, "
                             f"{tex(b.preset or 'baseline')})",
                "bars": "test accuracy of each run"}
        if len(panels) == 1:
            return text[panels[0]][0].upper() + text[panels[0]][1:] + "."
        return f"Left: {text[panels[0]]}. Right: {text[panels[1]]}."


# -- the figure --------------------------------------------------------------------
def draw_figure(rep: Report, path: Path, width_in: float = 3.25) -> None:
    """Validation curves of the recurrent runs and the best run's confusion matrix,
    as a vector PDF sized for one column."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    rc = {"font.size": 6.5, "axes.titlesize": 6.5, "axes.labelsize": 6.5,
          "xtick.labelsize": 5.5, "ytick.labelsize": 5.5, "legend.fontsize": 5.5,
          "font.family": "serif", "font.serif": ["Nimbus Roman", "Times New Roman", "STIXGeneral",
                                                 "DejaVu Serif"],
          "pdf.fonttype": 42, "axes.linewidth": 0.5}
    b, panels = rep.best, rep.panels()
    cm, labels = b.matrix or [], b.labels
    with matplotlib.rc_context(rc):
        fig = plt.figure(figsize=(width_in, 1.45))
        gs = fig.add_gridspec(1, len(panels), width_ratios=[1.15, 1][:len(panels)], wspace=0.55)
        axes = dict(zip(panels, (fig.add_subplot(gs[0, k]) for k in range(len(panels)))))
        for ax in axes.values():
            ax.tick_params(width=0.5, length=2)
        if "curves" in axes:
            ax = axes["curves"]
            for r in rep.rec:
                h = r.metrics.get("history") or []
                key = "val_acc" if h and "val_acc" in h[0] else "train_acc"
                xs = [row.get("epoch", k + 1) for k, row in enumerate(h)]
                ys = [100 * row.get(key, float("nan")) for row in h]
                style = "-" if r.model == "gru" else "--"
                ax.plot(xs, ys, style, marker="o", markersize=1.8, linewidth=0.9,
                        label=f"{CELL_NAMES[r.model]} {r.preset}".replace("$", r"\$"))
            ax.set_xlabel("epoch")
            ax.set_ylabel("accuracy (%)")
            ax.grid(alpha=0.3, linewidth=0.4)
            ax.legend(frameon=False, handlelength=2.0, loc="lower center", ncol=2,
                      bbox_to_anchor=(0.5, 1.0), columnspacing=1.0, borderaxespad=0.2)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if "confusion" in axes:
            ax, n = axes["confusion"], len(cm)
            ax.imshow(cm, cmap="Blues")
            top = max(max(row) for row in cm) or 1
            for i in range(n):
                for j in range(n):
                    ax.text(j, i, cm[i][j], ha="center", va="center",
                            fontsize=5.5 if n <= 6 else 4,
                            color="white" if cm[i][j] > top / 2 else "black")
            short = [(c if len(c) <= 5 else c[:4] + ".").replace("$", r"\$") for c in labels]
            ax.set_xticks(range(n), short, rotation=45, ha="right", rotation_mode="anchor")
            ax.set_yticks(range(n), short)
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
        if "bars" in axes:
            ax = axes["bars"]
            names = [f"{r.model} {r.preset}".strip().replace("$", r"\$") for r in rep.runs]
            ax.barh(range(len(rep.runs)), [100 * r.acc for r in rep.runs], color="#4a7ab5")
            ax.set_yticks(range(len(rep.runs)), names)
            ax.invert_yaxis()
            ax.set_xlabel("test accuracy (%)")
        fig.subplots_adjust(left=0.12, right=0.99, bottom=0.22, top=0.98)
        write_atomic(path, lambda p: fig.savefig(p, format="pdf", bbox_inches="tight",
                                                 pad_inches=0.02))
        plt.close(fig)


# -- LaTeX -----------------------------------------------------------------------------
# The CVPR page (cvpr.sty): 6.875 x 8.875 in text, 1 in from the top, 3.25 in columns
# 0.3125 in apart; its title block, headings and small captions.
BUILTIN_PREAMBLE = r"""\documentclass[10pt,twocolumn,letterpaper]{article}
\usepackage[T1]{fontenc}
\usepackage{times}
\usepackage{amsmath,amssymb}
\usepackage{graphicx}
\usepackage{booktabs}
\setlength{\textheight}{8.875in}
\setlength{\textwidth}{6.875in}
\setlength{\columnsep}{0.3125in}
\setlength{\topmargin}{0in}
\setlength{\headheight}{0in}
\setlength{\headsep}{0in}
\setlength{\parindent}{1pc}
\setlength{\oddsidemargin}{-0.1875in}
\setlength{\evensidemargin}{-0.1875in}
\pagestyle{empty}
\makeatletter
\font\elvbf = ptmb scaled 1100
\def\@maketitle{\newpage\null\vskip .375in
  \begin{center}{\Large\bf \@title\par}\vspace*{24pt}
    {\large\lineskip .5em\begin{tabular}[t]{c}\@author\end{tabular}\par}
    \vskip .5em\vspace*{12pt}\end{center}}
\def\cvprsection{\@startsection{section}{1}{\z@}{-10pt plus -2pt minus -2pt}{7pt}{\large\bf}}
\def\cvprssect#1{\cvprsection*{#1}}
\def\cvprsect#1{\cvprsection{\hskip -1em.~#1}}
\def\section{\@ifstar\cvprssect\cvprsect}
\long\def\@makecaption#1#2{\vskip\abovecaptionskip
  \sbox\@tempboxa{\small #1. #2}%
  \ifdim\wd\@tempboxa>\hsize {\small #1. #2\par}%
  \else\global\@minipagefalse\hb@xt@\hsize{\hfil\box\@tempboxa\hfil}\fi
  \vskip\belowcaptionskip}
\makeatother
"""

KIT_PREAMBLE = r"""\documentclass[10pt,twocolumn,letterpaper]{article}
%% The official CVPR author kit: compile with its folder on TEXINPUTS.
\usepackage[final]{cvpr}
\usepackage{times}
\usepackage{amsmath,amssymb}
\usepackage{graphicx}
\usepackage{booktabs}
"""

# In-text citations: a bibliography would take a sixth of the page.
CITATIONS = {"elman90": "Elman, 1990", "cho14": "Cho et al., 2014",
             "greene06": "Greene and Cunningham, 2006", "kingma15": "Kingma and Ba, 2015"}

# Ways to make the page fit, tried in order (the first is the intended layout).
LAYOUTS = [
    {"table": r"\small", "hparams": r"\footnotesize", "figure": 1.0},
    {"table": r"\footnotesize", "hparams": r"\footnotesize", "figure": 1.0},
    {"table": r"\footnotesize", "hparams": r"\footnotesize", "figure": 0.92},
    {"table": r"\footnotesize", "hparams": r"\scriptsize", "figure": 0.85},
    {"table": r"\scriptsize", "hparams": r"\scriptsize", "figure": 0.78},
    {"table": r"\scriptsize", "hparams": r"\scriptsize", "figure": 0.7},
]


def render_tex(rep: Report, figure_name: str, kit: bool, layout: dict) -> str:
    L = []
    L.append(KIT_PREAMBLE if kit else BUILTIN_PREAMBLE)
    # a table wider than the column (long names) is scaled down to fit, never overfull
    L.append("\\newcommand{\\fitcolumn}[1]{\\resizebox{\\ifdim\\width>\\linewidth"
             "\\linewidth\\else\\width\\fi}{!}{#1}}")
    L.append("\\setlength{\\textfloatsep}{12pt plus 2pt minus 2pt}\n"
             "\\setlength{\\floatsep}{8pt plus 2pt minus 2pt}\n"
             "\\setlength{\\abovecaptionskip}{5pt}")
    L.append("%% Generated by textrnn from " + ", ".join(tex(r.path.name) for r in rep.runs)
             + ": edit the runs, not this file.")
    author = tex(rep.author) if rep.author is not None else (
        f"Generated by \\textsf{{textrnn}} from {len(rep.runs)} "
        f"run{'s' * (len(rep.runs) != 1)}")
    L.append(f"\\title{{{tex(rep.title)}}}\n\\author{{{author}}}\n\\date{{}}")
    L.append("\\begin{document}\n\\maketitle\n\\thispagestyle{empty}")

    def c(text: str) -> str:
        return re.sub(r"~?\\cite\{([^}]*)\}", lambda m: f" ({CITATIONS[m.group(1)]})", text)

    L.append("\\section{Introduction}\n" + c(rep.intro()))
    L.append(r"""\section{Method}
A document is a sequence of word embeddings $x_1,\dots,x_T$. The vanilla RNN updates its
state as
\begin{equation}
h_t = \tanh(W_x x_t + W_h h_{t-1} + b_h).
\end{equation}
The GRU adds an update gate $z_t$ and a reset gate $r_t$; the reset gate scales the previous
state \emph{before} the recurrent product""" + c("~\\cite{cho14}") + r""":
\begin{align}
z_t &= \sigma(W_z x_t + U_z h_{t-1} + b_z),\\
r_t &= \sigma(W_r x_t + U_r h_{t-1} + b_r),\\
\hat h_t &= \tanh(W_h x_t + U_h (r_t \odot h_{t-1}) + b_h),\\
h_t &= (1 - z_t) \odot h_{t-1} + z_t \odot \hat h_t.
\end{align}
""" + c(rep.classifier()))
    L.append("\\section{Experimental setup}\n" + c(rep.setup_data())
             + ("\n\n" + c(rep.setup_prep()) if rep.rec else "")
             + (" " + rep.setup_baselines() if rep.base else ""))
    if rep.rec:
        cols = "l" + "c" * len(rep.presets)
        head = " & ".join(["Setting"] + [tex(p) for p in rep.presets])
        differ, same = rep.hparam_table()
        body = "\n".join(f"{name} & " + " & ".join(vals) + r" \\" for name, vals in differ)
        common = (f" All: {'; '.join(same)}." if same else "")
        L.append(f"""\\begin{{table}}[!t]
\\centering{layout['hparams']}
\\setlength{{\\tabcolsep}}{{4pt}}
\\fitcolumn{{\\begin{{tabular}}{{{cols}}}
\\toprule
{head} \\\\
\\midrule
{body}
\\bottomrule
\\end{{tabular}}}}
\\caption{{Preset settings (\\texttt{{config.json}}).{common}}}
\\label{{tab:hparams}}
\\end{{table}}""")
    rows = rep.results_rows()
    body_rows = []
    for k, (r, row) in enumerate(zip(rep.runs, rows)):
        if k and not r.recurrent and rep.runs[k - 1].recurrent:
            body_rows.append(r"\midrule")
        body_rows.append(" & ".join(row) + r" \\")
    body = "\n".join(body_rows)
    L.append(f"""\\begin{{table}}[!t]
\\centering{layout['table']}
\\setlength{{\\tabcolsep}}{{3pt}}
\\fitcolumn{{\\begin{{tabular}}{{llrrrrr}}
\\toprule
Model & Preset & Params & Ep. & Acc. & F1 & Time (s) \\\\
\\midrule
{body}
\\bottomrule
\\end{{tabular}}}}
\\caption{{Test accuracy and macro-F1 in \\% (best in bold), epochs, training time.}}
\\label{{tab:results}}
\\end{{table}}
\\begin{{figure}}[!t]
\\centering
\\includegraphics[width={layout['figure']:g}\\linewidth]{{{figure_name}}}
\\caption{{{rep.figure_caption()}}}
\\label{{fig:main}}
\\end{{figure}}""")
    L.append("\\section{Results}\n" + rep.discussion())
    L.append("\\end{document}\n")
    return "\n\n".join(L)


# -- compiling ---------------------------------------------------------------------
@dataclass
class ReportResult:
    pdf: Path
    tex: Path
    figure: Path
    pages: int
    log: str        # pdflatex's log of the final pass


def _first_error(log: str) -> str:
    lines = log.splitlines()
    for k, line in enumerate(lines):
        if line.startswith("!"):
            where = next((x.strip() for x in lines[k + 1:k + 8] if re.match(r"l\.\d+", x)), "")
            return (line[1:].strip().rstrip(".") + (f" ({where})" if where else ""))[:300]
    return "no error line in the log"


def _pdflatex(workdir: Path, texinputs: str | None) -> tuple[str, int]:
    env = dict(os.environ)
    if texinputs:
        env["TEXINPUTS"] = texinputs
    try:
        subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "report.tex"],
                       cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=PDFLATEX_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise TextrnnError(f"pdflatex took more than {PDFLATEX_TIMEOUT} s; gave up") from None
    logf = workdir / "report.log"
    log = logf.read_text(encoding="latin-1") if logf.exists() else ""
    m = re.search(r"Output written on .*?\((\d+) pages?", log, re.S)
    if m is None or any(line.startswith("!") for line in log.splitlines()):
        raise _LatexFailed(log)
    return log, int(m.group(1))


def _compile(work: Path, source: str, texinputs: str | None) -> tuple[str, int]:
    """Two passes when the first gives one page (the second resolves references)."""
    (work / "report.tex").write_text(source, encoding="ascii")
    log, pages = _pdflatex(work, texinputs)
    if pages == 1:
        log, pages = _pdflatex(work, texinputs)
    return log, pages


def _overfull(log: str) -> float:
    """The widest overfull line, in points (0 if none)."""
    return max((float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide", log)),
               default=0.0)


class _LatexFailed(Exception):
    def __init__(self, log: str) -> None:
        super().__init__(_first_error(log))
        self.log = log


def write_report(run_dirs, out_pdf: str | Path, style_dir: str | Path | None = None,
                 title: str = DEFAULT_TITLE, author: str | None = None) -> ReportResult:
    """Write ``out_pdf`` (one page), and ``.tex`` plus its figure beside it."""
    runs = load_runs(run_dirs)
    out_pdf = Path(out_pdf)
    if out_pdf.suffix.lower() != ".pdf":
        raise TextrnnError(f"{out_pdf}: the report's file name must end in .pdf")
    if out_pdf.is_dir():
        raise TextrnnError(f"{out_pdf}: is a directory")
    kit = None
    if style_dir is not None:
        kit = Path(style_dir).resolve()
        if not (kit / "cvpr.sty").is_file():
            raise TextrnnError(f"{style_dir}: no cvpr.sty there (expected the CVPR author kit)")
    rep = Report(runs, title or DEFAULT_TITLE, author)
    tex_path = out_pdf.with_suffix(".tex")
    stem = re.sub(r"[^A-Za-z0-9_-]", "_", out_pdf.stem) or "report"
    fig_name = f"{stem}-figure"
    fig_path = out_pdf.with_name(fig_name + ".pdf")
    draw_figure(rep, fig_path)

    pdflatex = shutil.which("pdflatex")
    texinputs = f".{os.pathsep}{kit}{os.pathsep}" if kit else None
    source = ""
    with tempfile.TemporaryDirectory(prefix="textrnn-report-") as tmp:
        work = Path(tmp)
        shutil.copyfile(fig_path, work / (fig_name + ".pdf"))
        try:
            chosen = None
            for layout in LAYOUTS:
                source = render_tex(rep, fig_name, kit is not None, layout)
                if pdflatex is None:
                    break
                log, pages = _compile(work, source, texinputs)
                if pages == 1:
                    chosen = chosen or source            # fits, though maybe too wide
                    if _overfull(log) <= OVERFULL_PT:
                        chosen = source
                        break
            if pdflatex is not None and chosen is not None and chosen != source:
                source = chosen
                log, pages = _compile(work, source, texinputs)
            write_atomic(tex_path, lambda p: p.write_text(source, encoding="ascii"))
            if pdflatex is None:
                raise TextrnnError(
                    "pdflatex not found: install TeX Live (bash scripts/install-latex.sh, or "
                    "apt-get install texlive-latex-base texlive-latex-recommended "
                    f"texlive-fonts-recommended); the LaTeX source is in {tex_path}")
            if chosen is None:
                raise TextrnnError(f"the report does not fit on one page ({pages} pages even "
                                   f"with the smallest layout, {len(runs)} runs); "
                                   f"see {tex_path}")
        except _LatexFailed as e:
            write_atomic(tex_path, lambda p: p.write_text(source, encoding="ascii"))
            log_path, log_text = out_pdf.with_suffix(".log"), e.log
            write_atomic(log_path, lambda p: p.write_text(log_text, encoding="latin-1"))
            hint = ""
            if kit and "not found" in str(e):
                hint = ("; the CVPR kit needs more LaTeX packages than the built-in layout "
                        "(bash scripts/install-latex.sh --kit)")
            raise TextrnnError(f"pdflatex failed on {tex_path}: {e}{hint} (log: {log_path})") \
                from None
        write_atomic(out_pdf, lambda p: shutil.copyfile(work / "report.pdf", p))
    return ReportResult(out_pdf, tex_path, fig_path, pages, log)
