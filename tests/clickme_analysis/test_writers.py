"""One way to write a file (atomic, fsync'ed) and the NPZ map writer deflating in the pool."""

import threading
import zipfile

import numpy as np
import pytest

from clickme_analysis import fileio
from clickme_analysis.archive import MapWriter, open_maps, save_maps, write_clickme2_hdf5
from clickme_analysis.archive import write as archive_write
from clickme_analysis.clicklog import ClickReader
from clickme_analysis.clickstore import ClickStore
from clickme_analysis.errors import InputError
from clickme_analysis.pipeline import MapOptions, write_maps
from tests.clickme_analysis.test_streaming import clickme2_log


@pytest.mark.parametrize("blur", ["box", "gaussian"])
def test_npz_maps_are_deflated_in_the_pool_and_equal_the_hdf5_maps(tmp_path, monkeypatch, blur):
    """Issue 21: the NPZ writer deflated every map in the calling thread (3.3x slower than .h5)."""
    threads = set()
    encode = MapWriter.encode

    def recording(self, *args, **kwargs):
        threads.add(threading.current_thread() is threading.main_thread())
        return encode(self, *args, **kwargs)

    monkeypatch.setattr(MapWriter, "encode", recording)
    log = clickme2_log(tmp_path / "log.csv", n_images=12)
    options = MapOptions(size=64, blur=blur, blur_size=9, min_clicks=1)
    with ClickStore.from_reader(ClickReader(log)) as store:
        write_maps(store, tmp_path / "maps.npz", options, workers=2)
        write_maps(store, tmp_path / "maps.h5", options, workers=2)
    assert threads == {False}  # every map, NPZ included, encoded off the main thread
    with zipfile.ZipFile(tmp_path / "maps.npz") as zf:
        assert zf.testzip() is None  # CRCs and sizes of the hand-written members hold
        assert {info.compress_type for info in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    with open_maps(tmp_path / "maps.npz") as npz, open_maps(tmp_path / "maps.h5") as h5:
        assert list(npz) == list(h5) and len(npz) == 12
        for image_id in h5:
            np.testing.assert_array_equal(npz[image_id], h5[image_id])
            assert npz.participant_count(image_id) == h5.participant_count(image_id)
    members = np.load(tmp_path / "maps.npz", allow_pickle=False)
    if blur == "box":  # exact maps: the HDF5 store's integer encoding, about 5x smaller than float32
        assert str(members["format"]) == "clickme-map-archive/2" and str(members["encoding"]) == "delta-ratio"
        assert members["maps/0"].dtype == np.uint8 and members["maps/0"].shape == (4, 64, 64)
        assert len(members["denominators"]) == 12
    else:
        assert str(members["format"]) == "clickme-map-archive/1" and members["maps/0"].dtype == np.float32


def test_a_delta_ratio_npz_reads_back_the_exact_ratios_and_a_float_one_still_reads(tmp_path):
    numerator = np.array([[0, 3, 7], [2**31 - 1, 5, 1]], dtype=np.int64)
    with MapWriter(tmp_path / "ratio.npz", encoding="delta-ratio") as writer:
        writer.write("a", numerator=numerator, denominator=7.0, participant_count=3)
        writer.write("b", numerator=np.zeros((1, 4), np.int32), denominator=0.0)  # another size; 0/0 is 0
    save_maps(tmp_path / "float.npz", {"a": (numerator / 7.0).astype(np.float32)})  # clickme-map-archive/1
    with open_maps(tmp_path / "ratio.npz") as ratio, open_maps(tmp_path / "float.npz") as floats:
        assert ratio.encoding == "delta-ratio" and floats.encoding == "float32"
        np.testing.assert_array_equal(ratio["a"], (numerator / 7.0).astype(np.float32))
        np.testing.assert_array_equal(ratio["a"], floats["a"])
        assert ratio["b"].shape == (1, 4) and not ratio["b"].any() and ratio.participant_count("a") == 3


def test_a_delta_ratio_npz_with_a_damaged_member_is_refused(tmp_path):
    with MapWriter(tmp_path / "ratio.npz", encoding="delta-ratio") as writer:
        writer.write("a", numerator=np.ones((2, 2), np.int32), denominator=1.0)
    members = dict(np.load(tmp_path / "ratio.npz", allow_pickle=False))
    np.savez(tmp_path / "planes.npz", **{**members, "maps/0": np.ones((2, 2), np.float32)})
    with open_maps(tmp_path / "planes.npz") as maps, pytest.raises(InputError, match=r"\(4, H, W\) uint8 byte planes"):
        maps["a"]
    np.savez(tmp_path / "encoding.npz", **{**members, "encoding": np.array("float16")})
    with pytest.raises(InputError, match="expected encoding 'delta-ratio', got 'float16'"):
        open_maps(tmp_path / "encoding.npz")
    np.savez(tmp_path / "short.npz", **{**members, "denominators": np.zeros(0)})
    with pytest.raises(InputError, match="one denominator per image id"):
        open_maps(tmp_path / "short.npz")


def test_npz_archives_of_the_same_maps_are_byte_identical(tmp_path):
    maps = {"a": np.eye(3, dtype=np.float32), "b": np.ones((2, 5), np.float32)}
    for name in ("one.npz", "two.npz"):
        with MapWriter(tmp_path / name) as writer:
            for image_id, array in maps.items():
                writer.write(image_id, array, label="x")
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()


def test_map_writers_commit_through_the_durable_replace(tmp_path, monkeypatch):
    """HDF5 and zip writers had their own rename without fsync; now every one goes through fileio."""
    committed = []
    replace = fileio.replace_durably

    def recording(tmp, path):
        committed.append(path)
        return replace(tmp, path)

    monkeypatch.setattr(fileio, "replace_durably", recording)
    monkeypatch.setattr(archive_write, "replace_durably", recording)
    for name in ("m.npz", "m.h5"):
        save_maps(tmp_path / name, {"a": np.eye(2)})
    write_clickme2_hdf5(tmp_path / "c.h5", {"a": np.eye(2)})
    assert [p.name for p in committed] == ["m.npz", "m.h5", "c.h5"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.h5", "m.h5", "m.npz"]  # no temporary left


def test_atomic_path_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "t.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), fileio.atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["t.bin"]
