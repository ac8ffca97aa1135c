"""Click logs -> ClickMe importance maps.

A participant's map paints a bubble (14x14 px square in the game; a disc option) at each click
on the image grid and accumulates them; an image's map is the mean over its participants; maps
are blurred (49x49 kernel, as in the paper) and normalised. Clicks are (x, y); maps are indexed
[y, x]. Clicks outside the image are counted, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage, signal

from clickme_analysis._paint_numba import paint_box_batch
from clickme_analysis.blur import BlurSpec
from clickme_analysis.clickstore import RECORD, ClickStore, group_starts
from clickme_analysis.errors import InputError

BUBBLE_SHAPES = ("square", "disc")
BLUR_KERNELS = ("box", "gaussian", "disc")
NORMALIZATIONS = ("sum", "max", "z")
#: scipy.ndimage border modes -> the numpy.pad modes that mean the same
_PAD_MODES = {"reflect": "symmetric", "mirror": "reflect", "nearest": "edge", "constant": "constant", "wrap": "wrap"}


def _check_map(array, name: str = "map") -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2:
        raise InputError(f"expected a 2-D (H, W) array, got shape {array.shape}", field=name)
    if not np.issubdtype(array.dtype, np.number) and array.dtype != bool:
        raise InputError(f"expected a numeric array, got dtype {array.dtype}", field=name)
    return array


def bubble_stamp(size: int = 14, shape: str = "square") -> np.ndarray:
    """The (size, size) 0/1 footprint one click paints.

    A disc holds the pixels whose centres lie within ``size / 2`` of the stamp centre.

    Examples
    --------
    >>> bubble_stamp(5, "disc").astype(int)
    array([[0, 1, 1, 1, 0],
           [1, 1, 1, 1, 1],
           [1, 1, 1, 1, 1],
           [1, 1, 1, 1, 1],
           [0, 1, 1, 1, 0]])
    """
    if size < 1:
        raise InputError(f"expected a bubble size >= 1, got {size}", field="bubble_size")
    if shape == "square":
        return np.ones((size, size), dtype=np.float32)
    if shape == "disc":
        centre = (size - 1) / 2
        yy, xx = np.mgrid[:size, :size]
        return (((yy - centre) ** 2 + (xx - centre) ** 2) <= (size / 2) ** 2).astype(np.float32)
    raise InputError(f"expected bubble shape in {BUBBLE_SHAPES}, got {shape!r}", field="bubble")


def paint_clicks(x, y, shape=(256, 256), bubble_size: int = 14, *, bubble: str = "square"):
    """Paint one participant's clicks as accumulated bubbles.

    Parameters
    ----------
    x, y : array_like of float, shape (K,)
        Click coordinates in pixels (x = column, y = row).
    shape : tuple of int
        (H, W) of the image grid.
    bubble_size : int
        Side of the bubble in pixels (the game used 14).
    bubble : {"square", "disc"}
        Bubble footprint.

    Returns
    -------
    map : ndarray of float32, shape (H, W)
        Number of bubbles covering each pixel.
    n_outside : int
        Clicks whose centre fell outside the image (not painted).

    Examples
    --------
    >>> m, n_out = paint_clicks([1, 9], [1, 1], shape=(3, 4), bubble_size=2)
    >>> m.astype(int), n_out
    (array([[1, 1, 0, 0],
           [1, 1, 0, 0],
           [0, 0, 0, 0]]), 1)
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise InputError(f"x and y differ in length: {x.size} vs {y.size}", field="x, y")
    height, width = shape
    stamp = bubble_stamp(bubble_size, bubble)
    out = np.zeros((height, width), dtype=np.float32)
    col = np.floor(x).astype(np.int64, copy=False) if x.size else np.zeros(0, np.int64)
    row = np.floor(y).astype(np.int64, copy=False) if y.size else np.zeros(0, np.int64)
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height) & np.isfinite(x) & np.isfinite(y)
    half = bubble_size // 2
    for r, c in zip(row[inside] - half, col[inside] - half):
        r0, c0 = max(r, 0), max(c, 0)
        r1, c1 = min(r + bubble_size, height), min(c + bubble_size, width)
        out[r0:r1, c0:c1] += stamp[r0 - r : r1 - r, c0 - c : c1 - c]
    return out, int((~inside).sum())


def blur_map(
    array, kernel: str = "box", size: int = 49, sigma: float | None = None, *, mode: str = "reflect"
) -> np.ndarray:
    """Blur a map with a size x size kernel.

    Parameters
    ----------
    array : ndarray, shape (H, W)
    kernel : {"box", "gaussian", "disc"} or BlurSpec
        ``"box"`` (default; the paper's 49x49 kernel), ``"gaussian"`` truncated to
        size x size (the authors' code used sigma 28 with size 49, which is nearly flat), or a
        normalised disc of diameter ``size``; a :class:`~clickme_analysis.blur.BlurSpec`
        (passes, border rule, disc radius: the ClickMe 2.0 code's blur) overrides ``size``,
        ``sigma`` and ``mode``.
    size : int
        Kernel side in pixels (odd sizes keep the map centred).
    sigma : float, optional
        Gaussian standard deviation; default ``size / 6``.
    mode : str
        Border handling, as :mod:`scipy.ndimage` (default "reflect", as the authors' code).

    Returns
    -------
    ndarray of float64, shape (H, W)
        Blurred map; its sum is preserved away from the borders.
    """
    if isinstance(kernel, BlurSpec):
        return kernel.apply(_check_map(array))
    array = _check_map(array).astype(np.float64, copy=False)
    blurred = _blur(array, kernel, size, sigma, mode)
    # a blur of a non-negative map is non-negative: drop the filters' rounding residue (~1e-17)
    return np.maximum(blurred, 0, out=blurred) if array.size and array.min() >= 0 else blurred


def _blur(array: np.ndarray, kernel: str, size: int, sigma: float | None, mode: str) -> np.ndarray:
    if size < 1:
        raise InputError(f"expected a kernel size >= 1, got {size}", field="size")
    if kernel == "box":
        if np.array_equal(array, np.round(array)) and np.abs(array).max(initial=0) < 2**31:
            return box_sums(array.astype(np.int64), size, mode) / size**2
        return ndimage.uniform_filter(array, size=size, mode=mode)
    if kernel == "gaussian":
        sigma = size / 6 if sigma is None else float(sigma)
        if sigma <= 0:
            raise InputError(f"expected sigma > 0, got {sigma}", field="sigma")
        return ndimage.gaussian_filter(array, sigma=sigma, mode=mode, radius=size // 2)
    if kernel == "disc":
        disc = bubble_stamp(size, "disc").astype(np.float64)
        pad = size // 2
        padded = np.pad(array, pad, mode=_PAD_MODES[mode])
        out = signal.fftconvolve(padded, disc / disc.sum(), mode="same")
        return out[pad : pad + array.shape[0], pad : pad + array.shape[1]]
    raise InputError(f"expected kernel in {BLUR_KERNELS}, got {kernel!r}", field="kernel")


def box_sums(counts, size: int = 49, mode: str = "reflect") -> np.ndarray:
    """Exact integer sums over size x size windows (a box blur times ``size**2``).

    Integer click counts stay integers, so equal sums stay exactly equal (a floating-point
    running mean breaks such ties at random): ranks, and Spearman correlations, are exact.

    Parameters
    ----------
    counts : ndarray of int, shape (H, W)
    size : int
        Window side; the window is centred as :func:`scipy.ndimage.uniform_filter` centres it.
    mode : str
        Border handling, as :mod:`scipy.ndimage`.

    Returns
    -------
    ndarray of int64, shape (H, W)

    Examples
    --------
    >>> box_sums(np.eye(3, dtype=int), 3, mode="constant")
    array([[2, 2, 1],
           [2, 3, 2],
           [1, 2, 2]])
    """
    counts = np.asarray(counts)
    if counts.ndim != 2 or not np.issubdtype(counts.dtype, np.integer):
        raise InputError(f"expected a 2-D integer array, got {counts.dtype} of shape {counts.shape}", field="counts")
    before = size // 2
    after = size - 1 - before
    padded = np.pad(counts.astype(np.int64), ((before, after), (before, after)), mode=_PAD_MODES[mode])
    table = np.zeros((padded.shape[0] + 1, padded.shape[1] + 1), dtype=np.int64)
    np.cumsum(np.cumsum(padded, axis=0), axis=1, out=table[1:, 1:])
    h, w = counts.shape
    return (
        table[size : size + h, size : size + w]
        - table[:h, size : size + w]
        - table[size : size + h, :w]
        + table[:h, :w]
    )


def normalize_map(array, method: str = "max") -> np.ndarray:
    """Normalise a map: ``"sum"`` to unit sum, ``"max"`` to unit maximum, ``"z"`` to zero mean, unit SD.

    A constant map (nothing to normalise) comes back as zeros.

    Examples
    --------
    >>> normalize_map(np.array([[1., 3.]]), "sum")
    array([[0.25, 0.75]])
    """
    array = _check_map(array).astype(np.float64)
    if method == "sum":
        total = array.sum()
        return array / total if total != 0 else np.zeros_like(array)
    if method == "max":
        peak = np.abs(array).max()
        return array / peak if peak != 0 else np.zeros_like(array)
    if method == "z":
        sd = array.std()
        return (array - array.mean()) / sd if sd > 0 else np.zeros_like(array)
    raise InputError(f"expected normalisation in {NORMALIZATIONS}, got {method!r}", field="normalize")


def bounding_box_map(array, threshold: float = 0.0) -> np.ndarray:
    """The paper's bounding-box control: 1 inside the box spanning pixels above ``threshold``.

    Examples
    --------
    >>> m = np.zeros((4, 5)); m[1, 1] = m[2, 3] = 1
    >>> bounding_box_map(m).astype(int)
    array([[0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 0, 0, 0]])
    """
    array = _check_map(array)
    out = np.zeros(array.shape, dtype=np.float32)
    rows, cols = np.nonzero(array > threshold)
    if rows.size:
        out[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = 1
    return out


def filter_clicks(clicks: pd.DataFrame, min_clicks: int = 0, max_clicks: int | None = None):
    """The ClickMe 2.0 per-map filters: trim each map to its first clicks, drop sparse maps.

    The same filters as :meth:`clickme_analysis.clickstore.ClickStore.kept_pairs`, on a tidy
    click table.

    Parameters
    ----------
    clicks : DataFrame
        Tidy clicks (``image_id, participant_id, x, y[, t]``), in log order.
    min_clicks : int
        A participant map needs more than this many clicks (successor code: 10).
    max_clicks : int, optional
        Keep each map's first ``max_clicks`` clicks, by ``t`` when every click has one, else in
        log order (successor code: 75).

    Returns
    -------
    kept : DataFrame
        The clicks that remain, sorted by image and participant.
    excluded : DataFrame
        Dropped maps: ``image_id, participant_id, n_clicks``.

    Examples
    --------
    >>> c = pd.DataFrame({"image_id": ["a"] * 3 + ["b"], "participant_id": "p", "x": 0.0, "y": 0.0})
    >>> kept, excluded = filter_clicks(c, min_clicks=1, max_clicks=2)
    >>> len(kept), excluded.values.tolist()
    (2, [['b', 'p', 1]])
    """
    _check_filters(min_clicks, max_clicks)
    store = ClickStore.from_frame(clicks)
    kept, dropped = store.kept_pairs(min_clicks, max_clicks)
    images, participants = np.asarray(store.image_ids, dtype=object), np.asarray(store.participant_ids, dtype=object)
    records = list(store.buckets(pairs=kept, max_clicks=max_clicks))
    records = np.concatenate(records) if records else np.zeros(0, RECORD)
    frame = pd.DataFrame(
        {
            "image_id": images[records["image"]],
            "participant_id": participants[records["participant"]],
            "x": records["x"],
            "y": records["y"],
            "t": records["t"],
        }
    )
    excluded = pd.DataFrame(
        {
            "image_id": images[dropped.image],
            "participant_id": participants[dropped.participant],
            "n_clicks": dropped.n_clicks,
        }
    ).sort_values(["image_id", "participant_id"], ignore_index=True)
    return frame, excluded


def _check_filters(min_clicks, max_clicks) -> None:
    if min_clicks is None or min_clicks < 0:
        raise InputError(f"expected min_clicks >= 0, got {min_clicks}", field="min_clicks")
    if max_clicks is not None and max_clicks < 1:
        raise InputError(f"expected max_clicks >= 1, got {max_clicks}", field="max_clicks")
    if max_clicks is not None and max_clicks <= min_clicks:
        raise InputError(
            f"expected max_clicks > min_clicks (a map keeps at most max_clicks and needs more than "
            f"min_clicks), got max_clicks {max_clicks} and min_clicks {min_clicks}",
            field="max_clicks",
        )


def exact_maps(blur: str | None, normalize: str | None) -> bool:
    """True where maps are exact ratios of integers (box or no blur; no, sum or max normalisation)."""
    return blur in (None, "box") and normalize in (None, "sum", "max")


@dataclass
class MapBatch:
    """Maps of a batch of images: exact integer ratios, or float32 maps.

    ``codes`` are image codes of the store; ``numerators`` (B, H, W) int32 and
    ``denominators`` (B,) where :func:`exact_maps`, else ``maps`` (B, H, W) float32.
    """

    codes: np.ndarray
    numerators: np.ndarray | None = None
    denominators: np.ndarray | None = None
    maps: np.ndarray | None = None

    def float_maps(self) -> np.ndarray:
        """Every map as float32: ``float32(numerator / denominator)`` for exact maps."""
        if self.maps is not None:
            return self.maps
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self.numerators / self.denominators[:, None, None]
        out[self.denominators == 0] = 0
        return out.astype(np.float32)


def map_batches(
    store,
    pairs,
    *,
    shape=(256, 256),
    bubble_size: int = 14,
    bubble: str = "square",
    blur: str | None = "box",
    blur_size: int = 49,
    sigma: float | None = None,
    normalize: str | None = None,
    max_clicks: int | None = None,
    batch_images: int = 64,
    pair_stats: list | None = None,
    sizes: np.ndarray | None = None,
):
    """Yield :class:`MapBatch` es of per-image maps from a click store, bucket by bucket.

    An image's map is the mean over its participants' painted maps (the maps in ``pairs``),
    blurred and normalised; box-blurred maps are exact (integer window sums over
    ``participants * blur_size**2``). Images are painted in parallel by a compiled kernel.

    Parameters
    ----------
    store : ClickStore
    pairs : Pairs
        The participant maps to use (e.g. ``store.kept_pairs(...)[0]``).
    pair_stats : list, optional
        Receives per bucket ``(image, participant, n_clicks, n_outside)`` arrays per map.
    sizes : (n_images, 2) int array, optional
        ``(height, width)`` of each image code (its image's size, ``clickme maps --images``);
        default ``shape`` for every image. A batch holds maps of one size.
    """
    _check_map_options(shape, blur, normalize, blur_size)
    height, width = shape
    stamp = bubble_stamp(bubble_size, bubble).astype(np.int64)
    exact = exact_maps(blur, normalize)
    for records in store.buckets(pairs=pairs, max_clicks=max_clicks):
        keys = (records["image"].astype(np.int64) << 32) | records["participant"]
        pair_bounds = group_starts(keys)
        pair_image = records["image"][pair_bounds[:-1]]
        if pair_stats is not None:
            pair_stats.append(_pair_stats(records, pair_bounds, shape, sizes))
        bounds = group_starts(records["image"])
        participants = np.diff(group_starts(pair_image))
        codes = records["image"][bounds[:-1]]
        x, y = np.ascontiguousarray(records["x"]), np.ascontiguousarray(records["y"])
        for first, last in _size_runs(codes, sizes, batch_images):
            if sizes is not None:
                height, width = (int(v) for v in sizes[codes[first]])
            starts = bounds[first : last + 1] - bounds[first]
            part_x, part_y = x[bounds[first] : bounds[last]], y[bounds[first] : bounds[last]]
            numerators = np.empty((last - first, height, width), dtype=np.int32)
            outside = np.zeros(last - first, dtype=np.int64)
            paint_box_batch(part_x, part_y, starts, height, width, stamp, blur_size, blur == "box", numerators, outside)
            n = participants[first:last].astype(np.float64)
            if exact:
                denominators = _denominators(numerators, n, blur=blur, blur_size=blur_size, normalize=normalize)
                yield MapBatch(codes[first:last], numerators=numerators, denominators=denominators)
            else:
                maps = _float_maps(numerators, n, blur=blur, blur_size=blur_size, sigma=sigma, normalize=normalize)
                yield MapBatch(codes[first:last], maps=maps)


def _check_map_options(shape, blur, normalize, blur_size) -> None:
    """Refuse a map size, blur, normalisation or kernel size :func:`map_batches` cannot make."""
    height, width = shape
    if height < 1 or width < 1:
        raise InputError(f"expected a map size >= 1, got {shape}", field="size")
    if blur not in (None,) + BLUR_KERNELS and not isinstance(blur, BlurSpec):
        raise InputError(f"expected blur in {BLUR_KERNELS}, a BlurSpec or None, got {blur!r}", field="blur")
    if normalize not in (None,) + NORMALIZATIONS:
        raise InputError(f"expected normalisation in {NORMALIZATIONS} or None, got {normalize!r}", field="normalize")
    if blur is not None and blur_size < 1:
        raise InputError(f"expected a kernel size >= 1, got {blur_size}", field="blur_size")


def _pair_stats(records: np.ndarray, pair_bounds: np.ndarray, shape, sizes: np.ndarray | None) -> tuple:
    """``(image, participant, n_clicks, n_outside)`` per participant map of a bucket."""
    height, width = shape
    col, row = np.floor(records["x"]), np.floor(records["y"])
    limit_y, limit_x = (height, width) if sizes is None else sizes[records["image"]].T
    outside = ~((col >= 0) & (col < limit_x) & (row >= 0) & (row < limit_y))
    n_pairs = len(pair_bounds) - 1
    pair_of_click = np.repeat(np.arange(n_pairs), np.diff(pair_bounds))
    return (
        records["image"][pair_bounds[:-1]],
        records["participant"][pair_bounds[:-1]],
        np.diff(pair_bounds),
        np.bincount(pair_of_click, weights=outside, minlength=n_pairs).astype(np.int64),
    )


def _denominators(numerators: np.ndarray, n: np.ndarray, *, blur, blur_size: int, normalize) -> np.ndarray:
    """What exact maps' integer numerators (B, H, W) are divided by: (B,) float64."""
    if normalize is None:
        return n * (blur_size**2 if blur == "box" else 1)
    if normalize == "sum":
        return numerators.sum(axis=(1, 2), dtype=np.int64).astype(np.float64)
    return numerators.max(axis=(1, 2)).astype(np.float64)


def _float_maps(numerators: np.ndarray, n: np.ndarray, *, blur, blur_size: int, sigma, normalize) -> np.ndarray:
    """Painted click counts (B, H, W) -> mean maps, blurred and normalised, float32."""
    maps = np.empty(numerators.shape, dtype=np.float32)
    for k in range(len(numerators)):
        if isinstance(blur, BlurSpec):  # integer sums blurred exactly, then the mean
            blurred = blur.apply(numerators[k]) / n[k]
        else:
            mean = numerators[k] / n[k]
            blurred = blur_map(mean, blur, blur_size, sigma) if blur is not None else mean
        maps[k] = normalize_map(blurred, normalize) if normalize is not None else blurred
    return maps


def _size_runs(codes: np.ndarray, sizes: np.ndarray | None, batch_images: int):
    """``(first, last)`` bounds of runs of at most ``batch_images`` codes of one size.

    >>> list(_size_runs(np.arange(4), np.array([[2, 2], [2, 2], [3, 2], [2, 2]]), 8))
    [(0, 2), (2, 3), (3, 4)]
    """
    first = 0
    while first < len(codes):
        last = min(first + batch_images, len(codes))
        if sizes is not None:
            same = np.all(sizes[codes[first:last]] == sizes[codes[first]], axis=1)
            last = first + (int(np.argmin(same)) if not same.all() else len(same))
        yield first, last
        first = last


def build_maps(
    clicks: pd.DataFrame,
    *,
    shape=(256, 256),
    bubble_size: int = 14,
    bubble: str = "square",
    blur: str | None = "box",
    blur_size: int = 49,
    sigma: float | None = None,
    normalize: str | None = None,
):
    """Per-image ClickMe maps of a tidy click table, in memory (small data; the ``clickme maps``
    command streams with :func:`map_batches` instead).

    Parameters
    ----------
    clicks : DataFrame
        Tidy clicks with columns ``image_id, participant_id, x, y`` (``t`` optional).
    shape, bubble_size, bubble
        See :func:`paint_clicks`.
    blur : {"box", "gaussian", "disc"} or None
        Kernel for :func:`blur_map`; None keeps raw maps.
    blur_size, sigma
        Kernel size and Gaussian sigma.
    normalize : {"sum", "max", "z"} or None
        Normalisation after blurring.

    Returns
    -------
    maps : dict[str, ndarray]
        Image id -> float32 (H, W) map.
    stats : DataFrame
        One row per participant map: ``image_id, participant_id, n_clicks, n_outside``.
    """
    store = ClickStore.from_frame(clicks)
    pair_stats: list = []
    maps: dict[str, np.ndarray] = {}
    for batch in map_batches(
        store,
        store.pairs,
        shape=shape,
        bubble_size=bubble_size,
        bubble=bubble,
        blur=blur,
        blur_size=blur_size,
        sigma=sigma,
        normalize=normalize,
        pair_stats=pair_stats,
    ):
        for code, image_map in zip(batch.codes, batch.float_maps()):
            maps[store.image_ids[code]] = image_map
    return dict(sorted(maps.items())), pair_table(store, pair_stats)


def pair_table(store, pair_stats: list) -> pd.DataFrame:
    """Per participant map: ``image_id, participant_id, n_clicks, n_outside`` (sorted)."""
    columns = ["image_id", "participant_id", "n_clicks", "n_outside"]
    if not pair_stats:
        return pd.DataFrame(columns=columns)
    image, participant, n_clicks, n_outside = (np.concatenate(parts) for parts in zip(*pair_stats))
    frame = pd.DataFrame(
        {
            "image_id": np.asarray(store.image_ids, dtype=object)[image],
            "participant_id": np.asarray(store.participant_ids, dtype=object)[participant],
            "n_clicks": n_clicks.astype(np.int64),
            "n_outside": n_outside.astype(np.int64),
        }
    )
    return frame.sort_values(["image_id", "participant_id"], ignore_index=True)
