"""ClickMe analysis: click logs -> attention maps, reliability, map metrics and psychophysics statistics.

Heavy libraries (torch, psychopy, matplotlib) are never imported here; submodules import what
they need.
"""

__version__ = "0.1.0"
