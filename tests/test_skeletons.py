"""The completed course files at the repo root compute what the package computes.

``RNN_skeleton.py`` and ``GRU_skeleton.py`` are self-contained (torch only); with the
same weights copied over they must match ``textrnn``'s cells and layers.
"""

import ast
import importlib.util
from pathlib import Path

import pytest
import torch

import textrnn

REPO = Path(__file__).resolve().parents[1]
SKELETONS = ["RNN_skeleton.py", "GRU_skeleton.py"]
DT = torch.float64


def _load(filename):
    path = REPO / filename
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rnn_sk():
    return _load("RNN_skeleton.py")


@pytest.fixture(scope="module")
def gru_sk():
    return _load("GRU_skeleton.py")


def _close(a, b):
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def _copy_gru_cell(sk_cell, pkg_cell):
    """Skeleton GRUCell (six nn.Linear) -> textrnn.GRUCell (W_*, U_*, b_* parameters)."""
    with torch.no_grad():
        for g in "zrh":
            getattr(pkg_cell, f"W_{g}").copy_(getattr(sk_cell, f"W_{g}").weight)
            getattr(pkg_cell, f"b_{g}").copy_(getattr(sk_cell, f"W_{g}").bias)
            getattr(pkg_cell, f"U_{g}").copy_(getattr(sk_cell, f"U_{g}").weight)
            assert getattr(sk_cell, f"U_{g}").bias is None


@pytest.mark.parametrize("filename", SKELETONS)
def test_skeleton_imports_only_torch(filename):
    tree = ast.parse((REPO / filename).read_text(encoding="utf-8"))
    imported = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            imported.append(node.module or "")
    assert imported, "expected at least `import torch`"
    for name in imported:
        assert name == "torch" or name.startswith("torch."), f"{filename} imports {name}"


def test_skeleton_attributes(rnn_sk, gru_sk):
    m = rnn_sk.VanillaRNN(10, 3, 4, 2)
    assert isinstance(m.embedding, torch.nn.Embedding)
    assert m.Wx.weight.shape == (4, 3) and m.Wx.bias is not None
    assert m.Wh.weight.shape == (4, 4) and m.Wh.bias is None
    assert m.fc.weight.shape == (2, 4)
    g = gru_sk.GRUModel(10, 3, 4, 2)
    assert isinstance(g.gru_cell, gru_sk.GRUCell)
    for name in ("W_z", "W_r", "W_h"):
        lin = getattr(g.gru_cell, name)
        assert lin.weight.shape == (4, 3) and lin.bias is not None
    for name in ("U_z", "U_r", "U_h"):
        lin = getattr(g.gru_cell, name)
        assert lin.weight.shape == (4, 4) and lin.bias is None
    ids = torch.randint(0, 10, (2, 5))
    assert m(ids).shape == (2, 2) and g(ids).shape == (2, 2)


def test_gru_cell_matches_package(gru_sk):
    torch.manual_seed(0)
    sk = gru_sk.GRUCell(3, 4).double()
    pkg = textrnn.GRUCell(3, 4).double()
    _copy_gru_cell(sk, pkg)
    x, h = torch.randn(5, 3, dtype=DT), torch.randn(5, 4, dtype=DT)
    # nn.Linear adds the bias first (addmm), the package last: same maths, rounding aside
    _close(sk(x, h), pkg(x, h))


def test_vanilla_rnn_matches_package(rnn_sk):
    torch.manual_seed(1)
    sk = rnn_sk.VanillaRNN(20, 3, 4, 5).double()
    layer = textrnn.RNN(3, 4, impl="reference").double()
    cell = layer.cells[0]
    with torch.no_grad():
        cell.W_x.copy_(sk.Wx.weight)
        cell.b_h.copy_(sk.Wx.bias)
        cell.W_h.copy_(sk.Wh.weight)
    ids = torch.randint(0, 20, (3, 7))
    _, h_n = layer(sk.embedding(ids))
    _close(sk(ids), sk.fc(h_n[-1]))


def test_gru_model_matches_package(gru_sk):
    torch.manual_seed(2)
    sk = gru_sk.GRUModel(20, 3, 4, 5).double()
    layer = textrnn.GRU(3, 4, impl="reference").double()
    _copy_gru_cell(sk.gru_cell, layer.cells[0])
    ids = torch.randint(0, 20, (3, 7))
    _, h_n = layer(sk.embedding(ids))
    _close(sk(ids), sk.fc(h_n[-1]))
