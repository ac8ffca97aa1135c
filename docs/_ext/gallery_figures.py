"""sphinx-gallery scraper for the toolkit's figures.

The report's figure functions build ``matplotlib.figure.Figure`` objects without pyplot (no
global figure manager), which sphinx-gallery's matplotlib scraper does not see. This scraper
saves every such figure an example's namespace holds after a code block, once each.
"""

from __future__ import annotations

SEEN = "__toolkit_figures_saved__"


def toolkit_figures(block, block_vars, gallery_conf, **kwargs):
    """Save the example's new pyplot-free figures; return their reST (sphinx-gallery scraper API)."""
    from matplotlib.figure import Figure
    from sphinx_gallery.scrapers import figure_rst

    namespace = block_vars["example_globals"]
    saved = namespace.setdefault(SEEN, set())
    paths = []
    for value in list(namespace.values()):
        if isinstance(value, Figure) and id(value) not in saved and value.canvas.manager is None:
            path = next(block_vars["image_path_iterator"])
            value.savefig(path, dpi=110)
            saved.add(id(value))
            paths.append(path)
    return figure_rst(paths, gallery_conf["src_dir"])
