"""`clickme game` and `clickme game-stats` through the real dispatcher, and the import weight of the game."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_dispatcher_registers_the_game_and_reports_bad_input_with_exit_2(demo_set, tmp_path, capsys):
    from clickme_app import cli

    assert "experiments.game.cli" in cli.REGISTRY
    root, _ = demo_set
    base = [
        "game",
        "--images",
        str(root / "images"),
        "--participant",
        "P1",
        "--simulate",
        "--no-window",
        "--out",
        str(tmp_path),
    ]
    assert cli.main(base + ["--labels", str(tmp_path / "none.csv")]) == 2
    assert "labels file not found" in capsys.readouterr().err
    assert cli.main(["game-stats", str(tmp_path / "none.jsonl"), "--out", str(tmp_path)]) == 2
    assert "game log not found" in capsys.readouterr().err


def test_binary_files_named_csv_give_located_errors(demo_set, tmp_path, capsys):
    from clickme_app import cli

    root, _ = demo_set
    binary = tmp_path / "labels.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    assert (
        cli.main(
            [
                "game",
                "--images",
                str(root / "images"),
                "--labels",
                str(binary),
                "--participant",
                "P1",
                "--simulate",
                "--no-window",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert str(binary) in err and "Traceback" not in err
    assert cli.main(["game-stats", str(binary), "--out", str(tmp_path / "stats")]) == 2
    err = capsys.readouterr().err
    assert f"{binary}, line 1: expected" in err and "Traceback" not in err


def test_bad_game_options_and_config_exit_2(demo_set, tmp_path, capsys):
    from clickme_app import cli

    root, _ = demo_set
    base = [
        "game",
        "--images",
        str(root / "images"),
        "--labels",
        str(root / "labels.csv"),
        "--participant",
        "P1",
        "--simulate",
        "--no-window",
        "--out",
        str(tmp_path / "out"),
    ]
    with pytest.raises(SystemExit) as exit_:
        cli.main(base + ["--round-seconds", "-1"])
    assert exit_.value.code == 2 and "--round-seconds: expected a number > 0" in capsys.readouterr().err
    config = tmp_path / "game.toml"
    config.write_text('round_seconds = "3"\n')
    assert cli.main(base + ["--config", str(config)]) == 2
    assert f"{config}, field 'round_seconds': expected float, got '3'" in capsys.readouterr().err


def test_importing_the_game_cli_and_statistics_stays_light():
    code = (
        "import sys, experiments.game.cli, experiments.game.play, experiments.game.demo, "
        "clickme_analysis.game_stats; print(sorted({'torch', 'psychopy'} & set(sys.modules)))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )
