"""The reliability curve against a simulated log with a known true map and known noise.

Every image has a true click density (two Gaussian blobs; a known share of clicks uniform
noise); players are independent draws from it. The Spearman-Brown projection from a small log
(8 players per image, measured up to 4 per map) must meet what a larger log of the same images
(32 players) measures at 16 per map.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from clickme_analysis import reliability_curve as rc
from clickme_analysis.errors import InputError
from clickme_app.cli import main

PAINT = dict(shape=(64, 64), bubble_size=3, blur_size=9)


def simulated_log(n_players, n_images=10, clicks=12, noise=0.3, seed=0) -> pd.DataFrame:
    truth = np.random.default_rng(1000)  # the same true maps whatever the panel
    centres = truth.uniform(12, 52, (n_images, 2, 2))
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        for p in range(n_players):
            uniform = rng.random(clicks) < noise
            blob = centres[i, rng.integers(0, 2, clicks)] + rng.normal(0, 5, (clicks, 2))
            points = np.where(uniform[:, None], rng.uniform(0, 64, (clicks, 2)), blob).clip(0, 63)
            rows += [(f"im{i}", f"p{p}", x, y) for x, y in points]
    return pd.DataFrame(rows, columns=["image_id", "participant_id", "x", "y"])


def test_curve_rises_above_its_null_and_the_projection_meets_a_larger_log():
    small = rc.curve_table(rc.reliability_curve(simulated_log(8), n_iterations=4, **PAINT), project_to=16)
    large = rc.curve_table(rc.reliability_curve(simulated_log(32, seed=1), n_iterations=2, **PAINT))
    human = small[(small["distribution"] == "human") & (small["source"] == "measured")]
    null = small[small["distribution"] == "null"]
    assert human["rho"].is_monotonic_increasing and (human["rho"].to_numpy() > null["rho"].to_numpy() + 0.1).all()
    projected = small.set_index(["source", "participants_per_image"])["rho"]
    measured = large.set_index(["distribution", "source", "participants_per_image"]).loc[
        ("human", "measured", 16), "rho"
    ]
    # Spearman's rho of blurred maps levels off (a floor of stray clicks keeps noisy ranks): plain
    # Spearman-Brown overshoots the larger log; the fit with a ceiling meets it
    assert projected.loc[("spearman_brown", 16)] > measured + 0.1
    assert projected.loc[("ceiling_fit", 16)] == pytest.approx(measured, abs=0.08)
    # the larger log's own low-m values agree with the small log's (same truth, other players)
    both = large.query("distribution == 'human' and source == 'measured'").set_index("participants_per_image")["rho"]
    assert np.allclose(both.loc[[1, 2, 3, 4]].to_numpy(), human["rho"].to_numpy(), atol=0.05)


def test_participants_for_inverts_spearman_brown():
    table = pd.DataFrame(
        {"distribution": "human", "participants_per_image": [1, 2], "rho": [0.3, 0.55], "source": "measured"}
    )
    needed = rc.participants_for(table, (0.4, 0.8)).set_index("target")
    assert needed.loc[0.4, "participants"] == 2 and needed.loc[0.4, "source"] == "measured"
    exact = needed.loc[0.8, "exact"]
    assert rc.spearman_brown(0.55, exact / 2) == pytest.approx(0.8)
    assert needed.loc[0.8, "participants"] == np.ceil(exact) and needed.loc[0.8, "source"] == "spearman_brown"
    m = np.arange(1, 5)
    ceiling = (
        table.iloc[:0]
        .reindex(range(4))
        .assign(distribution="human", participants_per_image=m, rho=0.7 * rc.spearman_brown(0.3, m), source="measured")
    )
    needed = rc.participants_for(ceiling, (0.6, 0.75)).set_index("target")
    assert needed.loc[0.6, "source"] == "ceiling_fit"
    assert 0.7 * rc.spearman_brown(0.3, needed.loc[0.6, "exact"]) == pytest.approx(0.6, abs=1e-4)
    assert needed.loc[0.75, "source"] == "none"  # above the ceiling of 0.7


def test_too_few_players_is_a_located_error():
    log = simulated_log(1, n_images=3)
    with pytest.raises(InputError, match="at least 2 images with 2\\+ participants"):
        rc.reliability_curve(log, **PAINT)
    with pytest.raises(InputError, match="for 5 per half") as err:
        rc.reliability_curve(simulated_log(4, n_images=3), max_per_half=5, **PAINT)
    assert err.value.field == "max_per_half"


def test_cli_curve_writes_table_figure_and_summary(tmp_path, capsys):
    path = tmp_path / "clicks.csv"
    simulated_log(6, n_images=4).to_csv(path, index=False)
    out = tmp_path / "rel"
    assert (
        main(
            [
                "reliability",
                str(path),
                "--size",
                "64",
                "--bubble-size",
                "3",
                "--blur-size",
                "9",
                "--n-images",
                "0",
                "--n-boot",
                "20",
                "--curve",
                "--curve-iterations",
                "2",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    table = pd.read_csv(out / "reliability_curve.csv", keep_default_na=False)
    assert set(table["source"]) == {"measured", "spearman_brown", "ceiling_fit"}
    assert table.query("source == 'measured' and distribution == 'human'")["participants_per_image"].tolist() == [
        1,
        2,
        3,
    ]
    summary = json.loads((out / "reliability_summary.json").read_text())
    needed = summary["curve"]["participants_for_reliability"]
    assert set(needed) == {"0.5", "0.7", "0.8", "0.9"} and (out / "reliability_curve.png").exists()
    assert "participants per image for reliability 0.8" in capsys.readouterr().out
