"""Map sources: image id -> attention map, read lazily, from every form maps come in.

:func:`open_maps` opens any of them as one read-only mapping image id -> float32 (H, W) map
(:class:`MapSource`), reading one map per access, so 200k maps never need to fit in memory:

=========================================  ==========================================================
source                                     form
=========================================  ==========================================================
``.npz`` (:class:`MapArchive`)             ``clickme-map-archive/1``: a zip of ``.npy`` members
                                           (``format``, ``image_ids``, ``labels``,
                                           ``participant_counts``, ``maps/<i>`` float32)
``.h5`` / ``.hdf5`` (:class:`MapStore`)    ``clickme-map-store/1``: one chunked, compressed HDF5
                                           dataset of all maps (below), for ClickMe-size archives
``.h5`` with ``clickmaps/``                the ClickMe 2.0 authors' HDF5 (:class:`ClickMe2Maps`):
                                           one dataset per image ``clickmaps/<category_file>`` and
                                           its click count in ``click_counts/<category_file>``
a folder (:class:`MapFolder`)              one grayscale PNG / JPEG / NPY file per image, the id the
                                           file's :func:`~clickme_analysis.ids.image_id` (SALICON
                                           ``maps/``, MIT300 / CAT2000 fixation maps)
=========================================  ==========================================================

The HDF5 store (``clickme-map-store/1``) holds ``image_ids``, ``labels`` (UTF-8 strings),
``participant_counts`` (int64) and ``maps`` (N, H, W), one chunk per map, HDF5's shuffle and
deflate filters. Its ``encoding`` attribute says how ``maps`` holds the maps, both lossless:

* ``"delta-ratio"``: maps that are exact ratios of integers (box-blurred or unblurred click
  counts, raw or normalised by sum or maximum, what ``clickme maps`` makes by default): ``maps``
  holds the integer numerators, differenced along both axes (``int32``), and ``denominators``
  (N,) float64; map i is ``float32(cumsum(cumsum(maps[i], 0), 1) / denominators[i])``. Smooth
  blurred maps difference to mostly small numbers: about 20 KB a 256x256 map instead of about
  85 KB as deflated float32.
* ``"float32"``: ``maps`` holds float32 maps (other kernels, z-scored maps).

Writers (:class:`MapWriter`, :func:`save_maps`) write one map at a time to a temporary file that
replaces the target at the end, so a crash never leaves half an archive.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import atomic_path, check_output_path, replace_durably, temporary_path
from clickme_analysis.filetypes import describe_file

FORMAT = "clickme-map-archive/1"
STORE_FORMAT = "clickme-map-store/1"
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
MAP_FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy", ".bmp", ".tif", ".tiff")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_NPZ_LEVEL = 2  # deflate level of NPZ members: as fast as level 1 and as small as level 6 on click maps

__all__ = [
    "FORMAT",
    "STORE_FORMAT",
    "MapSource",
    "MapArchive",
    "MapStore",
    "ClickMe2Maps",
    "MapFolder",
    "MapWriter",
    "open_maps",
    "save_maps",
    "write_clickme2_hdf5",
    "map_format",
]


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------
class MapSource(Mapping):
    """A read-only mapping image id -> float32 (H, W) map, with labels and participant counts.

    Subclasses set ``path``, ``image_ids`` and implement ``_read(position)``; ``label`` and
    ``participant_count`` return ``""`` and ``-1`` where the source does not know them.
    """

    path: Path
    image_ids: list[str]
    kind = "map source"

    def _init_index(self) -> None:
        self._index = {image_id: i for i, image_id in enumerate(self.image_ids)}
        if len(self._index) != len(self.image_ids):
            raise InputError("an image id appears twice", path=self.path, field="image_ids")

    def _position(self, image_id) -> int:
        try:
            return self._index[str(image_id)]
        except KeyError:
            raise KeyError(f"{image_id!r} is not in {self.kind} {self.path}") from None

    def __getitem__(self, image_id) -> np.ndarray:
        position = self._position(image_id)
        try:
            return self._read(position)
        except InputError:
            raise
        except (
            OSError,
            RuntimeError,
            ValueError,
            TypeError,
            KeyError,
            EOFError,
            zipfile.BadZipFile,
            zlib.error,
        ) as err:
            raise InputError(
                f"the map of {image_id!r} is unreadable ({type(err).__name__}: {err})",
                path=self.path,
                field=str(image_id),
            ) from None

    def _read(self, position: int) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __iter__(self) -> Iterator[str]:
        return iter(self.image_ids)

    def __len__(self) -> int:
        return len(self.image_ids)

    def __contains__(self, image_id) -> bool:
        return str(image_id) in self._index

    def label(self, image_id) -> str:
        """Class label of ``image_id`` ("" when unknown)."""
        self._position(image_id)
        return ""

    def participant_count(self, image_id) -> int:
        """Participants behind the map of ``image_id`` (-1 when unknown)."""
        self._position(image_id)
        return -1

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, {len(self)} maps)"


def _not_an_archive(path: Path, expected: str, detail: str = "") -> InputError:
    extra = f" ({detail})" if detail else ""
    return InputError(f"expected {expected}, got {describe_file(path)}{extra}", path=path)


class MapArchive(MapSource):
    """Lazy reader of an NPZ map archive (``clickme-map-archive/1``, :func:`save_maps`).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npz`` archive. Nothing in it is unpickled.
    """

    kind = "map archive"

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError("map archive not found", path=self.path)
        expected = f"a ClickMe map archive ({FORMAT}, an .npz written by clickme maps)"
        try:
            self._npz = np.load(self.path, allow_pickle=False)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            raise _not_an_archive(self.path, expected) from None
        if not hasattr(self._npz, "files"):  # a plain .npy array
            raise _not_an_archive(self.path, expected)
        self._init_members(expected)

    def _init_members(self, expected: str) -> None:
        try:
            fmt = str(self._npz["format"]) if "format" in self._npz.files else None
            if fmt != FORMAT:
                members = ", ".join(self._npz.files[:6]) + (", ..." if len(self._npz.files) > 6 else "")
                raise InputError(
                    f"not a ClickMe map archive: expected format {FORMAT!r}, got "
                    f"{'no format member' if fmt is None else repr(fmt)} (members: {members})",
                    path=self.path,
                    field="format",
                )
            self.image_ids = [str(i) for i in self._npz["image_ids"]]
            self._labels = [str(x) for x in self._npz["labels"]]
            self._counts = np.asarray(self._npz["participant_counts"], dtype=np.int64).ravel()
            if not len(self._labels) == len(self._counts) == len(self.image_ids):
                raise InputError(
                    f"expected one label and one participant count per image id ({len(self.image_ids)}), "
                    f"got {len(self._labels)} and {len(self._counts)}",
                    path=self.path,
                    field="labels",
                )
        except InputError:
            self._npz.close()
            raise
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            self._npz.close()
            raise InputError(f"not a readable ClickMe map archive ({err})", path=self.path) from None
        self._init_index()

    def _read(self, position: int) -> np.ndarray:
        return self._npz[f"maps/{position}"]

    def label(self, image_id) -> str:
        """Class label of ``image_id`` ("" when unknown)."""
        return self._labels[self._position(image_id)]

    def participant_count(self, image_id) -> int:
        """Participants behind the map of ``image_id`` (-1 when unknown)."""
        return int(self._counts[self._position(image_id)])

    def close(self) -> None:
        self._npz.close()


def _strings(dataset) -> list[str]:
    return [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in dataset[()]]


class MapStore(MapSource):
    """Lazy reader of an HDF5 map store (``clickme-map-store/1``; layout in the module docstring)."""

    kind = "map store"

    def __init__(self, path, _file=None):
        self.path = Path(path)
        self._file = _file if _file is not None else _open_hdf5(self.path)
        try:
            attrs = self._file.attrs
            self.encoding = str(attrs.get("encoding", ""))
            self.image_ids = _strings(self._file["image_ids"])
            self._labels = _strings(self._file["labels"])
            self._counts = self._file["participant_counts"][()]
            self._maps = self._file["maps"]
            self._denominators = self._file["denominators"][()] if self.encoding == "delta-ratio" else None
        except (KeyError, OSError, RuntimeError, ValueError, TypeError, AttributeError) as err:
            self._file.close()
            raise InputError(f"not a complete {STORE_FORMAT} file ({err})", path=self.path) from None
        if self.encoding not in ("delta-ratio", "float32"):
            self._file.close()
            raise InputError(
                f"expected encoding 'delta-ratio' or 'float32', got {self.encoding!r}", path=self.path, field="encoding"
            )
        self._init_index()

    def _read(self, position: int) -> np.ndarray:
        stored = self._maps[position]
        if self._denominators is None:
            return stored.astype(np.float32, copy=False)
        return decode_ratio(stored, self._denominators[position])

    def label(self, image_id) -> str:
        """Class label of ``image_id`` ("" when unknown)."""
        return self._labels[self._position(image_id)]

    def participant_count(self, image_id) -> int:
        """Participants behind the map of ``image_id`` (-1 when unknown)."""
        return int(self._counts[self._position(image_id)])

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of every map."""
        return tuple(self._maps.shape[1:])

    def close(self) -> None:
        self._file.close()


def decode_ratio(deltas: np.ndarray, denominator: float) -> np.ndarray:
    """A ``delta-ratio`` map from its stored differences and denominator (int32 arithmetic wraps
    consistently, so any numerator that fits int32 comes back exactly)."""
    numerator = np.cumsum(np.cumsum(deltas, axis=0, dtype=np.int32), axis=1, dtype=np.int32)
    if denominator == 0:
        return np.zeros(numerator.shape, np.float32)
    return (numerator / float(denominator)).astype(np.float32)


def encode_ratio(numerator: np.ndarray) -> np.ndarray:
    """The stored form of an integer numerator: differences along both axes, int32."""
    numerator = np.asarray(numerator)
    if np.abs(numerator).max(initial=0) >= 2**31:
        raise InputError("expected integer map values below 2**31", field="numerator")
    deltas = np.diff(numerator.astype(np.int32), axis=0, prepend=np.int32(0))
    return np.diff(deltas, axis=1, prepend=np.int32(0)).astype(np.int32, copy=False)


class ClickMe2Maps(MapSource):
    """The ClickMe 2.0 authors' HDF5 map file: ``clickmaps/<category_file>`` per image (a 2-D
    map, or a stack of participant maps averaged here) and ``click_counts/<category_file>``.

    Ids are :func:`~clickme_analysis.ids.image_id` of the dataset names under ``id_rule``.
    """

    kind = "ClickMe 2.0 map file"

    def __init__(self, path, id_rule: str = "stem", _file=None):
        import h5py

        from clickme_analysis.ids import image_ids

        self.path = Path(path)
        self._file = _file if _file is not None else _open_hdf5(self.path)
        try:
            group = self._file["clickmaps"]
            self._names = sorted(name for name, item in group.items() if isinstance(item, h5py.Dataset))
        except (KeyError, OSError, RuntimeError, ValueError, TypeError, AttributeError) as err:
            self._file.close()
            raise InputError(f"not a readable ClickMe 2.0 map file ({err})", path=self.path) from None
        self.image_ids = image_ids(self._names, rule=id_rule, what="clickmaps datasets")
        self._init_index()
        self._counts = self._file.get("click_counts")

    def _read(self, position: int) -> np.ndarray:
        array = np.asarray(self._file["clickmaps"][self._names[position]][()], dtype=np.float32)
        if array.ndim == 3:
            array = array.mean(axis=0)
        if array.ndim != 2:
            raise InputError(
                f"expected a 2-D map or a stack of maps, got shape {array.shape}",
                path=self.path,
                field=f"clickmaps/{self._names[position]}",
            )
        return array

    def participant_count(self, image_id) -> int:
        """Clicks behind the map of ``image_id`` from ``click_counts/`` (-1 when absent)."""
        name = self._names[self._position(image_id)]
        if self._counts is None or name not in self._counts:
            return -1
        return int(np.asarray(self._counts[name][()]).ravel()[0])

    def click_count(self, image_id) -> int:
        """The file's ``click_counts`` entry of ``image_id`` (-1 when absent)."""
        return self.participant_count(image_id)

    def close(self) -> None:
        self._file.close()


class MapFolder(MapSource):
    """A folder of map files, one per image: grayscale PNG / JPEG (8- or 16-bit, scaled to
    [0, 1]) or 2-D ``.npy`` (read without pickles), the id each file's
    :func:`~clickme_analysis.ids.image_id` under ``id_rule`` (default its stem)."""

    kind = "map folder"

    def __init__(self, path, id_rule: str = "stem"):
        from clickme_analysis.fileio import collect_files
        from clickme_analysis.ids import image_ids

        self.path = Path(path)
        self._files = collect_files(self.path, MAP_FILE_SUFFIXES, what="map files")
        self.image_ids = image_ids(
            [f.relative_to(self.path).as_posix() for f in self._files], rule=id_rule, what="map files"
        )
        self._init_index()

    def _read(self, position: int) -> np.ndarray:
        return read_map_file(self._files[position])


def read_map_file(path) -> np.ndarray:
    """One map file as float32 (H, W): grayscale image (scaled to [0, 1]) or 2-D ``.npy``.

    Examples
    --------
    >>> import tempfile, os
    >>> from PIL import Image
    >>> p = os.path.join(tempfile.mkdtemp(), "cat.png")
    >>> Image.fromarray(np.array([[0, 255]], np.uint8)).save(p)
    >>> read_map_file(p)
    array([[0., 1.]], dtype=float32)
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            raise _not_an_archive(path, "a 2-D numeric .npy map") from None
    else:
        from clickme_analysis.imagefile import read_image

        try:
            array = read_image(path, mode="stored")
        except InputError:
            raise _not_an_archive(path, "a grayscale map image (PNG / JPEG)") from None
        if array.ndim == 3:
            channels = array[..., :3] if array.shape[-1] in (3, 4) else array
            if not (channels == channels[..., :1]).all():
                raise InputError(
                    f"expected a grayscale map, got a colour image ({array.shape[-1]} channels)", path=path
                )
            array = channels[..., 0]
        if array.dtype == np.uint8:
            array = array / 255.0
        elif array.dtype == np.uint16:
            array = array / 65535.0
    array = np.asarray(array)
    if array.ndim != 2 or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InputError(f"expected a 2-D numeric map, got {array.dtype} of shape {array.shape}", path=path)
    return array.astype(np.float32)


def map_format(path) -> str:
    """What kind of map source ``path`` is: ``"folder"``, ``"npz"``, ``"store"`` or ``"clickme2"``
    (HDF5 told apart by content), or ``"unknown"``."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    if not path.is_file():
        return "unknown"
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK"):
        return "npz"
    if head == _HDF5_SIGNATURE:
        try:
            with _open_hdf5(path) as f:
                if f.attrs.get("format") == STORE_FORMAT:
                    return "store"
                if "clickmaps" in f:
                    return "clickme2"
        except (InputError, OSError, RuntimeError, ValueError, TypeError, KeyError):
            return "hdf5-unreadable"
        return "hdf5"
    return "unknown"


def _open_hdf5(path: Path):
    import h5py

    try:
        return h5py.File(path, "r")
    except (OSError, RuntimeError, ValueError) as err:
        raise InputError(f"expected a readable HDF5 map file, got a damaged HDF5 file ({err})", path=path) from None


def open_maps(source, *, id_rule: str = "stem") -> MapSource:
    """Open any map source as a lazy read-only mapping image id -> float32 map.

    Parameters
    ----------
    source : str or os.PathLike
        An NPZ map archive, an HDF5 map store, a ClickMe 2.0 HDF5 map file or a folder of map
        files (module docstring); the kind is told from the content, not the name.
    id_rule : {"stem", "relative", "path"}
        How file and dataset names become ids (folders and ClickMe 2.0 files only; archives
        and stores keep the ids they were written with). See :mod:`clickme_analysis.ids`.

    Returns
    -------
    MapSource
        Also a context manager; ``label(id)`` and ``participant_count(id)`` where known.

    Raises
    ------
    InputError
        When ``source`` is absent or is none of these (the message says what it looks like).

    Examples
    --------
    >>> import tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> np.save(os.path.join(folder, "cat.npy"), np.eye(2))
    >>> with open_maps(folder) as maps:
    ...     list(maps), maps["cat"].dtype
    (['cat'], dtype('float32'))
    """
    path = Path(source)
    kind = map_format(path)
    if kind == "folder":
        return MapFolder(path, id_rule=id_rule)
    if kind == "npz":
        return MapArchive(path)
    if kind == "store":
        return MapStore(path)
    if kind == "clickme2":
        return ClickMe2Maps(path, id_rule=id_rule)
    if not path.exists():
        raise InputError(
            "map source not found: expected a map archive (.npz), an HDF5 map file or a folder of map files", path=path
        )
    detail = (
        "it cannot be opened"
        if kind == "hdf5-unreadable"
        else "neither clickme-map-store/1 nor a clickmaps/ group"
        if kind == "hdf5"
        else ""
    )
    raise _not_an_archive(
        path,
        "a map archive (.npz), an HDF5 map file (clickme-map-store/1 or ClickMe "
        "2.0 clickmaps/) or a folder of map files",
        detail,
    )


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------
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
        ``.npz`` (``clickme-map-archive/1``) or ``.h5`` / ``.hdf5`` (``clickme-map-store/1``);
        the folder must exist. Written to a temporary file, renamed on :meth:`close`.
    n_maps : int, optional
        Number of maps, when known: then ``position`` may be given to :meth:`write` (maps in
        any order, e.g. from several workers). Otherwise maps are kept in write order.
    encoding : {"delta-ratio", "float32"}
        HDF5 only; ``"delta-ratio"`` needs ``numerator`` / ``denominator`` in :meth:`write`.
    level : int
        Deflate level (HDF5: 1-9, default 2: about 20 KB a blurred 256x256 map; NPZ always deflates).

    Examples
    --------
    >>> import tempfile, os
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
        """The stored form of one map: compressed chunk bytes (HDF5) or the deflated float32 member (NPZ).

        Pure and thread-safe, so callers may encode in a pool and :meth:`write` the results.
        """
        if self.suffix == ".npz":
            return _deflate_member(np.asarray(map, dtype=np.float32), _NPZ_LEVEL)
        if self.encoding == "float32":
            return _shuffle_deflate(np.asarray(map, dtype=np.float32), self.level)
        from clickme_analysis._paint_numba import delta_shuffle

        numerator = np.asarray(numerator)
        if numerator.dtype != np.int32:
            numerator = encode_ratio(numerator).cumsum(axis=0, dtype=np.int32).cumsum(axis=1, dtype=np.int32)
        return zlib.compress(delta_shuffle(np.ascontiguousarray(numerator)), self.level)

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

        For NPZ archives and ``float32`` stores a ``numerator`` / ``denominator`` pair is turned
        into ``float32(numerator / denominator)``. ``encoded`` is :meth:`encode`'s result.
        """
        image_id = str(image_id)
        if image_id in self._seen:
            raise InputError("image id appears twice", path=self.path, field=image_id)
        ratio = self.encoding == "delta-ratio" and self.suffix != ".npz"
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
            _write_member(self._zip, "format", np.array(FORMAT))
            _write_member(self._zip, "image_ids", np.array(ids, dtype=str))
            _write_member(self._zip, "labels", np.array(labels, dtype=str))
            _write_member(self._zip, "participant_counts", counts)
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
