"""The walk-through notebook runs from top to bottom, headlessly, on a small budget."""

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "RNN_Implementation.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(not c.outputs and c.execution_count is None for c in code)


def test_notebook_runs_without_error(tmp_path, monkeypatch, bbc_dir):
    monkeypatch.setenv("TEXTRNN_NOTEBOOK_FAST", "1")      # one tiny epoch per cell type
    monkeypatch.setenv("TEXTRNN_DATA", str(bbc_dir))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()                          # raises CellExecutionError on the first error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "fast mode: True" in text
    assert "matches the equation: True" in text and "matches the equations: True" in text
    assert "test accuracy" in text
    assert "same predictions after loading: True" in text
    assert os.listdir(tmp_path) == []         # the notebook leaves no files behind
