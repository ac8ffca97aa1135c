"""Reading map sources: :func:`open_maps` and the lazy readers of each form (:mod:`clickme_analysis.archive`)."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import collect_files
from clickme_analysis.filetypes import describe_file
from clickme_analysis.ids import image_ids
from clickme_analysis.imagefile import read_image

FORMAT = "clickme-map-archive/1"
#: NPZ archives of integer ratios (encoding "delta-ratio": what ``clickme maps`` writes for exact maps)
FORMAT_RATIO = "clickme-map-archive/2"
STORE_FORMAT = "clickme-map-store/1"
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")
MAP_FILE_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy", ".bmp", ".tif", ".tiff")
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


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
    """Lazy reader of an NPZ map archive (``clickme-map-archive/1`` float32 maps, :func:`save_maps`;
    ``clickme-map-archive/2`` integer ratios, ``clickme maps``; layouts in :mod:`clickme_analysis.archive`).

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
            if fmt not in (FORMAT, FORMAT_RATIO):
                members = ", ".join(self._npz.files[:6]) + (", ..." if len(self._npz.files) > 6 else "")
                raise InputError(
                    f"not a ClickMe map archive: expected format {FORMAT!r} or {FORMAT_RATIO!r}, got "
                    f"{'no format member' if fmt is None else repr(fmt)} (members: {members})",
                    path=self.path,
                    field="format",
                )
            self.image_ids = [str(i) for i in self._npz["image_ids"]]
            self._labels = [str(x) for x in self._npz["labels"]]
            self._counts = np.asarray(self._npz["participant_counts"], dtype=np.int64).ravel()
            self.encoding, self._denominators = self._ratio_members(fmt)
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

    def _ratio_members(self, fmt: str) -> tuple[str, np.ndarray | None]:
        """The archive's encoding and, for ``delta-ratio``, its (N,) denominators."""
        if fmt == FORMAT:
            return "float32", None
        encoding = str(self._npz["encoding"]) if "encoding" in self._npz.files else None
        if encoding != "delta-ratio":
            raise InputError(f"expected encoding 'delta-ratio', got {encoding!r}", path=self.path, field="encoding")
        denominators = np.asarray(self._npz["denominators"], dtype=np.float64).ravel()
        if len(denominators) != len(self.image_ids):
            raise InputError(
                f"expected one denominator per image id ({len(self.image_ids)}), got {len(denominators)}",
                path=self.path,
                field="denominators",
            )
        return encoding, denominators

    def _read(self, position: int) -> np.ndarray:
        stored = self._npz[f"maps/{position}"]
        if self._denominators is None:
            return stored
        if stored.dtype != np.uint8 or stored.ndim != 3 or stored.shape[0] != 4:
            raise InputError(
                f"expected a delta-ratio map as (4, H, W) uint8 byte planes, got {stored.dtype} "
                f"of shape {stored.shape}",
                path=self.path,
                field=f"maps/{position}",
            )
        deltas = np.ascontiguousarray(np.moveaxis(stored, 0, -1)).view("<i4")[..., 0]
        return decode_ratio(deltas, self._denominators[position])

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
    """Lazy reader of an HDF5 map store (``clickme-map-store/1``; layout in :mod:`clickme_analysis.archive`)."""

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


class ClickMe2Maps(MapSource):
    """The ClickMe 2.0 authors' HDF5 map file: ``clickmaps/<category_file>`` per image (a 2-D
    map, or a stack of participant maps averaged here) and ``click_counts/<category_file>``.

    Ids are :func:`~clickme_analysis.ids.image_id` of the dataset names under ``id_rule``.
    """

    kind = "ClickMe 2.0 map file"

    def __init__(self, path, id_rule: str = "stem", _file=None):
        import h5py

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
        files (:mod:`clickme_analysis.archive`); the kind is told from the content, not the name.
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
