"""Sphinx configuration of the ClickMe toolkit's documentation site (``make docs``).

Sphinx with numpydoc and sphinx-gallery, as scikit-image and MNE: the docstrings are numpydoc,
the gallery scripts run at build time and draw the paper's figures, and the user guide stays in
Markdown (MyST). The build is offline: no intersphinx, no remote images.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")

from clickme_analysis import __version__  # noqa: E402

project = "ClickMe toolkit"
author = "The ClickMe toolkit authors"
copyright = "2026, The ClickMe toolkit authors"
version = release = __version__

extensions = ["sphinx.ext.autodoc", "sphinx.ext.autosummary", "numpydoc", "myst_parser", "sphinx_gallery.gen_gallery"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
    "auto_examples/*.md5",
    "sg_execution_times.rst",
]

# API reference: every public module, found by walking the packages (autosummary :recursive:).
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# A public function, class or method without a docstring fails the build (with -W).
numpydoc_validation_checks = {"GL08"}
# nn.Module.forward is documented by its class (as in timm); ThreadPoolExecutor is the standard
# library's, HttpToolsProtocol uvicorn's, Request starlette's and the validation errors FastAPI's
# and pydantic's, imported where they are used.
numpydoc_validation_exclude = {
    r"\.__init__$",
    r"\.__repr__$",
    r"\.__call__$",
    r"\.forward$",
    r"\.ThreadPoolExecutor$",
    r"\.HttpToolsProtocol$",
    r"\.Request$",
    r"\.RequestValidationError$",
    r"\.ValidationError$",
}

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    "within_subsection_order": "FileNameSortKey",
    # the report's figure functions draw without pyplot: gallery_figures saves those too
    "image_scrapers": ("matplotlib", "gallery_figures.toolkit_figures"),
}

html_theme = "pydata_sphinx_theme"
html_title = f"ClickMe toolkit {release}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2, "secondary_sidebar_items": ["page-toc"]}
html_static_path: list[str] = []
html_show_sourcelink = False


def _skip_type_aliases(app, what, name, obj, skip, options):
    """Module-level type aliases (``Id = Annotated[str, Field(pattern=...)]``) are not API entries:
    autodoc would print their value as reST ("alias of ..."), and a regex in it breaks the build."""
    import typing

    if what == "module" and typing.get_origin(obj) is not None:
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_type_aliases)
