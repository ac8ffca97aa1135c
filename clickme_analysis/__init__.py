"""ClickMe analysis: click logs -> attention maps, reliability, map metrics and psychophysics statistics.

Heavy libraries (torch, psychopy, matplotlib) are never imported here; submodules import what
they need.
"""

from clickme_analysis.install_check import warn_on_foreign_packages

#: The toolkit's version: the one source the wheel's metadata, ``clickme --version`` and CITATION.cff follow.
__version__ = "0.1.0"

warn_on_foreign_packages()
