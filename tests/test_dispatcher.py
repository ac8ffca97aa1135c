"""The `clickme` dispatcher: every subcommand registers, bad input exits 2 without a traceback."""

from __future__ import annotations

import argparse

import pytest

from clickme_analysis import cli
from clickme_analysis.errors import InputError


def _parser_raising(exc):
    def build():
        parser = argparse.ArgumentParser(prog="clickme")
        sub = parser.add_subparsers(dest="command", required=True)
        sub.add_parser("boom").set_defaults(func=lambda args: (_ for _ in ()).throw(exc))
        return parser
    return build


@pytest.mark.parametrize("exc, message", [
    (InputError("expected x, got y", path="a.csv", line=3, field="x"), "a.csv, line 3, field 'x': expected x, got y"),
    (FileNotFoundError(2, "No such file or directory", "maps/missing.npz"),
     "maps/missing.npz: No such file or directory"),
    (IsADirectoryError(21, "Is a directory", "out"), "out: Is a directory"),
])
def test_user_errors_exit_2_with_a_located_message(monkeypatch, capsys, exc, message):
    monkeypatch.setattr(cli, "build_parser", _parser_raising(exc))
    assert cli.main(["boom"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"clickme boom: error: {message}"


def test_a_bug_is_not_hidden(monkeypatch):
    monkeypatch.setattr(cli, "build_parser", _parser_raising(ZeroDivisionError("bug")))
    with pytest.raises(ZeroDivisionError):
        cli.main(["boom"])


def test_every_subcommand_has_help(capsys):
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert {"maps", "reliability", "metrics", "train", "score", "report", "demo"} <= set(commands)
    for name, sub in commands.items():
        assert sub.format_help().startswith("usage: clickme"), name
