"""``textrnn report``: a one-page CVPR-format PDF whose numbers come from the runs.

The runs are tiny (one epoch, 30 tokens, 8 units) so the whole file takes seconds;
the checks are on the PDF itself, through poppler's pdfinfo and pdftotext.
"""

import json
import re
import shutil
import subprocess

import pytest

from textrnn.cli import main
from textrnn.config import POOLINGS, preset
from textrnn.errors import TextrnnError
from textrnn.runs import DataSpec, train_run
from textrnn.study import baselines
from textrnn.study.report import OVERFULL_PT, Report, load_runs, write_report
from textrnn.study.report.latex import render
from textrnn.study.report.runs import BASELINE_NAMES
from textrnn.study.report.text import POOLING_WORDS

TINY = dict(epochs=1, maxlen=30, num_words=500, hidden_size=8, embedding_dim=8)


@pytest.fixture(scope="session", autouse=True)
def latex_tools():
    missing = [t for t in ("pdflatex", "pdfinfo", "pdftotext") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run bash scripts/install-latex.sh")


@pytest.fixture(scope="session")
def runs(tmp_path_factory, bbc_dir):
    """Three tiny recurrent runs and the TF-IDF baseline run, as the project writes them."""
    root = tmp_path_factory.mktemp("runs")
    dirs = {}
    for model, preset_name in (("rnn", "seed"), ("rnn", "default"), ("gru", "default")):
        out = root / f"{model}-{preset_name}"
        train_run(preset(preset_name, model, **TINY), DataSpec(), out, verbose=False,
                  log=lambda *a: None)
        dirs[f"{model}-{preset_name}"] = out
    # a classical baseline: config.json and metrics.json, no weights
    base = root / "tfidf-svm"
    baselines.baseline_run(DataSpec(), base, log=lambda *a: None)
    dirs["tfidf-svm"] = base
    return dirs


def metrics(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())


def pdfinfo(pdf) -> dict:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def pdftext(pdf) -> str:
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return re.sub(r"-\n", "", text)   # undo hyphenation at line ends


@pytest.fixture(scope="session")
def report(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return write_report(list(runs.values()), out)


def test_one_letter_page_without_latex_errors(report):
    info = pdfinfo(report.pdf)
    assert info["Pages"] == "1"
    assert info["Page size"].startswith("612 x 792 pts")        # US letter
    assert report.pages == 1
    assert not re.search(r"^!", report.log, re.M), "LaTeX error in the log"
    assert "LaTeX Error" not in report.log
    widest = max((float(x) for x in re.findall(r"Overfull \\hbox \(([\d.]+)pt", report.log)),
                 default=0.0)
    assert widest <= OVERFULL_PT
    assert "Rerun to get cross-references right" not in report.log
    # the source and the figure are kept beside the PDF
    assert report.tex == report.pdf.with_suffix(".tex") and report.tex.is_file()
    assert report.figure.is_file() and report.figure.parent == report.pdf.parent
    assert report.figure.stem in report.tex.read_text()


def test_layout_is_cvpr(report):
    tex = report.tex.read_text()
    assert r"\documentclass[10pt,twocolumn,letterpaper]{article}" in tex
    assert r"\usepackage{times}" in tex
    for setting in (r"\textheight}{8.875in}", r"\textwidth}{6.875in}",
                    r"\columnsep}{0.3125in}", r"\topmargin}{0in}"):
        assert setting in tex
    fonts = subprocess.run(["pdffonts", str(report.pdf)], capture_output=True, text=True).stdout
    assert "Times" in fonts or "NimbusRom" in fonts


def test_text_has_every_runs_accuracy(report, runs):
    text = pdftext(report.pdf)
    for name, d in runs.items():
        m = metrics(d)
        assert f"{100 * m['test']['accuracy']:.2f}" in text, name
        assert f"{100 * m['test']['macro_f1']:.2f}" in text, name
    for heading in ("Introduction", "Method", "Experimental setup", "Results"):
        assert heading in text
    assert "TF-IDF + SVM" in text                      # the baseline row
    assert "1,557" in text and "334" in text           # split sizes from metrics.json


def test_discussion_numbers_come_from_the_runs(report, runs):
    text = " ".join(pdftext(report.pdf).split())
    rnn, gru = metrics(runs["rnn-default"]), metrics(runs["gru-default"])
    a, b = rnn["test"]["accuracy"], gru["test"]["accuracy"]
    if a != b:
        winner, loser = ("vanilla RNN", "GRU") if a > b else ("GRU", "vanilla RNN")
        assert (f"the {winner} beats the {loser} by {100 * abs(a - b):.2f} points" in text)
    seed = metrics(runs["rnn-seed"])["test"]["accuracy"]
    assert f"{100 * abs(a - seed):.2f} points" in text
    # the most confused pair of the best recurrent run
    best = max((rnn, gru, metrics(runs["rnn-seed"])),
               key=lambda m: (m["test"]["accuracy"], m["test"]["macro_f1"]))
    cm, labels = best["test"]["confusion_matrix"], best["test"]["labels"]
    _, i, j = max((cm[i][j] + cm[j][i], i, j) for i in range(len(cm))
                  for j in range(i + 1, len(cm)))
    assert f"between {labels[i]} and {labels[j]}" in text


def test_special_characters_are_escaped(runs, tmp_path):
    # two runs with the same model and preset are told apart by their folder names
    odd = tmp_path / "gru_default #2 & 50%"
    shutil.copytree(runs["gru-default"], odd)
    title = r"RNN & GRU: 100% of {BBC} #1 ~ ^ \ $x_1$"
    r = write_report([runs["gru-default"], odd], tmp_path / "odd", title=title,
                     author="A. Student <a_b@example.org>")
    text = " ".join(pdftext(r.pdf).split())
    assert "RNN & GRU: 100% of {BBC} #1" in text
    assert "gru_default #2 & 50%" in text
    assert "a_b@example.org" in text
    assert pdfinfo(r.pdf)["Pages"] == "1"


def test_many_runs_still_fit_one_page(runs, tmp_path):
    dirs = list(runs.values())
    for k in range(3):
        copy = tmp_path / f"rnn-seed-{k}"
        shutil.copytree(runs["rnn-seed"], copy)
        dirs.append(copy)
    r = write_report(dirs, tmp_path / "many")
    assert pdfinfo(r.pdf)["Pages"] == "1"


def test_official_kit_is_used_from_style_dir(runs, tmp_path):
    kit = tmp_path / "kit"
    kit.mkdir()
    (kit / "cvpr.sty").write_text(
        "\\ProvidesPackage{cvpr}\n\\DeclareOption{final}{\\typeout{CVPR-KIT-FINAL}}\n"
        "\\ProcessOptions\\relax\n\\RequirePackage{times}\n"
        "\\setlength{\\textheight}{8.875in}\\setlength{\\textwidth}{6.875in}\n"
        "\\setlength{\\columnsep}{0.3125in}\\setlength{\\topmargin}{0in}\n"
        "\\setlength{\\headheight}{0in}\\setlength{\\headsep}{0in}\n"
        "\\setlength{\\oddsidemargin}{-0.1875in}\\pagestyle{empty}\n")
    r = write_report([runs["gru-default"]], tmp_path / "out", style_dir=kit)
    assert r"\usepackage[final]{cvpr}" in r.tex.read_text()
    assert "CVPR-KIT-FINAL" in r.log
    assert pdfinfo(r.pdf)["Pages"] == "1"


def test_latex_failure_is_one_clear_line(runs, tmp_path):
    kit = tmp_path / "broken"
    kit.mkdir()
    (kit / "cvpr.sty").write_text("\\ProvidesPackage{cvpr}\n\\thisisnotamacro\n")
    with pytest.raises(TextrnnError) as e:
        write_report([runs["gru-default"]], tmp_path / "out", style_dir=kit)
    msg = str(e.value)
    assert "\n" not in msg
    assert "pdflatex failed" in msg and "Undefined control sequence" in msg
    assert not (tmp_path / "out" / "report.pdf").exists()
    assert (tmp_path / "out" / "report.tex").is_file()
    assert (tmp_path / "out" / "report.log").is_file()


def test_style_dir_without_cvpr_sty(runs, tmp_path):
    with pytest.raises(TextrnnError, match="no cvpr.sty"):
        write_report([runs["gru-default"]], tmp_path / "out", style_dir=tmp_path)


def test_missing_pdflatex_says_how_to_install(runs, tmp_path, monkeypatch):
    import textrnn.study.report.build as build
    monkeypatch.setattr(build.shutil, "which", lambda name: None)
    with pytest.raises(TextrnnError, match="pdflatex not found.*install-latex.sh"):
        write_report([runs["gru-default"]], tmp_path / "out")
    assert (tmp_path / "out" / "report.tex").is_file()      # the source is still written


def test_cli_report(runs, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["report", str(runs["rnn-default"]), str(runs["gru-default"]), "--out", str(out),
                 "--title", "Tiny runs"]) == 0
    assert str(out / "report.pdf") in capsys.readouterr().out
    assert pdfinfo(out / "report.pdf")["Pages"] == "1"
    assert "Tiny runs" in pdftext(out / "report.pdf")
    assert (out / "report.tex").is_file() and (out / "figure.pdf").is_file()


@pytest.mark.parametrize("make", [
    lambda tmp: tmp / "nope",                                   # missing
    lambda tmp: (tmp / "empty").mkdir() or tmp / "empty",       # no metrics.json
    lambda tmp: (tmp / "m").mkdir() or (tmp / "m" / "metrics.json").write_text("{}") and tmp / "m",
    lambda tmp: (tmp / "f").write_text("x") and tmp / "f",       # a file
])
def test_cli_bad_run_dir_is_one_error_line(make, tmp_path, capsys):
    path = make(tmp_path)
    assert main(["report", str(path), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("textrnn: error: ") and str(path) in err[0]
    assert not (tmp_path / "r" / "report.pdf").exists()


def test_cli_out_must_be_a_folder(runs, tmp_path, capsys):
    pdf = tmp_path / "r.pdf"
    pdf.write_text("not a folder")
    assert main(["report", str(runs["gru-default"]), "--out", str(pdf)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a directory" in err[0] and str(pdf) in err[0]


# -- the composed text, without LaTeX: each sentence that chooses, on both branches ---
def copy_run(src, dst, config=None, test=None):
    """A copy of run directory ``src`` with keys of config.json's config and of
    metrics.json's test replaced."""
    shutil.copytree(src, dst)
    if config:
        meta = json.loads((dst / "config.json").read_text())
        meta["config"].update(config)
        (dst / "config.json").write_text(json.dumps(meta))
    if test:
        m = metrics(dst)
        m["test"].update(test)
        (dst / "metrics.json").write_text(json.dumps(m))
    return dst


def compose(dirs) -> Report:
    return Report(load_runs(dirs), "T", None)


def words(text: str) -> str:
    """The LaTeX of a sentence, read as text: 'vs.\\ 80\\%' -> 'vs. 80%'."""
    return " ".join(text.replace("\\ ", " ").replace("\\%", "%").split())


def changed(run_dir) -> set:
    """The settings on which a run's config.json differs from the default preset,
    read from the file."""
    cfg = json.loads((run_dir / "config.json").read_text())["config"]
    ref = preset("default", cfg["model"]).to_dict()
    return {k for k, v in cfg.items() if k not in ("model", "preset") and v != ref[k]}


def test_every_pooling_has_words():
    assert set(POOLING_WORDS) == set(POOLINGS)


def test_baseline_names_are_those_the_baselines_write(runs):
    assert set(BASELINE_NAMES) == {baselines.MODEL}
    (base,) = [r for r in load_runs([runs["tfidf-svm"]])]
    assert not base.recurrent and base.model == baselines.MODEL
    assert base.name == BASELINE_NAMES[baselines.MODEL]


def test_settings_table_has_every_setting_that_differs(runs, tmp_path):
    dirs = [runs["rnn-default"], runs["gru-default"]]
    header, rows = compose(dirs).settings_table()
    names = {n.replace(r"\texttt{", "").replace("}", "").replace("\\_", "_") for n, _ in rows}
    assert names == changed(dirs[0]) | changed(dirs[1])
    assert {"epochs", "maxlen", "num_words"} <= names            # TINY
    assert "label_smoothing" not in names and "schedule" not in names
    # a GRU without smoothing and with a constant rate: both rows appear, with values
    odd = copy_run(runs["gru-default"], tmp_path / "gru-plain",
                   {"label_smoothing": 0.0, "schedule": "constant"})
    header, rows = compose([runs["rnn-default"], odd]).settings_table()
    table = {n.replace(r"\texttt{", "").replace("}", "").replace("\\_", "_"): v
             for n, v in rows}
    assert header == ["Setting", "default preset", "default runs"]
    assert set(table) == changed(runs["rnn-default"]) | changed(odd)
    ls = preset("default", "gru").label_smoothing
    assert ls == preset("default", "rnn").label_smoothing != 0
    assert table["label_smoothing"] == [f"{ls:g}", f"{ls:g} (RNN), 0 (GRU)"]
    assert table["schedule"] == ["constant (RNN), cosine (GRU)", "constant"]


def test_runs_on_the_default_preset_have_no_settings_table(runs, tmp_path):
    plain = copy_run(runs["gru-default"], tmp_path / "gru", preset("default", "gru").to_dict())
    rep = compose([plain])
    assert rep.settings_table()[1] == []
    assert "uses the default preset unchanged" in rep.setup_prep()
    from textrnn.study.report.build import LAYOUTS
    assert "tab:settings" not in render(rep, "figure", False, LAYOUTS[0])
    assert "tab:settings" in render(compose([runs["gru-default"]]), "figure", False, LAYOUTS[0])


@pytest.mark.parametrize("select, average, said", [
    ("loss", 1, "(model selection: lowest loss)"),
    ("acc", 1, "(model selection: highest accuracy, ties by loss)"),
    ("loss", 3, "(model selection: mean weights of the 3 epochs of lowest loss)"),
    ("acc", 2, "(model selection: mean weights of the 2 epochs of highest accuracy, ties by "
               "loss)"),
])
def test_model_selection_says_what_select_and_average_say(runs, tmp_path, select, average, said):
    d = copy_run(runs["gru-default"], tmp_path / "g", {"select": select, "average": average})
    text = compose([d]).setup_data()
    assert said in text
    assert text.count("model selection") == 1


def test_model_selection_that_differs_between_runs_is_in_the_table(runs, tmp_path):
    d = copy_run(runs["gru-default"], tmp_path / "g", {"select": "acc"})
    rep = compose([runs["gru-default"], d])
    assert "model selection" not in rep.setup_data()
    assert any("select" in n for n, _ in rep.settings_table()[1])


def test_which_cell_wins_when_accuracies_differ_and_when_they_tie(runs, tmp_path):
    def pair(a, b):
        rnn = copy_run(runs["rnn-default"], tmp_path / f"rnn-{a}-{b}", test={"accuracy": a})
        gru = copy_run(runs["gru-default"], tmp_path / f"gru-{a}-{b}", test={"accuracy": b})
        return words(compose([rnn, gru]).discussion())
    text = pair(0.9, 0.8)
    assert "the vanilla RNN beats the GRU by 10.00 points of accuracy (90.00 vs. 80.00" in text
    assert "tie" not in text
    text = pair(0.8, 0.9)
    assert "the GRU beats the vanilla RNN by 10.00 points of accuracy (90.00 vs. 80.00" in text
    text = pair(0.85, 0.85)
    assert "With the default preset the two cells tie at 85.00% test accuracy." in text
    assert "beats" not in text


def test_preset_gains_and_losses(runs, tmp_path):
    seed = copy_run(runs["rnn-seed"], tmp_path / "s", test={"accuracy": 0.5})
    for acc, verb in ((0.7, "gains 20.00 points"), (0.4, "loses 10.00 points")):
        d = copy_run(runs["rnn-default"], tmp_path / f"d{acc}", test={"accuracy": acc})
        text = words(compose([seed, d]).discussion())
        assert f"From the seed to the default preset, the vanilla RNN {verb}." in text


def test_errors_sentence_with_and_without_errors(runs, tmp_path):
    m = metrics(runs["gru-default"])["test"]
    n = sum(map(sum, m["confusion_matrix"]))
    k = len(m["labels"])
    perfect = [[n // k if i == j else 0 for j in range(k)] for i in range(k)]
    d = copy_run(runs["gru-default"], tmp_path / "p", test={"confusion_matrix": perfect})
    assert f"The best run makes no error on the {n // k * k} test documents." in \
        compose([d]).errors()
    cm = [[0] * k for _ in range(k)]
    cm[0][0], cm[1][0], cm[0][1] = 5, 3, 1     # 3 labels[1] called labels[0], 1 the other way
    d = copy_run(runs["gru-default"], tmp_path / "e", test={"confusion_matrix": cm})
    text = words(compose([d]).errors())
    a, b = m["labels"][0], m["labels"][1]
    assert f"errs on 4 of 9 test documents, most often between {a} and {b}" in text
    assert f"(3 {b} articles called {a}, 1 the other way" in text
    cm[0][1] = 0
    d = copy_run(runs["gru-default"], tmp_path / "e0", test={"confusion_matrix": cm})
    assert "none the other way" in compose([d]).errors()


def test_baseline_above_below_and_level(runs, tmp_path):
    gru = copy_run(runs["gru-default"], tmp_path / "g", test={"accuracy": 0.9})
    for acc, rel in ((0.95, "5.00 points above"), (0.85, "5.00 points below"),
                     (0.9, "level with")):
        b = copy_run(runs["tfidf-svm"], tmp_path / f"b{acc}", test={"accuracy": acc})
        text = words(compose([gru, b]).discussion())
        assert f"The TF-IDF + SVM baseline reaches {100 * acc:.2f}%, {rel} the best " \
               "recurrent run." in text


def test_leak_pooling_and_training_sentences(runs, tmp_path):
    rep = compose([runs["rnn-seed"], runs["rnn-default"]])
    assert "Runs of the seed preset fit the vocabulary on all texts" in rep.setup_prep()
    assert "The classifier reads" not in rep.setup_prep()          # pooling differs: table
    rep = compose([runs["rnn-default"], runs["gru-default"]])
    assert "leak" not in rep.setup_prep()
    pool = preset("default", "gru").pooling                 # both cells' default (meanmax)
    assert preset("default", "rnn").pooling == pool == "meanmax"
    assert f"The classifier reads {POOLING_WORDS[pool]}." in rep.setup_prep()  # one phrase
    mean = copy_run(runs["rnn-default"], tmp_path / "m", {"pooling": "mean"})
    rep = compose([mean, runs["gru-default"]])
    assert (f"The classifier reads {POOLING_WORDS['mean']} for the vanilla RNN and "
            f"{POOLING_WORDS[pool]} for the GRU.") in rep.setup_prep()
    assert "label smoothing 0.1" in rep.training()
    assert "decaying to 0 along a cosine" in rep.training()        # the GRU's schedule
    att = copy_run(runs["gru-default"], tmp_path / "a", {"pooling": "attention",
                                                         "label_smoothing": 0.0})
    rep = compose([mean, att])
    assert (f"The classifier reads {POOLING_WORDS['mean']} for the vanilla RNN and "
            f"{POOLING_WORDS['attention']} for the GRU.") in rep.setup_prep()
    assert "label smoothing 0.1 for the vanilla RNN" in rep.training()


def test_data_sentences(runs, tmp_path):
    def with_data(name, **data):
        d = copy_run(runs["gru-default"], tmp_path / name)
        m = metrics(d)
        m["data"].update(data)
        (d / "metrics.json").write_text(json.dumps(m))
        return d
    plain = compose([runs["gru-default"]])
    sizes = metrics(runs["gru-default"])["data"]["sizes"]
    assert "A random 70/15/15 split (seed 42)" in plain.setup_data()
    assert "dropping" not in plain.setup_data() and "Caution" not in plain.setup_data()
    assert f"the {sum(sizes.values()):,} articles of the BBC News corpus" in plain.intro()
    d = with_data("strat", stratify=True, dropped_duplicates=98, split_seed=7)
    rep = compose([d])
    assert "A stratified 70/15/15 split (seed 7)" in rep.setup_data()
    assert rep.setup_data().endswith("after dropping 98 exact duplicate texts.")
    assert "Caution" in compose([runs["gru-default"], d]).setup_data()
    # another corpus: its name, and no claim about a split metrics.json does not record
    d = with_data("csv", path="/data/news.csv")
    rep = compose([d])
    assert f"the {sum(sizes.values()):,} documents of \\texttt{{news.csv}}" in rep.intro()
    assert rep.setup_data().startswith("The split (the corpus's own parts where it has "
                                       "them, else random with seed 42) gives")
    rep = compose([with_data("col", path="/data/news.csv", split_column="part")])
    assert rep.setup_data().startswith("The split given with the data (its \\texttt{part} "
                                       "column) gives")
    rep = compose([with_data("files", train="/d/train.csv", test="/d/test.csv")])
    assert "documents of \\texttt{train.csv} and \\texttt{test.csv}" in rep.intro()
    assert rep.setup_data().startswith("The split given with the data (its files) gives")


def test_intro_names_the_best_recurrent_run_beside_baselines(runs):
    alone = compose([runs["rnn-default"], runs["gru-default"]])
    assert "The best run, the " in alone.intro()
    both = compose([runs["rnn-default"], runs["gru-default"], runs["tfidf-svm"]])
    assert "The best recurrent run, the " in both.intro()
    assert "with the vanilla RNN (Elman, 1990) and the gated recurrent unit" in both.intro()
    only_gru = compose([runs["gru-default"]])
    assert "vanilla RNN" not in only_gru.intro()
    base = compose([runs["tfidf-svm"]])
    assert "with the TF-IDF + SVM baseline" in base.intro()
    assert "with the settings given" in base.intro()
