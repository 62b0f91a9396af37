"""PNG figures of a run: training curves and the confusion matrix (matplotlib, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .checkpoint import write_atomic  # noqa: E402


def plot_curves(history: list[dict], path: str | Path, title: str = "") -> None:
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8, 3.2))
    for split, style in (("train", "-"), ("val", "--")):
        if f"{split}_loss" in history[0]:
            ax_loss.plot(epochs, [r[f"{split}_loss"] for r in history], style, label=split)
            ax_acc.plot(epochs, [r[f"{split}_acc"] for r in history], style, label=split)
    best = [r["epoch"] for r in history if r.get("best")]
    for ax, name in ((ax_loss, "cross-entropy loss"), (ax_acc, "accuracy")):
        for b in best:
            ax.axvline(b, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    write_atomic(path, lambda p: fig.savefig(p, format="png", dpi=120))
    plt.close(fig)


def plot_confusion(matrix: list[list[int]], labels: list[str], path: str | Path,
                   title: str = "") -> None:
    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * n, 0.8 + 0.7 * n))
    ax.imshow(matrix, cmap="Blues")
    top = max(max(row) for row in matrix) or 1
    for i in range(n):
        for j in range(n):
            ax.text(j, i, matrix[i][j], ha="center", va="center",
                    color="white" if matrix[i][j] > top / 2 else "black")
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    write_atomic(path, lambda p: fig.savefig(p, format="png", dpi=120))
    plt.close(fig)
