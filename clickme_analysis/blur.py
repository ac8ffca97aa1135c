"""Blur kernels beyond the paper's single box pass: a disc of a chosen radius, applied one or more
times, with a chosen border rule, and the kernel scaled to the map's size.

The ClickMe 2.0 authors' code (serre-lab/human_clickme_data_processing, its default configs)
blurs with a normalised disc of side 21 and radius (21 - 1) / 2 = 10 pixels (317 pixels on),
applied twice, each time a "same" convolution with zero padding; for maps at another size than
256 the side becomes ``round(21 * short side / 256)``, made odd, capped at 51.
:class:`BlurSpec` holds such a choice; :func:`clickme_analysis.maps.blur_map` accepts one
wherever it accepts a kernel name.

Integer count maps blurred by a 0/1 kernel stay integers (:meth:`BlurSpec.sums`): ties stay
exact, so rank correlations of blurred maps do not depend on floating-point noise.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage, signal

from clickme_analysis.errors import InputError

__all__ = ["BlurSpec", "DISC_RADII", "BORDERS", "disc_kernel", "scaled_blur_size"]

#: how a disc kernel's radius follows from its side: the toolkit's and the authors'
DISC_RADII = ("size/2", "(size-1)/2")
#: border rules, named as :mod:`scipy.ndimage` modes ("constant": zero padding)
BORDERS = ("reflect", "constant", "nearest", "mirror", "wrap")
_PAD_MODES = {"reflect": "symmetric", "mirror": "reflect", "nearest": "edge", "constant": "constant", "wrap": "wrap"}


def disc_kernel(size: int, radius: str = "size/2") -> np.ndarray:
    """The (size, size) 0/1 disc: pixels whose centres lie within the radius of the centre.

    ``radius="size/2"`` is the toolkit's disc (side 21: 349 pixels); ``"(size-1)/2"`` the
    ClickMe 2.0 code's (side 21: radius 10, 317 pixels).

    Examples
    --------
    >>> int(disc_kernel(21).sum()), int(disc_kernel(21, "(size-1)/2").sum())
    (349, 317)
    >>> disc_kernel(3, "(size-1)/2").astype(int)
    array([[0, 1, 0],
           [1, 1, 1],
           [0, 1, 0]])
    """
    if size < 1:
        raise InputError(f"expected a kernel size >= 1, got {size}", field="blur_size")
    if radius not in DISC_RADII:
        raise InputError(f"expected a disc radius in {DISC_RADII}, got {radius!r}", field="disc_radius")
    centre = (size - 1) / 2
    r = size / 2 if radius == "size/2" else (size - 1) / 2
    yy, xx = np.mgrid[:size, :size]
    return (((yy - centre) ** 2 + (xx - centre) ** 2) <= r**2).astype(np.int64)


def scaled_blur_size(size: int, short_side: int, reference: int = 256, cap: int | None = 51) -> int:
    """The authors' kernel side for a map whose short side is ``short_side``:
    ``round(size * short_side / reference)``, made odd (+1 when even), at most ``cap``.

    Examples
    --------
    >>> scaled_blur_size(21, 256), scaled_blur_size(21, 512), scaled_blur_size(21, 800), scaled_blur_size(21, 128)
    (21, 43, 51, 11)
    """
    if short_side < 1 or reference < 1:
        raise InputError(f"expected sizes >= 1, got {short_side} and {reference}", field="blur_reference_size")
    scaled = int(np.round(size * short_side / reference))
    if scaled % 2 == 0:
        scaled += 1
    return min(scaled, cap) if cap is not None else scaled


@dataclass(frozen=True)
class BlurSpec:
    """A blur: ``kernel`` ("box", "gaussian" or "disc") of side ``size``, applied ``passes``
    times, each pass a centred ("same") filter with the ``border`` rule. With ``reference_size``
    set, ``size`` is the side at that reference and each map gets the side
    :func:`scaled_blur_size` gives for its own short side (at most ``max_size``).

    Examples
    --------
    >>> spec = BlurSpec("disc", 3, passes=2, border="constant", disc_radius="(size-1)/2")
    >>> counts = np.zeros((5, 5), dtype=np.int64); counts[2, 2] = 1
    >>> numerator, denominator = spec.sums(counts)
    >>> numerator[2], denominator
    (array([1, 2, 5, 2, 1]), 25)
    >>> np.allclose(spec.apply(counts), numerator / denominator)
    True
    >>> scaled = BlurSpec("disc", 21, reference_size=256, max_size=51)
    >>> scaled.for_shape((400, 600)).size, scaled.for_shape((256, 256)).size, scaled.for_shape((900, 700)).size
    (33, 21, 51)
    """

    kernel: str = "disc"
    size: int = 21
    sigma: float | None = None
    passes: int = 1
    border: str = "reflect"
    disc_radius: str = "size/2"
    reference_size: int | None = None
    max_size: int | None = None

    def __post_init__(self):
        if self.kernel not in ("box", "gaussian", "disc"):
            raise InputError(f"expected kernel in ('box', 'gaussian', 'disc'), got {self.kernel!r}", field="blur")
        if self.size < 1:
            raise InputError(f"expected a kernel size >= 1, got {self.size}", field="blur_size")
        if self.passes < 1:
            raise InputError(f"expected blur passes >= 1, got {self.passes}", field="blur_passes")
        if self.border not in BORDERS:
            raise InputError(f"expected a border rule in {BORDERS}, got {self.border!r}", field="blur_border")
        if self.disc_radius not in DISC_RADII:
            raise InputError(f"expected a disc radius in {DISC_RADII}, got {self.disc_radius!r}", field="disc_radius")
        for name in ("reference_size", "max_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise InputError(f"expected {name} >= 1 or None, got {getattr(self, name)}", field=f"blur_{name}")

    def for_shape(self, shape) -> BlurSpec:
        """The blur of a map of ``shape`` (H, W): its kernel scaled to the short side when
        ``reference_size`` is set, else this blur."""
        if self.reference_size is None:
            return self
        side = scaled_blur_size(self.size, min(shape), self.reference_size, self.max_size)
        return replace(self, size=side, reference_size=None, max_size=None)

    def integer_kernel(self) -> np.ndarray | None:
        """The 0/1 kernel of a box or disc (None for a Gaussian)."""
        if self.kernel == "box":
            return np.ones((self.size, self.size), dtype=np.int64)
        if self.kernel == "disc":
            return disc_kernel(self.size, self.disc_radius)
        return None

    def apply(self, array) -> np.ndarray:
        """The blurred map (float64, same shape); a non-negative map stays non-negative."""
        array = np.asarray(array)
        if array.ndim != 2:
            raise InputError(f"expected a 2-D (H, W) array, got shape {array.shape}", field="map")
        if self.reference_size is not None:
            return self.for_shape(array.shape).apply(array)
        if np.issubdtype(array.dtype, np.integer) and self.kernel != "gaussian":
            numerator, denominator = self.sums(array)
            return numerator / denominator
        out = array.astype(np.float64)
        for _ in range(self.passes):
            out = self._pass(out)
        return np.maximum(out, 0, out=out) if out.size and array.min() >= 0 else out

    def _pass(self, array: np.ndarray) -> np.ndarray:
        if self.kernel == "gaussian":
            sigma = self.size / 6 if self.sigma is None else float(self.sigma)
            return ndimage.gaussian_filter(array, sigma=sigma, mode=self.border, radius=self.size // 2)
        weights = self.integer_kernel().astype(np.float64)
        return ndimage.correlate(array, weights / weights.sum(), mode=self.border, cval=0.0)

    def sums(self, counts) -> tuple[np.ndarray, int]:
        """Exact integer sums of a box or disc blur: ``(numerator, denominator)`` with
        ``blurred = numerator / denominator`` (denominator = kernel pixels ** passes)."""
        counts = np.asarray(counts)
        if self.reference_size is not None and counts.ndim == 2:
            return self.for_shape(counts.shape).sums(counts)
        kernel = self.integer_kernel()
        if kernel is None or not np.issubdtype(counts.dtype, np.integer) or counts.ndim != 2:
            raise InputError(
                f"expected a 2-D integer map and a box or disc kernel, got {counts.dtype} of shape "
                f"{counts.shape} and {self.kernel!r}",
                field="counts",
            )
        out = counts.astype(np.int64)
        for _ in range(self.passes):
            out = _integer_filter(out, kernel, self.border)
        return out, int(kernel.sum()) ** self.passes


def _integer_filter(counts: np.ndarray, kernel: np.ndarray, border: str) -> np.ndarray:
    """Exact centred window sums of an integer map under a 0/1 kernel (FFT, rounded: the sums
    are below 2**40, far inside float64's exact range, and the FFT's error is below 0.5)."""
    size = kernel.shape[0]
    before, after = size // 2, size - 1 - size // 2
    padded = np.pad(counts, ((before, after), (before, after)), mode=_PAD_MODES[border])
    if np.abs(padded).sum() >= 2**40:
        raise InputError("expected blurred sums below 2**40, got larger counts", field="counts")
    full = signal.fftconvolve(padded.astype(np.float64), kernel[::-1, ::-1].astype(np.float64), mode="valid")
    return np.rint(full).astype(np.int64)
