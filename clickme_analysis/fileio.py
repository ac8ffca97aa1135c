"""Durable file writing and line logs, shared by every package of the toolkit.

* :func:`atomic_write` and its two shorthands write a file completely or not at all (a temporary
  file in the same folder, flushed, fsync'ed, then renamed over the target), so a crash never
  leaves a half-written checkpoint, archive or session file.
* :class:`AppendLog` is a durable line log (trial CSVs, game JSON lines): each line is flushed and
  fsync'ed as it is written, and a partial last line left by a crash is dropped when the log is
  reopened.
* :func:`read_jsonl` / :func:`write_jsonl` read and write JSON lines with located errors.
* :func:`now_iso` is the one timestamp (UTC, milliseconds) of every record written.
* :func:`collect_files` turns a file, a folder or a glob into a sorted list of files.
* :func:`read_table` (CSV / TSV with required columns) and :func:`read_toml` read the toolkit's
  tables and configs, every failure an :class:`~clickme_analysis.errors.InputError` naming the file.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import glob
import json
import os
import tempfile
import tomllib
from pathlib import Path

import pandas as pd

from clickme_analysis.errors import InputError
from clickme_analysis.filetypes import describe_file


def now_iso() -> str:
    """The time now, UTC, ISO 8601 with milliseconds: the one timestamp of every record the toolkit
    writes (session JSONs, trial rows, game logs, the online store).

    Examples
    --------
    >>> stamp = now_iso()
    >>> len(stamp), stamp[19], stamp[-6:]
    (29, '.', '+00:00')
    """
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def check_output_path(path, field: str | None = None) -> Path:
    """Check that ``path`` can be written: its folder exists and it is not itself a folder.

    Examples
    --------
    >>> check_output_path("/no/such/folder/x.npz")
    Traceback (most recent call last):
    ...
    clickme_analysis.errors.InputError: /no/such/folder/x.npz: expected an existing folder to write into, got no
    folder /no/such/folder
    """
    path = Path(path)
    if path.is_dir():
        raise InputError("expected a file to write, got a folder", path=path, field=field)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"expected an existing folder to write into, got no folder {parent}", path=path, field=field)
    return path


def temporary_path(path) -> Path:
    """A fresh, empty temporary file beside ``path`` (same folder, so a rename is atomic), mode 0666 & ~umask.

    Writers that open files by name (HDF5, zip) write there, then :func:`replace_durably`.
    """
    path = check_output_path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a written file gets the usual mode
    os.close(fd)
    return Path(tmp)


def replace_durably(tmp, path) -> Path:
    """Fsync the finished file ``tmp``, rename it over ``path``, fsync the folder (the one commit step)."""
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_folder(Path(path).parent)
    return Path(path)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path`` to write by name; on success it replaces ``path``.

    On an exception the temporary file is removed and any old ``path`` is kept as it was. The one
    rule of every writer here (:func:`atomic_write` included): temporary file in the same folder,
    fsync, :func:`os.replace`, fsync of the folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.bin"
    >>> with atomic_path(p) as tmp:
    ...     _ = tmp.write_bytes(b"ok")
    >>> p.read_bytes(), [f.name for f in p.parent.iterdir()]
    (b'ok', ['a.bin'])
    """
    tmp = temporary_path(path)
    try:
        yield tmp
        replace_durably(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb"):
    """Open a temporary file beside ``path``; on success it replaces ``path`` atomically.

    On an exception the temporary file is removed and any old ``path`` is kept as it was.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_write(p, "w") as f:
    ...     _ = f.write("hello")
    >>> p.read_text()
    'hello'
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"expected mode 'w' or 'wb', got {mode!r}")
    path = check_output_path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a written file gets the usual mode
        with os.fdopen(fd, mode, **({"encoding": "utf-8", "newline": ""} if mode == "w" else {})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_folder(path.parent)


def _umask() -> int:
    """The process's umask, read without changing it where the OS reports it (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, hence the fallback only)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "wb") as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "w") as f:
        f.write(text)
    return Path(path)


def _fsync_folder(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class AppendLog:
    """A durable append-only log of text lines.

    Each :meth:`append` writes one line, flushes and fsyncs it, so a crash loses at most the line
    being written. On opening an existing log, a partial last line (no final newline, as a crash
    leaves it) is cut off.

    Parameters
    ----------
    path : str or os.PathLike
        The log file; created (with ``header`` as its first line, if given) when missing.
    header : str, optional
        A first line written only when the file is new or empty (a CSV header, say).

    Attributes
    ----------
    n_existing : int
        Complete lines the file held when it was opened (header included).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> with AppendLog(p, header="a,b") as log:
    ...     log.append("1,2")
    >>> _ = open(p, "a").write("3,")          # a crash in the middle of a line
    >>> with AppendLog(p, header="a,b") as log:
    ...     log.n_existing
    2
    >>> p.read_text()
    'a,b\\n1,2\\n'
    """

    def __init__(self, path, header: str | None = None):
        self.path = check_output_path(path)
        self.n_existing = self._repair()
        self._file = open(self.path, "a", encoding="utf-8", newline="")
        if self.n_existing == 0 and header is not None:
            self.append(header)

    def _repair(self) -> int:
        """Cut a partial last line; return the number of complete lines."""
        if not self.path.exists():
            return 0
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(end)
                f.flush()
                os.fsync(f.fileno())
        return data.count(b"\n", 0, end)

    def append(self, line: str) -> None:
        """Write one line (without its newline) and make it durable."""
        if "\n" in line:
            raise ValueError("a log line must not contain a newline")
        self._file.write(line + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> AppendLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_jsonl(path, *, partial_last_ok: bool = False):
    """Yield ``(line_number, object)`` for each non-blank line of a JSON-lines file.

    Parameters
    ----------
    path : str or os.PathLike
    partial_last_ok : bool, default False
        Skip an unterminated, unparsable last line (what a crash mid-write leaves) instead of
        raising.

    Raises
    ------
    InputError
        Naming the file and line, for text that is not UTF-8, not JSON, or not a JSON object.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
    >>> _ = p.write_text('{"a": 1}\\n\\n{"a": 2}\\n{"a": ')
    >>> list(read_jsonl(p, partial_last_ok=True))
    [(1, {'a': 1}), (3, {'a': 2})]
    """
    path = Path(path)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise InputError("expected a JSON-lines file, got no such file", path=path) from None
    except IsADirectoryError:
        raise InputError("expected a JSON-lines file, got a folder", path=path) from None
    with f:  # line by line: memory does not grow with the log
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                value = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as err:
                if partial_last_ok and not raw.endswith(b"\n"):  # only the last line lacks one
                    return
                what = "UTF-8 text" if isinstance(err, UnicodeDecodeError) else "a JSON object"
                raise InputError(f"expected {what}, got {raw[:40]!r}", path=path, line=number) from None
            if not isinstance(value, dict):
                raise InputError(f"expected a JSON object, got {type(value).__name__}", path=path, line=number)
            yield number, value


def write_jsonl(path, records) -> Path:
    """Write an iterable of JSON-serialisable dicts as JSON lines, atomically."""
    with atomic_write(path, "w") as f:
        for record in records:
            f.write(json.dumps(record, separators=(",", ":")) + "\n")
    return Path(path)


def collect_files(source, suffixes, *, what: str = "files", pattern: str = "*", recursive: bool = False) -> list[Path]:
    """List the files named by ``source``: files, folders or glob patterns.

    Parameters
    ----------
    source : str, os.PathLike, or a list of them
        Each a file (accepted whatever its suffix), a folder, or a glob pattern.
    suffixes : iterable of str
        Accepted suffixes, lower case with the dot (``(".png", ".jpg")``); files in a folder or
        glob with other suffixes are ignored.
    what : str
        What the files are, for the error message.
    pattern : str, default "*"
        The names taken from a folder (``"*_events.tsv"``, say).
    recursive : bool, default False
        Search folders' sub-folders too.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b.png", "a.png", "c.txt"):
    ...     _ = (d / name).write_bytes(b"")
    >>> [p.name for p in collect_files(d, (".png",))]
    ['a.png', 'b.png']
    """
    sources = list(source) if isinstance(source, (list, tuple)) else [source]
    suffixes = tuple(s.lower() for s in suffixes)
    files: list[Path] = []
    for item in sources:
        text = str(item)
        path = Path(text)
        if path.is_file():
            files.append(path)
            continue
        if path.is_dir():
            found = path.rglob(pattern) if recursive else path.glob(pattern)
        elif glob.has_magic(text):
            found = map(Path, glob.glob(text, recursive=recursive))
        else:
            raise InputError(f"expected a file, a folder or a glob of {what}, got no such path", path=text)
        found = sorted(p for p in found if p.is_file() and p.suffix.lower() in suffixes)
        if not found:
            raise InputError(f"expected {what} ({', '.join(suffixes)}), found none", path=text)
        files.extend(found)
    if not files:
        raise InputError(f"expected {what}, got no path")
    return files


def read_toml(path, what: str = "config file") -> dict:
    r"""Read a TOML file; an absent or invalid file raises :class:`InputError` naming it.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "c.toml")
    >>> _ = open(p, "w").write("epochs = 3\n")
    >>> read_toml(p)
    {'epochs': 3}
    """
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what} not found", path=path) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"not valid TOML ({err})", path=path) from None


def read_table(path, columns=(), what: str = "table", **read_csv_kwargs) -> pd.DataFrame:
    """Read a CSV/TSV table that must hold ``columns``; every failure names the file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    columns : sequence of str
        Required columns.
    what : str
        What the file is, for messages ("stimulus manifest", "events file", ...).
    **read_csv_kwargs
        Passed to :func:`pandas.read_csv` (``sep``, ``dtype``, ``na_values`` ...).

    Returns
    -------
    DataFrame

    Raises
    ------
    InputError
        The file is absent or unparsable, or lacks a required column (named as the field).
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, **read_csv_kwargs)
    except FileNotFoundError:
        raise InputError(f"{what} not found", path=path) from None
    except IsADirectoryError:
        raise InputError(f"expected a {what} file, got a folder", path=path) from None
    except UnicodeDecodeError:
        raise InputError(f"expected a UTF-8 text {what}, got {describe_file(path)}", path=path) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"not a readable {what} ({err})", path=path) from None
    if not frame.index.equals(pd.RangeIndex(len(frame))):  # pandas made the extra fields an index
        raise InputError(
            f"expected {len(frame.columns)} fields per row as the header, a row has more "
            f"({_first_long_row(path, read_csv_kwargs.get('sep', ','))})",
            path=path,
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        hint = ""
        if len(frame.columns) == 1:
            for sep in (";", "\t", "|", ","):
                if sep in str(frame.columns[0]):
                    hint = f" (one header field: is the file separated by {sep!r}?)"
                    break
        raise InputError(
            f"{what} lacks columns {missing}; has {list(frame.columns)}{hint}", path=path, field=missing[0]
        )
    return frame


def _first_long_row(path: Path, sep: str) -> str:
    with open(path, encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, delimiter=sep or ",")
        header = next(rows, [])
        for line, row in enumerate(rows, start=2):
            if len(row) > len(header):
                return f"line {line} has {len(row)}"
    return "a row"
