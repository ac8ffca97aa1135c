"""The one figure style: stable colours, rc applied only while drawing, PDF + PNG output."""

from __future__ import annotations

import matplotlib

from reports import figures
from reports.style import OKABE_ITO, colors_for, png_bytes, save_figure


def test_colors_are_stable_across_figures():
    assert colors_for(["saliency", "clickme"]) == {"saliency": OKABE_ITO[1], "clickme": OKABE_ITO[0]}
    assert colors_for(["null", "human"]) == {"null": "#7F7F7F", "human": OKABE_ITO[0]}
    assert colors_for(["intact", "clickme"])["intact"] == "#000000"


def test_style_applies_inside_and_does_not_leak(participants):
    before = dict(matplotlib.rcParams)
    fig = figures.participants_histogram(participants)
    ax = fig.axes[0]
    assert not ax.spines["top"].get_visible() and not ax.spines["right"].get_visible()
    assert ax.xaxis.label.get_fontsize() == 8
    assert dict(matplotlib.rcParams) == before


def test_save_figure_writes_vector_pdf_and_png(tmp_path, participants):
    fig = figures.participants_histogram(participants)
    pdf, png = save_figure(fig, tmp_path / "figures" / "participants")
    assert pdf.read_bytes()[:5] == b"%PDF-" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"/FontFile2" in pdf.read_bytes()  # TrueType fonts embedded (pdf.fonttype 42)
    assert png_bytes(fig) == png.read_bytes()


def test_importing_reports_does_not_import_matplotlib():
    import subprocess
    import sys

    code = "import sys, reports.report, reports.cli; print('matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
