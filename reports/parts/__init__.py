"""The report's sections, one module per section; each part builder takes the inputs root and
returns the :class:`Item` objects it could build (:data:`reports.report.SECTIONS` lists them, and
:func:`reports.report.gather` collects them in a :class:`Gathered`).

A part raises :class:`reports.inputs.Missing` when its main input is absent (the part is listed as
missing) and :class:`~clickme_analysis.errors.InputError` when an input breaks its contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Item:
    """One report element: a matplotlib Figure, a table (DataFrame) or an existing PNG (bytes)."""

    name: str
    title: str
    caption: str
    content: object


@dataclass
class Gathered:
    """What :func:`reports.report.gather` found: items per section, and the parts missing or unusable."""

    inputs: Path
    sections: dict = field(default_factory=dict)
    missing: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    #: stage folder -> :class:`reports.provenance.Provenance` (who produced that stage's data)
    provenance: dict = field(default_factory=dict)
