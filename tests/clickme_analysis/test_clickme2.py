"""The ``clickme2`` preset against an independent implementation of the ClickMe 2.0 authors' rules.

The reference below is written from the rules as issue 26 states them (plain loops, float64),
not from the toolkit's code: a trial list is filtered (catch trials, mobile by the first value,
first submission kept, more than 10 clicks, cut to the first 75, at least 10 inside the image),
images with fewer than 5 users are dropped, the map is the mean of one-pixel count maps blurred
twice by a normalised disc of radius (side - 1) / 2 with zero padding; the split-half ceiling
draws halves with replacement, blurs, centre-crops to 224 and averages Spearman's rho.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clickme_analysis.archive import open_maps
from clickme_analysis.clicklog import ClickReader, read_clicks
from clickme_analysis.clickstore import ClickStore
from clickme_analysis.errors import InputError
from clickme_analysis.pipeline import load_map_options, open_logs, write_maps, write_reliability
from clickme_app.cli import main

SIZE = 256
REAL = Path(__file__).resolve().parents[3] / "shared" / "realdata" / "clickme2_co3d_click_medians"


# ------------------------------------------------------------------------------ the test log
def _points(rng, n, centre, outside=0, size=SIZE):
    x = np.clip(np.rint(rng.normal(centre[0], size / 10, n)), 0, size - 1).astype(int)
    y = np.clip(np.rint(rng.normal(centre[1], size / 10, n)), 0, size - 1).astype(int)
    x[:outside] = -3 - np.arange(outside)  # the first clicks fall left of the image
    return x, y


def make_trials(seed=0, size=SIZE):
    """Trials in log order: (image path, user, x, y, catch accuracy, is_mobile), on a size x size grid."""
    rng = np.random.default_rng(seed)
    trials = []

    def add(image, user, n, outside=0, catch=1.0, mobile=(), centre=None):
        c = centre or (size * (0.3 + 0.08 * int(image[-5])), size * 0.47)
        x, y = _points(rng, n, c, outside, size)
        trials.append((f"cat/{image}", user, x, y, catch, list(mobile)))

    # img0: every per-trial rule
    add("img0.png", "u1", 10)  # dropped: needs more than 10
    add("img0.png", "u2", 11)  # kept
    add("img0.png", "u3", 75)
    add("img0.png", "u4", 76)  # cut to its first 75
    add("img0.png", "u5", 12, outside=2)  # 10 inside: kept
    add("img0.png", "u6", 11, outside=2)  # 9 inside: dropped by the in-bounds test
    add("img0.png", "u7", 1)  # a 1-click trial: empty
    add("img0.png", "u8", 20)  # first submission: kept ...
    add("img0.png", "u8", 30)  # ... the repeat dropped
    add("img0.png", "u9", 30, mobile=[False, True])  # first value False: not mobile
    add("img0.png", "u10", 30, mobile=[True, False])  # mobile
    add("img0.png", "u11", 30, catch=0.5)  # failed catch trials
    # img1: 4 users only (below min_subjects)
    for k in range(4):
        add("img1.png", f"u{k}", 30)
    # img2: an empty trial, and a repeat whose first submission is too short
    trials.append(("cat/img2.png", "u0", np.zeros(0, int), np.zeros(0, int), 1.0, []))
    add("img2.png", "u12", 5)
    add("img2.png", "u12", 40)
    for k in range(1, 6):
        add("img2.png", f"u{k}", int(rng.integers(11, 90)))
    for image in ("img3.png", "img4.png", "img5.png"):
        for k in range(int(rng.integers(5, 9))):
            add(image, f"u{k}", int(rng.integers(11, 90)), outside=int(rng.integers(0, 3)))
    return trials


def write_npz(path, trials):
    def objects(items):
        out = np.empty(len(items), dtype=object)
        for k, item in enumerate(items):
            out[k] = np.asarray(item)
        return out

    np.savez(
        path,
        file_pointer=np.array([t[0] for t in trials]),
        clickmap_x=objects([t[2] for t in trials]),
        clickmap_y=objects([t[3] for t in trials]),
        user_id=np.array([t[1] for t in trials]),
        user_catch_trial=np.array([t[4] for t in trials]),
        is_mobile=objects([t[5] for t in trials]),
    )


# ------------------------------------------------------------------------------ the reference
def reference_users(trials, size=SIZE, min_clicks=10, max_clicks=75, min_subjects=5):
    """Image -> list of (user, clicks kept), from the rules, in plain loops."""
    seen, per_image = set(), {}
    for image, user, x, y, catch, mobile in trials:
        if catch < 0.95 or (len(mobile) and bool(mobile[0])):
            continue
        if (image, user) in seen:  # a later submission
            continue
        seen.add((image, user))
        points = list(zip(x.tolist(), y.tolist()))
        if len(points) <= 1 or len(points) <= min_clicks:
            continue
        points = points[:max_clicks]
        inside = sum(1 for px, py in points if 0 <= px < size and 0 <= py < size)
        if inside < min_clicks:
            continue
        per_image.setdefault(Path(image).stem, []).append((user, points))
    return {k: v for k, v in per_image.items() if len(v) >= min_subjects}


def count_map(points, size=SIZE):
    out = np.zeros((size, size), dtype=np.int64)
    for px, py in points:
        if 0 <= px < size and 0 <= py < size:
            out[py, px] += 1
    return out


def disc_mask(side):
    radius = (side - 1) / 2
    return [
        (dy, dx) for dy in range(side) for dx in range(side) if (dy - radius) ** 2 + (dx - radius) ** 2 <= radius**2
    ]


def blur_twice(counts, side):
    """Two "same" passes of the 0/1 disc with zero padding (integer sums; divide by pixels**2)."""
    offsets, half = disc_mask(side), side // 2
    out = counts.astype(np.float64)
    for _ in range(2):
        padded = np.pad(out, half)
        total = np.zeros_like(out)
        for dy, dx in offsets:
            total += padded[dy : dy + out.shape[0], dx : dx + out.shape[1]]
        out = total
    return out, len(offsets) ** 2


def reference_map(users, size=SIZE, side=21):
    total = sum(count_map(points, size) for _, points in users)
    sums, pixels = blur_twice(total, side)
    return sums / pixels / len(users)


def _kernel_side(size):
    side = int(np.round(21 * size / 256))
    return min(side + (side % 2 == 0), 51)


# ------------------------------------------------------------------------------ maps
def _log(folder, size=SIZE):
    path = folder / f"clickme2_{size}.npz"
    trials = make_trials(size=size)
    write_npz(path, trials)
    return path, trials


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    return _log(tmp_path_factory.mktemp("clickme2"))


def _preset_maps(path, out, **overrides):
    options = load_map_options(overrides={"preset": "clickme2", **overrides})
    store, _ = open_logs([path], **options.reader_kwargs())
    with store:
        result = write_maps(store, out, options)
    return result, options


@pytest.mark.parametrize("size", [256, 96])
def test_preset_maps_equal_the_reference(log, tmp_path, size):
    path, trials = log if size == SIZE else _log(tmp_path, size)
    result, options = _preset_maps(path, tmp_path / "maps.npz", size=size)
    assert options.kernel_size == _kernel_side(size) == {256: 21, 96: 9}[size]
    expected = reference_users(trials, size=size)
    assert sorted(expected) == ["img0", "img2", "img3", "img4", "img5"]  # img1: 4 users
    assert sorted(u for u, _ in expected["img0"]) == ["u2", "u3", "u4", "u5", "u8", "u9"]
    assert "u12" not in {u for u, _ in expected["img2"]}  # its first submission had 5 clicks
    stats_ = result.per_image.set_index("image_id")
    worst = 0.0
    with open_maps(tmp_path / "maps.npz") as maps:
        assert sorted(maps.keys()) == sorted(expected)
        for image, users in expected.items():
            want = reference_map(users, size, _kernel_side(size))
            got = np.asarray(maps[image], dtype=np.float64)
            assert stats_.loc[image, "n_participants"] == len(users)
            assert stats_.loc[image, "n_clicks"] == sum(len(p) for _, p in users)
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9 * want.max())
            worst = max(worst, float(np.abs(got - want).max()))
    assert stats_.loc["img0", "n_repeats"] == 1 and stats_.loc["img2", "n_repeats"] == 1
    print(f"size {size}: max |toolkit - reference| = {worst:.3g} (maps up to {want.max():.3g})")


def test_preset_kernel_follows_each_images_short_side(tmp_path):
    """With --images the kernel side follows each map's own short side (issue 26): 21 on 256x256,
    round(21 * 400 / 256) = 33 on 400x600 (height x width)."""
    from PIL import Image

    shapes = {"square": (256, 256), "wide": (400, 600)}
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(5)
    trials = []
    for name, (height, width) in shapes.items():
        Image.new("RGB", (width, height)).save(folder / f"{name}.png")
        for k in range(6):
            n = int(rng.integers(11, 60))  # the first 10 clicks inside 256 x 256, the rest anywhere
            x = np.concatenate([rng.integers(60, 200, 10), rng.integers(0, width, n - 10)])
            y = np.concatenate([rng.integers(60, 200, 10), rng.integers(0, height, n - 10)])
            trials.append((f"cat/{name}.png", f"u{k}", x, y, 1.0, []))
    write_npz(tmp_path / "log.npz", trials)
    out = tmp_path / "maps.npz"
    assert (
        main(
            [
                "maps",
                str(tmp_path / "log.npz"),
                "--preset",
                "clickme2",
                "--images",
                str(folder),
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    worst = 0.0
    with open_maps(out) as maps:
        for name, shape in shapes.items():
            users = [t for t in trials if Path(t[0]).stem == name]
            total = np.zeros(shape, dtype=np.int64)
            for _, _, x, y, _, _ in users:
                for px, py in zip(x.tolist(), y.tolist()):
                    total[py, px] += 1
            sums, pixels = blur_twice(total, _kernel_side(min(shape)))
            want = sums / pixels / len(users)
            got = np.asarray(maps[name], dtype=np.float64)
            assert got.shape == shape
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9 * want.max())
            worst = max(worst, float(np.abs(got - want).max()))
    assert _kernel_side(400) == 33
    print(f"native sizes: max |toolkit - reference| = {worst:.3g}")


def test_preset_in_bounds_rule_uses_each_images_own_size(tmp_path):
    """With --images, the in-bounds test counts clicks inside each image, not the square grid: 12
    clicks at x >= 300 on a 400x600 image are inside it (a 256 grid would drop every trial)."""
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    Image.new("RGB", (600, 400)).save(folder / "wide.png")
    trials = [("cat/wide.png", f"u{k}", np.arange(300, 312) + k, np.full(12, 350), 1.0, []) for k in range(5)]
    write_npz(tmp_path / "log.npz", trials)
    out = tmp_path / "maps.npz"
    assert (
        main(
            [
                "maps",
                str(tmp_path / "log.npz"),
                "--preset",
                "clickme2",
                "--images",
                str(folder),
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with open_maps(out) as maps:
        assert maps["wide"].shape == (400, 600) and np.asarray(maps["wide"])[350, 300:317].min() > 0


def test_explicit_options_override_the_preset(log, tmp_path):
    path, trials = log
    result, options = _preset_maps(path, tmp_path / "maps.npz", min_subjects=4, repeat_submissions="merge")
    assert options.blur_passes == 2 and options.min_subjects == 4
    per_image = result.per_image.set_index("image_id")
    assert "img1" in per_image.index  # 4 users are enough now
    assert (
        per_image.loc["img0", "n_participants"] == 6
        and per_image.loc["img0", "n_clicks"] == 11 + 75 + 75 + 12 + 20 + 30 + 30
    )  # u8's two submissions merged
    assert load_map_options({"preset": "clickme2", "blur_passes": 1}).blur_passes == 1  # the file's value wins


def test_defaults_unchanged_by_the_new_options():
    options = load_map_options()
    assert options.blur_spec() == "box" and options.kernel_size == 49 and options.min_subjects == 1
    assert (options.repeat_submissions, options.mobile_rule, options.count_outside) == ("merge", "any", True)


# ------------------------------------------------------------------------------ repeat submissions
def _round_logs(folder):
    rows = [("a.png", "p", [(1, 1), (2, 2)]), ("a.png", "q", [(3, 3)]), ("a.png", "p", [(4, 4), (5, 5), (6, 6)])]
    csv = folder / "log.csv"
    csv.write_text(
        "image_path,clicks,user_id\n"
        + "".join(f'{i},"{{{",".join(f"({x},{y})" for x, y in pts)}}}",{u}\n' for i, u, pts in rows)
    )
    jsonl = folder / "log.jsonl"
    jsonl.write_text(
        "".join(json.dumps({"image_id": i, "participant_id": u, "clicks": pts}) + "\n" for i, u, pts in rows)
    )
    parquet = folder / "log.parquet"
    pd.DataFrame(
        {
            "image_id": [r[0] for r in rows],
            "participant_id": [r[1] for r in rows],
            "x": [[p[0] for p in r[2]] for r in rows],
            "y": [[p[1] for p in r[2]] for r in rows],
        }
    ).to_parquet(parquet)
    npz = folder / "log.npz"
    write_npz(
        npz, [(i, u, np.array([p[0] for p in pts]), np.array([p[1] for p in pts]), 1.0, []) for i, u, pts in rows]
    )
    return [csv, jsonl, parquet, npz]


def test_one_repeat_rule_in_every_reader(tmp_path):
    for path in _round_logs(tmp_path):
        merged = read_clicks(path).clicks
        assert len(merged[merged.participant_id == "p"]) == 5, path.suffix  # 2 + 3 clicks, one map
        first = read_clicks(path, repeat_submissions="first")
        assert first.clicks[first.clicks.participant_id == "p"]["x"].tolist() == [1, 2], path.suffix
        assert first.skipped["field"].tolist() == ["submission"], path.suffix
        assert first.skipped["line"].tolist() == [4 if path.suffix == ".csv" else 3], path.suffix
        with pytest.raises(InputError, match="expected one submission"):
            read_clicks(path, repeat_submissions="error")
        reader = ClickReader(path)
        list(reader)
        assert reader.repeats_per_image().tolist() == [1], path.suffix


def test_per_click_logs_have_no_submissions(tmp_path):
    path = tmp_path / "clicks.csv"
    path.write_text("image_id,participant_id,x,y\na,p,1,1\na,p,2,2\na,q,3,3\n")
    log = read_clicks(path, repeat_submissions="error")  # a participant's clicks are one submission
    assert len(log.clicks) == 3 and log.skipped.empty


def test_mobile_rule_reads_the_first_value(tmp_path):
    path = tmp_path / "m.npz"
    write_npz(
        path,
        [
            ("a.png", "p", np.array([1]), np.array([1]), 1.0, [False, True]),
            ("a.png", "q", np.array([2]), np.array([2]), 1.0, [True, False]),
        ],
    )
    assert read_clicks(path, exclude_mobile=True).clicks["participant_id"].tolist() == []
    assert read_clicks(path, exclude_mobile=True, mobile_rule="first").clicks["participant_id"].tolist() == ["p"]


# ------------------------------------------------------------------------------ split-half ceiling
def _halves(rng, n):
    perm = rng.permutation(n)
    h = n // 2
    first, second = perm[:h], perm[h:]
    return (
        np.concatenate([first, first[rng.integers(0, len(first), h)]]),
        np.concatenate([second, second[rng.integers(0, len(second), h)]]),
    )


def _blurred_users(users):
    """Each user's count map blurred twice and centre-cropped to 224 (of 256): a half's map is the
    mean of its members' (the blur and the crop are linear)."""
    return np.stack([blur_twice(count_map(points), 21)[0][16:240, 16:240].ravel() for _, points in sorted(users)])


def reference_split_half(users, n_iterations, seed, partners=None):
    """Per image (sorted ids): iteration values of the human halves and of the floor, with the
    toolkit's documented stream (partner drawn first, then per iteration the permutation and
    draws, then the partner's); ``partners`` (image -> partner) replaces the drawn partner."""
    names = sorted(users)
    maps = {k: _blurred_users(users[k]) for k in names}
    human, floor = {}, {}
    for k, name in enumerate(names):
        rng = np.random.default_rng([seed, k])
        other = int(rng.integers(0, len(names) - 1))
        partner = partners[name] if partners else [n for n in names if n != name][other]
        human[name], floor[name] = [], []
        for _ in range(n_iterations):
            a, b = _halves(rng, len(maps[name]))
            half_a = maps[name][a].mean(axis=0)
            human[name].append(stats.spearmanr(half_a, maps[name][b].mean(axis=0))[0])
            _, b_other = _halves(rng, len(maps[partner]))
            floor[name].append(stats.spearmanr(half_a, maps[partner][b_other].mean(axis=0))[0])
    return human, floor


@pytest.fixture(scope="module")
def ceiling_run(log, tmp_path_factory):
    path, trials = log
    options = load_map_options(overrides={"preset": "clickme2"})
    out = tmp_path_factory.mktemp("ceiling")
    store, _ = open_logs([path], **options.reader_kwargs())
    with store:
        summary = write_reliability(store, out, options, n_images=None, split_half_iterations=8, seed=3)
    return summary, pd.read_csv(out / "reliability_split_half.csv"), reference_users(trials)


def test_split_half_ceiling_equals_the_reference(ceiling_run):
    summary, per_image, users = ceiling_run
    human, _ = reference_split_half(users, 8, seed=3)
    want = {k: np.nanmean(v) for k, v in human.items()}
    got = per_image.set_index("image_id")["rho"]
    np.testing.assert_allclose([got[k] for k in sorted(want)], [want[k] for k in sorted(want)], atol=1e-9)
    assert summary["split_half"]["ceiling"] == pytest.approx(np.mean(list(want.values())), abs=1e-12)
    assert summary["split_half"]["spearman_brown"] is False and "ceiling_uncorrected" not in summary["split_half"]
    print(
        f"split-half ceiling (preset) {summary['split_half']['ceiling']:.4f}, reference "
        f"{np.mean(list(want.values())):.4f}"
    )


def test_split_half_within_monte_carlo_error_of_an_independent_stream(ceiling_run):
    summary, per_image, users = ceiling_run
    partners = per_image.set_index("image_id")["image_id_floor"].to_dict()  # the partner drawn once, kept
    human, floor = reference_split_half(users, 8, seed=1000, partners=partners)  # other draws: statistical
    for values, key in ((human, "ceiling"), (floor, "floor")):
        per = np.array([np.nanmean(v) for v in values.values()])
        se = np.sqrt(sum(np.nanvar(v, ddof=1) / len(v) for v in values.values())) / len(values)
        assert abs(summary["split_half"][key] - per.mean()) < 4 * np.sqrt(2) * se + 1e-9, key
        print(
            f"{key}: toolkit {summary['split_half'][key]:.4f}, independent reference {per.mean():.4f} "
            f"(MC standard error of one estimate {se:.4f})"
        )
    assert summary["split_half"]["floor"] < summary["split_half"]["ceiling"]


# ------------------------------------------------------------------------------ the command line
def test_cli_preset_on_maps_and_reliability(log, tmp_path, capsys):
    path, _ = log
    assert (
        main(
            [
                "maps",
                str(path),
                "--preset",
                "clickme2",
                "--no-progress",
                "--out",
                str(tmp_path / "m.npz"),
                "--stats",
                str(tmp_path / "s.csv"),
            ]
        )
        == 0
    )
    shown = capsys.readouterr()
    assert "2 repeat submission(s) met (first)" in shown.out
    assert "2 repeat submission(s) (--repeat-submissions first)" in shown.err
    assert pd.read_csv(tmp_path / "s.csv")["n_repeats"].sum() == 2
    config = tmp_path / "rel.toml"
    config.write_text('[maps]\npreset = "clickme2"\nmin_subjects = 6\n')
    assert (
        main(
            [
                "reliability",
                str(path),
                "--config",
                str(config),
                "--split-half",
                "2",
                "--n-images",
                "0",
                "--no-progress",
                "--out",
                str(tmp_path / "rel"),
            ]
        )
        == 0
    )
    summary = json.loads((tmp_path / "rel" / "reliability_summary.json").read_text())
    assert summary["maps"]["preset"] == "clickme2" and summary["maps"]["min_subjects"] == 6
    assert set(summary["split_half"]) >= {"ceiling", "floor", "n_images"}
    with pytest.raises(SystemExit) as refused:  # a checked option: exit 2 with the option named
        main(["maps", str(path), "--preset", "clickme2", "--min-subjects", "0", "--out", str(tmp_path / "x.npz")])
    assert refused.value.code == 2 and "--min-subjects" in capsys.readouterr().err


# ------------------------------------------------------------------------------ real data
@pytest.mark.skipif(not REAL.is_dir(), reason="the shared real data set is absent")
def test_real_release_medians_fit_the_preset_filters():
    """The released CO3D medians (clicks per kept map, computed by the authors with min_clicks 10
    and max_clicks 75) lie in (10, 75], as the preset's filters imply; the file computed without
    the trim does not. Maps and ceiling cannot be recomputed: the files hold no coordinates."""
    options = load_map_options(overrides={"preset": "clickme2"})
    for name in ("co3d_train_medians.json", "co3d_val_medians.json"):
        values = np.array([v for k, v in json.loads((REAL / name).read_text()).items() if "/" in k])
        assert values.min() > options.min_clicks and values.max() <= options.max_clicks, name
    untrimmed = json.loads((REAL / "click_medians.json").read_text())
    assert max(untrimmed.values()) > options.max_clicks


def test_a_box_blur_of_two_passes_is_written_as_floats(tmp_path):
    clicks = pd.DataFrame(
        {"image_id": ["a"] * 4, "participant_id": ["p", "p", "q", "q"], "x": [3, 20, 5, 5], "y": [4, 4, 30, 31]}
    )
    options = load_map_options(
        overrides={
            "size": 32,
            "bubble_size": 1,
            "blur": "box",
            "blur_size": 5,
            "blur_passes": 2,
            "blur_border": "constant",
        }
    )
    with ClickStore.from_frame(clicks) as store:
        result = write_maps(store, tmp_path / "m.h5", options)
    assert result.encoding == "float32"
    counts = np.zeros((32, 32), dtype=np.int64)
    for x, y in zip(clicks.x, clicks.y):
        counts[y, x] += 1
    once = np.zeros((32, 32))
    padded = np.pad(counts.astype(float), 2)
    for dy in range(5):  # a 5x5 box twice, zero padding, by hand
        for dx in range(5):
            once += padded[dy : dy + 32, dx : dx + 32]
    twice = np.zeros((32, 32))
    padded = np.pad(once, 2)
    for dy in range(5):
        for dx in range(5):
            twice += padded[dy : dy + 32, dx : dx + 32]
    with open_maps(tmp_path / "m.h5") as maps:
        np.testing.assert_allclose(maps["a"], twice / 625 / 2, rtol=1e-6)
