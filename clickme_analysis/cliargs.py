"""The one grammar of every ``clickme`` subcommand: checked option types, common options, one help formatter.

Every package's ``cli`` module builds its options from here, so the same option reads, checks and
shows the same way in every subcommand:

- ``type=`` callables for numbers (:data:`positive_int`, :data:`nonnegative_int`,
  :data:`positive_float`, :data:`nonnegative_float`, :data:`probability`, :data:`seed`) and paths
  (:func:`existing_path`, :func:`output_path`): a bad value is an argparse error naming the option
  (exit 2, no traceback);
- :func:`add_progress`: ``--no-progress`` (``args.no_progress``) for every subcommand that shows
  progress bars;
- :class:`Parser`, whose subcommands all use :class:`HelpFormatter` (defaults shown once).

>>> positive_int("3"), probability("0.5"), seed("0")
(3, 0.5, 0)
>>> positive_int("0")
Traceback (most recent call last):
argparse.ArgumentTypeError: expected an integer > 0, got '0'
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import check_output_path

__all__ = [
    "positive_int",
    "nonnegative_int",
    "positive_float",
    "nonnegative_float",
    "probability",
    "finite_float",
    "correlation",
    "jobs",
    "seed",
    "existing_path",
    "output_path",
    "add_progress",
    "HelpFormatter",
    "Parser",
]


def _number(kind, test, expected):
    """An argparse ``type=``: ``kind(text)`` passing ``test``, else an error saying ``expected``."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not test(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__name__ = expected
    parse.__doc__ = f"argparse type: {expected} (anything else is an error naming the option)."
    return parse


#: argparse types (an error names the option and exits 2).
positive_int = _number(int, lambda v: v > 0, "an integer > 0")
nonnegative_int = _number(int, lambda v: v >= 0, "an integer >= 0")
positive_float = _number(float, lambda v: v > 0 and v != float("inf"), "a number > 0")
nonnegative_float = _number(float, lambda v: 0 <= v < float("inf"), "a number >= 0")
probability = _number(float, lambda v: 0 <= v <= 1, "a number between 0 and 1")
finite_float = _number(float, math.isfinite, "a finite number")
correlation = _number(float, lambda v: -1 <= v <= 1, "a number between -1 and 1")
#: Parallel processes, as joblib counts them (-1: every core).
jobs = _number(int, lambda v: v >= 1 or v == -1, "an integer >= 1, or -1 for every core")
#: A random seed every generator of the toolkit accepts (numpy's legacy ones stop at 2**32 - 1).
seed = _number(int, lambda v: 0 <= v < 2**32, "an integer between 0 and 4294967295")


def existing_path(text: str) -> Path:
    """argparse type: a file or folder that exists."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"expected an existing file or folder, got no such path {text!r}")
    return path


def output_path(text: str) -> Path:
    """argparse type: a file to write, whose folder exists."""
    try:
        return check_output_path(text)
    except InputError as err:
        raise argparse.ArgumentTypeError(err.message) from None


def add_progress(parser) -> None:
    """Add ``--no-progress`` (``args.no_progress``): hide the progress bars.

    Bars appear only when stderr is a terminal (:mod:`clickme_analysis.progress`), never in a log.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_progress(parser)
    >>> parser.parse_args([]).no_progress, parser.parse_args(["--no-progress"]).no_progress
    (False, True)
    """
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars (shown on terminals only)")


class HelpFormatter(argparse.HelpFormatter):
    """The help of every subcommand: an option's default is shown once, when it says something.

    ``(default: X)`` is added to an option's help unless the help already names its default, or
    the default is empty (None, a flag's False, an empty list or string).

    Examples
    --------
    >>> parser = argparse.ArgumentParser(prog="x", formatter_class=HelpFormatter)
    >>> _ = parser.add_argument("--boot", type=int, default=200, help="resamples")
    >>> _ = parser.add_argument("--size", type=int, default=256, help="side (default 256)")
    >>> _ = parser.add_argument("--layer", help="a layer")
    >>> _ = parser.add_argument("--seed", type=int, default=0, help="a seed")
    >>> for line in parser.format_help().splitlines():
    ...     if line.startswith("  --"):
    ...         print(line.strip())
    --boot BOOT    resamples (default: 200)
    --size SIZE    side (default 256)
    --layer LAYER  a layer
    --seed SEED    a seed (default: 0)
    """

    def _get_help_string(self, action) -> str:
        text = action.help or ""
        default = action.default
        empty = default is None or isinstance(default, bool) or (isinstance(default, (str, list)) and not default)
        quiet = (
            not action.option_strings
            or empty
            or default is argparse.SUPPRESS
            or text is argparse.SUPPRESS
            or "default" in text
            or f"({default})" in text
        )
        return text if quiet else f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """The ``clickme`` parser: every subcommand below it (``add_subparsers``) uses :class:`HelpFormatter`."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
