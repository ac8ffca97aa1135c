"""``clickme report``: gather the toolkit's outputs into figures, tables and ``report.html``."""

from __future__ import annotations

import argparse
from pathlib import Path

from clickme_analysis.cliargs import add_progress
from reports.report import build_report


def register(subparsers) -> None:
    """Add ``clickme report``."""
    parser = subparsers.add_parser(
        "report",
        help="figures, tables and one self-contained report.html from the toolkit's outputs",
        description=(
            "Gather whatever outputs exist under --inputs (clickme/, stimuli/, experiment/, "
            "models/; see docs/outputs.md) into OUT/report.html with every figure embedded, "
            "plus OUT/figures/*.pdf|png and OUT/tables/*.md|tex|csv. Missing inputs are "
            "listed in the report, not fatal. Prints the path of report.html."
        ),
    )
    parser.add_argument(
        "--inputs",
        type=Path,
        required=True,
        metavar="DIR",
        help="outputs root (as written by `clickme demo --out DIR`)",
    )
    parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="report folder (created; existing files are overwritten)"
    )
    add_progress(parser)
    parser.set_defaults(func=_report)


def _report(args: argparse.Namespace) -> int:
    print(build_report(args.inputs, args.out, progress=not args.no_progress))
    return 0
