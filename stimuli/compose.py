"""Composite reveal stimuli: the revealed pixels of the image over its phase-scrambled version."""

from __future__ import annotations

import numpy as np

from clickme_analysis.errors import InputError


def centering_shift(mask) -> tuple[int, int]:
    """(dy, dx) moving the bounding-box centre of ``mask`` onto the image centre.

    The bounding box (not the centroid) is centred, so the shifted region always stays inside the
    image and no revealed pixel is lost.

    Examples
    --------
    >>> mask = np.zeros((5, 5), bool); mask[0, 0:2] = True
    >>> centering_shift(mask)
    (2, 1)
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise InputError(f"expected a 2-D (H, W) mask, got shape {mask.shape}", field="mask")
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise InputError("expected a mask with some revealed pixels, got an empty mask", field="mask")
    height, width = mask.shape
    # floor((free space before + after) / 2) - free space before: never pushes the box out
    dy = (height - 1 - rows.max() - rows.min()) // 2
    dx = (width - 1 - cols.max() - cols.min()) // 2
    return int(dy), int(dx)


def shift_image(array, shift: tuple[int, int], fill=0) -> np.ndarray:
    """Translate the first two axes by whole pixels (no wrap-around); vacated pixels get ``fill``.

    Examples
    --------
    >>> shift_image(np.arange(4).reshape(2, 2), (0, 1))
    array([[0, 0],
           [0, 2]])
    """
    array = np.asarray(array)
    if array.ndim < 2:
        raise InputError(f"expected an image of at least 2 dimensions, got shape {array.shape}", field="image")
    dy, dx = (int(s) for s in shift)
    height, width = array.shape[:2]
    out = np.full_like(array, fill)
    if abs(dy) < height and abs(dx) < width:
        out[max(dy, 0) : height + min(dy, 0), max(dx, 0) : width + min(dx, 0)] = array[
            max(-dy, 0) : height + min(-dy, 0), max(-dx, 0) : width + min(-dx, 0)
        ]
    return out


def composite(image, background, mask, feather: float = 0.0) -> np.ndarray:
    """Reveal ``image`` where ``mask`` is set, ``background`` elsewhere.

    Parameters
    ----------
    image, background : ndarray, shape (H, W) or (H, W, C)
        Same shape, float.
    mask : ndarray of bool, shape (H, W)
    feather : float
        0 (default): hard mask. > 0: the mask is blurred with a Gaussian of this sigma (pixels)
        and used as the opacity of ``image``.

    Returns
    -------
    ndarray of float64, the shape of ``image``

    Examples
    --------
    >>> composite(np.ones((1, 3)), np.zeros((1, 3)), np.array([[True, False, True]]))
    array([[1., 0., 1.]])
    """
    image = np.asarray(image, dtype=np.float64)
    background = np.asarray(background, dtype=np.float64)
    mask = np.asarray(mask)
    if image.shape != background.shape or mask.shape != image.shape[:2]:
        raise InputError(
            f"expected image, background and mask of one (H, W) size, got {image.shape}, "
            f"{background.shape} and {mask.shape}",
            field="mask",
        )
    if feather < 0:
        raise InputError(f"expected feather >= 0, got {feather}", field="feather")
    if feather == 0:
        alpha = mask.astype(bool).astype(np.float64)
    else:
        from scipy.ndimage import gaussian_filter

        alpha = gaussian_filter(mask.astype(np.float64), sigma=feather)
    if image.ndim == 3:
        alpha = alpha[..., None]
    return alpha * image + (1 - alpha) * background
