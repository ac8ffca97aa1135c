"""``clickme`` subcommands of the ``reports`` package."""

from __future__ import annotations


def register(subparsers) -> None:
    """Add this package's subcommands to the ``clickme`` parser (none yet)."""
