"""The ClickMe 2.0 authors' split-half ceiling and floor, with each of its choices an option.

Per image (its participants in participant-id order, ``n`` of them) and per iteration:

1. the participants are permuted; the first half is the first ``n // 2`` of the permutation, the
   second half the other ``n - n // 2``;
2. ``replacement=True`` (the authors'): each half gains ``n // 2`` draws with replacement from
   its own members (a half's map is then the mean over ``2 (n // 2)`` and ``n`` maps);
3. each half's mean map is blurred (any :func:`clickme_analysis.maps.blur_map` kernel, e.g. the
   authors' disc of radius 10 applied twice with zero padding), resized so that its short side is
   ``resize`` (bilinear; nothing to do when it already is) and centre-cropped to ``crop`` x
   ``crop`` (the authors: 256 and 224);
4. Spearman's rho over pixels (average ranks for ties).

An image's value is the NaN-aware mean over iterations; the ceiling is the NaN-aware mean over
images; ``correction=True`` also projects it to the full panel with Spearman-Brown (the authors
apply no correction). The floor pairs an image's first half with the second half of another
image drawn at random (drawn once per image, from the images processed with it: a chunk of
``chunk_images`` images of one bucket of the click store, which keeps memory bounded; the
authors draw from all images).

Randomness: image ``k`` (in sorted-id order) draws from ``numpy.random.default_rng([seed, k])``:
per iteration the permutation, then (``replacement``) the first half's draws, the second half's
draws; then the floor partner's permutation and draws; the partner itself is drawn first, once.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from skimage import transform

from clickme_analysis.blur import BlurSpec
from clickme_analysis.errors import InputError
from clickme_analysis.maps import blur_map, box_sums
from clickme_analysis.ranks import spearman_rows
from clickme_analysis.reliability import _painted_chunks, _split_half_images

__all__ = ["split_half_ceiling", "center_crop", "summarize_ceiling"]


def center_crop(array: np.ndarray, crop: int) -> np.ndarray:
    """The centred ``crop`` x ``crop`` window of the last two axes (offsets rounded as
    torchvision's ``center_crop``: ``round((H - crop) / 2)``).

    Examples
    --------
    >>> center_crop(np.arange(16).reshape(4, 4), 2)
    array([[ 5,  6],
           [ 9, 10]])
    """
    height, width = array.shape[-2:]
    if crop > height or crop > width:
        raise InputError(
            f"expected a crop no larger than the map ({height}x{width}), got {crop}", field="split_half_crop"
        )
    top, left = int(round((height - crop) / 2)), int(round((width - crop) / 2))
    return array[..., top : top + crop, left : left + crop]


def _resize_short_side(array: np.ndarray, side: int) -> np.ndarray:
    height, width = array.shape
    if min(height, width) == side:
        return array
    scale = side / min(height, width)
    shape = (max(1, int(round(height * scale))), max(1, int(round(width * scale))))
    return transform.resize(array.astype(np.float64), shape, order=1, mode="edge", anti_aliasing=scale < 1)


def _prepare(counts: np.ndarray, blur, blur_size, sigma, resize, crop) -> np.ndarray:
    """Each participant's count map blurred, resized and cropped, flattened: (n, P).

    Every step is linear, so a half's map is the sum of its members' rows (divided by their
    number, which leaves ranks alone): each map is blurred once, not once per iteration. Box and
    disc blurs of counts stay exact integers (int32 where they fit), so ties stay exact."""
    rows = []
    for one in counts:
        one = one.astype(np.int64)
        if isinstance(blur, BlurSpec) and blur.kernel != "gaussian":
            out = blur.sums(one)[0]
        elif blur == "box":
            out = box_sums(one, blur_size)
        elif blur is None:
            out = one
        else:
            out = blur_map(one, blur, blur_size, sigma)
        if resize is not None:
            out = _resize_short_side(out, resize)
        if crop is not None:
            out = center_crop(out, crop)
        rows.append(out.ravel())
    out = np.stack(rows)
    if np.issubdtype(out.dtype, np.integer) and (not out.size or np.abs(out).max() < 2**31):
        out = out.astype(np.int32)
    return out


def _halves(rng, n: int, replacement: bool):
    people = rng.permutation(n)
    half = n // 2
    first, second = people[:half], people[half:]
    if replacement:
        first = np.concatenate([first, first[rng.integers(0, len(first), half)]])
        second = np.concatenate([second, second[rng.integers(0, len(second), half)]])
    return first, second


def _chunk_values(painted, group, streams, n_iterations, settings, n_jobs):
    """(rho, rho_floor, partner) per image of a chunk, each rho the NaN-aware mean over iterations."""
    *blurring, replacement = settings
    prepared = {c: _prepare(painted[c], *blurring) for c in group}
    partners = {}
    for k, c in enumerate(group):
        if len(group) > 1:
            other = int(streams[c].integers(0, len(group) - 1))
            partners[c] = group[other + (other >= k)]
    human = np.full((len(group), n_iterations), np.nan)
    floor = np.full((len(group), n_iterations), np.nan)
    for iteration in range(n_iterations):
        rows_a, rows_b, rows_f, floor_at = [], [], [], []
        for k, c in enumerate(group):
            rng = streams[c]
            first, second = _halves(rng, len(prepared[c]), replacement)
            rows_a.append(prepared[c][first].sum(axis=0))
            rows_b.append(prepared[c][second].sum(axis=0))
            if c in partners:
                _, other_second = _halves(rng, len(prepared[partners[c]]), replacement)
                rows_f.append(prepared[partners[c]][other_second].sum(axis=0))
                floor_at.append(k)
        a = np.stack(rows_a).astype(np.float64)
        human[:, iteration] = spearman_rows(a, np.stack(rows_b).astype(np.float64), n_jobs=n_jobs)
        if floor_at:
            floor[floor_at, iteration] = spearman_rows(a[floor_at], np.stack(rows_f).astype(np.float64), n_jobs=n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an image whose every iteration is NaN: NaN
        return np.nanmean(human, axis=1), np.nanmean(floor, axis=1), partners


def split_half_ceiling(
    clicks,
    *,
    n_iterations: int = 50,
    shape=(256, 256),
    bubble_size: int = 1,
    bubble: str = "square",
    blur="box",
    blur_size: int = 49,
    sigma: float | None = None,
    replacement: bool = True,
    resize: int | None = 256,
    crop: int | None = 224,
    seed=0,
    n_jobs: int = 1,
    progress: bool = False,
    min_clicks: int = 0,
    max_clicks: int | None = None,
    chunk_images: int = 32,
) -> pd.DataFrame:
    """Per-image split-half reliability and floor as the module docstring defines them.

    Parameters
    ----------
    clicks : DataFrame or ClickStore
        Tidy clicks, or a store (e.g. restricted by :func:`clickme_analysis.selection.select_maps`).
    n_iterations : int
        Random splits per image.
    shape, bubble_size, bubble, blur, blur_size, sigma
        How participant maps are painted and blurred (``blur`` may be a
        :class:`~clickme_analysis.blur.BlurSpec`).
    replacement, resize, crop
        Steps 2 and 3 of the module docstring (None: no resize / no crop).
    min_clicks, max_clicks
        The per-map filters (:meth:`~clickme_analysis.clickstore.ClickStore.kept_pairs`).

    Returns
    -------
    DataFrame
        ``image_id, n_participants, rho, image_id_floor, rho_floor``, one row per image with 2+
        participants, sorted by image id.
    """
    store, eligible = _split_half_images(clicks, n_iterations, min_clicks, max_clicks, 2)
    index_of = {code: k for k, (code, _) in enumerate(eligible.values())}
    members = {code: people for code, people in eligible.values()}
    settings = (blur, blur_size, sigma, resize, crop, replacement)
    image_ids = np.asarray(store.image_ids, dtype=object)
    rows = []
    chunks = _painted_chunks(
        store,
        members,
        (shape, bubble_size, bubble),
        chunk_images=chunk_images,
        max_clicks=max_clicks,
        progress=progress,
        desc="split-half",
    )
    for group, painted in chunks:
        streams = {c: np.random.default_rng([seed, index_of[c]]) for c in group}
        values = _chunk_values(painted, group, streams, n_iterations, settings, n_jobs)
        rows.append(_chunk_table(image_ids, group, members, *values))
    return pd.concat(rows, ignore_index=True).sort_values("image_id", ignore_index=True)


def _chunk_table(image_ids: np.ndarray, group: list, members: dict, rho, rho_floor, partners: dict) -> pd.DataFrame:
    """The rows of :func:`split_half_ceiling` for one chunk."""
    return pd.DataFrame(
        {
            "image_id": image_ids[group],
            "n_participants": [len(members[c]) for c in group],
            "rho": rho,
            "image_id_floor": [image_ids[partners[c]] if c in partners else "" for c in group],
            "rho_floor": rho_floor,
        }
    )


def summarize_ceiling(per_image: pd.DataFrame, *, correction: bool = False) -> dict:
    """The ceiling (NaN-aware mean of the per-image values), the floor, and with ``correction``
    the Spearman-Brown projection of the ceiling to the full panel (``2 r / (1 + r)``).

    Examples
    --------
    >>> frame = pd.DataFrame({"rho": [0.4, 0.6, np.nan], "rho_floor": [0.25, 0.5, 0.75]})
    >>> summarize_ceiling(frame)
    {'ceiling': 0.5, 'floor': 0.5, 'n_images': 2, 'spearman_brown': False}
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ceiling, floor = float(np.nanmean(per_image["rho"])), float(np.nanmean(per_image["rho_floor"]))
    out = {
        "ceiling": ceiling,
        "floor": floor,
        "n_images": int(per_image["rho"].notna().sum()),
        "spearman_brown": bool(correction),
    }
    if correction:
        out["ceiling_uncorrected"] = ceiling
        out["ceiling"] = 2 * ceiling / (1 + ceiling)
    return out
