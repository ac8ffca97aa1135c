"""The one Pillow image reader of the toolkit (the fast JPEG decoders of :mod:`models.decode` fall
back to it).

:func:`read_image` opens a file or bytes and returns uint8 (or 16-bit) pixels; one set of errors
is caught (Pillow's ``OSError`` / ``UnidentifiedImageError``, ``ValueError`` for a NUL in a path,
``SyntaxError`` for a broken PNG chunk, ``DecompressionBombError``) and raised as one located
:class:`~clickme_analysis.errors.InputError`, "cannot read image: ...". One resize: Pillow
bilinear, which filters (antialiases) when it shrinks.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from clickme_analysis.errors import InputError

#: Modes: "RGB" (H, W, 3), "L" (H, W), "gray" (gray images as stored, 16-bit kept; others
#: converted to L), "gray-or-rgb" (gray images as stored; others RGB), "stored" (the stored
#: mode's pixels, as Pillow gives them).
MODES = ("RGB", "L", "gray", "gray-or-rgb", "stored")
_GRAY = ("L", "I;16", "I;16B", "I;16L", "I", "F")
_ERRORS = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def read_image(
    source, *, mode: str = "RGB", size: tuple[int, int] | None = None, where: dict | None = None
) -> np.ndarray:
    """Read an image file (path) or its bytes with Pillow.

    Parameters
    ----------
    source : str, os.PathLike, bytes or memoryview
    mode : {"RGB", "L", "gray", "gray-or-rgb", "stored"}
    size : (height, width), optional
        Resize to this (bilinear, antialiased when shrinking) when the image is not that size.
    where : dict, optional
        ``path`` / ``line`` / ``field`` of the error (default: the file's path).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.png")
    >>> Image.fromarray(np.full((4, 6), 9, np.uint8)).save(p)
    >>> read_image(p).shape, read_image(p, mode="gray-or-rgb", size=(2, 3)).shape
    ((4, 6, 3), (2, 3))
    >>> read_image(b"not an image")
    Traceback (most recent call last):
    ...
    clickme_analysis.errors.InputError: cannot read image: cannot identify image file <_io.BytesIO object at ...>
    """
    if mode not in MODES:
        raise ValueError(f"expected a mode in {MODES}, got {mode!r}")
    is_bytes = isinstance(source, (bytes, bytearray, memoryview))
    where = where if where is not None else ({} if is_bytes else {"path": Path(source)})
    try:
        with Image.open(io.BytesIO(bytes(source)) if is_bytes else source) as image:
            if mode in ("gray", "gray-or-rgb"):
                image = image if image.mode in _GRAY else image.convert("L" if mode == "gray" else "RGB")
            elif mode != "stored":
                image = image.convert(mode)
            if size is not None and (image.height, image.width) != tuple(size):
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            return np.asarray(image)
    except _ERRORS as err:
        raise InputError(f"cannot read image: {err}", **where) from None
