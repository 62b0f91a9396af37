"""The figures in the README's headline table (and in any docs/*.md table marked the
same way) are the ones in the results file they come from.

A marked block looks like::

    <!-- headline: results/compare.json -->
    | protocol | model | preset | runs | val accuracy | test accuracy | test macro-F1 | train time |
    |---|---|---|---:|---:|---:|---:|---:|
    | split | gru | default | 3 | ... |
    <!-- /headline -->

The path is relative to the repository root; the block must hold exactly the rows of
``textrnn.study.compare.table(json["summary"])`` (header included), in any order.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from textrnn.study.compare import table

REPO = Path(__file__).resolve().parents[1]
OPEN = re.compile(r"^<!--\s*headline:\s*(?P<path>\S+)\s*-->\s*$")
CLOSE = re.compile(r"^<!--\s*/headline\s*-->\s*$")


def headline_blocks(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(line number, results path, table lines)`` of each marked block in ``path``.
    Raises AssertionError, naming the file and line, on a marker left open or unopened."""
    blocks, current = [], None
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if m := OPEN.match(line.strip()):
            assert current is None, f"{path}:{n}: headline block opened inside another"
            current = (n, m["path"], [])
        elif CLOSE.match(line.strip()):
            assert current is not None, f"{path}:{n}: <!-- /headline --> without an opening marker"
            blocks.append(current)
            current = None
        elif current is not None and line.strip():
            current[2].append(line.strip())
    assert current is None, f"{path}:{current[0]}: headline block never closed"
    return blocks


def check_block(doc: Path, line: int, results: str, rows: list[str], root: Path = REPO) -> None:
    """The block's table rows are exactly those rendered from the results file."""
    where = f"{doc.name}:{line}"
    src = root / results
    assert src.is_file(), f"{where}: results file {results} not found"
    data = json.loads(src.read_text(encoding="utf-8"))
    assert "summary" in data, f"{where}: {results} has no 'summary'"
    expected = table(data["summary"]).splitlines()
    assert rows, f"{where}: empty headline block"
    assert rows[:2] == expected[:2], f"{where}: header differs from table(): {rows[:2]}"
    got, want = rows[2:], expected[2:]
    extra = [r for r in got if r not in want]
    missing = [r for r in want if r not in got]
    assert not extra, f"{where}: rows not in {results} (stale or edited figures): {extra}"
    assert not missing, f"{where}: rows of {results} missing from the block: {missing}"
    assert len(got) == len(want), f"{where}: a row appears twice"


def test_readme_headline_table_equals_its_results_file():
    readme = REPO / "README.md"
    blocks = headline_blocks(readme)
    assert blocks, ("README.md has no headline table: put the table produced by "
                    "textrnn.study.compare.table() between '<!-- headline: "
                    "results/compare.json -->' and '<!-- /headline -->'")
    for line, results, rows in blocks:
        check_block(readme, line, results, rows)


def test_docs_headline_tables_equal_their_results_files():
    """Any docs/*.md page may mark tables the same way (none marked: nothing to check)."""
    for doc in sorted((REPO / "docs").glob("*.md")):
        for line, results, rows in headline_blocks(doc):
            check_block(doc, line, results, rows)


# -- the checker itself can disagree ----------------------------------------------
SUMMARY = [{"protocol": "split", "model": "gru", "preset": "default", "runs": 3,
            "val_mean": 0.97, "val_std": 0.01, "acc_mean": 0.98, "acc_std": 0.005,
            "f1_mean": 0.979, "f1_std": 0.006, "train_seconds": 40.2, "test_size": 334},
           {"protocol": "split", "model": "tfidf-svm", "preset": "baseline", "runs": 1,
            "val_mean": 0.99, "val_std": 0.0, "acc_mean": 0.985, "acc_std": 0.0,
            "f1_mean": 0.984, "f1_std": 0.0, "train_seconds": 1.0, "test_size": 334}]


def _doc(tmp_path: Path, body: str) -> tuple[Path, list]:
    (tmp_path / "results").mkdir(exist_ok=True)
    (tmp_path / "results" / "c.json").write_text(json.dumps({"summary": SUMMARY}))
    doc = tmp_path / "README.md"
    doc.write_text(f"# title\n\ntext\n<!-- headline: results/c.json -->\n{body}\n"
                   "<!-- /headline -->\nmore text\n")
    return doc, headline_blocks(doc)


def test_checker_accepts_the_rendered_table_in_any_row_order(tmp_path):
    lines = table(SUMMARY).splitlines()
    doc, blocks = _doc(tmp_path, "\n".join(lines[:2] + lines[2:][::-1]))
    assert [(b[1], len(b[2])) for b in blocks] == [("results/c.json", 4)]
    check_block(doc, *blocks[0], root=tmp_path)


@pytest.mark.parametrize("edit,message", [
    (lambda ls: ls[:2] + [ls[2].replace("98.00%", "98.10%"), ls[3]], "rows not in"),
    (lambda ls: ls[:3], "missing from the block"),
    (lambda ls: ls + [ls[3]], "twice"),
    (lambda ls: [ls[0].replace("val accuracy", "val acc")] + ls[1:], "header"),
], ids=["changed figure", "missing row", "repeated row", "header"])
def test_checker_rejects_a_table_that_disagrees(tmp_path, edit, message):
    doc, blocks = _doc(tmp_path, "\n".join(edit(table(SUMMARY).splitlines())))
    with pytest.raises(AssertionError, match=message):
        check_block(doc, *blocks[0], root=tmp_path)


def test_checker_rejects_broken_markers(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("<!-- headline: results/c.json -->\n| a |\n")
    with pytest.raises(AssertionError, match="never closed"):
        headline_blocks(doc)
    doc.write_text("| a |\n<!-- /headline -->\n")
    with pytest.raises(AssertionError, match="without an opening"):
        headline_blocks(doc)
    doc.write_text("<!-- headline: results/nope.json -->\n| a |\n<!-- /headline -->\n")
    with pytest.raises(AssertionError, match="not found"):
        check_block(doc, *headline_blocks(doc)[0], root=tmp_path)
