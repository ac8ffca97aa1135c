"""Every released data format, each on a small file written here in its exact layout."""

import gzip
import io
import json
import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clickme_analysis.archive import (
    ClickMe2Maps,
    MapFolder,
    MapStore,
    MapWriter,
    open_maps,
    save_maps,
    write_clickme2_hdf5,
)
from clickme_analysis.clicklog import read_clicks
from clickme_analysis.errors import InputError
from clickme_analysis.fixations import FixationPoints, read_fixations
from clickme_analysis.ids import IdMatchWarning, image_id, image_ids, match_ids
from clickme_analysis.metrics import nss, score_maps
from clickme_analysis.npz_log import load_npz
from clickme_analysis.tfrecord import read_clickme_tfrecord, write_tfrecord


# ----------------------------------------------------------------------------- ClickMe 2.0 CSV
def test_clickme2_csv_brace_cells_keep_order_and_empty_trials(tmp_path):
    path = tmp_path / "clickme.csv"
    path.write_text(
        "image_path,clicks,user_id\n"
        'imagenet/val/chelsea.JPEG,"{(12,30),(14,33),(1,2)}",41\n'
        'imagenet/val/horse.JPEG,"{}",42\n'
        'imagenet/val/horse.JPEG,"{(5.5, 6), (7,8)}",43\n'
    )
    clicks = read_clicks(path).clicks
    assert clicks[["image_id", "participant_id"]].values.tolist() == [["chelsea", "41"]] * 3 + [["horse", "43"]] * 2
    assert clicks["x"].tolist() == [12, 14, 1, 5.5, 7] and clicks["y"].tolist() == [30, 33, 2, 6, 8]
    # the old reader rejected these cells ("got set"); the rows are not skipped, nothing dropped
    assert read_clicks(path, on_error="skip").skipped.empty


def test_brace_cells_compiled_and_row_parsers_agree(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for k in range(300):
        points = rng.integers(0, 256, (rng.integers(1, 20), 2))
        cell = (
            "{" + ",".join(f"({a},{b})" for a, b in points) + "}" if k % 3 else str([tuple(p) for p in points.tolist()])
        )
        rows.append((f"img{k % 40}.png", cell, f"u{k}"))
    path = tmp_path / "log.csv"
    pd.DataFrame(rows, columns=["image_path", "clicks", "user_id"]).to_csv(path, index=False)
    clicks = read_clicks(path).clicks
    expected = [
        (int(a), int(b))
        for _, cell, _ in rows
        for a, b in json.loads(cell.replace("{", "[").replace("}", "]").replace("(", "[").replace(")", "]"))
    ]
    assert list(zip(clicks["x"].astype(int), clicks["y"].astype(int))) == expected


@pytest.mark.parametrize(
    "cell, message",
    [
        ('"{(1,2),(3)}"', "point 2: expected two or three finite numbers"),
        ('"{(1,2"', "could not parse it"),
        ('""', "empty cell"),
        ('"{(1e400,2)}"', "finite"),
    ],
)
def test_bad_brace_cells_are_located(tmp_path, cell, message):
    path = tmp_path / "log.csv"
    path.write_text(f'image_path,clicks,user_id\na.png,"{{(1,2)}}",u\nb.png,{cell},u\n')
    with pytest.raises(InputError, match=message) as error:
        read_clicks(path)
    assert (error.value.line, error.value.field) == (3, "clicks")


def test_rows_with_extra_fields_and_semicolons_are_located(tmp_path):
    path = tmp_path / "extra.csv"
    path.write_text("image_id,participant_id,x,y\na,p,1,2,9\na,p,3,4\n")
    with pytest.raises(InputError, match="expected 4 fields as the header, got 5") as error:
        read_clicks(path)
    assert error.value.line == 2
    log = read_clicks(path, on_error="skip")
    assert log.clicks["x"].tolist() == [3.0] and log.skipped["line"].tolist() == [2]
    semi = tmp_path / "semi.csv"
    semi.write_text("image_id;participant_id;x;y\na;p;1;2\n")
    with pytest.raises(InputError, match="separated by ';'"):
        read_clicks(semi)


def test_binary_file_named_csv_says_what_it_is(tmp_path):
    path = tmp_path / "clicks.csv"
    Image.new("L", (4, 4)).save(path, format="PNG")
    with pytest.raises(InputError, match="expected a UTF-8 text click log, got a PNG image"):
        read_clicks(path)


# ----------------------------------------------------------------------------- ClickMe 2.0 NPZ
def _objects(items):
    out = np.empty(len(items), dtype=object)
    out[:] = [np.asarray(i) for i in items]
    return out


def _clickme2_npz(path, **extra):
    np.savez(
        path,
        file_pointer=np.array(["cat/a.png", "cat/b.png", "dog/c.png"]),
        clickmap_x=_objects([[1, 2], [3], [5, 6]]),
        clickmap_y=_objects([[7, 8], [9], [10, 11]]),
        user_id=np.array([1, 2, 3]),
        **extra,
    )


def test_clickme2_npz_catch_accuracy_threshold_and_mobile(tmp_path):
    path = tmp_path / "clickme.npz"
    _clickme2_npz(path, user_catch_trial=np.array([0.97, 0.5, 1.0]), is_mobile=_objects([[], [], [True]]))
    log = read_clicks(path)  # default: keep accuracy >= 0.95, as the authors
    assert log.clicks["image_id"].tolist() == ["a", "a", "c", "c"]
    assert log.skipped[["line", "field"]].values.tolist() == [[2, "user_catch_trial"]]
    assert read_clicks(path, catch_threshold=0.4).clicks["image_id"].nunique() == 3
    mobile = read_clicks(path, exclude_mobile=True)
    assert mobile.clicks["image_id"].tolist() == ["a", "a"]  # the empty is_mobile arrays are not mobile
    assert mobile.skipped["field"].tolist() == ["user_catch_trial", "is_mobile"]


def test_crafted_pickle_in_npz_does_not_run(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    array = np.empty(1, dtype=object)
    array[0] = Payload()
    path = tmp_path / "evil.npz"
    np.savez(path, file_pointer=np.array(["a"]), clickmap_x=array, clickmap_y=array, user_id=np.array([1]))
    assert not marker.exists()  # writing it ran nothing either
    with pytest.raises(InputError, match=r"refusing (io|builtins)\.open") as error:
        read_clicks(path)
    assert error.value.field == "clickmap_x" and not marker.exists()
    # the same refusal without numpy's help: a raw pickle member
    raw = tmp_path / "raw.npz"
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    import zipfile

    with zipfile.ZipFile(raw, "w") as zf:
        zf.writestr("x.npy", buffer.getvalue() + pickle.dumps(Payload()))
    with pytest.raises(InputError, match="not a plain array"):
        load_npz(raw)
    assert not marker.exists()


def test_npz_loader_rebuilds_plain_object_arrays(tmp_path):
    path = tmp_path / "ok.npz"
    _clickme2_npz(path)
    data = load_npz(path)
    assert [a.tolist() for a in data["clickmap_x"]] == [[1, 2], [3], [5, 6]]
    assert data["file_pointer"].tolist() == ["cat/a.png", "cat/b.png", "dog/c.png"]


def test_map_archive_messages_for_files_that_are_not_archives(tmp_path):
    png = tmp_path / "maps.npz"
    Image.new("L", (4, 4)).save(png, format="PNG")
    with pytest.raises(InputError, match="expected a map archive .*, got a PNG image") as error:
        open_maps(png)
    assert "allow_pickle" not in str(error.value)
    csv = tmp_path / "maps.csv"
    csv.write_text("image_id,x,y\n")
    with pytest.raises(InputError, match="got text starting 'image_id,x,y'"):
        open_maps(csv)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(2))
    with pytest.raises(InputError, match=r"not a ClickMe map archive: expected format .*\(members: x\)"):
        open_maps(other)


# ----------------------------------------------------------------------------- Harmonization TFRecords
def _jpeg(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _harmonization_records(n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        image = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
        heatmap = np.zeros((256, 256), np.uint8)
        heatmap[64 + k : 128, 32:200] = 200
        out.append(({"image": _jpeg(image), "heatmap": _jpeg(heatmap), "label": k}, heatmap))
    return out


def test_harmonization_jpeg_tfrecords_in_a_folder_and_a_glob(tmp_path):
    shards = tmp_path / "val"
    shards.mkdir()
    records = _harmonization_records(3)
    write_tfrecord(shards / "val-0.tfrecords", [r for r, _ in records[:2]])
    write_tfrecord(shards / "val-1.tfrecords", [r for r, _ in records[2:]], compression="GZIP")  # no .gz in the name
    for source in (shards, str(shards / "val-*.tfrecords")):
        read = list(read_clickme_tfrecord(source))
        assert [r["label"] for r in read] == [0, 1, 2] and all(r["has_map"] for r in read)
        assert [r["click_count"] for r in read] == [None] * 3
        assert read[0]["image"].shape == (256, 256, 3) and read[0]["heatmap"].shape == (256, 256)
        for r, (_, heatmap) in zip(read, records):
            assert np.abs(r["heatmap"] - heatmap).mean() < 2  # JPEG: near, not exact
        assert read[2]["source"].endswith("val-1.tfrecords") and read[2]["index"] == 1


def test_gzip_tfrecord_without_gz_name_is_not_called_corrupt(tmp_path):
    plain = tmp_path / "a.tfrecords"
    write_tfrecord(
        plain, [{"label": 1, "image": np.zeros(12, np.float32).tobytes(), "heatmap": np.zeros(4, np.float32).tobytes()}]
    )
    packed = tmp_path / "train-0.tfrecords"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    (record,) = read_clickme_tfrecord(packed, image_shape=(2, 2, 3), heatmap_shape=(2, 2, 1))
    assert record["label"] == 1


def test_bad_jpeg_bytes_are_located(tmp_path):
    path = tmp_path / "bad.tfrecords"
    write_tfrecord(
        path, [{"image": b"\xff\xd8\xff\xe0broken", "heatmap": _jpeg(np.zeros((256, 256), np.uint8)), "label": 0}]
    )
    with pytest.raises(InputError, match="cannot read image") as error:
        list(read_clickme_tfrecord(path))
    assert (error.value.line, error.value.field) == (1, "image")


# ----------------------------------------------------------------------------- HDF5 and map folders
def test_hdf5_map_store_round_trip_is_lossless(tmp_path):
    rng = np.random.default_rng(1)
    numerators = {f"img{k}": rng.integers(0, 5000, (16, 12)) for k in range(4)}
    with MapWriter(tmp_path / "maps.h5", n_maps=4, encoding="delta-ratio") as writer:
        for position, (key, num) in reversed(list(enumerate(numerators.items()))):  # any order, by position
            writer.write(
                key,
                numerator=num,
                denominator=2401.0 * (position + 1),
                position=position,
                label=f"class{position}",
                participant_count=position + 2,
            )
    with open_maps(tmp_path / "maps.h5") as store:
        assert isinstance(store, MapStore) and store.image_ids == list(numerators)
        for position, (key, num) in enumerate(numerators.items()):
            np.testing.assert_array_equal(store[key], (num / (2401.0 * (position + 1))).astype(np.float32))
        assert store.label("img2") == "class2" and store.participant_count("img3") == 5
    floats = {k: rng.random((5, 5)).astype(np.float32) for k in "ab"}
    save_maps(tmp_path / "f.hdf5", floats)
    with open_maps(tmp_path / "f.hdf5") as store:
        np.testing.assert_array_equal(store["b"], floats["b"])
    with pytest.raises(InputError, match="maps of one shape"):
        save_maps(tmp_path / "g.h5", {"a": np.zeros((2, 2)), "b": np.zeros((3, 3))})
    assert not (tmp_path / "g.h5").exists()


def test_clickme2_hdf5_read_and_written(tmp_path):
    import h5py

    path = tmp_path / "clickme2.h5"
    with h5py.File(path, "w") as f:  # the authors' layout, written by hand
        f.create_dataset("clickmaps/apple_151_16772_renders_00001.png", data=np.ones((3, 4, 5)) * [[[1]], [[3]], [[5]]])
        f.create_dataset("click_counts/apple_151_16772_renders_00001.png", data=17)
    with open_maps(path) as maps:
        assert isinstance(maps, ClickMe2Maps) and maps.image_ids == ["apple_151_16772_renders_00001"]
        np.testing.assert_array_equal(maps["apple_151_16772_renders_00001"], np.full((4, 5), 3.0))
        assert maps.click_count("apple_151_16772_renders_00001") == 17
    write_clickme2_hdf5(tmp_path / "out.h5", {"dog/x.png": np.eye(3)}, {"dog/x.png": 4})
    with open_maps(tmp_path / "out.h5", id_rule="path") as maps:
        assert list(maps) == ["dog_x.png"] and maps.click_count("dog_x.png") == 4


def test_map_folder_png_jpg_npy_and_id_collisions(tmp_path):
    folder = tmp_path / "maps"
    folder.mkdir()
    Image.fromarray(np.array([[0, 255], [51, 102]], np.uint8)).save(folder / "COCO_val_1.png")
    Image.fromarray(np.full((8, 8), 128, np.uint8)).save(folder / "COCO_val_2.jpg", quality=100)
    np.save(folder / "COCO_val_3.npy", np.eye(2) * 7)
    (folder / "notes.txt").write_text("ignored")
    with open_maps(folder) as maps:
        assert isinstance(maps, MapFolder) and list(maps) == ["COCO_val_1", "COCO_val_2", "COCO_val_3"]
        np.testing.assert_allclose(maps["COCO_val_1"], [[0, 1], [0.2, 0.4]], atol=1e-6)
        assert abs(float(maps["COCO_val_2"].mean()) - 128 / 255) < 0.01
        np.testing.assert_array_equal(maps["COCO_val_3"], np.eye(2) * 7)
    Image.fromarray((np.zeros((2, 2, 3)) + [255, 0, 0]).astype(np.uint8)).save(folder / "COCO_val_4.png")
    with pytest.raises(InputError, match="expected a grayscale map"):
        open_maps(folder)["COCO_val_4"]
    np.save(folder / "COCO_val_1.npy", np.eye(2))
    with pytest.raises(InputError, match="give the id 'COCO_val_1'"):
        open_maps(folder)


# ----------------------------------------------------------------------------- ids
def test_id_rule_and_matching():
    assert image_id("imagenet/val/chelsea.JPEG") == "chelsea" == image_id("chelsea.png")
    assert image_id("./a\\b/c.PNG", rule="relative") == "a/b/c"
    assert image_id("root/a/c.png", rule="relative", root="root/") == "a/c"
    assert image_id("other/a/c.png", rule="relative", root="root") == "other/a/c"
    assert image_id("n01440764_10026") == "n01440764_10026" and image_id("v1.5") == "v1.5"
    with pytest.raises(InputError, match="id rule"):
        image_id("a", rule="name")
    assert image_ids(["a/x.png", "b/x.png"], rule="relative") == ["a/x", "b/x"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert match_ids(["a", "b", "c"], ["b", "c", "d", "e"]) == ["b", "c"]
    (warning,) = caught
    assert warning.category is IdMatchWarning
    assert "2 of 4 images have one of the 3 maps; 2 images without: 'd', 'e'; 1 maps unused: 'a'" in str(
        warning.message
    )
    with pytest.raises(
        InputError,
        match=r"none of 2 maps ids matches one of 1 images ids \(maps: 'x', 'y'; "
        r"images: 'z'\)",
    ):
        match_ids(["x", "y"], ["z"])
    with pytest.raises(InputError, match="expected some maps ids"):
        match_ids([], ["z"])


# ----------------------------------------------------------------------------- fixations and metrics
def test_salicon_fixation_json_and_csv_points_score_nss(tmp_path):
    salicon = {
        "images": [{"id": 5, "file_name": "COCO_val2014_000000000005.jpg", "height": 4, "width": 6}],
        "annotations": [
            {"image_id": 5, "worker_id": 1, "fixations": [[1, 1], [4, 6]]},
            {"image_id": 5, "worker_id": 2, "fixations": [[2, 3]]},
        ],
    }
    path = tmp_path / "fixations_val2014.json"
    path.write_text(json.dumps(salicon))
    points = read_fixations(path)["COCO_val2014_000000000005"]
    assert points.shape == (4, 6) and points.xy.tolist() == [[0, 0], [5, 3], [2, 1]]  # 1-based [row, col]
    human = {"COCO_val2014_000000000005": np.ones((4, 6))}
    pred = {"COCO_val2014_000000000005": np.arange(24.0).reshape(4, 6)}
    expected_map = np.zeros((4, 6), bool)
    expected_map[0, 0] = expected_map[3, 5] = expected_map[1, 2] = True
    table = score_maps(pred, human, metrics=["nss"], fixations=read_fixations(path))
    assert table["value"].iloc[0] == pytest.approx(nss(pred["COCO_val2014_000000000005"], expected_map))
    csv = tmp_path / "fixations.csv"
    csv.write_text("image_id,x,y\nimg/cat.png,1,0\nimg/cat.png,2.5,1\n")
    points = read_fixations(csv)["cat"]
    assert points.shape is None and points.xy.tolist() == [[1, 0], [2.5, 1]]
    csv.write_text("image_id,x,y\ncat,1,oops\n")
    with pytest.raises(InputError, match="expected a finite number") as error:
        read_fixations(csv)
    assert (error.value.line, error.value.field) == (2, "y")
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [], "annotations": [{"image_id": 3}]}')
    with pytest.raises(InputError, match="image_id of an entry of 'images'"):
        read_fixations(bad)
    assert isinstance(FixationPoints(np.zeros((0, 2))), FixationPoints)


def test_score_maps_resizes_predictions_and_records_it():
    human = {"a": np.outer(np.hanning(32), np.hanning(48))}
    pred = {"a": np.outer(np.hanning(16), np.hanning(24))}
    table = score_maps(pred, human, metrics=["cc"])
    assert table["resized_from"].tolist() == ["16x24"] and table["value"].iloc[0] > 0.99
    same = score_maps(human, human, metrics=["cc"])
    assert "resized_from" not in same


def test_score_maps_match_reports_ids():
    humans = {"a": np.eye(4), "b": np.eye(4)[::-1]}
    with pytest.raises(InputError, match="none of 1 predictions ids"):
        score_maps({"z": np.eye(4)}, humans, metrics=["cc"], match=True)
    with pytest.warns(IdMatchWarning, match="1 of 2 human maps"):
        table = score_maps({"a": np.eye(4)}, humans, metrics=["cc"], match=True)
    assert table["image_id"].tolist() == ["a"]


def test_stimuli_take_any_map_source_and_the_id_rule(tmp_path):
    """A map id written with its suffix ("cat.png") finds images/cat.png; a map folder is a map source."""
    from stimuli.build import StimulusConfig, build_stimulus_set

    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(images / "cat.png")
    yy, xx = np.mgrid[:32, :32]
    blob = np.exp(-((yy - 10) ** 2 + (xx - 20) ** 2) / 40.0)
    save_maps(tmp_path / "maps.npz", {"cat.png": blob})
    folder = tmp_path / "saliency"
    folder.mkdir()
    np.save(folder / "cat.npy", blob.T + 0.01)
    config = StimulusConfig(size=32, n_levels=3)
    manifest = build_stimulus_set(
        images, {"clickme": tmp_path / "maps.npz", "saliency": folder}, tmp_path / "out", config=config, progress=False
    )
    assert set(manifest["map_source"]) >= {"clickme", "saliency"} and (tmp_path / "out" / "manifest.csv").exists()


def test_two_log_entries_with_one_id_are_refused_not_merged(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text('image_path,clicks,user_id\na/cat.png,"{(1,2)}",u\na/cat.png,"{(3,4)}",v\nb/cat.png,"{(5,6)}",u\n')
    with pytest.raises(InputError, match=r"2 image entries give the id 'cat' under the 'stem' id rule .*'b/cat.png'"):
        read_clicks(path)
    clicks = read_clicks(path, id_rule="relative").clicks
    assert sorted(set(clicks["image_id"])) == ["a/cat", "b/cat"]
