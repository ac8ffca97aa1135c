"""ClickMe 2.0 NPZ click logs: safe loading and the trial filters (catch trials, mobile).

Object arrays are rebuilt by a restricted unpickler that accepts numpy arrays and plain values
only (:func:`load_npz`): a file that names anything else is refused, never run.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np

from clickme_analysis.errors import InputError
from clickme_analysis.filetypes import describe_file

__all__ = ["load_npz", "is_mobile", "npz_trials", "MOBILE_RULES"]


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays, dtypes, scalars and plain values; refuses every other global."""

    ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
        ("builtins", "bytearray"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name}: only numpy arrays and plain values are loaded")


def load_npz(path) -> dict[str, np.ndarray]:
    """Every array of an NPZ file, object arrays rebuilt by a restricted unpickler.

    Only numpy arrays, dtypes, scalars and plain Python values (numbers, strings, lists, ...) are
    rebuilt; a pickle naming any other global (``os.system``, ``builtins.eval``, ...) raises
    :class:`InputError` without running anything.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "log.npz")
    >>> trials = np.empty(2, dtype=object); trials[:] = [np.array([1, 2]), np.array([3])]
    >>> np.savez(p, clickmap_x=trials)
    >>> [a.tolist() for a in load_npz(p)["clickmap_x"]]
    [[1, 2], [3]]
    """
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError):
        raise InputError(f"expected an NPZ file (a ZIP of .npy arrays), got {describe_file(path)}", path=path) from None
    out = {}
    with archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            name = member[:-4]
            try:
                with archive.open(member) as fh:
                    version = np.lib.format.read_magic(fh)
                    read_header = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, fortran, dtype = read_header(fh)
                    if dtype.hasobject:
                        array = _NumpyOnlyUnpickler(fh).load()
                        if not isinstance(array, np.ndarray):
                            raise pickle.UnpicklingError(f"expected an array, got {type(array).__name__}")
                    else:
                        data = fh.read()
                        array = np.frombuffer(data, dtype=dtype, count=int(np.prod(shape)))
                        array = array.reshape(shape, order="F" if fortran else "C")
            except pickle.UnpicklingError as err:
                raise InputError(
                    f"array {name!r} holds a pickle that is not a plain array: {err}", path=path, field=name
                ) from None
            except (ValueError, EOFError, OSError, zipfile.BadZipFile, AttributeError, TypeError) as err:
                raise InputError(
                    f"array {name!r} is not a readable .npy member ({err})", path=path, field=name
                ) from None
            out[name] = array
    return out


MOBILE_RULES = ("any", "first")


def is_mobile(value, rule: str = "any") -> bool:
    """Whether a ClickMe 2.0 ``is_mobile`` entry marks a mobile trial; empty means not mobile.

    The entry is an array; ``rule="any"`` (the toolkit's default) calls the trial mobile when
    any value is true, ``"first"`` (the ClickMe 2.0 authors' code) reads its first value only.
    Text values ``"false"`` / ``"0"`` are false.

    Examples
    --------
    >>> is_mobile([False, True]), is_mobile([False, True], "first"), is_mobile([])
    (True, False, False)
    """
    if rule not in MOBILE_RULES:
        raise InputError(f"expected a mobile rule in {MOBILE_RULES}, got {rule!r}", field="mobile_rule")
    array = np.asarray(value, dtype=object).ravel()
    if rule == "first":
        array = array[:1]
    return bool(array.size) and any(bool(v) and str(v).lower() not in ("false", "0", "") for v in array)


def npz_trials(path: Path, reader, problems) -> list[tuple[int, dict]]:
    """The kept trials of a ClickMe 2.0 NPZ log as ``(record number, record)`` pairs, for
    :mod:`clickme_analysis.clicklog`'s record reader; trials excluded by design (catch-trial
    accuracy, mobile) are reported to ``problems`` with ``excluded=True``.

    ``reader`` gives ``catch_threshold``, ``exclude_mobile`` and ``mobile_rule``.
    """
    data = load_npz(path)
    missing = {"file_pointer", "clickmap_x", "clickmap_y", "user_id"} - set(data)
    if missing:
        raise InputError(f"ClickMe 2.0 NPZ lacks arrays {sorted(missing)} (has {sorted(data)[:8]})", path=path)
    for name in ("file_pointer", "clickmap_x", "clickmap_y", "user_id", "user_catch_trial", "is_mobile"):
        if name in data and np.ndim(data[name]) != 1:
            raise InputError(
                f"expected a 1-D array, one entry per trial, got shape {np.shape(data[name])}", path=path, field=name
            )
    n = len(data["file_pointer"])
    for name in ("clickmap_x", "clickmap_y", "user_id", "user_catch_trial", "is_mobile"):
        if name in data and len(data[name]) != n:
            raise InputError(
                f"expected {n} entries (one per trial, as file_pointer), got {len(data[name])}", path=path, field=name
            )
    keep = np.ones(n, dtype=bool)
    if "user_catch_trial" in data and reader.catch_threshold is not None:
        try:
            accuracy = np.asarray(data["user_catch_trial"], dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(
                f"expected catch-trial accuracies (numbers in [0, 1]), got {data['user_catch_trial'][:3]!r}",
                path=path,
                field="user_catch_trial",
            ) from None
        low = ~(accuracy >= reader.catch_threshold)
        for k in np.flatnonzero(low):
            problems.bad(
                k + 1,
                "user_catch_trial",
                f"catch-trial accuracy {accuracy[k]:g} below {reader.catch_threshold:g} (excluded)",
                excluded=True,
            )
        keep &= ~low
    if "is_mobile" in data and reader.exclude_mobile:
        for k in np.flatnonzero(keep):
            if is_mobile(data["is_mobile"][k], reader.mobile_rule):
                problems.bad(k + 1, "is_mobile", "mobile trial (excluded)", excluded=True)
                keep[k] = False
    return [
        (
            k + 1,
            {
                "image_id": data["file_pointer"][k],
                "participant_id": data["user_id"][k],
                "x": np.asarray(data["clickmap_x"][k]).ravel().tolist(),
                "y": np.asarray(data["clickmap_y"][k]).ravel().tolist(),
            },
        )
        for k in np.flatnonzero(keep)
    ]
