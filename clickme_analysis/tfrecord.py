"""TFRecord files of ``tf.train.Example`` records, read and written without TensorFlow.

The released ClickMe 1.0 maps (Linsley et al., ICLR 2019) are TFRecord files whose records hold
the features ``image`` (raw float32 bytes of a 256x256x3 image), ``heatmap`` (raw float32 bytes of
a 256x256x1 map), ``label`` (int64) and ``click_count`` (int64); some files add ``file_path``
(bytes). This module implements the two small formats involved:

* the TFRecord framing: per record a little-endian uint64 length, the masked CRC32C of those
  8 bytes, the data, and the masked CRC32C of the data;
* the protobuf wire format of ``tf.train.Example`` (``Features`` map of string -> ``Feature``
  holding a ``bytes_list``, ``float_list`` or ``int64_list``; packed and unpacked).

CRC32C (Castagnoli) comes from ``google-crc32c`` (Google's maintained C implementation; a
hand-written one would be orders of magnitude slower). See docs/metrics.md "TFRecord layout".
"""

from __future__ import annotations

import gzip
import os
import re
import struct
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import collect_files
from clickme_analysis.imagefile import read_image
from clickme_analysis.progress import progress as bar

__all__ = [
    "crc32c",
    "masked_crc32c",
    "read_tfrecord",
    "write_tfrecord",
    "parse_example",
    "encode_example",
    "read_clickme_tfrecord",
    "tfrecord_files",
    "CLICKME_IMAGE_SHAPE",
    "CLICKME_HEATMAP_SHAPE",
]

CLICKME_IMAGE_SHAPE = (256, 256, 3)
CLICKME_HEATMAP_SHAPE = (256, 256, 1)

_MASK_DELTA = 0xA282EAD8


# --------------------------------------------------------------------------------------------
# CRC32C
# --------------------------------------------------------------------------------------------
def crc32c(data: bytes | bytearray | memoryview) -> int:
    """CRC32C (Castagnoli polynomial 0x1EDC6F41, reflected), as used by TFRecord.

    Parameters
    ----------
    data : bytes-like
        The bytes to checksum.

    Returns
    -------
    int
        The 32-bit checksum.

    Examples
    --------
    >>> hex(crc32c(b"123456789"))
    '0xe3069283'
    """
    import google_crc32c

    return google_crc32c.value(bytes(memoryview(data).cast("B")))


def masked_crc32c(data: bytes | bytearray | memoryview) -> int:
    """The TFRecord checksum: CRC32C rotated right by 15 bits plus 0xa282ead8 (mod 2**32)."""
    crc = crc32c(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


# --------------------------------------------------------------------------------------------
# TFRecord framing
# --------------------------------------------------------------------------------------------
def _compression(path, compression: str | None, reading: bool = False) -> str:
    """ "GZIP" or "" (none). ``None`` means: when reading, what the file's first bytes say (a GZIP
    stream starts with 1f 8b, a TFRecord with a length); when writing, GZIP for a ``.gz`` name."""
    if compression is None:
        if reading:
            try:
                with open(path, "rb") as fh:
                    return "GZIP" if fh.read(2) == b"\x1f\x8b" else ""
            except FileNotFoundError:
                raise InputError("TFRecord file not found", path=path) from None
            except IsADirectoryError:
                raise InputError("expected a TFRecord file, got a folder", path=path) from None
        return "GZIP" if str(path).endswith(".gz") else ""
    value = compression.upper()
    if value in ("", "NONE"):
        return ""
    if value != "GZIP":
        raise InputError(
            f"expected compression None, '', 'NONE' or 'GZIP', got {compression!r}", path=path, field="compression"
        )
    return value


def _open(path, mode: str, compression: str | None):
    if _compression(path, compression, reading=mode.startswith("r")) == "GZIP":
        return gzip.open(path, mode)
    return open(path, mode)


def _failure(path, index: int, offset: int):
    """An error maker for record ``index`` at byte ``offset`` of ``path``."""

    def fail(what: str) -> InputError:
        return InputError(f"record {index} at byte {offset}: {what}", path=path, line=index)

    return fail


def read_tfrecord(path: str | os.PathLike, compression: str | None = None, verify: bool = True) -> Iterator[bytes]:
    """Iterate over the raw records of a TFRecord file.

    Parameters
    ----------
    path : str or os.PathLike
        The TFRecord file.
    compression : {None, '', 'NONE', 'GZIP'}, optional
        ``None`` (default): told from the file's first bytes (GZIP streams start with 1f 8b),
        whatever its name.
    verify : bool, optional
        Check both masked CRC32C checksums of every record (default True).

    Yields
    ------
    bytes
        The data of each record, in file order.

    Raises
    ------
    InputError
        On a truncated record or a checksum mismatch, naming the file, the record (1-based, as
        ``line``) and its byte offset.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "two.tfrecord"
    >>> write_tfrecord(path, [b"a", b"bc"])
    >>> list(read_tfrecord(path))
    [b'a', b'bc']
    """
    with _open(path, "rb", compression) as stream:
        offset = 0
        index = 0
        while True:
            index += 1
            fail = _failure(path, index, offset)

            try:
                header = stream.read(12)
                if not header:
                    return
                if len(header) < 12:
                    raise fail(f"truncated header ({len(header)} of 12 bytes)")
                length, length_crc = struct.unpack("<QI", header)
                if verify and masked_crc32c(header[:8]) != length_crc:
                    raise fail(
                        f"length CRC mismatch (stored 0x{length_crc:08x}, computed "
                        f"0x{masked_crc32c(header[:8]):08x}): corrupt file or not a TFRecord"
                    )
                data = stream.read(length)
                footer = stream.read(4)
            except (OSError, EOFError, gzip.BadGzipFile) as error:
                raise fail(f"cannot read ({error})") from error
            if len(data) < length or len(footer) < 4:
                raise fail(
                    f"truncated data ({len(data)} of {length} bytes"
                    f"{'' if len(data) < length else ', checksum missing'})"
                )
            if verify:
                stored, computed = struct.unpack("<I", footer)[0], masked_crc32c(data)
                if stored != computed:
                    raise fail(f"data CRC mismatch (stored 0x{stored:08x}, computed 0x{computed:08x})")
            yield data
            offset += 16 + length


def write_tfrecord(
    path: str | os.PathLike, examples: Iterable[bytes | Mapping], compression: str | None = None
) -> None:
    """Write records to a TFRecord file.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (overwritten).
    examples : iterable of bytes or mapping
        Raw records, or feature mappings encoded with :func:`encode_example`.
    compression : {None, '', 'NONE', 'GZIP'}, optional
        As in :func:`read_tfrecord`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "one.tfrecord"
    >>> write_tfrecord(path, [{"label": 3}])
    >>> parse_example(next(read_tfrecord(path)))["label"]
    array([3])
    """
    with _open(path, "wb", compression) as stream:
        for example in examples:
            data = bytes(example) if isinstance(example, (bytes, bytearray, memoryview)) else encode_example(example)
            length = struct.pack("<Q", len(data))
            stream.write(length + struct.pack("<I", masked_crc32c(length)))
            stream.write(data)
            stream.write(struct.pack("<I", masked_crc32c(data)))


# --------------------------------------------------------------------------------------------
# Protobuf wire format of tf.train.Example
# --------------------------------------------------------------------------------------------
def _varint(buffer: memoryview, position: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if position >= len(buffer) or shift > 63:
            raise ValueError("truncated or overlong varint")
        byte = buffer[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, position


def _fields(buffer: memoryview) -> Iterator[tuple[int, int, object]]:
    """Yield (field number, wire type, value) of a protobuf message; value is an int for
    varints and a memoryview for fixed-width and length-delimited fields."""
    position = 0
    while position < len(buffer):
        key, position = _varint(buffer, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _varint(buffer, position)
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, position = buffer[position : position + width], position + width
        elif wire == 2:
            length, position = _varint(buffer, position)
            value, position = buffer[position : position + length], position + length
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if position > len(buffer):
            raise ValueError("truncated field")
        yield number, wire, value


def _packed_varints(buffer: memoryview) -> np.ndarray:
    """Decode a packed run of varints into int64 (two's complement), vectorised."""
    raw = np.frombuffer(buffer, dtype=np.uint8)
    if raw.size == 0:
        return np.zeros(0, dtype=np.int64)
    if raw[-1] >= 0x80:
        raise ValueError("truncated packed varint")
    ends = np.flatnonzero(raw < 0x80)
    starts = np.concatenate([[0], ends[:-1] + 1])
    if np.any(ends - starts >= 10):
        raise ValueError("overlong varint")
    group = np.repeat(np.arange(ends.size), ends - starts + 1)
    shift = (np.arange(raw.size) - starts[group]).astype(np.uint64) * np.uint64(7)
    parts = (raw & 0x7F).astype(np.uint64) << shift
    return np.bitwise_or.reduceat(parts, starts).view(np.int64)


def _feature(buffer: memoryview):
    for kind, _wire, value in _fields(buffer):
        if kind == 1:  # BytesList
            return [bytes(v) for n, w, v in _fields(value) if n == 1]
        if kind == 2:  # FloatList: packed float32 run(s) or unpacked fixed32 values
            parts = [np.frombuffer(v, dtype="<f4") for n, w, v in _fields(value) if n == 1]
            return np.concatenate(parts).astype(np.float32) if parts else np.zeros(0, np.float32)
        if kind == 3:  # Int64List: packed varint run(s) or unpacked varints
            parts = [
                _packed_varints(v) if w == 2 else np.array([v], dtype=np.uint64).view(np.int64)
                for n, w, v in _fields(value)
                if n == 1
            ]
            return np.concatenate(parts) if parts else np.zeros(0, np.int64)
    return []  # an empty Feature


def parse_example(record: bytes | memoryview) -> dict:
    """Parse a serialised ``tf.train.Example``.

    Parameters
    ----------
    record : bytes-like
        One TFRecord record.

    Returns
    -------
    dict
        Feature name -> ``list[bytes]`` (bytes_list), float32 array (float_list) or int64
        array (int64_list).

    Raises
    ------
    InputError
        When the bytes are not a valid Example.

    Examples
    --------
    >>> parse_example(encode_example({"label": [1, -2], "name": b"cat"}))
    {'label': array([ 1, -2]), 'name': [b'cat']}
    """
    features = {}
    try:
        for number, _, example_field in _fields(memoryview(record).cast("B")):
            if number != 1:
                continue
            for _, _, entry in _fields(example_field):  # Features.feature map entries
                key, value = "", memoryview(b"")
                for entry_number, _, item in _fields(entry):
                    if entry_number == 1:
                        key = bytes(item).decode("utf-8")
                    elif entry_number == 2:
                        value = item
                features[key] = _feature(value)
    except (ValueError, TypeError) as error:
        raise InputError(f"not a valid tf.train.Example ({error})") from error
    return features


def _encode_varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _delimited(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | 2) + _encode_varint(len(payload)) + payload


def _encode_feature(name: str, value) -> bytes:
    if isinstance(value, (bytes, bytearray, str)):
        value = [value]
    if isinstance(value, list) and value and all(isinstance(v, (bytes, bytearray, str)) for v in value):
        items = b"".join(_delimited(1, v.encode() if isinstance(v, str) else bytes(v)) for v in value)
        return _delimited(1, items)
    array = np.asarray(value)
    if array.dtype == bool or np.issubdtype(array.dtype, np.integer):
        payload = b"".join(_encode_varint(int(v)) for v in array.ravel())
        return _delimited(3, _delimited(1, payload) if array.size else b"")
    if np.issubdtype(array.dtype, np.floating):
        payload = array.astype("<f4").ravel().tobytes()
        return _delimited(2, _delimited(1, payload) if array.size else b"")
    raise InputError(
        f"expected bytes, str, ints or floats, got {type(value).__name__} (dtype {array.dtype})", field=name
    )


def encode_example(features: Mapping[str, object]) -> bytes:
    """Serialise a ``tf.train.Example``.

    Parameters
    ----------
    features : mapping of str to value
        ``bytes`` / ``str`` or a list of them -> ``bytes_list``; an int, bool or integer array ->
        ``int64_list`` (packed); a float or float array -> ``float_list`` (packed float32,
        flattened in C order). Store an array as raw bytes with ``array.tobytes()``.

    Returns
    -------
    bytes
        The serialised Example (what :func:`parse_example` reads).

    Examples
    --------
    >>> encode_example({"label": 1}).hex()
    '0a100a0e0a056c6162656c12051a030a0101'
    """
    entries = b"".join(
        _delimited(1, _delimited(1, name.encode("utf-8")) + _delimited(2, _encode_feature(name, value)))
        for name, value in features.items()
    )
    return _delimited(1, entries)


# --------------------------------------------------------------------------------------------
# ClickMe 1.0 records
# --------------------------------------------------------------------------------------------
_JPEG, _PNG = b"\xff\xd8\xff", b"\x89PNG"
TFRECORD_SUFFIXES = (".tfrecords", ".tfrecord", ".gz", ".tfr")


def _decode_image(data: bytes, shape: tuple, path, index: int, name: str) -> np.ndarray:
    """JPEG / PNG bytes -> uint8 array of ``shape`` (Pillow), a located error otherwise."""
    array = read_image(
        data,
        mode="L" if len(shape) == 3 and shape[-1] == 1 or len(shape) == 2 else "RGB",
        where={"path": path, "line": index, "field": name},
    )
    if array.size != int(np.prod(shape)):
        raise InputError(
            f"record {index}: expected a {name} image of shape {shape}, decoded {array.shape}",
            path=path,
            line=index,
            field=name,
        )
    return array.reshape(shape)


def _array(features: dict, name: str, shape: tuple, raw_dtype, path, index: int) -> np.ndarray:
    """A feature as float32 ``shape``: raw bytes of ``raw_dtype`` (the gala_tpu layout), JPEG /
    PNG bytes (the Harmonization layout, told apart by the bytes themselves), or a number list."""
    if name not in features:
        raise InputError(
            f"record {index}: feature {name!r} missing (found {sorted(features)})", path=path, line=index, field=name
        )
    value = features[name]
    if isinstance(value, list):  # bytes_list
        if len(value) != 1:
            raise InputError(
                f"record {index}: expected one bytes value, got {len(value)}", path=path, line=index, field=name
            )
        data = value[0]
        dtype = np.dtype(raw_dtype)
        expected = int(np.prod(shape)) * dtype.itemsize
        if len(data) == expected:
            value = np.frombuffer(data, dtype=dtype)
        elif data[:3] == _JPEG or data[:4] == _PNG:
            value = _decode_image(data, shape, path, index, name)
        else:
            raise InputError(
                f"record {index}: expected {expected} bytes ({shape} of {dtype}) or JPEG / PNG bytes, got "
                f"{len(data)} (= {len(data) / np.prod(shape):g} bytes per element), starting {data[:4]!r}",
                path=path,
                line=index,
                field=name,
            )
    if value.size != np.prod(shape):
        raise InputError(
            f"record {index}: expected {int(np.prod(shape))} values {shape}, got {value.size}",
            path=path,
            line=index,
            field=name,
        )
    return value.reshape(shape).astype(np.float32)


def _scalar(features: dict, name: str, path, index: int, required: bool = True) -> int | None:
    value = features.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, np.ndarray) or value.size != 1:
        raise InputError(f"record {index}: expected one integer, got {value!r}", path=path, line=index, field=name)
    return int(value[0])


def tfrecord_files(source) -> list:
    """The TFRecord shards named by ``source``: a file, a folder (``train-0.tfrecords`` ...) or a
    glob (``"train/train-*.tfrecords"``), sorted by their shard number where they have one.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for i in (10, 2): write_tfrecord(d / f"val-{i}.tfrecords", [b""])
    >>> [p.name for p in tfrecord_files(d)]
    ['val-2.tfrecords', 'val-10.tfrecords']
    """
    files = collect_files(source, TFRECORD_SUFFIXES, what="TFRecord shards")

    def shard(path):
        numbers = re.findall(r"\d+", path.name)
        return (path.name.split("-")[0], int(numbers[-1]) if numbers else -1, path.name)

    return sorted(files, key=shard)


def read_clickme_tfrecord(
    source,
    *,
    image_shape: tuple = CLICKME_IMAGE_SHAPE,
    heatmap_shape: tuple = CLICKME_HEATMAP_SHAPE,
    raw_dtype="float32",
    compression: str | None = None,
    verify: bool = True,
    progress: bool = False,
) -> Iterator[dict]:
    """Iterate over the examples of ClickMe 1.0 TFRecord files, in either released layout.

    The layout is told from each record: raw float32 bytes (the gala_tpu era: ``image``
    256x256x3 and ``heatmap`` 256x256x1 as ``tobytes()``, ``label``, ``click_count``) or JPEG
    bytes (the public Harmonization release: ``image`` a 256x256 RGB JPEG, ``heatmap`` a
    256x256 grayscale JPEG of 0-255, ``label``, no ``click_count``). GZIP compression is told
    from each file's first bytes.

    Parameters
    ----------
    source : str or os.PathLike
        A TFRecord file, a folder of shards or a glob (:func:`tfrecord_files`).
    image_shape, heatmap_shape : tuple of int, optional
        Shapes of the ``image`` and ``heatmap`` features, default (256, 256, 3) and
        (256, 256, 1). The heatmap's trailing axis of length 1 is dropped.
    raw_dtype : numpy dtype, optional
        Element type of ``image`` / ``heatmap`` stored as raw bytes (``tf.io.decode_raw``),
        default float32; ``float_list`` / ``int64_list`` features are read as they are.
    compression : {None, '', 'NONE', 'GZIP'}, optional
        As in :func:`read_tfrecord` (default: from the bytes).
    verify : bool, optional
        Check record checksums (default True).
    progress : bool, optional
        Show a progress bar over records (on a terminal).

    Yields
    ------
    dict
        ``image`` float32 ``image_shape`` (0-255); ``heatmap`` float32 (``heatmap_shape``
        without a trailing 1; values as stored: 0-255 for JPEG heatmaps); ``label`` int;
        ``click_count`` int (0 means "no map"), or None when the record has none (Harmonization);
        ``has_map`` bool (``click_count != 0``); ``source`` the shard's path; ``index`` the
        record's 1-based number in it; ``file_path`` str when the record has one.

    Raises
    ------
    InputError
        On a corrupt record, a missing feature or a size that does not fit the shape.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "clickme.tfrecords"
    >>> image, heatmap = np.zeros((256, 256, 3), np.float32), np.ones((256, 256, 1), np.float32)
    >>> write_tfrecord(path, [{"image": image.tobytes(), "heatmap": heatmap.tobytes(),
    ...                        "label": 7, "click_count": 12}])
    >>> record = next(read_clickme_tfrecord(path))
    >>> record["heatmap"].shape, record["label"], record["click_count"], record["has_map"]
    ((256, 256), 7, 12, True)
    """
    heatmap_out = (
        tuple(heatmap_shape[:-1]) if len(heatmap_shape) == 3 and heatmap_shape[-1] == 1 else tuple(heatmap_shape)
    )
    for path in tfrecord_files(source):
        records = read_tfrecord(path, compression=compression, verify=verify)
        for index, record in enumerate(bar(records, enabled=progress, desc=f"records of {path.name}", unit="rec"), 1):
            try:
                features = parse_example(record)
            except InputError as error:
                raise InputError(f"record {index}: {error.message}", path=path, line=index) from error
            yield _clickme_example(
                features, path, index, (tuple(image_shape), tuple(heatmap_shape), heatmap_out), raw_dtype
            )


def _clickme_example(features: dict, path, index: int, shapes: tuple, raw_dtype) -> dict:
    """One parsed ClickMe record -> the example :func:`read_clickme_tfrecord` yields; ``shapes`` are
    the image, stored heatmap and returned heatmap shapes."""
    image_shape, heatmap_shape, heatmap_out = shapes
    click_count = _scalar(features, "click_count", path, index, required=False)
    example = {
        "image": _array(features, "image", image_shape, raw_dtype, path, index),
        "heatmap": _array(features, "heatmap", heatmap_shape, raw_dtype, path, index).reshape(heatmap_out),
        "label": _scalar(features, "label", path, index),
        "click_count": click_count,
        "has_map": click_count != 0,
        "source": str(path),
        "index": index,
    }
    if isinstance(features.get("file_path"), list) and len(features["file_path"]) == 1:
        example["file_path"] = features["file_path"][0].decode("utf-8", errors="replace")
    return example
