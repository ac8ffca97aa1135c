"""Report section "ClickMe game": the game's maps, its statistics and the learning check."""

from __future__ import annotations

from pathlib import Path

from reports.inputs import as_numbers, read_output
from reports.parts import Item
from reports.parts.clickme import example_map_figure


def game_maps(root: Path) -> list[Item]:
    fig, both = example_map_figure(root, ("game", "game/maps.npz"), ("clickme", "clickme/maps.npz"))
    caption = "Maps built from the ClickMe game's log by the same pipeline as the click logs (middle row)" + (
        "; bottom row: the ClickMe maps of the same images." if both else "."
    )
    return [Item("game_maps", "ClickMe game maps", caption, fig)]


def game_statistics(root: Path) -> list[Item]:
    frame = read_output(
        root / "game" / "game_statistics.csv", ["scope", "unit", "statistic", "value"], numeric=["value"]
    )
    overall = frame[frame["scope"] == "game"][["statistic", "value"]].reset_index(drop=True)
    overall["value"] = overall["value"].astype(float).round(3)
    return [
        Item(
            "game_statistics",
            "ClickMe game statistics",
            "Rounds, bubbles, participants per image, the partner's success rate, points and "
            "query latency over the whole game (per-image and per-player rows: "
            "game/game_statistics.csv).",
            overall,
        )
    ]


def learning_check(root: Path) -> list[Item]:
    path = root / "game" / "learning_check.csv"
    frame = read_output(path, ["mean_first", "mean_second", "t", "p"])
    return [
        Item(
            "learning_check",
            "Did players learn the partner?",
            "Partner success on the first vs second half of each player's rounds (paired t-test, "
            "as the paper's check that frequent players did not learn the partner's preferences).",
            as_numbers(frame, path, frame.columns).round(3),
        )
    ]
