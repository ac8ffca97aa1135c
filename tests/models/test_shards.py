"""Shards: packing (deterministic, resumable, skips reported), streaming order, damaged shards."""

import json
import tarfile
import warnings

import numpy as np
import pytest
import simplejpeg
import torch
from PIL import Image

from clickme_analysis.errors import InputError
from models.shard_format import iter_shard, read_index
from models.shards import ShardStream, pack
from models.sources import load_samples


def make_folder(root, n_per_class=6, size=32, classes=("cat", "dog"), seed=0):
    rng = np.random.default_rng(seed)
    maps = {}
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            image = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
            (root / c / f"{c}{i}.jpg").write_bytes(simplejpeg.encode_jpeg(image, quality=90))
            maps[f"{c}{i}"] = rng.random((size, size)).astype(np.float32) * 3
    return maps


@pytest.fixture
def folder(tmp_path):
    from clickme_analysis.archive import save_maps

    maps = make_folder(tmp_path / "images")
    save_maps(tmp_path / "maps.npz", maps)
    return tmp_path, maps


def test_pack_keeps_jpeg_bytes_and_maps_within_the_documented_error(folder):
    root, maps = folder
    index = pack(root / "images", root / "shards", maps=root / "maps.npz", shard_size=5, progress=False)
    assert (index["n_samples"], index["n_maps"], index["classes"]) == (12, 12, ["cat", "dog"])
    assert [s["n_samples"] for s in index["shards"]] == [5, 5, 2]
    assert index["label_range"] == [0, 1] and index["skipped"] == []
    seen = {}
    for shard in index["shards"]:
        for _, parts in iter_shard(root / "shards" / shard["name"], shard["n_samples"]):
            meta = json.loads(parts["json"])
            seen[meta["image_id"]] = meta
            label = "cat" if meta["image_id"].startswith("cat") else "dog"
            jpeg = (root / "images" / label / f"{meta['image_id']}.jpg").read_bytes()
            assert parts["jpg"] == jpeg  # stored as it was, no re-encoding
            q = np.asarray(Image.open(__import__("io").BytesIO(parts["map.png"])))
            assert q.dtype == np.uint8  # 8-bit maps by default
            restored = meta["map_offset"] + q * meta["map_scale"]
            error = np.abs(restored - maps[meta["image_id"]]).max()
            assert error <= meta["map_scale"] / 2 + 1e-6  # documented bound
    assert len(seen) == 12 and {m["label"] for m in seen.values()} == {0, 1}


def test_pack_is_deterministic_across_runs(folder):
    root, _ = folder
    for out in ("a", "b"):
        pack(root / "images", root / out, maps=root / "maps.npz", shard_size=5, progress=False)
    for name in ("shard-000000.tar", "shard-000001.tar", "shard-000002.tar", "index.json"):
        assert (root / "a" / name).read_bytes() == (root / "b" / name).read_bytes(), name


@pytest.mark.slow  # worker processes; the in-process run above stays in `make test`
def test_pack_is_deterministic_across_runs_and_processes(folder):
    root, _ = folder
    pack(root / "images", root / "a", maps=root / "maps.npz", shard_size=5, progress=False)
    pack(root / "images", root / "b", maps=root / "maps.npz", shard_size=5, progress=False, workers=2)
    for name in ("shard-000000.tar", "shard-000001.tar", "shard-000002.tar", "index.json"):
        assert (root / "a" / name).read_bytes() == (root / "b" / name).read_bytes(), name


def test_pack_resumes_after_a_kill_and_refuses_other_options(folder):
    root, _ = folder
    out = root / "shards"
    pack(root / "images", out, shard_size=5, progress=False)
    first = {p.name: p.read_bytes() for p in out.glob("*.tar")}
    lines = (out / "pack.jsonl").read_text().splitlines()
    # a kill after the first shard: the rest of the done-list lost, one shard half-written
    (out / "pack.jsonl").write_text("\n".join(lines[:2]) + "\n" + lines[2][:10])
    (out / "shard-000002.tar").unlink()
    (out / "shard-000001.tar").write_bytes(b"partial")
    stamp = (out / "shard-000000.tar").stat().st_mtime_ns
    pack(root / "images", out, shard_size=5, progress=False)
    assert (out / "shard-000000.tar").stat().st_mtime_ns == stamp  # kept, not rewritten
    assert {p.name: p.read_bytes() for p in out.glob("*.tar")} == first
    with pytest.raises(InputError, match="other options"):
        pack(root / "images", out, shard_size=4, progress=False)


def test_pack_reports_what_it_skipped(folder, capsys):
    from clickme_app.cli import main

    root, _ = folder
    (root / "images" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    assert main(["pack", str(root / "images"), "--out", str(root / "s"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "packed 12 images" in out and "skipped 1" in out and "broken" in out
    skipped = read_index(root / "s")["skipped"]
    assert [s["image_id"] for s in skipped] == ["broken"] and "cannot read image" in skipped[0]["reason"]


def test_maps_matching_no_image_is_an_error_and_some_a_warning(folder):
    from clickme_analysis.archive import save_maps

    root, _ = folder
    save_maps(root / "other.npz", {"owl": np.ones((4, 4), np.float32)})
    with pytest.raises(InputError, match="none of 1 maps ids") as err:
        pack(root / "images", root / "s1", maps=root / "other.npz", progress=False)
    assert "'owl'" in str(err.value) and "'cat0'" in str(err.value)
    save_maps(root / "some.npz", {"cat0": np.ones((4, 4), np.float32)})
    with pytest.warns(UserWarning, match="1 of 12 images"):
        index = pack(root / "images", root / "s2", maps=root / "some.npz", progress=False)
    assert index["n_maps"] == 1


def test_pack_tfrecords_of_both_layouts(tmp_path):
    from clickme_analysis.tfrecord import write_tfrecord

    raw_image = np.full((256, 256, 3), 100, np.float32)
    heat = np.zeros((256, 256, 1), np.float32)
    heat[10:20, 10:20] = 2
    (tmp_path / "a").mkdir()
    write_tfrecord(
        tmp_path / "a" / "train-0.tfrecords",
        [
            {"image": raw_image.tobytes(), "heatmap": heat.tobytes(), "label": 4, "click_count": 7},
            {"image": raw_image.tobytes(), "heatmap": heat.tobytes(), "label": 2, "click_count": 0},
        ],
    )
    jpeg = simplejpeg.encode_jpeg(np.full((256, 256, 3), 50, np.uint8), quality=95)
    heat_jpeg = simplejpeg.encode_jpeg(np.full((256, 256, 1), 200, np.uint8), quality=95, colorspace="GRAY")
    (tmp_path / "b").mkdir()
    write_tfrecord(tmp_path / "b" / "val-0.tfrecords", [{"image": jpeg, "heatmap": heat_jpeg, "label": 1}])
    a = pack(tmp_path / "a", tmp_path / "sa", progress=False)
    assert (a["n_samples"], a["n_maps"], a["label_range"]) == (2, 1, [2, 4])
    b = pack(tmp_path / "b", tmp_path / "sb", progress=False)
    parts = next(iter_shard(tmp_path / "sb" / "shard-000000.tar"))[1]
    assert parts["jpg"] == jpeg and b["n_maps"] == 1  # Harmonization layout: JPEG kept
    with pytest.raises(InputError, match="carry their own maps"):
        pack(tmp_path / "a", tmp_path / "sc", maps=tmp_path / "x.npz", progress=False)


def test_pack_takes_a_glob_of_tfrecords_in_shard_order(tmp_path):
    """The README's promise: ``clickme pack clickme/val/val-*.tfrecords``; val-2 before val-10."""
    from clickme_analysis.tfrecord import write_tfrecord

    heat = np.ones((256, 256, 1), np.float32)
    (tmp_path / "val").mkdir()
    for shard in (10, 2, 1):  # label = shard number, one record each
        write_tfrecord(
            tmp_path / "val" / f"val-{shard}.tfrecords",
            [
                {
                    "image": np.zeros((256, 256, 3), np.float32).tobytes(),
                    "heatmap": heat.tobytes(),
                    "label": shard,
                    "click_count": 1,
                }
            ],
        )
    labels = []
    for source, out in ((tmp_path / "val", "folder"), (str(tmp_path / "val" / "val-*.tfrecords"), "glob")):
        index = pack(source, tmp_path / out, progress=False)
        labels.append(
            [json.loads(next(iter_shard(tmp_path / out / s["name"]))[1]["json"])["label"] for s in index["shards"]]
        )
    assert labels == [[1, 2, 10], [1, 2, 10]]
    samples, _ = load_samples(str(tmp_path / "val" / "val-1*.tfrecords"))
    assert [s.label for s in samples] == [1, 10]
    with pytest.raises(InputError, match="found none"):
        pack(str(tmp_path / "val" / "train-*.tfrecords"), tmp_path / "none", progress=False)


def test_webdataset_reads_the_shards(folder):
    import webdataset as wds

    root, _ = folder
    pack(root / "images", root / "s", shard_size=5, progress=False)
    samples = list(wds.WebDataset(str(root / "s" / "shard-{000000..000002}.tar"), shardshuffle=False))
    assert len(samples) == 12 and {"jpg", "json"} <= set(samples[0])


@pytest.fixture
def shards(tmp_path):
    make_folder(tmp_path / "images", n_per_class=10, size=20)
    pack(tmp_path / "images", tmp_path / "s", shard_size=3, progress=False)  # 7 shards
    return tmp_path / "s"


def _indices(stream, workers=0):
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=workers)
    return [batch["index"].tolist() for batch in loader]


def test_every_rank_and_worker_reads_disjoint_shards_and_epochs_reshuffle(shards):
    streams = [ShardStream(shards, 4, train=True, image_size=16, resize=20, rank=r, world=2) for r in (0, 1)]
    batches = [_indices(s) for s in streams]
    assert [len(b) for b in batches] == [3, 3] == [len(s) for s in streams]  # ceil(ceil(20/2)/4)
    shard_of = [{i // 10**7 for b in rank for i in b} for rank in batches]
    assert not shard_of[0] & shard_of[1]  # disjoint shards per rank
    by_worker = ShardStream(shards, 2, train=True, image_size=16, resize=20)
    assert by_worker.max_workers() == 7
    two = _indices(by_worker, workers=2)
    worker_shards = [{i // 10**7 for b in two[w::2] for i in b} for w in (0, 1)]
    assert not worker_shards[0] & worker_shards[1]
    assert two == _indices(by_worker, workers=2)  # a function of (seed, epoch)
    by_worker.set_epoch(1)
    assert _indices(by_worker, workers=2) != two


def test_a_resumed_epoch_yields_the_remaining_batches(shards):
    stream = ShardStream(shards, 3, train=True, image_size=16, resize=20, seed=5)
    stream.set_epoch(2)
    full = _indices(stream, workers=2)
    stream.set_epoch(2, start=3)
    assert _indices(stream, workers=2) == full[3:]


def test_evaluation_reads_every_sample_once(shards):
    stream = ShardStream(shards, 4, image_size=16, resize=20)
    indices = sorted(i for b in _indices(stream, workers=2) for i in b)
    assert len(indices) == 20 == len(set(indices))


def test_a_truncated_or_corrupt_shard_names_the_shard_and_sample(shards):
    path = shards / "shard-000001.tar"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    stream = ShardStream(shards, 4, image_size=16, resize=20)
    with pytest.raises(InputError, match="shard-000001.tar") as err:
        _indices(stream)
    assert "000001-" in str(err.value) or "expected 3 samples" in str(err.value)
    # a sample whose image bytes are damaged: error names shard and sample
    with tarfile.open(shards / "shard-000002.tar") as tar:
        members = [(m, tar.extractfile(m).read()) for m in tar.getmembers()]
    with tarfile.open(shards / "shard-000002.tar", "w", format=tarfile.USTAR_FORMAT) as tar:
        import io

        for member, payload in members:
            if member.name.endswith(".jpg") and "0000001" in member.name:
                payload = b"\xff\xd8\xff" + b"\0" * 40
                member.size = len(payload)
            tar.addfile(member, io.BytesIO(payload))
    path.write_bytes(data)
    with pytest.raises(InputError, match="cannot read image") as err:
        _indices(stream)
    assert "shard-000002.tar" in str(err.value) and "000002-0000001" in str(err.value)


def test_not_a_packed_folder(tmp_path):
    with pytest.raises(InputError, match="not a packed folder"):
        ShardStream(tmp_path, 4)
    (tmp_path / "index.json").write_text('{"format": "other"}')
    with pytest.raises(InputError, match="format"):
        ShardStream(tmp_path, 4)


def test_too_few_shards_for_the_processes(shards):
    with pytest.raises(InputError, match="7 shards cannot be split over 8"):
        ShardStream(shards, 4, world=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ShardStream(shards, 4, world=2).max_workers() == 3


def test_a_packed_folder_reads_back_into_memory_for_scoring(folder):
    from models.data import PairedDataset

    root, maps = folder
    pack(root / "images", root / "s", maps=root / "maps.npz", shard_size=5, progress=False, map_bits=16)
    samples, classes = load_samples(root / "s")
    assert classes == ["cat", "dog"] and len(samples) == 12
    by_id = {s.image_id: s for s in samples}
    assert np.abs(by_id["dog3"].map - maps["dog3"]).max() <= 3 / 131070 + 1e-6
    item = PairedDataset(samples, image_size=24, resize=32)[0]
    assert item["image"].shape == (3, 24, 24) and item["has_map"]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_map_pngs_read_by_pillow_and_pillows_read_by_the_fast_reader(dtype):
    import io
    from unittest import mock

    from models.shard_format import decode_map_png, encode_map_png
    from models.shards import _png

    q = np.random.default_rng(3).integers(0, np.iinfo(dtype).max, (37, 53)).astype(dtype)
    ours = encode_map_png(q)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(ours))), q)  # a standard PNG
    with mock.patch("models.shard_format.decode_image", side_effect=AssertionError("Pillow used")):
        assert np.array_equal(decode_map_png(ours), q)  # the one-inflate path
    assert np.array_equal(decode_map_png(_png(q)), q)  # filtered PNGs: through Pillow
    damaged = ours[:40] + bytes([ours[40] ^ 0xFF]) + ours[41:]
    with pytest.raises(InputError, match="cannot read image"):
        decode_map_png(damaged, where={"field": "k"})


def test_map_png_bombs_are_refused_or_read_no_further_than_their_header():
    import struct
    import zlib

    from models.shard_format import PNG_SIGNATURE, decode_map_png

    def png(width, height, idat):
        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

        header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
        return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")

    zeros = zlib.compress(b"\0" * (1 << 24), 9)  # 16 MB of zeros in 16 kB
    assert decode_map_png(png(100, 100, zeros)).shape == (100, 100)  # stops at 100 rows
    with pytest.raises(InputError, match="decompression bomb"):
        decode_map_png(png(60_000, 60_000, zeros))


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_the_shard_reader_reads_what_tarfile_writes(tmp_path, fmt):
    import io

    from models.shard_format import _tar_files

    files = [
        ("s/" + "a" * 90 + ".jpg", b"x" * 700),
        ("b" * 120 + ".json", b"{}"),
        ("c.map.png", b""),
        ("dir/\u00e9t\u00e9.jpg", bytes(range(256)) * 5),
    ]
    if fmt == tarfile.USTAR_FORMAT:
        files = [(n, d) for n, d in files if len(n) < 100 and n.isascii()]
    with tarfile.open(tmp_path / "t.tar", "w", format=fmt) as tar:
        folder = tarfile.TarInfo("dir")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with open(tmp_path / "t.tar", "rb") as fh:
        assert list(_tar_files(fh)) == files
    raw = bytearray((tmp_path / "t.tar").read_bytes())
    raw[512 + 10] ^= 0x55  # a header byte: its checksum no longer holds
    with pytest.raises(tarfile.ReadError, match="checksum"):
        list(_tar_files(io.BytesIO(bytes(raw))))
    with pytest.raises(tarfile.ReadError, match="not a tar header"):
        list(_tar_files(io.BytesIO(b"hello world" * 100)))
    # a size field of 8 GB with a valid checksum: refused before anything is read
    raw = bytearray((tmp_path / "t.tar").read_bytes())
    raw[124:136], raw[148:156] = b"77777777777\0", b" " * 8
    raw[148:156] = b"%06o\0 " % sum(raw[:512])
    with pytest.raises(tarfile.ReadError, match="header says 8589934591 bytes"):
        list(_tar_files(io.BytesIO(bytes(raw)), len(raw)))
