"""Game statistics (clickme_analysis.game_stats) on hand-built logs."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clickme_analysis.errors import InputError
from clickme_analysis.game_stats import (
    game_statistics,
    half_success,
    image_statistics,
    learning_check,
    participant_statistics,
    read_game_log,
)


def _record(image, player, number, n_points, success, points, skipped=False, latency=(20.0,)):
    return {
        "image_id": image,
        "participant_id": player,
        "round": number,
        "x": [1.0] * n_points,
        "y": [2.0] * n_points,
        "t": [0.0] * n_points,
        "success": success,
        "points": points,
        "success_t": 1000.0 if success else None,
        "skipped": skipped,
        "guesses": [{"latency_ms": v} for v in latency],
    }


RECORDS = [
    _record("a", "p1", 1, 10, True, 0.5),
    _record("b", "p1", 2, 20, False, 0.0, latency=(10.0, 30.0)),
    _record("a", "p2", 1, 4, True, 0.25),
    _record("c", "p2", 2, 0, False, 0.0, skipped=True),
]


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "game_log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in RECORDS) + "\n")
    return path


def test_read_game_log(log):
    rounds = read_game_log(log)
    assert rounds["n_bubbles"].tolist() == [10, 20, 4, 0]
    assert rounds["skipped"].tolist() == [False, False, False, True]
    assert rounds["latency_ms"].tolist() == [20.0, 20.0, 20.0, 20.0]
    assert rounds["success_t"].isna().tolist() == [False, True, False, True]


def test_image_statistics(log):
    table = image_statistics(read_game_log(log)).set_index("image_id")
    assert table.loc["a"].tolist() == [2, 0, 2, 14, 1.0]
    assert table.loc["b"].tolist() == [1, 0, 1, 20, 0.0]
    assert table.loc["c", "n_skipped"] == 1 and np.isnan(table.loc["c", "success_rate"])


def test_participant_statistics(log):
    table = participant_statistics(read_game_log(log)).set_index("participant_id")
    assert table.loc["p1"].tolist() == [2, 0, 0.5, 0.25, 0.5]
    assert table.loc["p2"].tolist() == [2, 1, 0.25, 0.25, 1.0]


def test_game_statistics_is_tidy(log):
    table = game_statistics(read_game_log(log))
    assert list(table.columns) == ["scope", "unit", "statistic", "value"]
    overall = table[table["scope"] == "game"].set_index("statistic")["value"]
    assert overall["n_rounds"] == 4 and overall["n_skipped"] == 1 and overall["n_bubbles"] == 34
    assert overall["success_rate"] == pytest.approx(2 / 3)
    assert overall["mean_points"] == pytest.approx(0.25)
    assert overall["mean_participants_per_image"] == pytest.approx(4 / 3)
    assert set(table["scope"]) == {"game", "image", "participant"}
    value = table.query("scope == 'participant' and unit == 'p1' and statistic == 'total_points'")["value"]
    assert value.item() == 0.5


def test_half_success_orders_by_round_and_leaves_out_the_middle():
    rounds = pd.DataFrame(
        {
            "participant_id": ["a"] * 5 + ["b"] * 2 + ["c"],
            "round": [5, 4, 3, 2, 1, 1, 2, 1],
            "success": [1, 1, 0, 0, 1, 0, 1, 1],
            "skipped": False,
        }
    )
    table = half_success(rounds, min_rounds=2)
    assert table.values.tolist() == [["a", 5, 0.5, 1.0], ["b", 2, 0.0, 1.0]]  # c has one round
    with pytest.raises(InputError, match="min_rounds"):
        half_success(rounds, min_rounds=1)


def test_learning_check_matches_scipy():
    rng = np.random.default_rng(0)
    rounds = pd.DataFrame(
        {
            "participant_id": np.repeat([f"p{i}" for i in range(6)], 10),
            "round": np.tile(np.arange(1, 11), 6),
            "success": rng.random(60) < 0.6,
            "skipped": False,
        }
    )
    halves = half_success(rounds)
    expected = stats.ttest_rel(halves["second_half"], halves["first_half"])
    row = learning_check(rounds).iloc[0]
    assert row["n_participants"] == 6 and row["dof"] == 5
    assert row["t"] == pytest.approx(expected.statistic) and row["p"] == pytest.approx(expected.pvalue)
    low, high = expected.confidence_interval()
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert row["mean_difference"] == pytest.approx(row["mean_second"] - row["mean_first"])


def test_learning_check_without_spread_gives_nan():
    rounds = pd.DataFrame(
        {
            "participant_id": ["a", "a", "b", "b"],
            "round": [1, 2, 1, 2],
            "success": [True, True, False, False],
            "skipped": False,
        }
    )
    row = learning_check(rounds).iloc[0]
    assert row["n_participants"] == 2 and row["mean_difference"] == 0 and np.isnan(row["p"])


@pytest.mark.parametrize(
    "line, match",
    [
        ("not json", "line 2: expected a JSON object, got b.not json."),
        ("[1, 2]", "line 2: expected a JSON object, got list"),
        (json.dumps({**RECORDS[0], "round": "one"}), "line 2, field 'round': expected int"),
        (json.dumps({**RECORDS[0], "participant_id": " "}), "line 2, field 'participant_id': expected str"),
        (json.dumps({**RECORDS[0], "success": 1}), "line 2, field 'success': expected bool"),
        (json.dumps({**RECORDS[0], "points": 1.5}), "line 2, field 'points': expected points in \\[0, 1\\]"),
        (json.dumps({k: v for k, v in RECORDS[0].items() if k != "x"}), "line 2, field 'x': expected list"),
    ],
)
def test_read_game_log_bad_lines(tmp_path, line, match):
    path = tmp_path / "log.jsonl"
    path.write_text(json.dumps(RECORDS[0]) + "\n" + line + "\n")
    with pytest.raises(InputError, match=match):
        read_game_log(path)


def test_read_game_log_missing_or_empty(tmp_path):
    with pytest.raises(InputError, match="game log not found"):
        read_game_log(tmp_path / "none.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InputError, match="log is empty"):
        read_game_log(tmp_path / "empty.jsonl")
