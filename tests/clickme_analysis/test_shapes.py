"""Images of any shape (issue 21, step 7): maps at each image's size, no silent stretching, one
rule for maps left without clicks."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clickme_analysis.archive import MapArchive, save_maps
from clickme_analysis.errors import InputError
from clickme_analysis.shapes import fit_map, same_aspect
from clickme_app.cli import main


def _log(path, rows):
    pd.DataFrame(rows, columns=["image_id", "participant_id", "x", "y"]).to_csv(path, index=False)
    return path


@pytest.fixture
def wide(tmp_path):
    """A 600x400 (width x height) image, a 64x64 one, and clicks in image pixels."""
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (600, 400)).save(images / "wide.png")
    Image.new("RGB", (64, 64)).save(images / "small.png")
    rows = [("wide", p, 500 + p, 350) for p in range(3)] + [("small", p, 10, 20) for p in range(3)]
    return images, _log(tmp_path / "clicks.csv", rows)


def test_maps_take_each_images_size(wide, tmp_path):
    images, log = wide
    out = tmp_path / "m.npz"
    assert (
        main(
            [
                "maps",
                str(log),
                "--images",
                str(images),
                "--blur",
                "none",
                "--bubble-size",
                "1",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    with MapArchive(out) as maps:
        assert maps["wide"].shape == (400, 600)  # (height, width), indexed [y, x]
        assert maps["small"].shape == (64, 64)
        # the three clicks at x = 500..502, y = 350 are painted where they are
        assert np.flatnonzero(maps["wide"][350]).tolist() == [500, 501, 502]
        assert maps["wide"].sum() == pytest.approx(1.0)  # mean over 3 participants of one pixel each
        assert maps["small"][20, 10] == pytest.approx(1.0)


def test_maps_refuse_several_sizes_in_hdf5(wide, tmp_path, capsys):
    pytest.importorskip("h5py")
    images, log = wide
    assert main(["maps", str(log), "--images", str(images), "--no-progress", "--out", str(tmp_path / "m.h5")]) == 2
    assert ".npz" in capsys.readouterr().err


def test_maps_warn_about_images_without_clicks(wide, capsys, tmp_path):
    _, log = wide  # without --images: the square grid, where the wide image's clicks fall outside
    assert main(["maps", str(log), "--size", "64", "--no-progress", "--out", str(tmp_path / "m.npz")]) == 0
    assert "1 image(s) without clicks (an all-zero map)" in capsys.readouterr().err
    with MapArchive(tmp_path / "m.npz") as maps:
        assert maps["wide"].shape == (64, 64) and not maps["wide"].any()


def test_same_aspect_by_hand():
    assert same_aspect((400, 600), (200, 300))
    assert same_aspect((333, 500), (256, 384))  # 333 * 384 / 500 = 255.7: within a pixel
    assert not same_aspect((400, 600), (256, 256))
    assert not same_aspect((256, 256), (400, 600))


def test_fit_map_keeps_aspect_or_refuses():
    wide = np.tile(np.arange(6.0), (4, 1))
    assert fit_map(wide, (2, 3)).shape == (2, 3)
    with pytest.raises(InputError, match="aspect ratio"):
        fit_map(wide, (4, 4), field="cat")


def test_metrics_refuse_stretching_and_skip_empty_maps(tmp_path, capsys):
    rng = np.random.default_rng(0)
    human = {"a": rng.random((40, 60)), "b": rng.random((40, 60)), "empty": np.zeros((40, 60))}
    save_maps(tmp_path / "human.npz", human)
    save_maps(tmp_path / "pred.npz", {k: v[::2, ::2] for k, v in human.items()})  # same aspect: resized
    out = tmp_path / "m.csv"
    assert (
        main(
            [
                "metrics",
                "--pred",
                str(tmp_path / "pred.npz"),
                "--human",
                str(tmp_path / "human.npz"),
                "--metric",
                "cc",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "1 image(s) without clicks (an all-zero map) skipped by metrics: empty" in capsys.readouterr().err
    table = pd.read_csv(out, keep_default_na=False)
    assert sorted(table["image_id"]) == ["a", "b"]
    assert set(table["resized_from"]) == {"20x30"}
    save_maps(tmp_path / "square.npz", {k: v[:40, :40] for k, v in human.items()})  # another aspect
    assert (
        main(
            [
                "metrics",
                "--pred",
                str(tmp_path / "square.npz"),
                "--human",
                str(tmp_path / "human.npz"),
                "--metric",
                "cc",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "aspect ratio 40:60" in capsys.readouterr().err
