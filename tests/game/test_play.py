"""Whole sessions: window-free, in a PsychoPy window under Xvfb, through the CLI, and the demo stage."""

from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from clickme_analysis.archive import MapArchive
from clickme_analysis.clicklog import read_clicks
from clickme_analysis.errors import InputError
from clickme_app.cli import main as clickme
from experiments.game.config import GameConfig
from experiments.game.partner import StandInPartner
from experiments.game.play import WindowScreen, open_window, run_game
from experiments.game.player import SimulatedPlayer
from experiments.game.task import GameImage, RoundState, load_images


def _game(argv):
    """Run ``clickme game ...`` / ``game-stats`` through this package's own ``register``."""
    from experiments.game.cli import register

    parser = argparse.ArgumentParser(prog="clickme")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([str(a) for a in argv])
    return args.func(args)


def _rounds(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def game_inputs(demo_set):
    root, parts = demo_set
    images, labels = load_images(root / "images", root / "labels.csv")
    return images, labels, parts


def _headless(game_inputs, out, participant="H1", player=None, **config):
    images, labels, parts = game_inputs
    config = GameConfig(**{"round_seconds": 2.0, **config})
    partner = StandInPartner.from_images(images, labels, threshold=0.25)
    return run_game(
        images,
        participant,
        out,
        config,
        partner,
        player=player or SimulatedPlayer(point_interval=0.02),
        parts=parts,
        window="none",
    )


def test_headless_session_logs_every_round_and_continues(game_inputs, tmp_path):
    log = _headless(game_inputs, tmp_path, n_rounds=2)
    first = _rounds(log)
    assert [r["round"] for r in first] == [1, 2]
    log = _headless(game_inputs, tmp_path)  # the rest of the images
    rounds = _rounds(log)
    assert [r["round"] for r in rounds] == [1, 2, 3, 4] and rounds[:2] == first
    assert sorted(r["image_id"] for r in rounds) == sorted(im.image_id for im in game_inputs[0])
    for r in rounds:
        assert len(r["x"]) == len(r["y"]) == len(r["t"]) > 0 and r["t"] == sorted(r["t"])
        assert r["points"] == pytest.approx(max(0.0, 1 - r["success_t"] / 2000) if r["success"] else 0.0, abs=1e-4)
        assert all(g["t"] >= g["t_sent"] for g in r["guesses"])
        assert r["max_frame_ms"] == pytest.approx(1000 / 60, abs=0.1)  # the virtual clock
        if r["success"]:
            assert r["guesses"][-1]["correct"] and r["duration_ms"] == pytest.approx(r["success_t"], abs=1)
        else:
            assert r["duration_ms"] >= 2000 and not any(g["correct"] for g in r["guesses"])
    sessions = json.loads((tmp_path / "session.json").read_text())["sessions"]
    assert [s["status"] for s in sessions] == ["completed", "completed"]
    assert [s["rounds_played"] for s in sessions] == [2, 2] and sessions[1]["rounds_before"] == 2
    assert sessions[1]["score"] == pytest.approx(sum(r["points"] for r in rounds))
    clicks = read_clicks(log).clicks
    assert len(clicks) == sum(len(r["x"]) for r in rounds)


def test_headless_session_is_reproducible(game_inputs, tmp_path):
    keep = ("image_id", "round", "x", "y", "t", "success", "points")
    a, b = (_rounds(_headless(game_inputs, tmp_path / name, n_rounds=2)) for name in "ab")
    assert [{k: r[k] for k in keep} for r in a] == [{k: r[k] for k in keep} for r in b]


def test_skipped_round_is_recorded_and_left_out_of_maps(game_inputs, tmp_path):
    skip = game_inputs[0][0].image_id
    log = _headless(game_inputs, tmp_path, player=SimulatedPlayer(skip=frozenset({skip})))
    rounds = {r["image_id"]: r for r in _rounds(log)}
    assert rounds[skip]["skipped"] and rounds[skip]["x"] == [] and rounds[skip]["n_points_painted"] > 0
    assert clickme(["maps", str(log), "--out", str(tmp_path / "maps.npz")]) == 0
    with MapArchive(tmp_path / "maps.npz") as archive:
        assert skip not in archive.image_ids and len(archive) == len(rounds) - 1


def test_run_game_bad_input(game_inputs, tmp_path):
    images, labels, _ = game_inputs
    partner = StandInPartner.from_images(images[:1], labels)
    with pytest.raises(InputError, match="needs a simulated player"):
        run_game(images[:1], "P", tmp_path, GameConfig(), partner, window="none")
    with pytest.raises(InputError, match="participant"):
        run_game(images[:1], " ", tmp_path, GameConfig(), partner, player=SimulatedPlayer(), window="none")
    with pytest.raises(InputError, match="window"):
        run_game(images[:1], "P", tmp_path, GameConfig(), partner, player=SimulatedPlayer(), window="qt")
    with pytest.raises(InputError, match="expected 128x128 RGB images"):
        run_game(
            images[:1], "P", tmp_path, GameConfig(image_size=128), partner, player=SimulatedPlayer(), window="none"
        )


def test_a_128_px_game_keeps_the_simulated_player_on_the_128_px_image(demo_set, tmp_path):
    """The image size flows from ``GameConfig.image_size`` down to the simulated player's path
    (its random strokes once spread over a fixed 256 px grid)."""
    root, _ = demo_set
    images, labels = load_images(root / "images", root / "labels.csv", size=128)
    config = GameConfig(image_size=128, round_seconds=2.0)
    partner = StandInPartner.from_images(images, labels, threshold=0.25)
    player = SimulatedPlayer(skill=0.0, point_interval=0.02)  # every stroke to a random spot
    log = run_game(images, "S1", tmp_path, config, partner, player=player, window="none")
    rounds = _rounds(log)
    xy = np.array([(x, y) for r in rounds for x, y in zip(r["x"], r["y"])])
    assert len(rounds) == len(images) and len(xy) > 50
    assert xy.min() > -24 and xy.max() < 128 + 24  # a stroke's jitter (sd 4 px) around spots inside 128 px
    assert xy.max() > 96  # and the strokes cover the image, not a corner of it


def test_simulated_session_under_xvfb_gives_maps(xdisplay, demo_set, tmp_path):
    root, _ = demo_set
    out = tmp_path / "game"
    assert (
        _game(
            [
                "game",
                "--images",
                root / "images",
                "--labels",
                root / "labels.csv",
                "--participant",
                "S01",
                "--simulate",
                "--round-seconds",
                "1.0",
                "--n-rounds",
                "3",
                "--out",
                out,
            ]
        )
        == 0
    )
    rounds = _rounds(out / "game_log.jsonl")
    assert [r["round"] for r in rounds] == [1, 2, 3]
    painted = [r for r in rounds if r["x"]]
    assert painted
    for r in painted:  # the first point is the cursor read back from the X pointer (whole pixels), then <= 7 px steps
        assert float(r["x"][0]).is_integer() and float(r["y"][0]).is_integer()
        assert np.hypot(np.diff(r["x"]), np.diff(r["y"])).max(initial=0) <= 7.0 + 1e-9
        assert r["guesses"] and all(g["latency_ms"] > 0 for g in r["guesses"])
        assert 0 < r["max_frame_ms"] < 1000 and r["n_frames"] > 10
    session = json.loads((out / "session.json").read_text())["sessions"][0]
    assert session["status"] == "completed" and session["mode"] == "simulate"
    assert session["window"]["type"] == "pyglet" and session["rounds_played"] == 3
    assert (
        clickme(
            [
                "maps",
                str(out / "game_log.jsonl"),
                "--labels",
                str(root / "labels.csv"),
                "--blur",
                "none",
                "--out",
                str(tmp_path / "maps.npz"),
            ]
        )
        == 0
    )
    with MapArchive(tmp_path / "maps.npz") as archive:
        assert sorted(archive.image_ids) == sorted(r["image_id"] for r in painted)
        for r in painted:
            heat = archive[r["image_id"]]
            inside = [(int(y), int(x)) for x, y in zip(r["x"], r["y"]) if 0 <= x < 256 and 0 <= y < 256]
            assert all(heat[y, x] > 0 for y, x in inside) and heat.sum() > 0
    assert _game(["game-stats", out / "game_log.jsonl", "--out", tmp_path / "stats"]) == 0
    table = pd.read_csv(tmp_path / "stats" / "game_statistics.csv")
    assert table.query("statistic == 'n_rounds' and scope == 'game'")["value"].item() == 3


def test_overlay_is_drawn_where_the_player_painted(xdisplay):
    from PIL import Image

    config = GameConfig(fullscreen=False, window_size=(400, 400), overlay_color=(255, 0, 0), overlay_alpha=1.0)
    win = open_window(config)
    try:
        screen = WindowScreen(win, config)
        state = RoundState(GameImage("x", "cat", np.zeros((256, 256, 3), np.uint8)), 256, 14)
        state.update(0.0, 10, 10, pressed=True)  # top-left corner of the image
        screen.show(state, title=True)
        screen.image.draw()
        shot = np.asarray(win.getMovieFrame(buffer="back"))
        win.movieFrames = []
    finally:
        win.close()
    left, top = 200 - 128, 200 + 20 - 128  # the image is centred 20 px below the window centre
    assert shot[top + 10, left + 10, :3].tolist() == [255, 0, 0]
    assert shot[top + 245, left + 10, :3].tolist() == [0, 0, 0]  # bottom-left stays unpainted
    assert isinstance(Image.fromarray(shot), Image.Image)


def test_abort_key_ends_the_session_cleanly(xdisplay, game_inputs, tmp_path, monkeypatch):
    images, labels, parts = game_inputs
    drive = WindowScreen.drive

    def drive_then_abort(self, plan, t):
        drive(self, plan, t)
        if t > 0.3:
            self.event._onPygletKey(self.config.abort_key, 0, emulated=True)

    monkeypatch.setattr(WindowScreen, "drive", drive_then_abort)
    config = GameConfig(round_seconds=5.0, fullscreen=False)
    never = StandInPartner.from_images(images, labels, threshold=1.0)
    log = run_game(images, "A1", tmp_path, config, never, player=SimulatedPlayer(), parts=parts, pace_fps=60.0)
    assert log.read_text() == ""  # the round in flight is lost, nothing else
    session = json.loads((tmp_path / "session.json").read_text())["sessions"][0]
    assert session["status"] == "aborted" and session["rounds_played"] == 0


def test_cli_with_a_model_partner_window_free(demo_set, tmp_path):
    import dataclasses

    from models.checkpoint import save_checkpoint
    from models.config import TrainConfig
    from models.networks import build_network

    root, _ = demo_set
    n_labels = pd.read_csv(root / "labels.csv")["label"].nunique()
    config = TrainConfig(arch="tiny_resnet", num_classes=n_labels, tiny_width=4, image_size=56, resize=64)
    model = build_network(config.arch, num_classes=n_labels, tiny_width=4)
    save_checkpoint(tmp_path / "best.pt", {"model": model.state_dict(), "config": dataclasses.asdict(config)})
    base = [
        "game",
        "--images",
        root / "images",
        "--labels",
        root / "labels.csv",
        "--participant",
        "M1",
        "--partner",
        tmp_path / "best.pt",
        "--round-seconds",
        "1",
        "--n-rounds",
        "2",
        "--out",
        tmp_path / "out",
    ]
    assert _game(base + ["--simulate", "--no-window"]) == 0
    rounds = _rounds(tmp_path / "out" / "game_log.jsonl")
    # with top-5 of only n_labels <= 5 classes, the network's first answer holds the true label
    assert len(rounds) == 2 and all(r["success"] and len(r["guesses"]) == 1 for r in rounds)
    assert "tiny_resnet" in json.loads((tmp_path / "out" / "session.json").read_text())["sessions"][0]["partner"]
    (tmp_path / "classes.txt").write_text("a\nb\n")
    with pytest.raises(InputError, match="class names"):
        _game(base + ["--simulate", "--no-window", "--classes", tmp_path / "classes.txt"])
    with pytest.raises(InputError, match="--no-window needs --simulate"):
        _game(base + ["--no-window"])


def test_demo_stage_writes_log_maps_and_statistics(demo_set, tmp_path):
    root, _ = demo_set
    shutil.copytree(root, tmp_path / "clickme")
    from experiments.game.demo import run_demo

    run_demo(tmp_path, seed=0, progress=False, window="none", n_rounds=3)
    out = tmp_path / "game"
    rounds = _rounds(out / "game_log.jsonl")
    assert len(rounds) == 6 and {r["participant_id"] for r in rounds} == {"G01", "G02"}
    with MapArchive(out / "maps.npz") as archive:
        assert set(archive.image_ids) == {r["image_id"] for r in rounds if r["x"]}
        assert archive.label(archive.image_ids[0]) in set(pd.read_csv(root / "labels.csv")["label"])
    stats = pd.read_csv(out / "game_statistics.csv")
    assert list(stats.columns) == ["scope", "unit", "statistic", "value"]
    check = pd.read_csv(out / "learning_check.csv")
    assert check["n_participants"].item() == 2
    assert "window-free" in (out / "demo_log.txt").read_text()
    with pytest.raises(InputError, match="run it first"):
        run_demo(tmp_path / "empty", progress=False, window="none")


@pytest.mark.slow  # the window-free demo stage above and the Xvfb session test stay in `make test`
def test_demo_stage_plays_in_a_window_in_a_child_process(xdisplay, demo_set, tmp_path):
    # this process's pyglet is bound to the `xdisplay` fixture's server; the child opens its own
    root, _ = demo_set
    shutil.copytree(root, tmp_path / "clickme")
    from experiments.game.demo import run_demo

    run_demo(tmp_path, seed=0, progress=False, window="xvfb", n_rounds=1, round_seconds=1.0)
    out = tmp_path / "game"
    assert "PsychoPy window" in (out / "demo_log.txt").read_text()
    sessions = json.loads((out / "session.json").read_text())["sessions"]
    assert [s["mode"] for s in sessions] == ["simulate", "simulate"] and len(_rounds(out / "game_log.jsonl")) == 2
    assert (out / "maps.npz").is_file() and (out / "learning_check.csv").is_file()


def _scripted_round(rule):
    """A scripted mouse path played through the frame loop on the virtual 60 Hz clock."""
    from experiments.game.partner import PartnerQueries
    from experiments.game.play import HeadlessScreen, play_round
    from experiments.game.player import RoundPlan

    image = GameImage("x", "cat", np.zeros((256, 256, 3), np.uint8))
    config = GameConfig(round_seconds=1.0, point_rule=rule)
    never = StandInPartner(["cat", "dog"], {"x": "cat"}, {"x": np.ones((256, 256))}, threshold=1.0)
    queries = PartnerQueries(never, config, threaded=False)
    state = RoundState(image, 256, 14, config.point_rule, config.point_interval, config.point_step)
    queries.start(state, np.random.default_rng(0))
    # cursor at (100, 100); the press comes on the frame at 0.1 s; then two jumps
    path = np.array([[100.0, 100.0, 0.0], [100.0, 130.0, 0.12], [130.0, 170.0, 0.37]])
    play_round(HeadlessScreen(config), state, queries, config, plan=RoundPlan(0.09, path))
    return state


def test_scripted_mouse_path_follows_the_original_games_50ms_7px_rule():
    state = _scripted_round("interval")
    # by hand: tick k at 100 + 50 k ms; tick 0 on the cursor; then 7 px steps toward the cursor,
    # (0, 30): 107, 114, 121, 128, then 130 (2 px left); (30, 40) from (100, 130): steps (4.2, 5.6),
    # the eighth lands on (130, 170); the tick at 800 ms and later give the same point: not stored
    expected = [
        (100.0, 100.0),
        (100.0, 107.0),
        (100.0, 114.0),
        (100.0, 121.0),
        (100.0, 128.0),
        (100.0, 130.0),
        (104.2, 135.6),
        (108.4, 141.2),
        (112.6, 146.8),
        (116.8, 152.4),
        (121.0, 158.0),
        (125.2, 163.6),
        (129.4, 169.2),
        (130.0, 170.0),
    ]
    assert list(zip(state.x, state.y)) == expected
    assert state.t == [100.0 + 50.0 * k for k in range(14)]
    steps = np.hypot(np.diff(state.x), np.diff(state.y))
    assert steps.max() <= 7.0 + 1e-9


def test_per_frame_rule_stays_an_option():
    state = _scripted_round("frame")
    # the cursor itself on the frames where it moved: 0.1 s (press), 0.133 s, 0.383 s
    assert list(zip(state.x, state.y)) == [(100.0, 100.0), (100.0, 130.0), (130.0, 170.0)]
    assert state.t == [100.0, 133.3, 383.3]


def test_session_file_records_the_point_rule(game_inputs, tmp_path):
    log = _headless(game_inputs, tmp_path, n_rounds=2)
    session = json.loads((tmp_path / "session.json").read_text())["sessions"][0]
    assert session["point_rule"]["rule"] == "interval"
    assert (session["point_rule"]["interval_ms"], session["point_rule"]["max_step_px"]) == (50.0, 7.0)
    for r in _rounds(log):  # every logged round obeys the rule
        assert np.hypot(np.diff(r["x"]), np.diff(r["y"])).max() <= 7.0 + 1e-9
        ticks = (np.array(r["t"]) - r["first_press_t"]) / 50.0
        assert np.allclose(ticks, np.round(ticks), atol=1e-3) and len(set(r["t"])) == len(r["t"])
    _headless(game_inputs, tmp_path / "frame", n_rounds=1, point_rule="frame")
    frame = json.loads((tmp_path / "frame" / "session.json").read_text())["sessions"][0]
    assert frame["point_rule"]["rule"] == "frame"
