"""Writing map archives and stores, one map at a time (:mod:`clickme_analysis.archive`)."""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from clickme_analysis._paint_numba import delta_shuffle
from clickme_analysis.archive.read import FORMAT, FORMAT_RATIO, HDF5_SUFFIXES, STORE_FORMAT
from clickme_analysis.errors import InputError
from clickme_analysis.fileio import atomic_path, check_output_path, replace_durably, temporary_path

_NPZ_LEVEL = 2  # deflate level of NPZ members: as fast as level 1 and as small as level 6 on click maps


def encode_ratio(numerator: np.ndarray) -> np.ndarray:
    """The stored form of an integer numerator: differences along both axes, int32."""
    numerator = np.asarray(numerator)
    if np.abs(numerator).max(initial=0) >= 2**31:
        raise InputError("expected integer map values below 2**31", field="numerator")
    deltas = np.diff(numerator.astype(np.int32), axis=0, prepend=np.int32(0))
    return np.diff(deltas, axis=1, prepend=np.int32(0)).astype(np.int32, copy=False)


def _deflate_member(array: np.ndarray, level: int) -> tuple[bytes, int, int]:
    """One NPZ member's ``.npy`` bytes, raw-deflated: ``(data, crc32, size)``; pure, thread-safe
    (zlib releases the GIL), so maps are deflated in a pool as the HDF5 store's chunks are."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
    raw = buffer.getbuffer()
    deflater = zlib.compressobj(level, zlib.DEFLATED, -15)
    return deflater.compress(raw) + deflater.flush(), zlib.crc32(raw), len(raw)


def _write_member(zf: zipfile.ZipFile, name: str, member) -> None:
    """Append ``name.npy`` to ``zf``: an array, or :func:`_deflate_member`'s result.

    ``zipfile`` deflates only in the calling thread, so a member deflated beforehand is appended
    by hand: its local header (fixed date, deterministic), its data, and the entry the central
    directory is written from on close.
    """
    data, crc, size = member if isinstance(member, tuple) else _deflate_member(member, _NPZ_LEVEL)
    info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type, info.external_attr = zipfile.ZIP_DEFLATED, 0o600 << 16
    info.file_size, info.compress_size, info.CRC = size, len(data), crc
    info.header_offset = zf.fp.tell()
    zf.fp.write(info.FileHeader())
    zf.fp.write(data)
    zf.start_dir = zf.fp.tell()
    zf.filelist.append(info)
    zf.NameToInfo[info.filename] = info
    zf._didModify = True


def _shuffle_deflate(array: np.ndarray, level: int) -> bytes:
    """The bytes HDF5's shuffle + deflate filters make of one chunk (zlib releases the GIL)."""
    raw = np.ascontiguousarray(array)
    shuffled = raw.view(np.uint8).reshape(-1, raw.itemsize).T.tobytes()
    return zlib.compress(shuffled, level)


class MapWriter:
    """Write maps one at a time to an NPZ archive or an HDF5 map store (by suffix).

    Parameters
    ----------
    path : str or os.PathLike
        ``.npz`` (``clickme-map-archive/1``, or ``/2`` for ``delta-ratio``) or ``.h5`` / ``.hdf5``
        (``clickme-map-store/1``);
        the folder must exist. Written to a temporary file, renamed on :meth:`close`.
    n_maps : int, optional
        Number of maps, when known: then ``position`` may be given to :meth:`write` (maps in
        any order, e.g. from several workers). Otherwise maps are kept in write order.
    encoding : {"delta-ratio", "float32"}
        ``"delta-ratio"`` (lossless integer ratios, in both forms) needs ``numerator`` /
        ``denominator`` in :meth:`write`.
    level : int
        Deflate level (HDF5: 1-9, default 2: about 20 KB a blurred 256x256 map; NPZ always deflates).

    Examples
    --------
    >>> import tempfile, os
    >>> from clickme_analysis.archive import open_maps
    >>> p = os.path.join(tempfile.mkdtemp(), "maps.h5")
    >>> with MapWriter(p, encoding="delta-ratio") as writer:
    ...     writer.write("cat", numerator=np.array([[1, 2], [3, 4]]), denominator=4.0, label="tabby")
    >>> with open_maps(p) as maps:
    ...     maps["cat"], maps.label("cat")
    (array([[0.25, 0.5 ],
           [0.75, 1.  ]], dtype=float32), 'tabby')
    """

    def __init__(self, path, n_maps: int | None = None, encoding: str = "float32", level: int = 2):
        self.path = check_output_path(path, field="out")
        self.suffix = self.path.suffix.lower()
        if self.suffix not in (".npz",) + HDF5_SUFFIXES:
            raise InputError(
                f"expected an output ending in .npz, .h5 or .hdf5, got {self.path.suffix!r}",
                path=self.path,
                field="out",
            )
        if encoding not in ("delta-ratio", "float32"):
            raise InputError(f"expected encoding 'delta-ratio' or 'float32', got {encoding!r}", field="encoding")
        self.n_maps, self.encoding, self.level = n_maps, encoding, level
        self._tmp = temporary_path(self.path)
        # per-position index in numpy arrays (small at 200k maps); grown by doubling when n_maps is unknown
        capacity = n_maps if n_maps is not None else 1024
        self._ids = np.empty(capacity, dtype=object)
        self._labels = np.full(capacity, "", dtype=object)
        self._counts = np.full(capacity, -1, dtype=np.int64)
        self._denominators = np.zeros(capacity, dtype=np.float64)
        self._filled = np.zeros(capacity, dtype=bool)
        self._n = 0
        self._seen: set[str] = set()
        self._shape = None
        self._dataset = None
        self.bytes_written = 0
        if self.suffix == ".npz":
            self._zip = zipfile.ZipFile(self._tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True)
        else:
            import h5py

            self._h5 = h5py.File(self._tmp, "w")

    def _dataset_for(self, shape) -> None:
        dtype = np.int32 if self.encoding == "delta-ratio" else np.float32
        rows = self.n_maps if self.n_maps is not None else 0
        self._dataset = self._h5.create_dataset(
            "maps",
            shape=(rows,) + shape,
            maxshape=(None,) + shape,
            dtype=dtype,
            chunks=(1,) + shape,
            shuffle=True,
            compression="gzip",
            compression_opts=self.level,
        )

    def encode(self, map=None, numerator=None) -> np.ndarray | bytes:
        """The stored form of one map: compressed chunk bytes (HDF5) or the deflated member (NPZ).

        A ``delta-ratio`` map is its numerator's differences, byte-shuffled as by HDF5's shuffle
        filter: the chunk of an HDF5 store, or a (4, H, W) uint8 member (byte plane k holds byte k
        of each little-endian int32) of an NPZ archive. Pure and thread-safe, so callers may
        encode in a pool and :meth:`write` the results.
        """
        npz = self.suffix == ".npz"
        if self.encoding == "float32":
            array = np.asarray(map, dtype=np.float32)
            return _deflate_member(array, _NPZ_LEVEL) if npz else _shuffle_deflate(array, self.level)
        numerator = np.asarray(numerator)
        if numerator.dtype != np.int32:
            numerator = encode_ratio(numerator).cumsum(axis=0, dtype=np.int32).cumsum(axis=1, dtype=np.int32)
        planes = delta_shuffle(np.ascontiguousarray(numerator))
        if npz:
            return _deflate_member(planes.reshape((4,) + numerator.shape), _NPZ_LEVEL)
        return zlib.compress(planes, self.level)

    def write(
        self,
        image_id,
        map=None,
        *,
        numerator=None,
        denominator: float | None = None,
        label: str = "",
        participant_count: int = -1,
        position: int | None = None,
        encoded=None,
    ) -> None:
        """Add one map (``map``, or ``numerator`` / ``denominator`` for ``delta-ratio``).

        For ``float32`` archives and stores a ``numerator`` / ``denominator`` pair is turned into
        ``float32(numerator / denominator)``. ``encoded`` is :meth:`encode`'s result.
        """
        image_id = str(image_id)
        if image_id in self._seen:
            raise InputError("image id appears twice", path=self.path, field=image_id)
        ratio = self.encoding == "delta-ratio"
        if map is None and numerator is None:
            raise InputError("expected a map or a numerator", path=self.path, field=image_id)
        if map is None and not ratio:
            numerator = np.asarray(numerator)
            map = (numerator / denominator).astype(np.float32) if denominator else np.zeros(numerator.shape, np.float32)
        if ratio and numerator is None:
            raise InputError("a delta-ratio store needs integer numerators", path=self.path, field=image_id)
        shape = np.shape(numerator if ratio else map)
        if len(shape) != 2:
            raise InputError(f"expected a 2-D (H, W) map, got shape {shape}", path=self.path, field=image_id)
        if self._shape is None:
            self._shape = shape
        elif self.suffix != ".npz" and shape != self._shape:
            raise InputError(
                f"an HDF5 map store holds maps of one shape: expected {self._shape}, got {shape} "
                "(write an .npz archive for maps of several shapes)",
                path=self.path,
                field=image_id,
            )
        if position is None:
            position = self._n
            if self.n_maps is not None and position >= self.n_maps:
                raise InputError(f"more maps than the {self.n_maps} announced", path=self.path, field=image_id)
            if position >= len(self._filled):
                self._grow()
        elif self.n_maps is None or not 0 <= position < self.n_maps or self._filled[position]:
            raise InputError(f"position {position} is not a free slot of {self.n_maps}", path=self.path, field=image_id)
        data = encoded if encoded is not None else self.encode(map, numerator)
        if self.suffix == ".npz":
            _write_member(self._zip, f"maps/{position}", data)
        else:
            if self._dataset is None:
                self._dataset_for(shape)
            if self.n_maps is None:
                self._dataset.resize(position + 1, axis=0)
            self._dataset.id.write_direct_chunk((position, 0, 0), data)
            self.bytes_written += len(data)
        self._seen.add(image_id)
        self._ids[position] = image_id
        self._labels[position] = str(label or "")
        self._counts[position] = int(participant_count)
        self._filled[position] = True
        self._n += 1
        if ratio:
            self._denominators[position] = float(denominator)

    def _grow(self) -> None:
        extra = len(self._filled)
        self._ids = np.concatenate([self._ids, np.empty(extra, dtype=object)])
        self._labels = np.concatenate([self._labels, np.full(extra, "", dtype=object)])
        self._counts = np.concatenate([self._counts, np.full(extra, -1, dtype=np.int64)])
        self._denominators = np.concatenate([self._denominators, np.zeros(extra)])
        self._filled = np.concatenate([self._filled, np.zeros(extra, dtype=bool)])

    def close(self) -> Path:
        """Write the index and move the file into place."""
        n = self._n
        if self.n_maps is not None and n != self.n_maps:
            self.abort()
            raise InputError(f"expected {self.n_maps} maps, {n} were written", path=self.path)
        ids = self._ids[:n].tolist()
        labels = self._labels[:n].tolist()
        counts = self._counts[:n]
        if self.suffix == ".npz":
            ratio = self.encoding == "delta-ratio"
            _write_member(self._zip, "format", np.array(FORMAT_RATIO if ratio else FORMAT))
            _write_member(self._zip, "image_ids", np.array(ids, dtype=str))
            _write_member(self._zip, "labels", np.array(labels, dtype=str))
            _write_member(self._zip, "participant_counts", counts)
            if ratio:
                _write_member(self._zip, "encoding", np.array(self.encoding))
                _write_member(self._zip, "denominators", self._denominators[:n])
            self._zip.close()
        else:
            import h5py

            if self._dataset is None:
                self._dataset_for(self._shape or (0, 0))
            text = h5py.string_dtype("utf-8")
            self._h5.attrs["format"] = STORE_FORMAT
            self._h5.attrs["encoding"] = self.encoding
            self._h5.create_dataset("image_ids", data=np.array(ids, dtype=object), dtype=text)
            self._h5.create_dataset("labels", data=np.array(labels, dtype=object), dtype=text)
            self._h5.create_dataset("participant_counts", data=counts)
            if self.encoding == "delta-ratio":
                self._h5.create_dataset("denominators", data=self._denominators[:n])
            self._h5.close()
        return replace_durably(self._tmp, self.path)

    def abort(self) -> None:
        """Drop the temporary file (the target, if any, is left as it was)."""
        try:
            (self._zip if self.suffix == ".npz" else self._h5).close()
        except Exception:  # noqa: BLE001 - closing a half-written file may fail; it is deleted anyway
            pass
        if self._tmp.exists():
            self._tmp.unlink()

    def __enter__(self) -> MapWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def save_maps(path, maps, labels: Mapping | None = None, participant_counts: Mapping | None = None) -> Path:
    """Write maps to an NPZ archive or an HDF5 map store (``float32`` encoding), by suffix.

    Parameters
    ----------
    path : str or os.PathLike
        Output ``.npz``, ``.h5`` or ``.hdf5`` path.
    maps : Mapping[str, ndarray] or Iterable[tuple[str, ndarray]]
        Image id -> 2-D map. Consumed lazily, one map at a time.
    labels : Mapping[str, str], optional
        Image id -> class label.
    participant_counts : Mapping[str, int], optional
        Image id -> number of participants behind the map.

    Returns
    -------
    pathlib.Path
        The archive path.

    Examples
    --------
    >>> import tempfile, os
    >>> from clickme_analysis.archive import MapArchive
    >>> p = os.path.join(tempfile.mkdtemp(), "maps.npz")
    >>> _ = save_maps(p, {"cat": np.ones((4, 4))}, labels={"cat": "tabby"})
    >>> with MapArchive(p) as archive:
    ...     archive["cat"].shape, archive.label("cat")
    ((4, 4), 'tabby')
    """
    items = maps.items() if isinstance(maps, Mapping) else maps
    labels = labels or {}
    participant_counts = participant_counts or {}
    with MapWriter(path) as writer:
        for image_id, array in items:
            writer.write(
                image_id,
                np.asarray(array),
                label=labels.get(image_id, labels.get(str(image_id), "")),
                participant_count=int(participant_counts.get(image_id, -1)),
            )
    return Path(path)


def write_clickme2_hdf5(path, maps, click_counts: Mapping | None = None) -> Path:
    """Write maps in the ClickMe 2.0 authors' HDF5 layout (``clickmaps/<name>`` float32 and
    ``click_counts/<name>``), names being the ids with ``/`` replaced by ``_``.

    Examples
    --------
    >>> import tempfile, os
    >>> from clickme_analysis.archive import open_maps
    >>> p = os.path.join(tempfile.mkdtemp(), "clickme2.h5")
    >>> _ = write_clickme2_hdf5(p, {"cat/01.png": np.ones((2, 2))}, {"cat/01.png": 12})
    >>> with open_maps(p) as maps:
    ...     list(maps), maps.click_count("cat_01")
    (['cat_01'], 12)
    """
    import h5py

    path = check_output_path(path, field="out")
    items = maps.items() if isinstance(maps, Mapping) else maps
    click_counts = click_counts or {}
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            group, counts = f.create_group("clickmaps"), f.create_group("click_counts")
            for image_id, array in items:
                name = str(image_id).replace("/", "_")
                array = np.asarray(array, dtype=np.float32)
                if array.ndim != 2:
                    raise InputError(
                        f"expected a 2-D (H, W) map, got shape {array.shape}", path=path, field=str(image_id)
                    )
                group.create_dataset(name, data=array, compression="gzip", shuffle=True)
                if image_id in click_counts:
                    counts.create_dataset(name, data=int(click_counts[image_id]))
    return path
