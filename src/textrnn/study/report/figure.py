"""The report's figure: validation curves of the recurrent runs and the best run's
confusion matrix (or, with neither, a bar per run), as a vector PDF one column wide."""

from __future__ import annotations

from pathlib import Path

from ...checkpoint import write_atomic
from .runs import CELL_NAMES
from .text import Report


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
        fig = plt.figure(figsize=(width_in, 1.3))
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
            last = max((len(r.metrics.get("history") or []) for r in rep.rec), default=1)
            ax.set_xlim(0.5, last + 0.5)      # whole epochs, even for one-epoch runs
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

