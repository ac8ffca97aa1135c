"""The `clickme` dispatcher: every subcommand registers, bad input exits 2 without a traceback."""

from __future__ import annotations

import argparse

import pytest

from clickme_analysis.errors import InputError
from clickme_app import cli


def _parser_raising(exc):
    def build():
        parser = argparse.ArgumentParser(prog="clickme")
        sub = parser.add_subparsers(dest="command", required=True)
        sub.add_parser("boom").set_defaults(func=lambda args: (_ for _ in ()).throw(exc))
        return parser

    return build


@pytest.mark.parametrize(
    "exc, message",
    [
        (
            InputError("expected x, got y", path="a.csv", line=3, field="x"),
            "a.csv, line 3, field 'x': expected x, got y",
        ),
        (
            FileNotFoundError(2, "No such file or directory", "maps/missing.npz"),
            "maps/missing.npz: No such file or directory",
        ),
        (IsADirectoryError(21, "Is a directory", "out"), "out: Is a directory"),
    ],
)
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


def _subcommands(parser, prefix=("clickme",)):
    """Every leaf subcommand: (words, parser), nested ones (``experiment analyze``) included."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _subcommands(sub, prefix + (name,))
    return found or [(prefix, parser)]


def _options(parser) -> dict:
    return {s: a for a in parser._actions for s in a.option_strings}


#: Subcommands that show progress bars (a loop over images, trials, rounds, parts or stages).
PROGRESS = {
    "maps",
    "reliability",
    "metrics",
    "stimuli build",
    "experiment run",
    "experiment analyze",
    "game",
    "train",
    "pack",
    "alignment",
    "report",
    "demo",
}


def test_the_registry_is_the_only_source_of_subcommands():
    names = {words[1] for words, _ in _subcommands(cli.build_parser())}
    assert {"serve", "demo", "report", "game-stats", "experiment"} <= names
    assert set(cli.REGISTRY) >= {"experiments.online.cli", "clickme_app.demo", "reports.cli"}


def test_no_progress_is_one_option_everywhere_it_shows_progress():
    leaves = {" ".join(words[1:]): parser for words, parser in _subcommands(cli.build_parser())}
    for name in PROGRESS:
        option = _options(leaves[name]).get("--no-progress")
        assert option is not None, name
        assert (option.dest, option.const, option.default) == ("no_progress", True, False), name
        assert option.help == "hide the progress bars (shown on terminals only)", name
    assert all("--progress" not in _options(parser) for parser in leaves.values())


def test_every_numeric_option_has_a_checked_type():
    for words, parser in _subcommands(cli.build_parser()):
        for action in parser._actions:
            assert action.type not in (int, float) or action.choices, (words, action.option_strings)


@pytest.mark.parametrize(
    "argv, option",
    [
        (["explain", "--checkpoint", "a.pt", "--data", "d", "--out", "o", "--samples", "0"], "--samples"),
        (["explain", "--checkpoint", "a.pt", "--data", "d", "--out", "o", "--noise", "-0.1"], "--noise"),
        (["explain", "--checkpoint", "a.pt", "--data", "d", "--out", "o", "--n-images", "0"], "--n-images"),
        (["score", "--checkpoint", "a.pt", "--data", "d", "--out", "o.csv", "--permutations", "0"], "--permutations"),
        (["score", "--checkpoint", "a.pt", "--data", "d", "--out", "o.csv", "--ceiling", "-1"], "--ceiling"),
        (["score", "--checkpoint", "a.pt", "--data", "d", "--out", "o.csv", "--batch-size", "0"], "--batch-size"),
        (["experiment", "analyze", "x.csv", "--out", "o", "--permutations", "0"], "--permutations"),
        (["experiment", "analyze", "x.csv", "--out", "o", "--boot", "-1"], "--boot"),
        (["experiment", "analyze", "x.csv", "--out", "o", "--min-full-accuracy", "1.5"], "--min-full-accuracy"),
        (["experiment", "analyze", "x.csv", "--out", "o", "--max-rt", "0"], "--max-rt"),
        (["demo", "--seed", "-1"], "--seed"),
        (["experiment", "power", "--participants", "10", "--participant-sd", "-1"], "--participant-sd"),
        (["experiment", "power", "--participants", "10", "--correlation", "1.5"], "--correlation"),
        (["experiment", "power", "--participants", "10", "--intercept", "nan"], "--intercept"),
        (["experiment", "power", "--participants", "10", "--jobs", "0"], "--jobs"),
        (["train", "--config", "t.toml", "--seed", "x"], "--seed"),
    ],
)
def test_bad_numbers_are_argparse_errors(capsys, argv, option):
    with pytest.raises(SystemExit) as stop:
        cli.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: expected" in err and "Traceback" not in err


def test_one_help_formatter_shows_each_default_once():
    leaves = {" ".join(words[1:]): parser for words, parser in _subcommands(cli.build_parser())}
    help_text = " ".join(leaves["experiment analyze"].format_help().split())
    assert "permutations per test (default: 10000)" in help_text
    assert "(default: None)" not in help_text and "(default: False)" not in help_text
    assert "(default: 256)" not in " ".join(leaves["stimuli build"].format_help().split())  # its help says it


def test_the_demo_prints_a_line_per_stage_report_included(tmp_path, monkeypatch, capsys):
    """Issue 21 step 7: with --no-progress the demo still says what runs (it was silent for minutes)."""
    import reports.report
    from clickme_app import demo

    (tmp_path / "fake_stage.py").write_text(
        "def run_demo(root, seed, progress):\n    (root / 'stage.txt').write_text(str(seed))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(demo, "STAGES", (("one", "fake_stage"), ("two", "fake_stage")))
    monkeypatch.setattr(reports.report, "build_report", lambda root, out, progress: out / "report.html")
    assert demo.run(tmp_path / "out", seed=3, progress=False) == tmp_path / "out" / "report" / "report.html"
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" done in")[0] for line in lines] == [
        "[demo] 1/3 one ...",
        "[demo] 1/3 one",
        "[demo] 2/3 two ...",
        "[demo] 2/3 two",
        "[demo] 3/3 report ...",
        "[demo] 3/3 report",
    ]
    assert (tmp_path / "out" / "stage.txt").read_text() == "3"
