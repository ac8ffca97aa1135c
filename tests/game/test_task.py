"""Round logic, images, log and configuration of the game (no window)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from clickme_analysis.errors import InputError
from experiments.game.config import GameConfig, load_game_config
from experiments.game.task import (
    MEAN_RGB,
    GameImage,
    GameLog,
    RoundState,
    image_coordinates,
    load_images,
    next_points,
    overlay,
    partner_view,
    play_order,
    round_points,
    save_session,
    window_coordinates,
)


def _image(value=200, size=32):
    return GameImage("cat1", "cat", np.full((size, size, 3), value, np.uint8))


def test_partner_view_reveals_21px_squares_on_mean_grey():
    image = np.arange(64 * 64 * 3, dtype=np.uint8).reshape(64, 64, 3)
    view, mask = partner_view(image, [30.0], [20.0], bubble=21)
    assert mask.sum() == 21 * 21
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (10, 30, 20, 40)  # y is the row
    assert np.array_equal(view[mask], image[mask])
    assert (view[~mask] == MEAN_RGB).all()


def test_partner_view_noise_background_is_seeded():
    image = np.zeros((16, 16, 3), np.uint8)
    a, _ = partner_view(image, [], [], background="noise", rng=np.random.default_rng(3))
    b, _ = partner_view(image, [], [], background="noise", rng=np.random.default_rng(3))
    assert np.array_equal(a, b) and a.std() > 50


@pytest.mark.parametrize("image", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3))])
def test_partner_view_rejects_bad_images(image):
    with pytest.raises(InputError, match="uint8 \\(H, W, 3\\)"):
        partner_view(image, [1], [1])


def test_partner_view_rejects_unknown_background():
    with pytest.raises(InputError, match="background"):
        partner_view(np.zeros((8, 8, 3), np.uint8), [1], [1], background="blur")


def test_overlay_blends_only_painted_pixels():
    image = np.full((2, 2, 3), 255, np.uint8)
    painted = np.array([[True, False], [False, False]])
    out = overlay(image, painted, (0, 0, 0), 0.5)
    assert out[0, 0].tolist() == [0.0, 0.0, 0.0]  # half white, half black -> mid grey = 0 in [-1, 1]
    assert out[1, 1].tolist() == [1.0, 1.0, 1.0]


def test_coordinates_round_trip_and_orientation():
    centre, size = (10.0, -20.0), 256
    assert image_coordinates((10 - 128, -20 + 128), centre, size) == (0.0, 0.0)  # window top-left of the image
    for point in [(0.0, 0.0), (12.5, 200.0), (255.0, 3.0)]:
        assert image_coordinates(window_coordinates(point, centre, size), centre, size) == point


def test_round_points():
    assert round_points(0.0, 7.0) == 1.0
    assert round_points(3.5, 7.0) == 0.5
    assert round_points(9.0, 7.0) == 0.0
    assert round_points(None, 7.0) == 0.0


def test_round_state_per_frame_rule_paints_the_cursor_from_the_first_press_on():
    state = RoundState(_image(), 32, 4, rule="frame")
    assert not state.update(0.0, 5, 5, pressed=False)
    assert state.update(0.1, 5, 5, pressed=True)
    assert not state.update(0.2, 5, 5, pressed=False)  # same place: no new point
    assert state.update(0.3, 20, 6, pressed=False)  # released: still painting
    assert state.x == [5.0, 20.0] and state.y == [5.0, 6.0] and state.t == [100.0, 300.0]
    assert state.first_press == 0.1
    assert state.painted.sum() == 2 * 16


def test_round_state_default_rule_is_50ms_ticks_of_at_most_7px():
    state = RoundState(_image(size=64), 64, 4)
    assert not state.update(0.0, 5, 5, pressed=False)
    assert state.update(0.1, 5, 5, pressed=True)  # tick 0 at the press: on the cursor
    assert not state.update(0.2, 5, 5, pressed=False)  # ticks 1, 2: cursor unmoved, nothing new
    assert state.update(0.3, 20, 5, pressed=False)  # ticks 3, 4 see the cursor 15 px away: 7 px steps
    assert state.x == [5.0, 12.0, 19.0] and state.y == [5.0] * 3 and state.t == [100.0, 250.0, 300.0]
    assert state.update(0.35, 20, 5, pressed=False) and state.x[-1] == 20.0  # tick 5: 1 px left, onto it
    assert not state.update(0.4, 20, 5, pressed=False) and len(state.x) == 4  # tick 6: same point, not stored
    with pytest.raises(InputError, match="point rule"):
        RoundState(_image(), 32, 4, rule="event")


def test_next_points_steps_toward_the_cursor():
    # from (0, 0) toward (30, 40): unit (0.6, 0.8), 7 px per tick; tick 8 lands on the cursor (50 px)
    points, tick = next_points((0.0, 0.0), (30.0, 40.0), 1, 0.5, 0.0)
    assert tick == 11
    assert [(x, y) for x, y, _ in points] == [
        (4.2, 5.6),
        (8.4, 11.2),
        (12.6, 16.8),
        (16.8, 22.4),
        (21.0, 28.0),
        (25.2, 33.6),
        (29.4, 39.2),
        (30.0, 40.0),
    ]
    assert [round(t, 6) for _, _, t in points] == [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4]
    assert next_points((1.0, 1.0), (9.0, 9.0), 3, 0.1, 0.05) == ([], 3)  # tick 3 (0.2 s) not due yet


def test_round_state_success_is_the_first_correct_answer():
    state = RoundState(_image(), 32, 4)
    state.update(0.0, 5, 5, True)
    state.answer(0.1, 0.15, top=["dog", "fox"], compute=0.01, n_points=1)
    state.answer(0.3, 0.42, top=["fox", "cat"], compute=0.02, n_points=1)
    state.answer(0.5, 0.6, top=["cat"], compute=0.02, n_points=1)
    assert state.success_time == 0.42
    assert [g["correct"] for g in state.guesses] == [False, True, True]
    assert state.guesses[1]["latency_ms"] == 120.0
    record = state.record("p1", 3, 7.0, 0.42)
    assert record["success"] and record["points"] == pytest.approx(1 - 0.42 / 7)
    assert record["round"] == 3 and record["x"] == [5.0]


def test_skipped_round_records_no_points():
    state = RoundState(_image(), 32, 4)
    state.update(0.0, 5, 5, True)
    state.skipped = True
    record = state.record("p1", 1, 7.0, 0.2)
    assert record["skipped"] and record["x"] == record["y"] == record["t"] == []
    assert record["n_points_painted"] == 1 and record["points"] == 0.0


def test_game_log_appends_and_drops_a_partial_last_line(tmp_path):
    path = tmp_path / "log.jsonl"
    with GameLog(path) as log:
        log.append({"participant_id": "a", "round": 1})
        log.append({"participant_id": "b", "round": 1})
    with open(path, "a") as fh:
        fh.write('{"participant_id": "a", "rou')  # killed mid-write
    with GameLog(path) as log:
        assert [r["participant_id"] for r in log.rounds()] == ["a", "b"]
        log.append({"participant_id": "a", "round": 2})
        assert [r["round"] for r in log.rounds("a")] == [1, 2]
    assert all(json.loads(line) for line in path.read_text().splitlines())


def test_save_session_updates_by_id(tmp_path):
    path = tmp_path / "session.json"
    save_session(path, {"session_id": "x", "status": "running"})
    save_session(path, {"session_id": "y", "status": "running"})
    save_session(path, {"session_id": "x", "status": "completed"})
    sessions = json.loads(path.read_text())["sessions"]
    assert {s["session_id"]: s["status"] for s in sessions} == {"x": "completed", "y": "running"}


def test_play_order_is_seeded_per_participant_and_skips_done():
    images = [GameImage(f"i{k}", "x", np.zeros((1, 1, 3), np.uint8)) for k in range(8)]
    ids = lambda order: [im.image_id for im in order]  # noqa: E731
    a = ids(play_order(images, "P1", 0))
    assert sorted(a) == sorted(ids(images)) and a == ids(play_order(images, "P1", 0))
    assert a != ids(play_order(images, "P2", 0))
    rest = [i for i in a if i not in {"i0", "i1"}]
    assert ids(play_order(images, "P1", 0, done={"i0", "i1"}, n_rounds=3)) == rest[:3]


def test_load_images_reads_and_resizes(tmp_path):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.full((40, 60, 3), 9, np.uint8)).save(tmp_path / "images" / "a.png")
    Image.fromarray(np.full((32, 32), 7, np.uint8)).save(tmp_path / "images" / "b.png")
    (tmp_path / "labels.csv").write_text("image_id,label,category\na,cat,animal\nb,car,non-animal\n")
    images, labels = load_images(tmp_path / "images", tmp_path / "labels.csv", size=32)
    assert [im.image_id for im in images] == ["a", "b"] and labels == ["car", "cat"]
    assert images[0].image.shape == (32, 32, 3) and images[1].image.dtype == np.uint8
    assert (images[1].image == 7).all()


@pytest.mark.parametrize(
    "text, match",
    [
        ("image_id,category\na,animal\n", "field 'label': labels file lacks columns \\['label'\\]"),
        ("image_id,label\na,cat\nzzz,dog\n", "line 3, field 'image_id': image .*zzz.png' not found"),
        ("image_id,label\na,\n", "line 2, field .label.: expected a non-empty label"),
    ],
)
def test_load_images_bad_labels(tmp_path, text, match):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(InputError, match=match):
        load_images(tmp_path / "images", tmp_path / "labels.csv")


def test_load_images_missing_files(tmp_path):
    with pytest.raises(InputError, match="labels file not found"):
        load_images(tmp_path, tmp_path / "labels.csv")
    (tmp_path / "labels.csv").write_text("image_id,label\n")
    with pytest.raises(InputError, match="images folder not found"):
        load_images(tmp_path / "nope", tmp_path / "labels.csv")
    with pytest.raises(InputError, match="no images listed"):
        load_images(tmp_path, tmp_path / "labels.csv")
    (tmp_path / "labels.csv").write_text("image_id,label\nbad,cat\n")
    (tmp_path / "bad.png").write_text("not a png")
    with pytest.raises(InputError, match="cannot read image"):
        load_images(tmp_path, tmp_path / "labels.csv")


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"round_seconds": 0}, "round_seconds"),
        ({"partner_bubble": 0}, "partner_bubble"),
        ({"partner_background": "blur"}, "partner_background"),
        ({"query_min": 0.3, "query_max": 0.2}, "query_max"),
        ({"overlay_alpha": 1.5}, "overlay_alpha"),
        ({"overlay_color": (0, 0, 300)}, "overlay_color"),
        ({"skip_key": "space"}, "skip_key"),
        ({"n_rounds": -1}, "n_rounds"),
        ({"feedback_max": -1}, "feedback_max"),
    ],
)
def test_config_rejects_bad_values(changes, field):
    with pytest.raises(InputError) as err:
        GameConfig(**changes)
    assert err.value.field == field


def test_load_game_config(tmp_path):
    path = tmp_path / "game.toml"
    path.write_text("round_seconds = 5.0\noverlay_color = [0, 255, 0]\n")
    config = load_game_config(path, round_seconds=None, n_rounds=3)
    assert (config.round_seconds, config.overlay_color, config.n_rounds) == (5.0, (0, 255, 0), 3)
    path.write_text("colour = 1\n")
    with pytest.raises(InputError, match="field 'colour': unknown setting"):
        load_game_config(path)
    path.write_text("round_seconds = \n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_game_config(path)
    path.write_text("round_seconds = -1.0\n")
    with pytest.raises(InputError, match="game.toml, field 'round_seconds'"):
        load_game_config(path)
    with pytest.raises(InputError, match="not found"):
        load_game_config(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    "text, message",
    [
        ('round_seconds = "3"\n', "game.toml, field 'round_seconds': expected float, got '3'"),
        ("fullscreen = 1\n", "field 'fullscreen': expected bool, got 1"),
        ("window_size = 800\n", "field 'window_size': expected a list of int, got 800"),
        ('point_rule = "mouse"\n', "field 'point_rule': expected one of 'interval', 'frame', got 'mouse'"),
        ("point_step = 0\n", "field 'point_step': expected a value > 0, got 0"),
        ("query_min = 0.3\nquery_max = 0.2\n", "game.toml, field 'query_max': expected a duration >= query_min"),
    ],
)
def test_load_game_config_located_type_errors(tmp_path, text, message):
    path = tmp_path / "game.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        load_game_config(path)
    assert message in str(err.value)


def test_load_images_refuses_a_binary_labels_file(tmp_path):
    (tmp_path / "labels.csv").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputError, match="labels.csv"):
        load_images(tmp_path, tmp_path / "labels.csv")
