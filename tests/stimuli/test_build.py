"""Stimulus sets: per-image invariants, files, manifest, Latin square, bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clickme_analysis.archive import save_maps
from clickme_analysis.errors import InputError
from stimuli.build import (
    INTACT,
    StimulusConfig,
    build_stimulus_set,
    image_seed,
    latin_square,
    read_stimulus_labels,
    reveal_levels,
    reveal_stimuli,
)
from stimuli.compose import centering_shift, shift_image
from stimuli.reveal import level_counts

SIZE = 32


def two_maps(seed=0):
    """A ClickMe-like map (a blob off-centre, zero elsewhere) and a saliency-like map (non-zero everywhere)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    clickme = np.exp(-((yy - 8) ** 2 + (xx - 22) ** 2) / 30.0)
    clickme[clickme < 0.05] = 0
    saliency = rng.random((SIZE, SIZE)) + np.exp(-((yy - 20) ** 2 + (xx - 10) ** 2) / 50.0)
    return clickme, saliency


def test_levels_are_log_spaced_percentages():
    np.testing.assert_allclose(reveal_levels(11)[:3], [1.0, 1.5848932, 2.5118864])
    assert reveal_levels(11)[-1] == 100.0
    with pytest.raises(InputError, match="levels"):
        reveal_levels(1)


def test_reveal_stimuli_invariants():
    rng = np.random.default_rng(1)
    image = rng.random((SIZE, SIZE, 3))
    clickme, saliency = two_maps()
    config = StimulusConfig()
    rows = reveal_stimuli(image, {"clickme": clickme, "saliency": saliency}, config, seed=3)
    budget = int(np.count_nonzero(clickme))
    expected = level_counts(budget, reveal_levels(config.n_levels))
    gray = rows[-1]["stimulus"]
    assert rows[-1]["map_source"] == INTACT and gray.shape == (SIZE, SIZE)
    for source in ("clickme", "saliency"):
        own = [r for r in rows if r["map_source"] == source]
        masks = np.array([r["mask"] for r in own])
        # exact pixel counts, equal between sources
        np.testing.assert_array_equal([r["pixels_revealed"] for r in own], expected)
        np.testing.assert_array_equal(masks.sum(axis=(1, 2)), expected)
        # nested levels
        assert np.all(masks[:-1] <= masks[1:])
        # centred: one shift for all levels, the 100% box centred
        rows_, cols_ = np.nonzero(masks[-1])
        assert abs((rows_.min() + rows_.max()) / 2 - (SIZE - 1) / 2) <= 0.5
        assert abs((cols_.min() + cols_.max()) / 2 - (SIZE - 1) / 2) <= 0.5
        assert centering_shift(masks[-1]) == (0, 0)
        # the background is one fixed scramble for all levels
        background = own[0]["stimulus"][~masks[-1]]
        for r in own:
            np.testing.assert_array_equal(r["stimulus"][~masks[-1]], background)
    # centring is one shift of the uncentred masks, and revealed pixels are the (shifted) image
    plain = reveal_stimuli(image, {"clickme": clickme, "saliency": saliency}, StimulusConfig(center=False), seed=3)
    for r, p in zip(rows[:-1], plain[:-1]):
        np.testing.assert_array_equal(p["stimulus"][p["mask"]], gray[p["mask"]])
        last = [q for q in plain if q["map_source"] == p["map_source"]][-1]["mask"]
        np.testing.assert_array_equal(r["mask"], shift_image(p["mask"], centering_shift(last), fill=False))
    # same seed, same stimuli
    again = reveal_stimuli(image, {"clickme": clickme, "saliency": saliency}, config, seed=3)
    for r, a in zip(rows, again):
        np.testing.assert_array_equal(r["stimulus"], a["stimulus"])


def test_reveal_stimuli_moves_the_image_with_the_mask():
    image = np.zeros((SIZE, SIZE))
    image[:, 16:] = 1.0  # right half white
    clickme = np.zeros((SIZE, SIZE))
    clickme[2:6, 24:30] = 1.0  # a block at the top right, inside the white half
    rows = reveal_stimuli(image, {"clickme": clickme}, StimulusConfig(n_levels=3), seed=0)
    full = rows[2]
    assert full["pixels_revealed"] == 24
    np.testing.assert_array_equal(full["stimulus"][full["mask"]], 1.0)  # white pixels, now centred
    assert full["mask"][14:18, 13:19].all()


def test_reveal_stimuli_rejects_maps_of_another_shape():
    with pytest.raises(InputError, match="shape"):
        reveal_stimuli(np.zeros((SIZE, SIZE)), {"clickme": np.ones((SIZE, SIZE + 1))})


def test_latin_square_properties():
    images = pd.DataFrame(
        {
            "image_id": [f"a{i}" for i in range(6)] + [f"n{i}" for i in range(6)],
            "category": ["animal"] * 6 + ["non-animal"] * 6,
        }
    )
    levels = reveal_levels(5)
    frame = latin_square(images, levels)
    n_conditions = len(levels) + 1
    assert sorted(frame["participant_list"].unique()) == list(range(n_conditions))
    # each list shows each image exactly once
    assert (frame.groupby("participant_list")["image_id"].nunique() == 12).all()
    assert len(frame) == 12 * n_conditions
    # across lists each image meets every condition once
    assert (frame.groupby("image_id")["level_index"].nunique() == n_conditions).all()
    # within a list, each condition gets one target and one distractor
    per = frame.merge(images).groupby(["participant_list", "level_index", "category"]).size()
    assert (per == 1).all()
    intact = frame[frame["map_source"] == INTACT]
    assert (intact["level"] == 100).all() and (intact["level_index"] == len(levels)).all()
    first = frame[(frame["participant_list"] == 0) & (frame["image_id"] == "a0")]
    assert first["level"].item() == 1.0


def write_dataset(tmp_path, saliency_shape=None):
    clickme_maps, saliency_maps = {}, {}
    (tmp_path / "images").mkdir()
    rng = np.random.default_rng(0)
    ids = ["cat", "dog", "mug"]
    for k, image_id in enumerate(ids):
        pixels = (rng.random((SIZE, SIZE, 3)) * 255).astype(np.uint8)
        suffix = ".jpg" if image_id == "dog" else ".png"
        Image.fromarray(pixels).save(tmp_path / "images" / f"{image_id}{suffix}", quality=95)
        clickme, saliency = two_maps(k)
        clickme_maps[image_id] = clickme
        saliency_maps[image_id] = saliency if saliency_shape is None else np.ones(saliency_shape)
    save_maps(tmp_path / "maps.npz", clickme_maps, labels={"cat": "tabby"})
    save_maps(tmp_path / "saliency.npz", saliency_maps)
    (tmp_path / "labels.csv").write_text(
        "image_id,label,category\ncat,tabby,animal\ndog,beagle,animal\nmug,cup,non-animal\n"
    )
    return {"clickme": tmp_path / "maps.npz", "saliency": tmp_path / "saliency.npz"}


def test_build_stimulus_set_writes_files_manifest_assignment_and_sheets(tmp_path):
    maps = write_dataset(tmp_path)
    config = StimulusConfig(n_levels=4, size=SIZE, seed=2)
    manifest = build_stimulus_set(
        tmp_path / "images", maps, tmp_path / "out", labels=tmp_path / "labels.csv", config=config, progress=False
    )
    on_disk = pd.read_csv(tmp_path / "out" / "manifest.csv")
    for column in ["image_id", "category", "target", "map_source", "level", "pixels_revealed", "seed", "path"]:
        assert column in on_disk.columns
    assert len(on_disk) == 3 * (2 * 4 + 1)
    assert set(on_disk["map_source"]) == {"clickme", "saliency", INTACT}
    assert on_disk.loc[on_disk.image_id == "dog", "target"].all()
    assert not on_disk.loc[on_disk.image_id == "mug", "target"].any()
    assert (on_disk["seed"] == on_disk["image_id"].map(lambda i: image_seed(2, i))).all()
    # equal budgets: same pixel counts per image and level across sources
    wide = on_disk[on_disk.map_source != INTACT].pivot_table(
        index=["image_id", "level"], columns="map_source", values="pixels_revealed"
    )
    np.testing.assert_array_equal(wide["clickme"], wide["saliency"])
    for row in on_disk.itertuples():
        with Image.open(tmp_path / "out" / row.path) as png:
            assert png.size == (SIZE, SIZE) and png.mode == "L"
    for image_id in ["cat", "dog", "mug"]:
        for source in ["clickme", "saliency"]:
            assert (tmp_path / "out" / "contact_sheets" / f"{image_id}_{source}.png").is_file()
    assignment = pd.read_csv(tmp_path / "out" / "assignment.csv")
    assert list(assignment.columns[:3]) == ["participant_list", "image_id", "level"]
    assert assignment["participant_list"].nunique() == 5
    # determinism: a second build gives identical files
    build_stimulus_set(
        tmp_path / "images", maps, tmp_path / "again", labels=tmp_path / "labels.csv", config=config, progress=False
    )
    for row in manifest.itertuples():
        a = np.asarray(Image.open(tmp_path / "out" / row.path))
        b = np.asarray(Image.open(tmp_path / "again" / row.path))
        np.testing.assert_array_equal(a, b)


def test_build_without_labels_and_with_resizing(tmp_path):
    maps = write_dataset(tmp_path)
    manifest = build_stimulus_set(
        tmp_path / "images",
        {"clickme": maps["clickme"]},
        tmp_path / "out",
        config=StimulusConfig(n_levels=2, size=16, color=True),
        progress=False,
    )
    assert manifest["target"].isna().all() and (manifest["category"] == "").all()
    assert manifest.loc[manifest.image_id == "cat", "label"].iloc[0] == "tabby"
    with Image.open(tmp_path / "out" / manifest["path"].iloc[0]) as png:
        assert png.size == (16, 16) and png.mode == "RGB"


def test_images_without_clicks_are_skipped_and_listed(tmp_path, capsys):
    """Issue 21 step 7: an all-zero map (no clicks) is skipped with a listed warning; it stopped
    the build mid-run."""
    maps = write_dataset(tmp_path)
    save_maps(tmp_path / "some_empty.npz", {"cat": two_maps()[0], "dog": np.zeros((SIZE, SIZE)), "mug": two_maps()[0]})
    manifest = build_stimulus_set(
        tmp_path / "images",
        {"clickme": tmp_path / "some_empty.npz", "saliency": maps["saliency"]},
        tmp_path / "out",
        config=StimulusConfig(n_levels=2, size=SIZE),
        progress=False,
    )
    assert sorted(set(manifest["image_id"])) == ["cat", "mug"]
    err = capsys.readouterr().err
    assert "1 image(s) without clicks (an all-zero map) skipped by stimuli build (some_empty.npz): dog" in err
    assert not (tmp_path / "out" / "contact_sheets" / "dog_clickme.png").exists()


@pytest.mark.parametrize("problem, words", [("shape", "shape"), ("nan", "NaN")])
def test_bad_maps_name_the_archive_and_image(tmp_path, problem, words):
    maps = write_dataset(tmp_path)
    bad = {"shape": np.ones((SIZE, SIZE + 3)), "zero": np.zeros((SIZE, SIZE)), "nan": np.full((SIZE, SIZE), np.nan)}[
        problem
    ]
    save_maps(tmp_path / "bad.npz", {"cat": two_maps()[0], "dog": bad, "mug": two_maps()[0]})
    with pytest.raises(InputError, match=words) as err:
        build_stimulus_set(
            tmp_path / "images",
            {"clickme": maps["clickme"], "saliency": tmp_path / "bad.npz"},
            tmp_path / "out",
            config=StimulusConfig(n_levels=2, size=SIZE),
            progress=False,
        )
    assert "bad.npz" in str(err.value) and "'dog'" in str(err.value)


def test_missing_image_and_missing_map_are_named(tmp_path):
    maps = write_dataset(tmp_path)
    (tmp_path / "images" / "mug.png").unlink()
    with pytest.raises(InputError, match="missing image") as err:
        build_stimulus_set(
            tmp_path / "images", maps, tmp_path / "out", config=StimulusConfig(n_levels=2, size=SIZE), progress=False
        )
    assert "mug.png" in str(err.value)
    save_maps(tmp_path / "short.npz", {"cat": two_maps()[0]})
    with pytest.raises(InputError, match="no map for image 'dog'") as err:
        build_stimulus_set(
            tmp_path / "images",
            {"a": maps["clickme"], "b": tmp_path / "short.npz"},
            tmp_path / "out",
            config=StimulusConfig(n_levels=2, size=SIZE),
            progress=False,
        )
    assert "short.npz" in str(err.value)


def test_bad_labels_and_folders(tmp_path):
    maps = write_dataset(tmp_path)
    (tmp_path / "bad.csv").write_text("image_id,label,category\ncat,tabby,feline\n")
    with pytest.raises(InputError, match="line 2.*category"):
        read_stimulus_labels(tmp_path / "bad.csv")
    (tmp_path / "short.csv").write_text("image_id,label,category\ncat,tabby,animal\n")
    with pytest.raises(InputError, match="no row for image 'dog'"):
        build_stimulus_set(
            tmp_path / "images",
            maps,
            tmp_path / "out",
            labels=tmp_path / "short.csv",
            config=StimulusConfig(n_levels=2, size=SIZE),
            progress=False,
        )
    (tmp_path / "nocat.csv").write_text("image_id,label\ncat,tabby\n")
    with pytest.raises(InputError, match="field 'category': labels file lacks columns"):
        read_stimulus_labels(tmp_path / "nocat.csv")
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(InputError, match="binary.csv: not a readable labels file"):
        read_stimulus_labels(tmp_path / "binary.csv")
    with pytest.raises(InputError, match="image folder not found"):
        build_stimulus_set(tmp_path / "nowhere", maps, tmp_path / "out", progress=False)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "images" / "cat.jpeg")
    with pytest.raises(InputError, match="two image files"):
        build_stimulus_set(tmp_path / "images", maps, tmp_path / "out", progress=False)
    with pytest.raises(InputError, match="reserved"):
        build_stimulus_set(tmp_path / "images", {INTACT: maps["clickme"]}, tmp_path / "out", progress=False)
