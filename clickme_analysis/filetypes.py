"""What a file is, told from its first bytes, for error messages."""

from __future__ import annotations

from pathlib import Path

__all__ = ["describe_file"]

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
    (b"\x1f\x8b", "a GZIP-compressed file"),
    (b"\x93NUMPY", "a single NumPy array (.npy)"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PAR1", "a Parquet file"),
    (b"\x80", "a Python pickle"),
    (b"%PDF", "a PDF document"),
    (b"BM", "a BMP image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
)


def describe_file(path) -> str:
    """What a file looks like from its first bytes, for messages ("a PNG image", "text starting ...").

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.npz")
    >>> _ = open(p, "w").write("image_id,x,y\\ncat,1,2\\n")
    >>> describe_file(p)
    "text starting 'image_id,x,y'"
    """
    path = Path(path)
    if path.is_dir():
        return "a folder"
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except FileNotFoundError:
        return "no such file"
    except OSError as err:
        return f"an unreadable file ({err.strerror})"
    if not head:
        return "an empty file"
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            return what
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        try:  # a multi-byte character cut at byte 256
            text = head[:-4].decode("utf-8")
        except UnicodeDecodeError:
            return f"binary data starting {head[:12]!r}"
    first = text.splitlines()[0] if text.splitlines() else text
    return f"text starting {first[:60]!r}"
