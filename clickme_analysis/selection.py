"""Which participant maps make an image's map: the per-map filters and the per-image minimum.

In this order (the ClickMe 2.0 authors' order):

1. ``min_clicks`` / ``max_clicks``: a map is trimmed to its first ``max_clicks`` clicks and kept
   when it has more than ``min_clicks`` (every click counted, inside the image or not);
2. ``count_outside=False``: a kept map also needs at least ``min_clicks`` of its (trimmed) clicks
   inside the image (the authors' second test, on the sum of the one-pixel count map);
3. ``min_subjects``: an image keeps its maps only when at least this many passed 1-2.
"""

from __future__ import annotations

import numpy as np

from clickme_analysis.clickstore import Pairs, group_starts
from clickme_analysis.errors import InputError

__all__ = ["select_maps", "inside_counts"]


def _keys(image, participant) -> np.ndarray:
    return (np.asarray(image, dtype=np.int64) << 32) | np.asarray(participant, dtype=np.int64)


def inside_counts(store, pairs: Pairs, shape, max_clicks: int | None = None) -> np.ndarray:
    """Clicks of each map in ``pairs`` (its first ``max_clicks``) whose pixel lies inside its
    image, in the order of ``pairs``: ``shape`` is one ``(H, W)`` grid, or an ``(n_images, 2)``
    array of each image code's own ``(H, W)`` (maps at the images' native sizes)."""
    sizes = np.asarray(shape, dtype=np.int64)
    per_image = sizes.ndim == 2
    wanted = _keys(pairs.image, pairs.participant)
    order = np.argsort(wanted, kind="stable")
    out = np.zeros(len(wanted), dtype=np.int64)
    for records in store.buckets(pairs=pairs, max_clicks=max_clicks):
        col, row = np.floor(records["x"]), np.floor(records["y"])
        height, width = (sizes[records["image"], 0], sizes[records["image"], 1]) if per_image else sizes
        inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
        keys = _keys(records["image"], records["participant"])
        bounds = group_starts(keys)
        totals = np.add.reduceat(inside.astype(np.int64), bounds[:-1]) if len(keys) else np.zeros(0, np.int64)
        at = order[np.searchsorted(wanted[order], keys[bounds[:-1]])]
        out[at] = totals
    return out


def select_maps(
    store,
    *,
    min_clicks: int = 0,
    max_clicks: int | None = None,
    count_outside: bool = True,
    shape=(256, 256),
    min_subjects: int = 1,
) -> tuple[Pairs, Pairs]:
    """The maps kept by the rules of the module docstring, and those dropped.

    Returns
    -------
    kept, dropped : Pairs
        ``n_clicks`` are the counts after trimming.

    Examples
    --------
    >>> import pandas as pd
    >>> from clickme_analysis.clickstore import ClickStore
    >>> clicks = pd.DataFrame({"image_id": list("aaaaaab"), "participant_id": list("pppqqqr"),
    ...                        "x": [1, 2, -1, 1, -1, -2, 1], "y": 1.0})
    >>> store = ClickStore.from_frame(clicks)
    >>> kept, dropped = select_maps(store, min_clicks=2, count_outside=False, shape=(4, 4))
    >>> kept.n_clicks.tolist(), dropped.n_clicks.tolist()  # q: 3 clicks but 1 inside; r: 1 click
    ([3], [3, 1])
    """
    if min_subjects < 1:
        raise InputError(f"expected min_subjects >= 1, got {min_subjects}", field="min_subjects")
    kept, dropped = store.kept_pairs(min_clicks, max_clicks)
    keep = np.ones(len(kept.image), dtype=bool)
    if not count_outside and len(keep):
        keep &= inside_counts(store, kept, shape, max_clicks) >= min_clicks
    if min_subjects > 1 and len(keep):
        bounds = group_starts(kept.image)
        per_image = np.add.reduceat(keep.astype(np.int64), bounds[:-1])
        keep &= np.repeat(per_image >= min_subjects, np.diff(bounds))
    if keep.all():
        return kept, dropped
    out = Pairs(kept.image[~keep], kept.participant[~keep], kept.n_clicks[~keep])
    order = np.lexsort(
        (np.concatenate([dropped.participant, out.participant]), np.concatenate([dropped.image, out.image]))
    )
    dropped = Pairs(
        *(
            np.concatenate([a, b])[order]
            for a, b in (
                (dropped.image, out.image),
                (dropped.participant, out.participant),
                (dropped.n_clicks, out.n_clicks),
            )
        )
    )
    return Pairs(kept.image[keep], kept.participant[keep], kept.n_clicks[keep]), dropped
