"""Docstring examples of the game modules, and `clickme game` through the real dispatcher."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["experiments.game.task", "experiments.game.config", "clickme_analysis.game_stats"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_dispatcher_reports_bad_input_with_exit_2(demo_set, tmp_path, capsys):
    from clickme_analysis import cli

    if "experiments.game.cli" not in cli.SUBCOMMAND_MODULES:
        pytest.skip("`clickme game` is not registered in the dispatcher yet")
    root, _ = demo_set
    code = cli.main(["game", "--images", str(root / "images"), "--labels", str(tmp_path / "none.csv"),
                     "--participant", "P1", "--simulate", "--no-window", "--out", str(tmp_path)])
    assert code == 2 and "labels file not found" in capsys.readouterr().err
    assert cli.main(["game-stats", str(tmp_path / "none.jsonl"), "--out", str(tmp_path)]) == 2


def test_importing_the_game_cli_and_statistics_stays_light():
    import subprocess
    import sys

    code = ("import sys, experiments.game.cli, experiments.game.play, experiments.game.demo, "
            "clickme_analysis.game_stats; print(sorted({'torch', 'psychopy'} & set(sys.modules)))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
