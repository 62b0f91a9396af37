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
from textrnn.config import preset
from textrnn.errors import TextrnnError
from textrnn.study.report import OVERFULL_PT, write_report
from textrnn.runs import DataSpec, train_run

TINY = dict(epochs=1, maxlen=30, num_words=500, hidden_size=8, embedding_dim=8)


@pytest.fixture(scope="session", autouse=True)
def latex_tools():
    missing = [t for t in ("pdflatex", "pdfinfo", "pdftotext") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not found: run bash scripts/install-latex.sh")


@pytest.fixture(scope="session")
def runs(tmp_path_factory, bbc_dir):
    """Three tiny recurrent runs and a metrics-only baseline run."""
    root = tmp_path_factory.mktemp("runs")
    dirs = {}
    for model, preset_name in (("rnn", "seed"), ("rnn", "default"), ("gru", "default")):
        out = root / f"{model}-{preset_name}"
        train_run(preset(preset_name, model, **TINY), DataSpec(), out, verbose=False,
                  log=lambda *a: None)
        dirs[f"{model}-{preset_name}"] = out
    # a classical baseline: any run dir whose metrics.json names another model
    m = json.loads((dirs["gru-default"] / "metrics.json").read_text())
    base = root / "tfidf-svm"
    base.mkdir()
    m = {"model": "tfidf-svm", "train_seconds": 0.8, "data": m["data"],
         "test": {**m["test"], "accuracy": 0.9611, "macro_f1": 0.9602}}
    (base / "metrics.json").write_text(json.dumps(m))
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
    out = tmp_path_factory.mktemp("report") / "report.pdf"
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
    r = write_report([runs["gru-default"], odd], tmp_path / "odd.pdf", title=title,
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
    r = write_report(dirs, tmp_path / "many.pdf")
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
    r = write_report([runs["gru-default"]], tmp_path / "kit.pdf", style_dir=kit)
    assert r"\usepackage[final]{cvpr}" in r.tex.read_text()
    assert "CVPR-KIT-FINAL" in r.log
    assert pdfinfo(r.pdf)["Pages"] == "1"


def test_latex_failure_is_one_clear_line(runs, tmp_path):
    kit = tmp_path / "broken"
    kit.mkdir()
    (kit / "cvpr.sty").write_text("\\ProvidesPackage{cvpr}\n\\thisisnotamacro\n")
    with pytest.raises(TextrnnError) as e:
        write_report([runs["gru-default"]], tmp_path / "broken.pdf", style_dir=kit)
    msg = str(e.value)
    assert "\n" not in msg
    assert "pdflatex failed" in msg and "Undefined control sequence" in msg
    assert not (tmp_path / "broken.pdf").exists()
    assert (tmp_path / "broken.tex").is_file() and (tmp_path / "broken.log").is_file()


def test_style_dir_without_cvpr_sty(runs, tmp_path):
    with pytest.raises(TextrnnError, match="no cvpr.sty"):
        write_report([runs["gru-default"]], tmp_path / "r.pdf", style_dir=tmp_path)


def test_missing_pdflatex_says_how_to_install(runs, tmp_path, monkeypatch):
    import textrnn.study.report as report_mod
    monkeypatch.setattr(report_mod.shutil, "which", lambda name: None)
    with pytest.raises(TextrnnError, match="pdflatex not found.*install-latex.sh"):
        write_report([runs["gru-default"]], tmp_path / "r.pdf")
    assert (tmp_path / "r.tex").is_file()          # the source is still written


def test_cli_report(runs, tmp_path, capsys):
    out = tmp_path / "cli.pdf"
    assert main(["report", str(runs["rnn-default"]), str(runs["gru-default"]), "-o", str(out),
                 "--title", "Tiny runs"]) == 0
    assert "cli.pdf" in capsys.readouterr().out
    assert pdfinfo(out)["Pages"] == "1"
    assert "Tiny runs" in pdftext(out)


@pytest.mark.parametrize("make", [
    lambda tmp: tmp / "nope",                                   # missing
    lambda tmp: (tmp / "empty").mkdir() or tmp / "empty",       # no metrics.json
])
def test_cli_bad_run_dir_is_one_error_line(make, tmp_path, capsys):
    path = make(tmp_path)
    assert main(["report", str(path), "-o", str(tmp_path / "r.pdf")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("textrnn: error: ") and str(path) in err[0]
    assert not (tmp_path / "r.pdf").exists()
