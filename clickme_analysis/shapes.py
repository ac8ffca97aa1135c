"""Images of any shape: one rule for sizes, one for maps left without clicks.

**Coordinate frame.** Clicks are in image pixels, ``(x, y)`` with ``x`` the column and ``y`` the
row from the top-left corner; a map is indexed ``[y, x]`` and has its image's ``(height, width)``
when the images are known (``clickme maps --images``).

**Sizes.** A map, prediction or image of another size than the one it is compared with is
resized only when both have the same aspect ratio (to within the rounding of one pixel), with
:func:`resize_map`; a different aspect ratio is refused with a located message
(:func:`fit_map`, :func:`check_aspect`): nothing is ever stretched.

**Maps without clicks.** A map whose values are all zero (:func:`is_empty_map`: every click of
the image fell outside it, or it had none) carries no attention; ``maps`` warns about it and
``metrics``, ``stimuli build`` and ``alignment`` skip it, each listing the images
(:func:`empty_warning`, :func:`skip_empty`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from skimage.transform import resize

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import collect_files
from clickme_analysis.ids import IMAGE_SUFFIXES, image_ids

__all__ = [
    "check_aspect",
    "empty_warning",
    "fit_map",
    "image_sizes",
    "is_empty_map",
    "resize_map",
    "same_aspect",
    "skip_empty",
]


def same_aspect(shape, target) -> bool:
    """Whether ``shape`` scales to ``target`` (both ``(height, width)``) without stretching:
    each side of one, scaled by the other side's ratio, lands within one pixel.

    Examples
    --------
    >>> same_aspect((400, 600), (256, 384)), same_aspect((400, 600), (256, 256))
    (True, False)
    >>> same_aspect((333, 500), (256, 384))  # rounding of one pixel
    True
    """
    (h, w), (th, tw) = (tuple(int(v) for v in s[:2]) for s in (shape, target))
    if min(h, w, th, tw) < 1:
        return False
    return abs(h * tw / w - th) <= 1 and abs(w * th / h - tw) <= 1


def check_aspect(shape, target, *, what: str, path=None, field=None) -> None:
    """Raise a located :class:`InputError` unless ``shape`` has ``target``'s aspect ratio.

    Examples
    --------
    >>> check_aspect((400, 600), (200, 300), what="map")
    >>> check_aspect((256, 256), (400, 600), what="map", field="cat")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    clickme_analysis.errors.InputError: field 'cat': expected a map of aspect ratio 400:600 (height:width) or ...
    """
    if not same_aspect(shape, target):
        raise InputError(
            f"expected a {what} of aspect ratio {int(target[0])}:{int(target[1])} (height:width) "
            f"or that size, got {int(shape[0])}x{int(shape[1])}: it would be stretched (build "
            "maps with `clickme maps --images` so that each map has its image's size)",
            path=path,
            field=field,
        )


def resize_map(array, shape) -> np.ndarray:
    """Resize a map to ``shape`` as the MIT benchmark's ``imresize(saliencyMap, size(fixationMap))``:
    bicubic, antialiased when shrinking (scikit-image's ``resize``, order 3), float64. The aspect
    ratio is not checked here: :func:`fit_map` does.

    Examples
    --------
    >>> resize_map(np.ones((4, 6)), (2, 3)).shape
    (2, 3)
    """
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2 or array.size == 0:
        raise InputError(f"expected a non-empty 2-D map, got shape {array.shape}", field="saliency_map")
    shape = tuple(int(v) for v in shape)
    if array.shape == shape:
        return array
    shrinking = shape[0] < array.shape[0] or shape[1] < array.shape[1]
    return resize(array, shape, order=3, mode="reflect", anti_aliasing=shrinking, preserve_range=True)


def fit_map(array, shape, *, what: str = "map", path=None, field=None) -> np.ndarray:
    """``array`` at ``shape``: as it is, resized keeping its aspect ratio (:func:`resize_map`), or
    refused with a located message (:func:`check_aspect`).

    Examples
    --------
    >>> fit_map(np.ones((4, 6)), (2, 3)).shape
    (2, 3)
    """
    array = np.asarray(array)
    if array.shape == tuple(int(v) for v in shape):
        return array
    check_aspect(array.shape, shape, what=what, path=path, field=field)
    return resize_map(array, shape)


def is_empty_map(array) -> bool:
    """Whether a map holds no attention: every value zero (its clicks all fell outside, or none).

    Examples
    --------
    >>> is_empty_map(np.zeros((3, 3))), is_empty_map(np.eye(3))
    (True, False)
    """
    return not np.any(np.asarray(array))


def empty_warning(image_ids: Iterable[str], action: str, shown: int = 10) -> str:
    """The one warning line for maps without clicks, listing the images.

    Examples
    --------
    >>> empty_warning(["a", "b"], "skipped by metrics")
    'warning: 2 image(s) without clicks (an all-zero map) skipped by metrics: a, b'
    """
    ids = list(image_ids)
    more = f" ... and {len(ids) - shown} more" if len(ids) > shown else ""
    return (
        f"warning: {len(ids)} image(s) without clicks (an all-zero map) {action}: "
        + ", ".join(map(str, ids[:shown]))
        + more
    )


def skip_empty(maps: Mapping, image_ids: Iterable[str], command: str, stream=None) -> list[str]:
    """``image_ids`` whose map in ``maps`` is not empty; the others are listed on ``stream``
    (default stderr) by :func:`empty_warning`.

    Examples
    --------
    >>> skip_empty({"a": np.zeros((2, 2)), "b": np.ones((2, 2))}, ["a", "b"], "test", sys.stdout)
    warning: 1 image(s) without clicks (an all-zero map) skipped by test: a
    ['b']
    """
    kept, empty = [], []
    for image_id in image_ids:
        (empty if is_empty_map(maps[image_id]) else kept).append(image_id)
    if empty:
        print(empty_warning(empty, f"skipped by {command}"), file=stream or sys.stderr)
    return kept


def image_sizes(folder, id_rule: str = "stem") -> dict[str, tuple[int, int]]:
    """Image id -> ``(height, width)`` of every image in ``folder`` (headers only are read).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (600, 400)).save(d / "wide.png")
    >>> image_sizes(d)
    {'wide': (400, 600)}
    """
    files = collect_files(folder, IMAGE_SUFFIXES, what="images")
    sizes = {}
    for image_id, path in zip(image_ids(files, rule=id_rule), files):
        try:
            with Image.open(path) as image:
                sizes[image_id] = (int(image.height), int(image.width))
        except (OSError, UnidentifiedImageError) as err:
            raise InputError(f"cannot read the image: {err}", path=Path(path)) from None
    return sizes
