"""One figure style for every report figure: a small rc dict and the Okabe-Ito palette.

Figures are built as bare :class:`matplotlib.figure.Figure` objects on an Agg canvas, never
through ``pyplot``, so nothing here touches matplotlib's global backend or figure registry; the
style is applied with :func:`matplotlib.rc_context` only while a figure is being drawn or saved.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path

from cycler import cycler

#: Okabe & Ito (2008) colour-blind-safe palette, in the order series are given colours.
OKABE_ITO = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#E69F00",  # orange
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)

#: Neutral grey for reference lines and null distributions.
GRAY = "#7F7F7F"

#: Sequential colormap for maps (perceptually uniform, colour-blind safe).
MAP_CMAP = "inferno"

#: Diverging colormap for signed differences (ColorBrewer RdBu, colour-blind safe).
DIVERGING_CMAP = "RdBu_r"

#: Display names for the series names used in the tidy tables.
DISPLAY_NAMES = {
    "clickme": "ClickMe",
    "saliency": "Saliency",
    "intact": "Full image",
    "human": "Human (same image)",
    "null": "Null (different images)",
    "train": "Train",
    "val": "Validation",
}

#: Widths in inches of a single-column and a full-width (two-column) figure.
SINGLE_COLUMN = 3.5
DOUBLE_COLUMN = 7.2

#: The one style: applied while drawing and saving every figure.
STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.4,
    "lines.markersize": 4,
    "errorbar.capsize": 2,
    "xtick.major.width": 0.8,
    "ytick.major.width": 0.8,
    "figure.dpi": 100,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42,  # embed TrueType: text stays editable in the PDF
    "ps.fonttype": 42,
    "image.interpolation": "nearest",
}


def _style() -> dict:
    return {**STYLE, "axes.prop_cycle": cycler(color=OKABE_ITO)}  # series colours: Okabe-Ito


def styled(func):
    """Decorator: run a figure function inside the report style (rc parameters)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(_style()):
            return func(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **subplot_kw):
    """A bare Figure on an Agg canvas with a grid of axes (``squeeze=False``).

    Parameters
    ----------
    width, height : float
        Size in inches.
    nrows, ncols : int
        Axes grid.
    **subplot_kw
        Passed to :meth:`Figure.subplots` (e.g. ``sharey=True``).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : numpy.ndarray of Axes, shape (nrows, ncols)
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **subplot_kw)
    return fig, axes


def display_name(name) -> str:
    """The name a figure shows for a series (``clickme`` -> ``ClickMe``); others unchanged."""
    return DISPLAY_NAMES.get(str(name), str(name))


def colors_for(names) -> dict:
    """Colour per series name, stable across figures: names sorted, then Okabe-Ito in order.

    ``intact`` (the full image) is always black and ``null`` always grey, so reference series
    look the same in every figure.

    Examples
    --------
    >>> colors_for(["saliency", "clickme", "intact"])
    {'saliency': '#D55E00', 'clickme': '#0072B2', 'intact': '#000000'}
    """
    fixed = {"intact": "#000000", "null": GRAY}
    others = sorted({str(n) for n in names} - set(fixed))
    colors = {n: OKABE_ITO[i % len(OKABE_ITO)] for i, n in enumerate(others)}
    colors.update({n: c for n, c in fixed.items() if n in {str(x) for x in names}})
    return {str(n): colors[str(n)] for n in names}


def save_figure(fig, stem) -> list:
    """Save ``fig`` as vector PDF and PNG next to each other (``stem.pdf``, ``stem.png``).

    Returns
    -------
    list of pathlib.Path
        The two written paths.
    """
    import matplotlib

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".pdf"), stem.with_suffix(".png")]
    with matplotlib.rc_context(_style()):
        for path in paths:
            fig.savefig(path, metadata={"CreationDate": None} if path.suffix == ".pdf" else None)
    return paths


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes in the report style (for embedding as a data URI)."""
    import matplotlib

    buffer = io.BytesIO()
    with matplotlib.rc_context(_style()):
        fig.savefig(buffer, format="png")
    return buffer.getvalue()
