"""Map archives: image id -> attention map, with participant count and label, read lazily.

Layout (``.npz``, a zip of ``.npy`` members, readable by ``numpy.load``):

========================  =====================================================
member                    content
========================  =====================================================
``format``                the string ``"clickme-map-archive/1"``
``image_ids``             (N,) str: image ids, in write order
``labels``                (N,) str: class label per image ("" when unknown)
``participant_counts``    (N,) int64: participants behind each map (-1 unknown)
``maps/<i>``              (H, W) float32: the map of ``image_ids[i]``
========================  =====================================================

Maps are written one at a time (a generator of 200k maps never sits in memory) and read one
at a time (``numpy.load`` on an ``.npz`` decompresses a member only when it is accessed).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from clickme_analysis.errors import InputError

FORMAT = "clickme-map-archive/1"


def _write_member(zf: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    with zf.open(name + ".npy", "w", force_zip64=True) as fh:
        np.lib.format.write_array(fh, np.asanyarray(array), allow_pickle=False)


def save_maps(path, maps, labels: Mapping | None = None, participant_counts: Mapping | None = None,
              compress: bool = True) -> Path:
    """Write a map archive atomically (to a temporary file, then renamed).

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.npz`` path.
    maps : Mapping[str, ndarray] or Iterable[tuple[str, ndarray]]
        Image id -> 2-D map. Consumed lazily, one map at a time.
    labels : Mapping[str, str], optional
        Image id -> class label.
    participant_counts : Mapping[str, int], optional
        Image id -> number of participants behind the map.
    compress : bool
        Deflate the members (smaller files, slower writes).

    Returns
    -------
    pathlib.Path
        The archive path.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "maps.npz")
    >>> _ = save_maps(p, {"cat": np.ones((4, 4))}, labels={"cat": "tabby"})
    >>> with MapArchive(p) as archive:
    ...     archive["cat"].shape, archive.label("cat")
    ((4, 4), 'tabby')
    """
    path = Path(path)
    items = maps.items() if isinstance(maps, Mapping) else maps
    labels = labels or {}
    participant_counts = participant_counts or {}
    tmp = path.with_name(path.name + ".tmp")
    ids: list[str] = []
    seen: set[str] = set()
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    try:
        with zipfile.ZipFile(tmp, "w", compression=mode, allowZip64=True) as zf:
            for image_id, array in items:
                image_id = str(image_id)
                array = np.asarray(array)
                if array.ndim != 2:
                    raise InputError(f"expected a 2-D (H, W) map, got shape {array.shape}",
                                     path=path, field=image_id)
                if image_id in seen:
                    raise InputError("image id appears twice", path=path, field=image_id)
                seen.add(image_id)
                _write_member(zf, f"maps/{len(ids)}", array.astype(np.float32, copy=False))
                ids.append(image_id)
            _write_member(zf, "format", np.array(FORMAT))
            _write_member(zf, "image_ids", np.array(ids, dtype=str))
            _write_member(zf, "labels", np.array([str(labels.get(i, "")) for i in ids], dtype=str))
            _write_member(zf, "participant_counts",
                          np.array([int(participant_counts.get(i, -1)) for i in ids], dtype=np.int64))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


class MapArchive(Mapping):
    """Lazy reader of a map archive written by :func:`save_maps`.

    A read-only mapping image id -> float32 (H, W) map; each access reads one member.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` archive.
    """

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError("map archive not found", path=self.path)
        try:
            self._npz = np.load(self.path, allow_pickle=False)
            fmt = str(self._npz["format"])
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise InputError(f"not a ClickMe map archive ({FORMAT}): {err}", path=self.path) from None
        if fmt != FORMAT:
            raise InputError(f"expected format {FORMAT!r}, got {fmt!r}", path=self.path, field="format")
        self.image_ids: list[str] = [str(i) for i in self._npz["image_ids"]]
        self._index = {image_id: i for i, image_id in enumerate(self.image_ids)}
        self._labels = [str(x) for x in self._npz["labels"]]
        self._counts = self._npz["participant_counts"]

    def _position(self, image_id) -> int:
        try:
            return self._index[str(image_id)]
        except KeyError:
            raise KeyError(f"{image_id!r} is not in map archive {self.path}") from None

    def __getitem__(self, image_id) -> np.ndarray:
        return self._npz[f"maps/{self._position(image_id)}"]

    def __iter__(self) -> Iterator[str]:
        return iter(self.image_ids)

    def __len__(self) -> int:
        return len(self.image_ids)

    def __contains__(self, image_id) -> bool:
        return str(image_id) in self._index

    def label(self, image_id) -> str:
        """Class label of ``image_id`` ("" when unknown)."""
        return self._labels[self._position(image_id)]

    def participant_count(self, image_id) -> int:
        """Participants behind the map of ``image_id`` (-1 when unknown)."""
        return int(self._counts[self._position(image_id)])

    def close(self) -> None:
        self._npz.close()

    def __enter__(self) -> MapArchive:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MapArchive({str(self.path)!r}, {len(self)} maps)"

