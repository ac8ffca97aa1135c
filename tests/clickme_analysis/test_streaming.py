"""Streaming maps and reliability through the bucketed click store; bad CLI input exits 2."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import ndimage, stats

from clickme_analysis.archive import open_maps
from clickme_analysis.clicklog import ClickReader
from clickme_analysis.clickstore import ClickStore
from clickme_analysis.errors import InputError
from clickme_analysis.maps import blur_map, build_maps, paint_clicks
from clickme_analysis.pipeline import MapOptions, load_map_options, write_maps
from clickme_analysis.reliability import inter_rater_reliability, split_half_reliability
from clickme_app.cli import main


def clickme2_log(path, n_images=30, seed=0):
    """A ClickMe 2.0 CSV: clustered clicks, 1-4 players per image, brace cells."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        centre = rng.uniform(40, 88, 2)
        for p in rng.choice(12, size=rng.integers(1, 5), replace=False):
            points = np.clip(rng.normal(centre, 10, (rng.integers(5, 40), 2)), -3, 130).round().astype(int)
            rows.append(
                (f"imagenet/val/img{i:03d}.JPEG", "{" + ",".join(f"({x},{y})" for x, y in points) + "}", f"u{p}")
            )
    order = rng.permutation(len(rows))  # log order is play order, not image order
    pd.DataFrame([rows[k] for k in order], columns=["image_path", "clicks", "user_id"]).to_csv(path, index=False)
    return path


def test_multi_bucket_store_gives_the_maps_of_the_in_memory_path(tmp_path):
    log = clickme2_log(tmp_path / "log.csv")
    options = MapOptions(size=128, blur_size=25, min_clicks=5, max_clicks=30)
    with ClickStore.from_reader(ClickReader(log), bucket_clicks=200) as store:
        assert store.n_buckets > 3  # spilled to several bucket files
        result = write_maps(store, tmp_path / "maps.h5", options, workers=2)
    from clickme_analysis.clicklog import read_clicks
    from clickme_analysis.maps import filter_clicks

    clicks, excluded = filter_clicks(read_clicks(log).clicks, 5, 30)
    maps, pair_stats = build_maps(clicks, shape=(128, 128), blur_size=25)
    with open_maps(tmp_path / "maps.h5") as stored:
        assert stored.image_ids == sorted(maps)
        for key, value in maps.items():
            np.testing.assert_array_equal(stored[key], value)  # lossless, and the same maps
    expected = pair_stats.groupby("image_id").agg(
        n_participants=("participant_id", "size"),
        n_clicks=("n_clicks", "sum"),
        median_clicks=("n_clicks", "median"),
        n_outside=("n_outside", "sum"),
    )
    expected["n_excluded"] = excluded.groupby("image_id").size().reindex(expected.index, fill_value=0)
    expected = expected.reset_index()
    assert (result.per_image["n_repeats"] == 0).all()  # no participant played an image twice
    pd.testing.assert_frame_equal(result.per_image.drop(columns="n_repeats"), expected, check_dtype=False)
    assert result.encoding == "delta-ratio" and result.bytes_per_map < 128 * 128 * 4


def test_exact_box_maps_equal_the_float_reference():
    rng = np.random.default_rng(3)
    clicks = pd.DataFrame(
        {
            "image_id": np.repeat(["a", "b"], 40),
            "participant_id": np.tile(np.repeat(["p", "q"], 20), 2),
            "x": rng.uniform(-5, 70, 80),
            "y": rng.uniform(0, 64, 80),
        }
    )
    maps, stats_table = build_maps(clicks, shape=(64, 64), blur_size=9)
    for key in ("a", "b"):
        part = clicks[clicks.image_id == key]
        painted = [paint_clicks(g.x, g.y, (64, 64))[0] for _, g in part.groupby("participant_id")]
        mean = np.mean(painted, axis=0)
        np.testing.assert_allclose(maps[key], ndimage.uniform_filter(mean, 9, mode="reflect"), atol=1e-6)
    assert stats_table["n_outside"].sum() == int(((clicks.x < 0) | (clicks.x >= 64)).sum())


def test_reliability_from_a_spilled_store_equals_scipy(tmp_path):
    log = clickme2_log(tmp_path / "log.csv", n_images=40, seed=1)
    with ClickStore.from_reader(ClickReader(log), bucket_clicks=300) as store:
        table = inter_rater_reliability(store, n_images=None, shape=(128, 128), blur_size=15, chunk_images=4, seed=2)
        again = inter_rater_reliability(store, n_images=None, shape=(128, 128), blur_size=15, chunk_images=4, seed=2)
        halves = split_half_reliability(store, n_iterations=3, shape=(128, 128), blur_size=15, seed=0)
    pd.testing.assert_frame_equal(table, again)
    null = table[table.distribution == "null"]
    assert (null.image_id != null.image_id_b).all() and len(null) == len(table) / 2
    from clickme_analysis.clicklog import read_clicks

    clicks = read_clicks(log).clicks
    row = table[table.distribution == "human"].iloc[0]
    maps = [
        blur_map(
            paint_clicks(
                *clicks[(clicks.image_id == row.image_id) & (clicks.participant_id == p)][["x", "y"]].to_numpy().T,
                shape=(128, 128),
            )[0],
            "box",
            15,
        ).ravel()  # exact: float noise would split ties
        for p in (row.participant_a, row.participant_b)
    ]
    assert row.rho == pytest.approx(stats.spearmanr(*maps)[0], abs=1e-6)
    assert halves["n_images"].iloc[0] >= 1 and halves["rho"].between(-1, 1).all()
    # the same draws from a table: the human pairs do not depend on how the clicks are stored
    in_memory = inter_rater_reliability(clicks, n_images=None, shape=(128, 128), blur_size=15, chunk_images=4, seed=2)
    human = table[table.distribution == "human"].reset_index(drop=True)
    pd.testing.assert_frame_equal(in_memory[in_memory.distribution == "human"].reset_index(drop=True), human)


def test_a_store_that_reads_again_gives_the_spilled_store_s_reliability(tmp_path):
    # spill=False keeps no click and reads the log again for the sampled images only, grouped in
    # the same buckets: the same draws, nulls and rhos as spilling every click (with max_clicks too)
    log = clickme2_log(tmp_path / "log.csv", n_images=40, seed=3)
    tables = []
    for spill in (True, False):
        with ClickStore.from_reader(ClickReader(log), bucket_clicks=300, spill=spill) as store:
            assert store.n_buckets > 3 and store.n_clicks > 0
            tables.append(
                inter_rater_reliability(
                    store, n_images=15, shape=(64, 64), blur_size=9, chunk_images=4, seed=1, max_clicks=12, min_clicks=2
                )
            )
    pd.testing.assert_frame_equal(tables[0], tables[1])
    assert len(tables[0]) == 30


def test_map_options_from_toml(tmp_path):
    path = tmp_path / "maps.toml"
    path.write_text("[maps]\nblur = 'gaussian'\nsigma = 28\nmin_clicks = 10\nmax_clicks = 75\n")
    options = load_map_options(path, overrides={"size": 128})
    assert (options.blur, options.sigma, options.min_clicks, options.size) == ("gaussian", 28.0, 10, 128)
    path.write_text("[maps]\nblur_size = -1\n")
    with pytest.raises(InputError, match="blur_size") as error:
        load_map_options(path)
    assert error.value.path == str(path)
    with pytest.raises(InputError, match="max_clicks > min_clicks"):
        MapOptions(min_clicks=10, max_clicks=5)


@pytest.fixture
def log(tmp_path):
    return clickme2_log(tmp_path / "log.csv", n_images=6)


def test_maps_cli_streams_to_hdf5_and_reports_bytes(tmp_path, log, capsys):
    out = tmp_path / "maps.h5"
    assert (
        main(
            [
                "maps",
                str(log),
                "--size",
                "128",
                "--blur-size",
                "25",
                "--out",
                str(out),
                "--no-progress",
                "--stats",
                str(tmp_path / "stats.csv"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "6 maps from" in printed and "KB per map, delta-ratio, lossless" in printed
    with open_maps(out) as maps:
        assert len(maps) == 6 and maps["img000"].shape == (128, 128)


def _exit_code(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--size", "-1"], "argument --size: expected an integer > 0, got '-1'"),
        (["--max-clicks", "-2"], "argument --max-clicks: expected an integer > 0"),
        (["--min-clicks", "1000"], "all .* participant maps have 1000 clicks or fewer"),
        (["--min-clicks", "10", "--max-clicks", "5"], "expected max_clicks > min_clicks"),
        (["--out", "{tmp}/no/such/maps.h5"], "argument --out: expected an existing folder to write into"),
        (["--out", "{tmp}/maps.txt"], "expected an output ending in .npz, .h5 or .hdf5"),
    ],
)
def test_maps_bad_options_exit_2(tmp_path, log, capsys, extra, message):
    argv = ["maps", str(log), "--out", str(tmp_path / "m.h5"), "--no-progress"]
    argv += [e.format(tmp=tmp_path) for e in extra]
    code, err = _exit_code(argv, capsys)
    assert code == 2
    assert pytest.importorskip("re").search(message, err), err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--n-boot", "0"], "argument --n-boot: expected an integer > 0"),
        (["--n-images", "-5"], "argument --n-images: expected an integer >= 0"),
        (["--split-half", "-3"], "argument --split-half: expected an integer >= 0"),
        (["--ceiling", "-1"], "argument --ceiling: expected a number > 0"),
        (["--jobs", "0"], "argument --jobs: expected an integer >= 1 or -1"),
        (["--catch-threshold", "2"], "argument --catch-threshold: expected a number between 0 and 1"),
    ],
)
def test_reliability_bad_options_exit_2(tmp_path, log, capsys, extra, message):
    code, err = _exit_code(["reliability", str(log), "--out", str(tmp_path / "r"), "--no-progress"] + extra, capsys)
    assert code == 2 and message in err


def test_bad_files_exit_2_with_located_messages(tmp_path, capsys):
    binary = tmp_path / "bin.csv"
    Image.new("L", (4, 4)).save(binary, format="PNG")
    code, err = _exit_code(["maps", str(binary), "--out", str(tmp_path / "m.h5")], capsys)
    assert code == 2 and "expected a UTF-8 text click log, got a PNG image" in err
    header_only = tmp_path / "header.csv"
    header_only.write_text("image_id,participant_id,x,y\n")
    code, err = _exit_code(["maps", str(header_only), "--out", str(tmp_path / "m.h5")], capsys)
    assert code == 2 and "the logs hold no clicks" in err and not (tmp_path / "m.h5").exists()
    # a row with too many fields and bytes that are not UTF-8: pyarrow fails before the row
    # handler sees it; the message says so, and no "Exception ignored" traceback is printed
    bad_row = tmp_path / "bad_row.csv"
    bad_row.write_bytes(b"image_id,participant_id,x,y\na,p,1,2\nb,p,\xff\xfe,3,4,5\n")
    for on_error in ("raise", "skip"):
        code, err = _exit_code(["maps", str(bad_row), "--on-error", on_error, "--out", str(tmp_path / "m.h5")], capsys)
        assert code == 2 and "holds bytes that are not UTF-8" in err and "bad_row.csv" in err
        assert "Traceback" not in err and "Exception ignored" not in err
    extra = tmp_path / "extra.csv"
    extra.write_text("image_id,participant_id,x,y\na,p,1,2,3\n")
    code, err = _exit_code(["reliability", str(extra), "--out", str(tmp_path / "r")], capsys)
    assert code == 2 and f"{extra}, line 2, field '(row)': expected 4 fields" in err
    code, err = _exit_code(
        ["metrics", "--pred", str(header_only), "--human", str(binary), "--out", str(tmp_path / "m.csv")], capsys
    )
    assert code == 2 and "got text starting 'image_id,participant_id,x,y'" in err


def test_metrics_cli_on_a_map_folder_with_fixations(tmp_path, capsys):
    from clickme_analysis.archive import save_maps

    rng = np.random.default_rng(0)
    human = {f"COCO_{k}": ndimage.gaussian_filter(rng.random((24, 32)), 3) for k in range(3)}
    save_maps(tmp_path / "human.npz", human)
    folder = tmp_path / "pred"
    folder.mkdir()
    for key, value in human.items():  # predictions as a SALICON-style folder of PNGs, half the size
        small = value[::2, ::2]
        Image.fromarray((255 * (small - small.min()) / np.ptp(small)).astype(np.uint8)).save(folder / f"{key}.png")
    fixations = tmp_path / "fix.csv"
    fixations.write_text("image_id,x,y\n" + "".join(f"{k},5,5\n{k},20,10\n" for k in human))
    assert (
        main(
            [
                "metrics",
                "--pred",
                str(folder),
                "--human",
                str(tmp_path / "human.npz"),
                "--fixations",
                str(fixations),
                "--metric",
                "cc",
                "--metric",
                "nss",
                "--out",
                str(tmp_path / "m.csv"),
                "--no-progress",
            ]
        )
        == 0
    )
    table = pd.read_csv(tmp_path / "m.csv", keep_default_na=False)
    assert set(table["resized_from"]) == {"12x16"} and (table.query("metric == 'cc'")["value"] > 0.8).all()
    assert "resized 3 prediction(s)" in capsys.readouterr().err


@pytest.mark.parametrize("n_images, chunk", [(2, 64), (5, 2), (7, 3), (13, 4)])
def test_reliability_chunks_never_leave_an_image_without_a_null_partner(tmp_path, n_images, chunk):
    log = clickme2_log(tmp_path / "log.csv", n_images=60, seed=4)
    with ClickStore.from_reader(ClickReader(log), bucket_clicks=150) as store:
        table = inter_rater_reliability(store, n_images=n_images, shape=(64, 64), blur_size=9, chunk_images=chunk)
    null = table[table.distribution == "null"]
    assert len(null) == n_images and (null.image_id != null.image_id_b).all()
    with pytest.raises(InputError, match="at least 2 sampled images"):
        inter_rater_reliability(
            pd.DataFrame({"image_id": list("aabb"), "participant_id": list("pqpq"), "x": 1.0, "y": 1.0}),
            n_images=1,
            shape=(8, 8),
            blur_size=3,
        )
