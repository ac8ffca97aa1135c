"""The ``clickme`` console command: a thin dispatcher over one subcommand per job.

Each package owns its subcommands in its own ``cli`` module, which exposes
``register(subparsers)``; this module only gathers them, so a package's heavy imports
happen inside its handlers, never at parse time.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from clickme_analysis import __version__
from clickme_analysis.errors import InputError

#: Modules whose ``register(subparsers)`` adds subcommands, in help order.
SUBCOMMAND_MODULES = (
    "clickme_analysis.commands",
    "stimuli.cli",
    "experiments.cli",
    "experiments.game.cli",
    "models.cli",
    "reports.cli",
    "clickme_app.configs",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clickme",
        description="ClickMe maps, psychophysics and GALA models: one subcommand per job.",
    )
    parser.add_argument("--version", action="version", version=f"clickme {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    demo = subparsers.add_parser("demo", help="run the whole pipeline on the embedded data set, write a report",
                                 description="ClickMe maps -> reliability -> stimuli -> simulated experiment -> "
                                             "models -> report.html, on images scikit-image ships.")
    demo.add_argument("--out", type=Path, default=Path("demo_output"), help="output folder (default demo_output)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    demo.set_defaults(func=_demo)
    return parser


def _demo(args) -> int:
    from reports.demo import run

    report = run(args.out, seed=args.seed, progress=args.progress)
    print(f"report: {report.resolve()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``clickme``; bad input exits with status 2 and a located message, no traceback."""
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except InputError as err:
        print(f"clickme {args.command}: error: {err}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as err:
        # A path the user named that cannot be opened: located by the file name the OS reports.
        where = f"{err.filename}: " if err.filename else ""
        print(f"clickme {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"clickme {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
