"""The simulated player."""

from __future__ import annotations

import numpy as np
import pytest

from clickme_analysis.errors import InputError
from experiments.game.player import RoundPlan, SimulatedPlayer, saliency_parts

PARTS = np.array([[50.0, 60.0, 1.0], [200.0, 100.0, 0.5]])


def test_plan_is_seeded_and_timed_from_the_press():
    player = SimulatedPlayer(point_interval=0.05, press_delay=(0.2, 0.4))
    a = player.plan("img", PARTS, 2.0, np.random.default_rng(1), size=256)
    b = player.plan("img", PARTS, 2.0, np.random.default_rng(1), size=256)
    assert np.array_equal(a.path, b.path) and a.press_time == b.press_time
    assert 0.2 <= a.press_time <= 0.4 and a.path[0, 2] == a.press_time
    assert np.allclose(np.diff(a.path[:, 2]), 0.05)
    assert a.path[-1, 2] >= 2.0 and a.skip_time is None


def test_skilled_player_paints_near_the_parts():
    plan = SimulatedPlayer(skill=1.0).plan("img", PARTS, 7.0, np.random.default_rng(0), size=256)
    distance = np.min(np.hypot(plan.path[:, :1] - PARTS[:, 0], plan.path[:, 1:2] - PARTS[:, 1]), axis=1)
    assert np.median(distance) < 40


def test_position_holds_each_point_until_the_next():
    plan = RoundPlan(0.5, np.array([[1.0, 2.0, 0.5], [3.0, 4.0, 0.6]]))
    assert plan.position(0.0) == (1.0, 2.0) and plan.position(0.55) == (1.0, 2.0)
    assert plan.position(0.6) == (3.0, 4.0) and plan.position(9.0) == (3.0, 4.0)


def test_skips():
    rng = np.random.default_rng(0)
    plan = SimulatedPlayer(skip=frozenset({"bad"})).plan("bad", PARTS, 2.0, rng, size=256)
    assert plan.skip_time == pytest.approx(plan.press_time + 0.2)
    assert SimulatedPlayer(skip_rate=1.0).plan("x", PARTS, 2.0, rng, size=256).skip_time is not None


def test_bad_player_and_parts():
    with pytest.raises(InputError, match="skill"):
        SimulatedPlayer(skill=1.5)
    with pytest.raises(InputError, match="part table"):
        SimulatedPlayer().plan("x", np.zeros((0, 3)), 2.0, np.random.default_rng(0), size=256)


def test_saliency_parts_finds_the_bright_spot():
    image = np.zeros((128, 128, 3), np.uint8)
    image[40:60, 80:100] = 255
    parts = saliency_parts(image, n_parts=2)
    assert parts.shape[1] == 3 and 1 <= len(parts) <= 2
    assert abs(parts[0, 0] - 90) < 20 and abs(parts[0, 1] - 50) < 20  # x, y of the strongest peak
