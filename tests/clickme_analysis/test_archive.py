import numpy as np
import pytest

from clickme_analysis.archive import MapArchive, save_maps
from clickme_analysis.errors import InputError


def test_round_trip_from_a_generator(tmp_path):
    rng = np.random.default_rng(0)
    maps = {f"img{i}": rng.random((8, 6)).astype(np.float32) for i in range(5)}
    path = save_maps(
        tmp_path / "maps.npz", ((k, v) for k, v in maps.items()), labels={"img1": "dog"}, participant_counts={"img1": 7}
    )
    with MapArchive(path) as archive:
        assert archive.image_ids == list(maps) and len(archive) == 5 and "img3" in archive
        for key, value in maps.items():
            np.testing.assert_array_equal(archive[key], value)
        assert archive.label("img1") == "dog" and archive.label("img0") == ""
        assert archive.participant_count("img1") == 7 and archive.participant_count("img2") == -1
        with pytest.raises(KeyError, match="not in map archive"):
            archive["nope"]
    assert not (tmp_path / "maps.npz.tmp").exists()


def test_reads_lazily_one_member_at_a_time(tmp_path, monkeypatch):
    path = save_maps(tmp_path / "maps.npz", {"a": np.ones((4, 4)), "b": np.zeros((4, 4))})
    read = []
    original = np.lib.npyio.NpzFile.__getitem__
    monkeypatch.setattr(np.lib.npyio.NpzFile, "__getitem__", lambda self, key: read.append(key) or original(self, key))
    archive = MapArchive(path)
    assert not [k for k in read if k.startswith("maps/")]  # opening reads the index only, no map
    assert float(archive["a"].sum()) == 16
    assert [k for k in read if k.startswith("maps/")] == ["maps/0"]  # one access reads one member
    archive.close()


def test_bad_archives(tmp_path):
    with pytest.raises(InputError, match="not found"):
        MapArchive(tmp_path / "absent.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(InputError, match="not a ClickMe map archive"):
        MapArchive(tmp_path / "other.npz")
    with pytest.raises(InputError, match="2-D"):
        save_maps(tmp_path / "bad.npz", {"a": np.zeros(3)})
    with pytest.raises(InputError, match="twice"):
        save_maps(tmp_path / "bad.npz", [("a", np.zeros((2, 2))), ("a", np.zeros((2, 2)))])
    assert not (tmp_path / "bad.npz").exists() and not (tmp_path / "bad.npz.tmp").exists()
