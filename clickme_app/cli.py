"""The ``clickme`` console command: a thin dispatcher over one subcommand per job.

Each package owns its subcommands in its own ``cli`` module, which exposes
``register(subparsers)``; :data:`REGISTRY` lists them, in help order, and is the only place a
subcommand is made known. A package's heavy imports happen inside its handlers, never at parse
time. Every subcommand shares one option grammar (:mod:`clickme_analysis.cliargs`).
"""

from __future__ import annotations

import sys

from clickme_analysis import __version__, commands
from clickme_analysis.cliargs import Parser
from clickme_analysis.errors import InputError
from clickme_app import configs, demo
from experiments import cli as experiments_cli
from experiments.game import cli as game_cli
from experiments.online import cli as online_cli
from models import cli as models_cli
from reports import cli as reports_cli
from stimuli import cli as stimuli_cli

#: Module -> its ``register(subparsers)``, in help order (the subcommands each adds).
REGISTRY = {
    "clickme_analysis.commands": commands.register,  # maps, reliability, metrics
    "stimuli.cli": stimuli_cli.register,  # stimuli build
    "experiments.cli": experiments_cli.register,  # experiment run | analyze
    "experiments.online.cli": online_cli.register,  # serve, serve export
    "experiments.game.cli": game_cli.register,  # game, game-stats
    "models.cli": models_cli.register,  # train, pack, score, explain, alignment
    "reports.cli": reports_cli.register,  # report
    "clickme_app.configs": configs.register,  # configs list | show
    "clickme_app.demo": demo.register,  # demo
}


def build_parser() -> Parser:
    """The ``clickme`` parser with every registered subcommand."""
    parser = Parser(prog="clickme", description="ClickMe maps, psychophysics and GALA models: one subcommand per job.")
    parser.add_argument("--version", action="version", version=f"clickme {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in REGISTRY.values():
        register(subparsers)
    return parser


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
