"""TFRecord framing, CRC32C, tf.train.Example wire format and the ClickMe 1.0 record reader."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from clickme_analysis.errors import InputError
from clickme_analysis.tfrecord import (
    crc32c,
    encode_example,
    masked_crc32c,
    parse_example,
    read_clickme_tfrecord,
    read_tfrecord,
    write_tfrecord,
)


# ----------------------------------------------------------------------------- CRC32C
@pytest.mark.parametrize(
    "data, expected",
    [
        (b"123456789", 0xE3069283),  # the CRC catalogue's check value
        (b"", 0x00000000),
        (bytes(32), 0x8A9136AA),  # RFC 3720 (iSCSI) B.4 test vectors
        (b"\xff" * 32, 0x62A8AB43),
        (bytes(range(32)), 0x46DD794E),
        (bytes(range(31, -1, -1)), 0x113FDB5C),
    ],
)
def test_crc32c_known_answers(data, expected):
    assert crc32c(data) == expected


def test_crc32c_accepts_memoryview_of_float_array():
    array = np.linspace(0, 1, 5000, dtype=np.float32)
    assert crc32c(memoryview(array)) == crc32c(array.tobytes())


def test_masked_crc32c_by_hand():
    # 0xE3069283 rotated right by 15 bits is 0x2507C60D; plus 0xA282EAD8 mod 2**32.
    assert masked_crc32c(b"123456789") == 0xC78AB0E5


# ----------------------------------------------------------------------------- framing
def test_framing_bytes_by_hand(tmp_path):
    path = tmp_path / "one.tfrecord"
    write_tfrecord(path, [b"abc"])
    raw = path.read_bytes()
    assert len(raw) == 8 + 4 + 3 + 4
    assert struct.unpack("<Q", raw[:8]) == (3,)
    assert struct.unpack("<I", raw[8:12]) == (masked_crc32c(raw[:8]),)
    assert raw[12:15] == b"abc"
    assert struct.unpack("<I", raw[15:]) == (masked_crc32c(b"abc"),)


@pytest.mark.parametrize(
    "name, compression", [("r.tfrecord", None), ("r.tfrecord.gz", None), ("r.tfrecord", "GZIP"), ("r.tfrecord", "NONE")]
)
def test_round_trip(tmp_path, name, compression):
    records = [b"", b"x", bytes(range(256)) * 40]
    path = tmp_path / name
    write_tfrecord(path, records, compression=compression)
    assert list(read_tfrecord(path, compression=compression)) == records
    is_gzip = path.read_bytes()[:2] == b"\x1f\x8b"
    assert is_gzip == (name.endswith(".gz") or compression == "GZIP")


def test_empty_file_has_no_records(tmp_path):
    path = tmp_path / "empty.tfrecord"
    path.write_bytes(b"")
    assert list(read_tfrecord(path)) == []


def _three_records(tmp_path):
    path = tmp_path / "three.tfrecord"
    write_tfrecord(path, [b"first", b"second", b"third"])
    return path, bytearray(path.read_bytes())


def test_corrupt_data_names_file_record_and_offset(tmp_path):
    path, raw = _three_records(tmp_path)
    second = 16 + len(b"first")  # byte offset of record 2
    raw[second + 12] ^= 0x01  # flip a bit of "second"
    path.write_bytes(bytes(raw))
    records = read_tfrecord(path)
    assert next(records) == b"first"
    with pytest.raises(InputError, match="data CRC mismatch") as error:
        next(records)
    assert error.value.path == str(path) and error.value.line == 2
    assert f"record 2 at byte {second}" in str(error.value)
    assert list(read_tfrecord(path, verify=False))[1] == b"recond"


def test_corrupt_length_is_reported(tmp_path):
    path, raw = _three_records(tmp_path)
    raw[0] = 99
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="record 1 at byte 0: length CRC mismatch"):
        list(read_tfrecord(path))


@pytest.mark.parametrize(
    "cut, what",
    [
        (3, r"5 of 5 bytes, checksum missing"),
        (7, r"truncated data \(2 of 5 bytes\)"),
        (20, r"truncated header \(1 of 12 bytes\)"),
    ],
)
def test_truncated_file_is_reported(tmp_path, cut, what):
    path, raw = _three_records(tmp_path)
    path.write_bytes(bytes(raw[:-cut]))
    with pytest.raises(InputError, match=what) as error:
        list(read_tfrecord(path))
    assert error.value.line == 3


def test_not_gzip_is_reported(tmp_path):
    path, _ = _three_records(tmp_path)
    with pytest.raises(InputError, match="record 1 at byte 0: cannot read"):
        list(read_tfrecord(path, compression="GZIP"))


def test_unknown_compression_is_rejected(tmp_path):
    with pytest.raises(InputError, match="expected compression"):
        list(read_tfrecord(tmp_path / "x", compression="ZSTD"))


# ----------------------------------------------------------------------------- Example wire format
def test_encode_example_bytes_by_hand():
    # Example{features{feature{key: "a", value{int64_list{value: [1, 300]}}}}}:
    # 300 is the varint ac 02; the packed list is 0a 03 01 ac 02.
    expected = bytes.fromhex("0a0e0a0c0a016112071a050a0301ac02")
    assert encode_example({"a": [1, 300]}) == expected


def test_parse_example_hand_built_unpacked_and_negative():
    # float_list unpacked (two fixed32 fields), int64_list unpacked with -1 (10-byte varint)
    floats = b"\x0d" + struct.pack("<f", 0.5) + b"\x0d" + struct.pack("<f", -2.0)
    ints = b"\x08" + bytes.fromhex("ffffffffffffffffff01") + b"\x08\x05"

    def entry(key, kind, payload):
        feature = bytes([kind << 3 | 2, len(payload)]) + payload
        body = b"\x0a" + bytes([len(key)]) + key + b"\x12" + bytes([len(feature)]) + feature
        return b"\x0a" + bytes([len(body)]) + body

    features = entry(b"f", 2, floats) + entry(b"i", 3, ints)
    record = b"\x0a" + bytes([len(features)]) + features
    parsed = parse_example(record)
    np.testing.assert_array_equal(parsed["f"], np.array([0.5, -2.0], np.float32))
    np.testing.assert_array_equal(parsed["i"], [-1, 5])


def test_example_round_trip_all_kinds():
    values = {
        "raw": np.arange(6, dtype=np.float32).tobytes(),
        "names": ["a", b"b\x00c"],
        "floats": np.array([[0.25, -1e30], [3.0, 0.0]]),
        "ints": np.array([0, 1, 127, 128, 2**40, -1, -(2**63), 2**63 - 1]),
        "scalar": 42,
        "flag": True,
        "empty_ints": np.zeros(0, dtype=np.int64),
    }
    parsed = parse_example(encode_example(values))
    assert parsed["raw"] == [values["raw"]]
    assert parsed["names"] == [b"a", b"b\x00c"]
    np.testing.assert_array_equal(parsed["floats"], values["floats"].astype(np.float32).ravel())
    np.testing.assert_array_equal(parsed["ints"], values["ints"])
    assert parsed["scalar"].tolist() == [42] and parsed["flag"].tolist() == [1]
    assert parsed["empty_ints"].size == 0


def test_parse_example_rejects_garbage():
    with pytest.raises(InputError, match="not a valid tf.train.Example"):
        parse_example(b"\x0a\xff")


def test_encode_example_rejects_objects():
    with pytest.raises(InputError, match="expected bytes, str, ints or floats") as error:
        encode_example({"thing": object()})
    assert error.value.field == "thing"


# ----------------------------------------------------------------------------- ClickMe 1.0 records
def _clickme_record(seed, image_kind="raw"):
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 255, (256, 256, 3)).astype(np.float32)
    heatmap = rng.uniform(0, 1, (256, 256, 1)).astype(np.float32)
    encode = (lambda a: a.tobytes()) if image_kind == "raw" else (lambda a: a)
    example = {"image": encode(image), "heatmap": encode(heatmap), "label": seed, "click_count": 10 * seed}
    return example, image, heatmap


@pytest.mark.parametrize("kind, name", [("raw", "c.tfrecords"), ("float_list", "c.tfrecords.gz")])
def test_read_clickme_tfrecord(tmp_path, kind, name):
    examples = [_clickme_record(seed, kind) for seed in (0, 1)]
    examples[1][0]["file_path"] = "train/n01440764/img.JPEG"
    path = tmp_path / name
    write_tfrecord(path, [example for example, _, _ in examples])
    records = list(read_clickme_tfrecord(path))
    assert len(records) == 2
    for record, (_, image, heatmap), seed in zip(records, examples, (0, 1)):
        assert record["image"].shape == (256, 256, 3) and record["image"].dtype == np.float32
        assert record["heatmap"].shape == (256, 256) and record["heatmap"].dtype == np.float32
        np.testing.assert_array_equal(record["image"], image)
        np.testing.assert_array_equal(record["heatmap"], heatmap[..., 0])
        assert (record["label"], record["click_count"]) == (seed, 10 * seed)
    assert "file_path" not in records[0]
    assert records[1]["file_path"] == "train/n01440764/img.JPEG"


def test_read_clickme_tfrecord_custom_dtype_and_shape(tmp_path):
    image = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    heatmap = np.arange(16, dtype=np.uint8).reshape(4, 4)
    path = tmp_path / "small.tfrecord"
    write_tfrecord(path, [{"image": image.tobytes(), "heatmap": heatmap.tobytes(), "label": 1, "click_count": 0}])
    record = next(read_clickme_tfrecord(path, image_shape=(4, 4, 3), heatmap_shape=(4, 4), raw_dtype="uint8"))
    np.testing.assert_array_equal(record["image"], image.astype(np.float32))
    np.testing.assert_array_equal(record["heatmap"], heatmap.astype(np.float32))
    assert record["click_count"] == 0


def test_read_clickme_wrong_size_suggests_element_width(tmp_path):
    example, _, _ = _clickme_record(0)
    example["heatmap"] = np.zeros((256, 256), np.float64).tobytes()
    path = tmp_path / "bad.tfrecord"
    write_tfrecord(path, [_clickme_record(1)[0], example])
    expected = r"record 2: expected 262144 bytes .* got 524288 \(= 8 bytes per element\)"
    with pytest.raises(InputError, match=expected) as error:
        list(read_clickme_tfrecord(path))
    assert error.value.field == "heatmap" and error.value.line == 2


def test_read_clickme_missing_feature(tmp_path):
    example, _, _ = _clickme_record(0)
    del example["click_count"]  # the Harmonization layout has none: unknown, a map
    path = tmp_path / "bad.tfrecord"
    write_tfrecord(path, [example])
    record = next(read_clickme_tfrecord(path))
    assert record["click_count"] is None and record["has_map"]
    del example["label"]
    write_tfrecord(path, [example])
    with pytest.raises(InputError, match="record 1: expected one integer") as error:
        list(read_clickme_tfrecord(path))
    assert error.value.field == "label"
    del example["image"]
    write_tfrecord(path, [example])
    with pytest.raises(InputError, match="feature 'image' missing"):
        list(read_clickme_tfrecord(path))


def test_read_clickme_float_list_wrong_count(tmp_path):
    path = tmp_path / "bad.tfrecord"
    write_tfrecord(path, [{"image": np.zeros(10, np.float32), "heatmap": b"", "label": 0, "click_count": 0}])
    with pytest.raises(InputError, match=r"expected 196608 values \(256, 256, 3\), got 10"):
        list(read_clickme_tfrecord(path))


def test_read_clickme_not_an_example(tmp_path):
    path = tmp_path / "bad.tfrecord"
    write_tfrecord(path, [b"\x0a\xff"])
    with pytest.raises(InputError, match="record 1: not a valid tf.train.Example"):
        list(read_clickme_tfrecord(path))


def test_gzip_file_written_by_gzip_module_is_read(tmp_path):
    plain = tmp_path / "p.tfrecord"
    write_tfrecord(plain, [b"hello"])
    packed = tmp_path / "p.tfrecord.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert list(read_tfrecord(packed)) == [b"hello"]
