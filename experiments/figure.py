"""Accuracy vs % revealed per group (the paper's Fig. 2B style): means, S.E.M. bars,
psychometric curves with bootstrap bands, and marks at levels that differ between groups."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7")  # Okabe-Ito


def plot_accuracy(accuracy: pd.DataFrame, level_tests: pd.DataFrame | None = None,
                  psychometric: pd.DataFrame | None = None, path=None):
    """Draw the figure; saves it to ``path`` when given and returns the matplotlib Figure."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.0, 3.6), constrained_layout=True)
    revealed = accuracy[~accuracy["intact"].astype(bool)] if "intact" in accuracy else accuracy
    top = revealed["level"].max()
    for i, (color, (group, g)) in enumerate(zip(COLORS, revealed.groupby("group", sort=True))):
        ax.errorbar(g["level"], g["accuracy"], yerr=g["sem"], fmt="o", color=color, capsize=2, label=group, ms=4)
        if psychometric is not None and not psychometric.empty:
            c = psychometric[psychometric["group"] == group]
            ax.plot(c["level"], c["predicted"], color=color, lw=1.2)
            ax.fill_between(c["level"], c["ci_low"], c["ci_high"], color=color, alpha=0.15, lw=0)
        if "intact" in accuracy:
            full = accuracy[accuracy["intact"].astype(bool) & (accuracy["group"] == group)]
            if len(full):
                ax.errorbar([top * (1.5 + 0.15 * i)], full["accuracy"], yerr=full["sem"], fmt="s", color=color, capsize=2, ms=4)
    if level_tests is not None and not level_tests.empty:
        sig = level_tests[level_tests["significant"].astype(bool)]
        for level, intact in zip(sig["level"], sig.get("intact", pd.Series(False, index=sig.index))):
            ax.text(top * 1.6 if intact else level, 1.02, "*", ha="center", va="bottom", fontsize=12)
    ax.axhline(0.5, color="0.6", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_ylim(0.4, 1.08)
    ax.set_xlabel("image revealed (%)  [square: full image]")
    ax.set_ylabel("accuracy")
    ax.legend(frameon=False, loc="lower right")
    ax.spines[["top", "right"]].set_visible(False)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150)
        plt.close(fig)
    return fig
