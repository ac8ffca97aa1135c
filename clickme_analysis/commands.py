"""``clickme maps``, ``clickme reliability``, ``clickme metrics`` and ``clickme demo``."""

from __future__ import annotations


def register(subparsers) -> None:
    """Add the ClickMe data-core subcommands."""
