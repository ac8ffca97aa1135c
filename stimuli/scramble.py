"""Fourier phase scrambling: the background of a reveal stimulus.

The image's amplitude spectrum is kept and a random phase field is added to its phase. The field
is the phase of the FFT of uniform white noise, so it is antisymmetric (the result is real up to
rounding), its DC phase is zero (the mean is kept) and one field serves every colour channel
(colours do not mix: the FFT runs over the two image axes of each channel, never across channels).
"""

from __future__ import annotations

import numpy as np
from skimage.color import rgb2gray

from clickme_analysis.errors import InputError


def as_float_image(image, name: str = "image") -> np.ndarray:
    """A (H, W) or (H, W, C) image as float64 in [0, 1] (integers are divided by their dtype's max).

    Examples
    --------
    >>> as_float_image(np.array([[0, 255]], dtype=np.uint8))
    array([[0., 1.]])
    """
    array = np.asarray(image)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise InputError(f"expected a (H, W) or (H, W, 3) image, got shape {array.shape}", field=name)
    if array.dtype == bool or np.issubdtype(array.dtype, np.integer):
        top = 1 if array.dtype == bool else np.iinfo(array.dtype).max
        return array.astype(np.float64) / top
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"expected an integer or float image, got dtype {array.dtype}", field=name)
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
        raise InputError(
            "expected float values in [0, 1], got "
            f"[{np.nanmin(array):g}, {np.nanmax(array):g}] with "
            f"{int(np.count_nonzero(~np.isfinite(array)))} non-finite",
            field=name,
        )
    return array


def to_grayscale(image) -> np.ndarray:
    """Luminance of an RGB image (ITU-R BT.709 weights, as :func:`skimage.color.rgb2gray`); gray passes through.

    Examples
    --------
    >>> to_grayscale(np.ones((1, 1, 3))).shape
    (1, 1)
    """
    image = as_float_image(image)
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[..., 0]

    return rgb2gray(image[..., :3])


def phase_scramble(image, seed=None, *, color: bool = False, clip: bool = True) -> np.ndarray:
    """Phase-scramble an image, keeping its amplitude spectrum, mean and RMS contrast.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        Integer image or float image in [0, 1].
    seed : int, sequence of int or numpy.random.Generator, optional
        Seed of the noise whose phase is added.
    color : bool
        False (default): scramble the luminance (RGB input is converted to gray first).
        True: scramble each channel with the same phase field; returns (H, W, 3).
    clip : bool
        Clip to [0, 1] (default). Without clipping the amplitude spectrum is exactly the image's.

    Returns
    -------
    ndarray of float64, shape (H, W) or (H, W, 3)
        Mean and standard deviation equal the image's (per channel) before clipping.

    Examples
    --------
    >>> from skimage import data
    >>> image = data.camera()[::8, ::8]
    >>> scrambled = phase_scramble(image, seed=0, clip=False)
    >>> bool(np.allclose(np.abs(np.fft.fft2(scrambled)), np.abs(np.fft.fft2(image / 255))))
    True
    """
    image = as_float_image(image)
    if color:
        image = image[..., :3] if image.ndim == 3 else image
        if image.ndim == 3 and image.shape[2] != 3:
            raise InputError(f"expected an RGB image for color=True, got shape {image.shape}", field="image")
    else:
        image = to_grayscale(image)
    stack = image[..., None] if image.ndim == 2 else image
    noise = np.random.default_rng(seed).random(stack.shape[:2])
    phase = np.exp(1j * np.angle(np.fft.fft2(noise)))
    scrambled = np.fft.ifft2(np.fft.fft2(stack, axes=(0, 1)) * phase[..., None], axes=(0, 1)).real
    mean, sd = stack.mean(axis=(0, 1)), stack.std(axis=(0, 1))
    s_mean, s_sd = scrambled.mean(axis=(0, 1)), scrambled.std(axis=(0, 1))
    scale = np.divide(sd, s_sd, out=np.zeros_like(sd), where=s_sd > 0)
    scrambled = (scrambled - s_mean) * scale + mean
    if clip:
        np.clip(scrambled, 0.0, 1.0, out=scrambled)
    return scrambled[..., 0] if image.ndim == 2 else scrambled
