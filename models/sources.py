"""Samples and where they come from: image folders, CSV manifests, ClickMe TFRecords, packed folders.

:func:`load_samples` chooses the source from the path and attaches human maps from a map archive
(:func:`match_maps`: no silent mismatch); :func:`list_samples` lists a folder or a manifest
without reading anything (what :func:`models.shards.pack` shards). Image files stay paths; the
datasets (:mod:`models.data`) decode them through :mod:`models.decode`.
"""

from __future__ import annotations

import glob
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clickme_analysis.archive import open_maps
from clickme_analysis.errors import InputError
from clickme_analysis.fileio import read_table
from clickme_analysis.ids import match_ids
from clickme_analysis.tfrecord import (
    TFRECORD_SUFFIXES,
    parse_example,
    read_clickme_tfrecord,
    read_tfrecord,
    tfrecord_files,
)
from models.decode import IMAGE_SUFFIXES, decode_image, is_jpeg
from models.shard_format import decode_map_png, is_packed, iter_shard, read_index

__all__ = ["Sample", "tfrecord_records", "tfrecord_source", "list_samples", "load_samples", "match_maps"]


@dataclass
class Sample:
    """One image: a file path, encoded bytes or an (H, W, 3) uint8 array, a label (-1 unknown),
    an optional (H, W) map."""

    image_id: str
    image: str | bytes | np.ndarray
    label: int = -1
    map: np.ndarray | None = None


def _folder_samples(root: Path) -> tuple[list[Sample], list[str]]:
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    folders = [(root / c, i) for i, c in enumerate(classes)] or [(root, -1)]
    samples = [
        Sample(p.stem, str(p), label)
        for folder, label in folders
        for p in sorted(folder.iterdir())
        if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    return samples, classes


def _manifest_samples(path: Path, label_column: str) -> tuple[list[Sample], list[str]]:
    table = read_table(path, what="manifest", dtype=str, keep_default_na=False)
    if "image_id" not in table and "path" not in table:
        raise InputError(
            f"expected a column 'image_id' or 'path', got {list(table.columns)}", path=path, field="image_id"
        )
    if "path" not in table:
        table["path"] = "images/" + table["image_id"] + ".png"
    if "image_id" not in table:
        table["image_id"] = [Path(p).stem for p in table["path"]]
    classes: list[str] = []
    labels = [-1] * len(table)
    if label_column in table:
        values = table[label_column]
        if values.str.fullmatch(r"-?\d+").all():
            labels = [int(v) for v in values]
        else:
            classes = sorted(set(values))
            labels = [classes.index(v) for v in values]
    samples = []
    for line, (image_id, rel, label) in enumerate(zip(table["image_id"], table["path"], labels), 2):
        image = path.parent / rel
        if not image.is_file():
            raise InputError(f"image file {str(image)!r} not found", path=path, line=line, field="path")
        samples.append(Sample(image_id, str(image), label))
    return samples, classes


def tfrecord_records(path, *, decode: bool = True):
    """The samples of one ClickMe TFRecord file, either published layout.

    Layout (a), raw float32 ``image`` / ``heatmap`` with ``click_count`` (0: no map), is read by
    :func:`clickme_analysis.tfrecord.read_clickme_tfrecord`; layout (b), the Harmonization
    release, holds JPEG ``image`` and ``heatmap`` bytes and no ``click_count`` (every record has
    a map).

    Yields
    ------
    tuple
        ``(image_id, image, label, map)``: id ``"<file stem>:<record index>"``; ``image`` as
        JPEG bytes (layout b, ``decode=False``) or (H, W, 3) uint8; ``map`` float32 (H, W) or
        None.
    """
    path = Path(path)
    first = next(iter(read_tfrecord(path)), None)
    if first is None:
        return
    features = parse_example(first)
    image = features.get("image")
    if not (isinstance(image, list) and len(image) == 1 and is_jpeg(image[0])):
        for index, record in enumerate(read_clickme_tfrecord(path)):
            pixels = np.clip(np.round(record["image"]), 0, 255).astype(np.uint8)
            heatmap = record["heatmap"] if record["click_count"] > 0 else None
            yield f"{path.stem}:{index}", pixels, int(record["label"]), heatmap
        return
    for index, record in enumerate(read_tfrecord(path)):
        where = dict(path=path, line=index + 1)
        features = parse_example(record)
        try:
            raw, heat = features["image"][0], features["heatmap"][0]
            label = int(features["label"][0])
        except (KeyError, IndexError, TypeError):
            raise InputError(
                f"record {index + 1}: expected JPEG 'image' and 'heatmap' and an "
                f"int64 'label', got features {sorted(features)}",
                **where,
            ) from None
        heatmap = decode_image(heat, gray=True, where=where).astype(np.float32)
        yield (f"{path.stem}:{index}", decode_image(raw, where=where) if decode else bytes(raw), label, heatmap)


def _packed_samples(folder: Path) -> tuple[list[Sample], list[str]]:
    """A packed folder (:func:`models.shards.pack`) read into memory (small evaluation sets)."""
    index = read_index(folder)
    samples = []
    for shard in index["shards"]:
        for key, parts in iter_shard(folder / shard["name"], shard["n_samples"]):
            meta = json.loads(parts["json"])
            human = None
            if meta.get("has_map"):
                q = decode_map_png(parts["map.png"], where={"path": folder / shard["name"], "field": key})
                human = (meta["map_offset"] + q * meta["map_scale"]).astype(np.float32)
            samples.append(Sample(meta["image_id"], parts.get("jpg") or parts.get("png"), int(meta["label"]), human))
    return samples, list(index.get("classes", []))


def _tfrecord_samples(paths: list[Path]) -> tuple[list[Sample], list[str]]:
    samples = [
        Sample(image_id, image, label, heatmap)
        for path in paths
        for image_id, image, label, heatmap in tfrecord_records(path)
    ]
    return samples, []


def tfrecord_source(path) -> list[Path] | None:
    """The TFRecord shards a dataset path names, in shard order, or None when it names none.

    A TFRecord file, a folder holding TFRecord files, or a glob (``"clickme/val/val-*.tfrecords"``):
    listed by :func:`clickme_analysis.tfrecord.tfrecord_files` (``val-2`` before ``val-10``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from clickme_analysis.tfrecord import write_tfrecord
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for i in (10, 2): write_tfrecord(d / f"val-{i}.tfrecords", [b""])
    >>> [p.name for p in tfrecord_source(str(d / "val-*.tfrecords"))], tfrecord_source(d.parent)
    (['val-2.tfrecords', 'val-10.tfrecords'], None)
    """
    text = str(path)
    path = Path(text)
    if path.is_file():
        named = path.suffix.lower() in TFRECORD_SUFFIXES or ".tfrecord" in path.name
    elif path.is_dir():
        named = any(".tfr" in p.name.lower() for p in path.iterdir())
    else:
        named = glob.has_magic(text)
    return tfrecord_files(text) if named else None


def list_samples(path, label_column: str = "label") -> tuple[list[Sample], list[str]]:
    """The images of a folder or a manifest (paths, labels; nothing read). See :func:`load_samples`."""
    path = Path(path)
    if not path.exists():
        raise InputError("dataset not found", path=path)
    if path.is_dir():
        samples, classes = _folder_samples(path)
    elif path.suffix.lower() == ".csv":
        samples, classes = _manifest_samples(path, label_column)
    else:
        raise InputError("expected a folder, a .csv manifest or a .tfrecord(s) file", path=path)
    if not samples:
        raise InputError("no images found", path=path)
    return samples, classes


def load_samples(path, maps=None, label_column: str = "label") -> tuple[list[Sample], list[str]]:
    """List the images of a dataset and attach their human maps.

    Parameters
    ----------
    path : str or os.PathLike
        A packed folder (``clickme pack``: read into memory, for small sets), a folder
        (``<class>/<image>.png``, or images directly: no labels), a CSV manifest
        (``image_id`` and/or ``path`` relative to the manifest, default ``images/<image_id>.png``;
        optional label column, integers or class names), or ClickMe 1.0 TFRecords (either
        layout; ``click_count`` 0 means no map): a file, a folder of them or a glob, read in
        shard order (:func:`tfrecord_source`).
    maps : str or os.PathLike, optional
        Any map source :func:`clickme_analysis.archive.open_maps` reads (archive, store,
        folder), keyed by image id. No id in common is an error; some images
        without a map a warning with the counts (they train without the attention term).
    label_column : str, default "label"
        Manifest column holding the class.

    Returns
    -------
    samples : list of Sample
    classes : list of str
        Class names in label order (empty when labels are integers or absent).
    """
    files = tfrecord_source(path)
    path = Path(path)
    if files is None and not path.exists():
        raise InputError("dataset not found", path=path)
    if is_packed(path) and maps is None:
        samples, classes = _packed_samples(path)
    elif files is not None:
        samples, classes = _tfrecord_samples(files)
        if not samples:
            raise InputError("no records found", path=path)
    else:
        samples, classes = list_samples(path, label_column)
    if maps is not None:
        with open_maps(maps) as source:
            matched = set(match_maps(source, [s.image_id for s in samples], maps))
            for sample in samples:
                if sample.image_id in matched:
                    sample.map = np.asarray(source[sample.image_id], dtype=np.float32)
    return samples, classes


def match_maps(source, image_ids: list[str], where=None) -> list[str]:
    """The training images that have a map: an error when none does, a warning with counts
    when only some do (:func:`clickme_analysis.ids.match_ids`)."""
    try:
        return match_ids(list(source), image_ids, what="maps", other="images")
    except InputError as err:
        raise InputError(err.message, path=where, field="maps") from None
