"""Paired datasets: sources, identical crops and flips, masks, bad input."""

import numpy as np
import pytest
import torch
from PIL import Image

from clickme_analysis.errors import InputError
from models.augment import IMAGENET_MEAN, IMAGENET_STD
from models.data import PairedDataset
from models.sources import Sample, load_samples


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def coordinate_sample(size=20):
    """Image whose red channel is the column index and whose map is the column index too."""
    cols = np.tile(np.arange(size, dtype=np.uint8) * 10, (size, 1))
    rows = cols.T.copy()
    image = np.stack([cols, rows, np.zeros_like(cols)], -1)
    return Sample("coords", image, 0, cols.astype(np.float32))


def red_channel(item):
    red = item["image"][0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]
    return red * 255


def test_crop_and_flip_are_identical_on_image_and_map():
    dataset = PairedDataset([coordinate_sample()], train=True, image_size=12, resize=20, blur_size=0, seed=3)
    flips = set()
    for epoch in range(8):
        dataset.set_epoch(epoch)
        item = dataset[0]
        assert item["image"].shape == (3, 12, 12) and item["map"].shape == (12, 12)
        # maps travel as uint16 (error <= (max - min) / 131070 = 0.0015 here)
        assert torch.allclose(red_channel(item), item["map"], atol=2e-3)
        flips.add(bool(item["map"][0, 0] > item["map"][0, -1]))
    assert flips == {True, False}  # both orientations were drawn


def test_crops_are_reproducible_and_vary_with_epoch():
    dataset = PairedDataset([coordinate_sample()], train=True, image_size=8, resize=20, blur_size=0, seed=1)
    first = dataset[0]["map"]
    assert torch.equal(first, dataset[0]["map"])
    seen = set()
    for epoch in range(6):
        dataset.set_epoch(epoch)
        seen.add(tuple(dataset[0]["map"][0, :2].tolist()))
    assert len(seen) > 1


def test_eval_is_center_crop():
    item = PairedDataset([coordinate_sample()], image_size=10, resize=20, blur_size=0)[0]
    assert item["map"][0].tolist() == pytest.approx([50.0 + 10 * i for i in range(10)], abs=2e-3)


def test_missing_map_and_bbox_control():
    image = np.zeros((8, 8, 3), np.uint8)
    human = np.zeros((8, 8), np.float32)
    human[2, 1] = human[5, 4] = 1
    items = PairedDataset([Sample("a", image), Sample("b", image, 1, human)], image_size=8, resize=8, map_source="bbox")
    assert not items[0]["has_map"] and items[0]["map"].sum() == 0
    box = np.zeros((8, 8))
    box[2:6, 1:5] = 1
    assert items[1]["has_map"] and np.array_equal(items[1]["map"].numpy(), box)


def test_maps_are_blurred():
    human = np.zeros((20, 20), np.float32)
    human[10, 10] = 1
    item = PairedDataset(
        [Sample("a", np.zeros((20, 20, 3), np.uint8), 0, human)], image_size=20, resize=20, blur_size=5
    )[0]
    assert item["map"][10, 10] == pytest.approx(1 / 25, rel=1e-5)
    assert (item["map"] > 0).sum() == 25


def test_folder_with_class_subfolders(tmp_path):
    write_png(tmp_path / "dog" / "d1.png", np.zeros((4, 4, 3), np.uint8))
    write_png(tmp_path / "cat" / "c1.png", np.zeros((4, 4, 3), np.uint8))
    write_png(tmp_path / "cat" / "c2.png", np.zeros((4, 4, 3), np.uint8))
    samples, classes = load_samples(tmp_path)
    assert classes == ["cat", "dog"]
    assert [(s.image_id, s.label) for s in samples] == [("c1", 0), ("c2", 0), ("d1", 1)]


def test_flat_folder_has_no_labels(tmp_path):
    write_png(tmp_path / "x.png", np.zeros((4, 4, 3), np.uint8))
    samples, classes = load_samples(tmp_path)
    assert classes == [] and samples[0].label == -1


def test_manifest_with_map_archive(tmp_path):
    from clickme_analysis.archive import save_maps

    for name in ("a", "b"):
        write_png(tmp_path / "images" / f"{name}.png", np.full((6, 6, 3), 9, np.uint8))
    (tmp_path / "labels.csv").write_text("image_id,label,category\na,zebra,animal\nb,car,non-animal\n")
    save_maps(tmp_path / "maps.npz", {"a": np.ones((6, 6), np.float32)})
    samples, classes = load_samples(tmp_path / "labels.csv", tmp_path / "maps.npz")
    assert classes == ["car", "zebra"] and [s.label for s in samples] == [1, 0]
    assert samples[0].map is not None and samples[1].map is None
    by_category, classes = load_samples(tmp_path / "labels.csv", label_column="category")
    assert classes == ["animal", "non-animal"]
    item = PairedDataset(samples, image_size=6, resize=6, blur_size=0)[0]
    assert item["has_map"] and item["label"] == 1


def test_tfrecord_source(tmp_path):
    from clickme_analysis.tfrecord import write_tfrecord

    image = np.full((256, 256, 3), 100, np.float32)
    heat = np.zeros((256, 256, 1), np.float32)
    heat[10:20, 10:20] = 1
    write_tfrecord(
        tmp_path / "clickme.tfrecords",
        [
            {"image": image.tobytes(), "heatmap": heat.tobytes(), "label": 4, "click_count": 7},
            {"image": image.tobytes(), "heatmap": heat.tobytes(), "label": 2, "click_count": 0},
        ],
    )
    samples, _ = load_samples(tmp_path / "clickme.tfrecords")
    assert [s.label for s in samples] == [4, 2]
    assert samples[0].map is not None and samples[1].map is None  # click_count 0: no map
    assert samples[0].image.dtype == np.uint8 and samples[0].image[0, 0, 0] == 100


def test_bad_input(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_samples(tmp_path / "missing")
    (tmp_path / "m.csv").write_text("name\nx\n")
    with pytest.raises(InputError, match="image_id"):
        load_samples(tmp_path / "m.csv")
    (tmp_path / "n.csv").write_text("image_id\nx\n")
    with pytest.raises(InputError, match="line 2") as err:
        load_samples(tmp_path / "n.csv")
    assert err.value.field == "path"
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(InputError, match="expected a folder"):
        load_samples(tmp_path / "data.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no images"):
        load_samples(tmp_path / "empty")
    with pytest.raises(InputError, match="map_source"):
        PairedDataset([], map_source="boxes")
    with pytest.raises(InputError, match="exceeds"):
        PairedDataset([], image_size=300, resize=256)
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(InputError, match="cannot read image"):
        PairedDataset([Sample("bad", str(tmp_path / "bad.png"))])[0]
