"""Image reading and decoding: files and encoded bytes to uint8 RGB arrays, resized to a square.

JPEG goes through simplejpeg (libjpeg-turbo), anything else through Pillow; every failure is an
:class:`~clickme_analysis.errors.InputError` located by the caller's ``where``. The one module
of ``models/`` that turns bytes into pixels (:mod:`models.sources`, :mod:`models.shards` and
:mod:`models.shard_format` call it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import simplejpeg
from PIL import Image

from clickme_analysis import imagefile
from clickme_analysis.errors import InputError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

__all__ = ["IMAGE_SUFFIXES", "is_jpeg", "read_image", "decode_image", "decode_into", "fit_image", "fit_map"]


def is_jpeg(raw) -> bool:
    """Whether ``raw`` starts like a JPEG file (SOI marker).

    Examples
    --------
    >>> is_jpeg(b"\\xff\\xd8\\xff\\xe0"), is_jpeg(b"\\x89PNG")
    (True, False)
    """
    return bytes(raw[:3]) == b"\xff\xd8\xff"


def read_image(path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB."""
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise InputError(f"cannot read image: {err}", path=path) from None
    return decode_image(raw, where={"path": path})


def decode_image(raw, *, gray: bool = False, where: dict | None = None) -> np.ndarray:
    """Decode image bytes to (H, W, 3) uint8 RGB (or (H, W) with ``gray``).

    JPEG goes through simplejpeg (libjpeg-turbo), anything else through Pillow. A file that
    does not decode raises :class:`InputError` located by ``where`` (``path``, ``line``, ...).

    Examples
    --------
    >>> import simplejpeg
    >>> raw = simplejpeg.encode_jpeg(np.full((8, 8, 3), 200, np.uint8), quality=95)
    >>> image = decode_image(raw); image.shape, int(image[0, 0, 0])
    ((8, 8, 3), 200)
    """
    where = where or {}
    try:
        if is_jpeg(raw):
            image = simplejpeg.decode_jpeg(bytes(raw), colorspace="GRAY" if gray else "RGB")
            return image[..., 0] if gray else image
    except ValueError as err:  # simplejpeg
        raise InputError(f"cannot read image: {err}", **where) from None
    return imagefile.read_image(raw, mode="gray" if gray else "RGB", where=where)  # Pillow: PNG and the rest


def decode_into(raw, out: np.ndarray, *, where: dict | None = None) -> None:
    """Decode image bytes into ``out`` (R, R, 3) uint8, resized when the image is not R x R.

    A JPEG of the right size decodes straight into ``out`` (no copy).
    """
    resize = out.shape[0]
    if is_jpeg(raw):
        try:
            height, width, _, _ = simplejpeg.decode_jpeg_header(bytes(raw))
            if (height, width) == (resize, resize):
                simplejpeg.decode_jpeg(bytes(raw), colorspace="RGB", buffer=out)
                return
        except ValueError as err:
            raise InputError(f"cannot read image: {err}", **(where or {})) from None
    out[...] = fit_image(decode_image(raw, where=where), resize)


def fit_image(image: np.ndarray, resize: int) -> np.ndarray:
    """(H, W, 3) uint8 resized to (resize, resize) (antialiased bilinear; unchanged if it fits).

    Examples
    --------
    >>> fit_image(np.zeros((10, 20, 3), np.uint8), 8).shape
    (8, 8, 3)
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise InputError(f"expected an (H, W, 3) image, got shape {image.shape}", field="image")
    if image.shape[:2] == (resize, resize):
        return image
    return np.asarray(Image.fromarray(image).resize((resize, resize), Image.BILINEAR))


def fit_map(human: np.ndarray, resize: int) -> np.ndarray:
    """(H, W) float map resized to (resize, resize) (antialiased bilinear; unchanged if it fits)."""
    human = np.asarray(human, dtype=np.float32)
    if human.ndim != 2:
        raise InputError(f"expected an (H, W) map, got shape {human.shape}", field="map")
    if human.shape == (resize, resize):
        return human
    return np.asarray(Image.fromarray(human, mode="F").resize((resize, resize), Image.BILINEAR))
