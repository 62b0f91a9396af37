"""What the page says: every sentence and table cell, computed from the runs.

Each sentence that chooses between alternatives (which cell wins, how the model was
selected, ...) is its own method, so that the tests can reach every branch. The
strings are LaTeX: text from the files goes through :func:`tex`; the rest is numbers
and fixed words.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

from ...config import MODELS, Config, preset
from .formatting import capital, count, join, pct, plural, points, seconds, tex, value
from .runs import CELL_NAMES, CELL_PROSE, Run

# In-text citations: a bibliography would take a sixth of the page.
CITATIONS = {"elman90": "Elman, 1990", "cho14": "Cho et al., 2014",
             "greene06": "Greene and Cunningham, 2006", "kingma15": "Kingma and Ba, 2015"}

# What the classifier reads, for each of config.POOLINGS (a test checks none is missing).
POOLING_WORDS = {
    "last": "the final state $h_T$",
    "mean": "the mean of $h_t$ over the words",
    "max": "the element-wise maximum of $h_t$ over the words",
    "meanmax": "the mean and the maximum of $h_t$ over the words, concatenated",
    "attention": "a learned attention-weighted mean of $h_t$ over the words "
                 "(weights $\\mathrm{softmax}_t(w^\\top h_t)$)",
}

def cite(key: str) -> str:
    return f" ({CITATIONS[key]})"


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
        self.models = sorted({r.model for r in self.rec}, key=MODELS.index)

    def label(self, r: Run) -> str:
        """The run's preset, with its folder name when two runs share model and preset."""
        p = tex(r.preset) if r.preset else "--"
        return f"{p} ({tex(r.path.name)})" if (r.model, r.preset) in self.clash else p

    def first(self, model: str, preset_name: str) -> Run | None:
        return next((r for r in self.rec if r.model == model and r.preset == preset_name), None)

    def say(self, key: Callable[[Run], object], words: Callable[[object], str]) -> str | None:
        """``words(key(run))`` when all recurrent runs agree; one phrase per cell when
        each cell's runs agree ('x for the vanilla RNN and y for the GRU'); None when
        runs of one cell differ (the settings table then has the row)."""
        per: dict[str, object] = {}
        for r in sorted(self.rec, key=lambda r: MODELS.index(r.model)):
            k = key(r)
            if per.setdefault(r.model, k) != k:
                return None
        vals = list(per.values())
        if all(v == vals[0] for v in vals):
            return words(vals[0])
        return join([f"{words(v)} for the {CELL_PROSE[m]}" for m, v in per.items()])

    # -- introduction --------------------------------------------------------------
    def data(self) -> dict:
        return self.best.metrics.get("data") or {}

    def files(self) -> list[str]:
        """The data files given (runs.DataSpec: path, or train / val / test parts)."""
        d = self.data()
        return [str(d[k]) for k in ("path", "train", "val", "test") if d.get(k)]

    def bbc(self) -> bool:
        """DataSpec's default, no file given: the BBC data, which has no split of its own."""
        return not self.files()

    def corpus(self) -> str:
        d = self.data()
        sizes = d.get("sizes") or {}
        n = sum(sizes.values()) + int(d.get("dropped_duplicates") or 0) if sizes else None
        if not n:
            return "a labelled corpus"
        if self.bbc():
            return f"the {n:,} articles of the BBC News corpus{cite('greene06')}"
        names = join([f"\\texttt{{{tex(Path(f).name)}}}" for f in self.files()])
        return f"the {n:,} documents of {names}"

    def methods(self) -> str:
        """The models compared: the cells given, else the baselines."""
        cells = {"rnn": f"the vanilla RNN{cite('elman90')}",
                 "gru": f"the gated recurrent unit (GRU){cite('cho14')}"}
        if self.rec:
            return join([cells[m] for m in self.models]) + ", written from their equations"
        return join([f"the {r.name} baseline" for r in self.base])

    def intro(self) -> str:
        b, classes = self.best, self.best.labels
        best = "best recurrent run" if self.base and b.recurrent else "best run"
        how = (f"the {tex(b.preset)} preset" if b.recurrent else "the settings given")
        return (f"We classify {self.corpus()} into {plural(len(classes), 'topic')} "
                f"({join([tex(c) for c in classes])}) with {self.methods()}. The {best}, the "
                f"{b.prose} with {how}, reaches {pct(b.acc)}\\% test accuracy and "
                f"{pct(b.f1)}\\% macro-F1.")

    # -- setup ---------------------------------------------------------------------
    def selection(self) -> str:
        """How the kept weights were chosen on the validation split."""
        if not self.rec:
            return ""

        def words(k) -> str:
            select, average = k
            best = "lowest loss" if select == "loss" else "highest accuracy, ties by loss"
            if average > 1:
                return f"mean weights of the {average} epochs of {best}"
            return best
        said = self.say(lambda r: (r.config.select, r.config.average), words)
        return f" (model selection: {said})" if said else ""

    def split(self) -> str:
        d = self.data()
        sizes = d.get("sizes") or {}
        if not sizes:
            return ""
        total = sum(sizes.values())
        shares = "/".join(f"{round(100 * sizes.get(k, 0) / total)}"
                          for k in ("train", "val", "test"))
        how = "stratified" if d.get("stratify") else "random"
        seed = int(d.get("split_seed", 42))
        if self.bbc():                  # no split of its own: textrnn's random split
            split = f"A {how} {shares} split (seed {seed})"
        elif d.get("split_column") or d.get("train"):
            given = (f"its \\texttt{{{tex(d['split_column'])}}} column" if d.get("split_column")
                     else "its files")
            split = f"The split given with the data ({given})"
        else:   # metrics.json does not say whether the corpus had parts of its own
            split = (f"The split (the corpus's own parts where it has them, else {how} "
                     f"with seed {seed})")
        dropped = int(d.get("dropped_duplicates") or 0)
        return (f"{split} gives "
                f"{sizes.get('train', 0):,} training, {sizes.get('val', 0):,} validation"
                f"{self.selection()} and {sizes.get('test', 0):,} test documents"
                + (f", after dropping {plural(dropped, 'exact duplicate text')}." if dropped
                   else "."))

    def same_data(self) -> str:
        keys = {json.dumps({k: (r.metrics.get("data") or {}).get(k) for k in
                            ("path", "train", "val", "test", "split_column",
                             "split_seed", "stratify", "dedupe", "sizes")},
                           sort_keys=True) for r in self.runs}
        if len(keys) > 1:
            return ("\\textbf{Caution:} the runs given were not trained on the same data "
                    "and split, so their comparison is not like for like.")
        return ""

    def setup_data(self) -> str:
        return " ".join(s for s in (self.split(), self.same_data()) if s)

    def tokens(self) -> str:
        def words(k) -> str:
            truncating, maxlen, mask, padding = k
            pad = ("padded, the padding masked out of the recurrence" if mask
                   else f"{padding}-padded, the padding read as input")
            return (f"; each document is cut to its {'first' if truncating == 'post' else 'last'} "
                    f"{plural(maxlen, 'token')} and {pad}")
        said = self.say(lambda r: (r.config.truncating, r.config.maxlen, r.config.mask,
                                   r.config.padding), words)
        return f"Texts are tokenised as by Keras (lower-cased, punctuation removed){said or ''}."

    def vocabulary(self) -> str:
        def words(k) -> str:
            size, oov, fit, min_count = k
            what = ("training texts" if fit == "train"
                    else "training, validation and test texts")
            seen = f" seen at least {min_count} times" if min_count > 1 else ""
            return (f"the {size:,} most frequent words{seen} of the {what}"
                    + (" and an out-of-vocabulary id" if oov else ""))
        said = self.say(lambda r: (int(r.meta.get("vocab_size", r.config.num_words)) - 1
                                   - r.config.oov, r.config.oov, r.config.tokenizer_fit,
                                   r.config.min_count), words)
        return f"The vocabulary holds {said}." if said else ""

    def leak(self) -> str:
        leaky = [p for p in self.presets
                 if any(r.config.tokenizer_fit == "all" for r in self.rec if r.preset == p)]
        if not leaky:
            return ""
        who = f"the {join([tex(p) for p in leaky])} preset{'s' * (len(leaky) > 1)}"
        return (f"Runs of {who} fit the vocabulary on all texts, test texts included: a leak, "
                "so their test accuracy is not a clean estimate.")

    def pooling(self) -> str:
        said = self.say(lambda r: r.config.pooling, POOLING_WORDS.__getitem__)
        return f"The classifier reads {said}." if said else ""

    def table_note(self) -> str:
        """Where the settings are: the table, or the default preset unchanged."""
        if not self.rec:
            return ""
        if self.settings_table()[1]:
            return ("Tab.~\\ref{tab:settings} gives the settings that differ from the default "
                    "preset.")
        if len(self.rec) == 1:
            return "The recurrent run uses the default preset unchanged."
        return f"All {plural(len(self.rec), 'recurrent run')} use the default preset unchanged."

    def setup_prep(self) -> str:
        if not self.rec:
            return ""
        return " ".join(s for s in (self.tokens(), self.vocabulary(), self.leak(),
                                    self.pooling(), self.table_note()) if s)

    def training(self) -> str:
        """The loss, the optimiser and the stopping rule, as far as the runs agree."""
        loss = self.say(lambda r: r.config.label_smoothing,
                        lambda ls: f" with label smoothing {ls:g}" if ls else "")
        rate = self.say(lambda r: (r.config.lr, r.config.schedule, r.config.batch_size),
                        lambda k: f"learning rate {k[0]:g}"
                        + (" decaying to 0 along a cosine" if k[1] == "cosine"
                           else " (constant)") + f", batches of {k[2]}")
        stop = self.say(lambda r: (r.config.epochs, r.config.patience),
                        lambda k: (f"up to {plural(k[0], 'epoch')}, stopping after {k[1]} "
                                   "without a better validation score") if k[1]
                        else plural(k[0], "epoch"))
        return (f"It is trained with cross-entropy{loss or ''} and Adam{cite('kingma15')}"
                + (f", {rate}" if rate else "") + (f", for {stop}" if stop else "") + ".")

    def classifier(self) -> str:
        s = ("The classifier embeds the word ids, runs the recurrent layer, pools its states "
             "over time and applies dropout and a linear softmax layer.")
        return s + (" " + self.training() if self.rec else "")

    def setup_baselines(self) -> str:
        s = []
        for r in self.base:
            items = [f"{tex(k).replace(chr(92) + '_', ' ')} "
                     f"{tex(json.dumps(v)) if isinstance(v, (list, dict)) else value(v)}"
                     for k, v in r.settings.items() if k != "seed"]
            s.append(f"The {r.name} baseline is trained on the same training split"
                     + (f" ({', '.join(items)})." if items else "."))
        return " ".join(s)

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

    @staticmethod
    def merge(pairs: list[tuple[str, object]]) -> str:
        """One table cell for (model, value) pairs: the value when all agree, one value
        per cell when each cell's runs agree, else the distinct values."""
        vals = [v for _, v in pairs]
        if all(v == vals[0] for v in vals):
            return value(vals[0])
        per: dict[str, list] = {}
        for m, v in pairs:
            per.setdefault(m, []).append(v)
        if all(all(v == vs[0] for v in vs) for vs in per.values()):
            return ", ".join(f"{value(vs[0])} ({CELL_NAMES[m].split()[-1]})"
                             for m, vs in sorted(per.items(), key=lambda mv: MODELS.index(mv[0])))
        return ", ".join(dict.fromkeys(value(v) for v in vals))

    def settings_table(self) -> tuple[list[str], list[tuple[str, list[str]]]]:
        """The header and rows of the settings table: every Config field on which some
        recurrent run differs from the default preset of its cell. The first column is
        the default preset; then one column per preset of the runs that differ."""
        names = [f.name for f in fields(Config) if any(f.name in r.changes for r in self.rec)]
        cols = [p for p in self.presets if any(r.changes for r in self.rec if r.preset == p)]
        ref = {m: preset("default", m) for m in self.models}
        rows = []
        for n in names:
            cells = [self.merge([(m, getattr(ref[m], n)) for m in self.models])]
            for p in cols:
                cells.append(self.merge([(r.model, getattr(r.config, n)) for r in self.rec
                                         if r.preset == p]))
            rows.append((f"\\texttt{{{tex(n)}}}", cells))
        return ["Setting", "default preset"] + [f"{tex(p)} runs" for p in cols], rows

    def settings_caption(self) -> str:
        return "Every setting on which the runs differ from the default preset."

    # -- discussion --------------------------------------------------------------------
    def cells_compared(self) -> list[tuple[str, Run, Run]]:
        cmp = [(p, self.first("rnn", p), self.first("gru", p)) for p in self.presets]
        return [(p, rnn, gru) for p, rnn, gru in cmp if rnn and gru]

    def winner(self, p: str, rnn: Run, gru: Run, first: bool = True) -> str:
        """Which cell wins with preset ``p``, or that they tie."""
        if gru.acc == rnn.acc:
            return (f"With the {tex(p)} preset the two cells tie at {pct(gru.acc)}\\% "
                    "test accuracy.")
        win, lose = (gru, rnn) if gru.acc > rnn.acc else (rnn, gru)
        return (f"With the {tex(p)} preset the {win.prose} beats the {lose.prose} by "
                f"{points(win.acc, lose.acc)} points of accuracy "
                f"({pct(win.acc)} vs.\\ {pct(lose.acc)}\\%"
                + (", Tab.~\\ref{tab:results})." if first else ")."))

    def epoch_cost(self) -> str:
        ratios = []
        for p, rnn, gru in self.cells_compared():
            tr, tg = rnn.metrics.get("train_seconds"), gru.metrics.get("train_seconds")
            er, eg = len(rnn.metrics.get("history") or []), len(gru.metrics.get("history") or [])
            if tr and tg and er and eg:
                ratios.append(f"{tg / eg / (tr / er):.1f}$\\times$ ({tex(p)})")
        return f"A GRU epoch costs {join(ratios)} the time of an RNN epoch." if ratios else ""

    def preset_gains(self) -> str:
        if "seed" not in self.presets:
            return ""
        s = []
        for other in [p for p in self.presets if p != "seed"]:
            gains = []
            for m in MODELS:
                a, b = self.first(m, "seed"), self.first(m, other)
                if a and b:
                    verb = "gains" if b.acc >= a.acc else "loses"
                    gains.append(f"the {a.prose} {verb} {points(b.acc, a.acc)} points")
            if gains:
                s.append(f"From the seed to the {tex(other)} preset, {join(gains)}.")
        return " ".join(s)

    def errors(self) -> str:
        b = self.best
        cm, labels = b.matrix, b.labels
        if not cm:
            return ""
        n = sum(map(sum, cm))
        wrong = n - sum(cm[i][i] for i in range(len(cm)))
        who = capital(f"the best {'recurrent ' if self.base and b.recurrent else ''}run")
        if wrong == 0:
            return f"{who} makes no error on the {n} test documents."
        _, i, j = max((cm[i][j] + cm[j][i], i, j) for i in range(len(cm))
                      for j in range(i + 1, len(cm)))
        big, small = (i, j) if cm[i][j] >= cm[j][i] else (j, i)
        rest = f"{cm[small][big]} the other way" if cm[small][big] else "none the other way"
        s = (f"{who} errs on {wrong} of {n} test documents, most often between "
             f"{tex(labels[i])} and {tex(labels[j])} ({cm[big][small]} {tex(labels[big])} "
             f"articles called {tex(labels[small])}, {rest}; Fig.~\\ref{{fig:main}}).")
        per = b.metrics["test"].get("per_class") or {}
        if per:
            worst = min(per, key=lambda c: per[c]["f1"])
            s += f" Its weakest class is {tex(worst)} (F1 {pct(per[worst]['f1'])}\\%)."
        return s

    def baselines(self) -> str:
        if not (self.base and self.rec):
            return ""
        best_rec = max(self.rec, key=lambda r: r.acc)
        s = []
        for r in self.base:
            rel = ("above" if r.acc > best_rec.acc else "below" if r.acc < best_rec.acc
                   else "level with")
            gap = "" if r.acc == best_rec.acc else f"{points(r.acc, best_rec.acc)} points "
            s.append(f"The {r.name} baseline reaches {pct(r.acc)}\\%, {gap}{rel} the best "
                     "recurrent run.")
        return " ".join(s)

    def discussion(self) -> str:
        cmp = self.cells_compared()
        s = [self.winner(p, rnn, gru, k == 0) for k, (p, rnn, gru) in enumerate(cmp)]
        s.append(self.epoch_cost())
        if not cmp and len(self.models) == 2:
            s.append("The two cells were not run with the same preset, so they are not "
                     "compared directly.")
        s += [self.preset_gains(), self.errors(), self.baselines()]
        return " ".join(x for x in s if x)

    # -- figure ------------------------------------------------------------------------
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
            return capital(text[panels[0]]) + "."
        return f"Left: {text[panels[0]]}. Right: {text[panels[1]]}."
