"""How reliable are ClickMe maps? Inter-rater and split-half rank correlations, and model scores.

The paper's measure: for each of N images pick two random participants, blur their maps and
take the Spearman rank correlation over pixels (ImageNet ClickMe: 0.58 over 10,000 images); the
null pairs two random participants of two different images (0.18). A model's map score is
reported as a fraction of the human value (``rho_model / rho_human``).

Spearman's rho comes from :mod:`clickme_analysis.ranks` (average ranks; exact integer box sums
through a compiled counting kernel); each map is summarised once and the human pairs'
summaries are reused by the null. Clicks come from a tidy table or a
:class:`~clickme_analysis.clickstore.ClickStore`, read a bucket at a time (bounded memory).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clickme_analysis.clickstore import ClickStore, Pairs, group_starts
from clickme_analysis.errors import InputError
from clickme_analysis.maps import blur_map, box_sums, bubble_stamp
from clickme_analysis.progress import progress as bar
from clickme_analysis.ranks import paired_rank_correlations, spearman_rows

__all__ = [
    "PAPER_CEILING",
    "PAPER_NULL",
    "inter_rater_reliability",
    "split_half_reliability",
    "summarize_reliability",
    "bootstrap_mean_ci",
    "spearman_brown",
    "fraction_of_human_variability",
]

PAPER_CEILING = 0.58  # ImageNet ClickMe inter-rater rho (Linsley et al., 2019)
PAPER_NULL = 0.18


def bootstrap_mean_ci(values, n_boot: int = 1000, ci: float = 0.95, seed=0) -> tuple[float, float, float]:
    """Mean of ``values`` and its percentile bootstrap confidence interval (NaNs ignored)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.nan, np.nan, np.nan
    rng = np.random.default_rng(seed)
    means = np.array([values[rng.integers(0, values.size, values.size)].mean() for _ in range(n_boot)])
    tail = (1 - ci) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(values.mean()), float(low), float(high)


def _store(clicks):
    return clicks if isinstance(clicks, ClickStore) else ClickStore.from_frame(clicks)


def _participants_of_images(store, pairs, minimum: int):
    """Sorted ids of the images with ``minimum`` or more maps, and each one's participant codes
    (in participant-id order, so draws do not depend on the order of the logs)."""
    bounds = group_starts(pairs.image)
    image_ids = np.asarray(store.image_ids, dtype=object)
    participant_ids = np.asarray(store.participant_ids, dtype=object)
    found = {}
    for k in range(len(bounds) - 1):
        if bounds[k + 1] - bounds[k] >= minimum:
            codes = pairs.participant[bounds[k] : bounds[k + 1]]
            found[image_ids[pairs.image[bounds[k]]]] = (
                int(pairs.image[bounds[k]]),
                codes[np.argsort(participant_ids[codes], kind="stable")],
            )
    return dict(sorted(found.items()))


def _record_keys(records) -> np.ndarray:
    """(image << 32 | participant) of each click record (sorted records give sorted keys)."""
    return (records["image"].astype(np.int64) << 32) | records["participant"]


def _paint_pairs(records, pair_keys, shape, bubble_size, bubble, blur, blur_size, sigma, keys=None):
    """Participant maps of the given (image << 32 | participant) keys, from sorted records, in one
    compiled parallel call; rows flattened: exact box sums (int32) for ``blur="box"``, raw counts
    (int32) for None, else the counts blurred as float32. ``keys``: :func:`_record_keys`."""
    from clickme_analysis._paint_numba import paint_box_batch  # numba, loaded when maps are painted

    exact = blur == "box"
    keys = _record_keys(records) if keys is None else keys
    first = np.searchsorted(keys, pair_keys, side="left")
    last = np.searchsorted(keys, pair_keys, side="right")
    index = np.concatenate([np.arange(f, e) for f, e in zip(first, last)]) if len(first) else np.zeros(0, np.int64)
    starts = np.concatenate([[0], np.cumsum(last - first)])
    height, width = shape
    out = np.empty((len(pair_keys), height, width), dtype=np.int32)
    paint_box_batch(
        np.ascontiguousarray(records["x"][index]),
        np.ascontiguousarray(records["y"][index]),
        starts,
        height,
        width,
        bubble_stamp(bubble_size, bubble).astype(np.int64),
        blur_size,
        exact,
        out,
        np.zeros(len(pair_keys), dtype=np.int64),
    )
    if blur is None or exact:
        return out.reshape(len(pair_keys), -1)
    return np.stack([blur_map(m, blur, blur_size, sigma).astype(np.float32).ravel() for m in out])


def _split_half_store(clicks, n_iterations: int, min_clicks: int, max_clicks: int | None):
    """The click store and its kept maps, after the check every split-half measure opens with."""
    if n_iterations < 1:
        raise InputError(f"expected n_iterations >= 1, got {n_iterations}", field="n_iterations")
    store = _store(clicks)
    kept, _ = store.kept_pairs(min_clicks, max_clicks)
    return store, kept


def _split_half_images(clicks, n_iterations: int, min_clicks: int, max_clicks: int | None, minimum: int):
    """The click store and :func:`_participants_of_images` with ``minimum`` maps (none: an error)."""
    store, kept = _split_half_store(clicks, n_iterations, min_clicks, max_clicks)
    eligible = _participants_of_images(store, kept, minimum)
    if not eligible:
        raise InputError(f"expected at least one image with {minimum}+ participants for split halves", field="clicks")
    return store, eligible


def _member_pairs(members: dict) -> Pairs:
    """The (image, participant) maps of ``members`` (image code -> participant codes), images sorted."""
    codes = sorted(members)
    return Pairs(
        np.concatenate([np.full(len(members[c]), c) for c in codes]).astype(np.int32),
        np.concatenate([members[c] for c in codes]).astype(np.int32),
        np.zeros(0, np.int64),
    )


def _painted_chunks(store, members: dict, paint: tuple, *, chunk_images: int, max_clicks, progress: bool, desc: str):
    """(image codes, code -> participants' raw count maps (n, H, W)) per chunk of ``chunk_images``
    images of one bucket (codes in increasing order), for ``members`` (image code -> participant
    codes); a progress bar over images."""
    shape, bubble_size, bubble = paint
    with bar(total=len(members), enabled=progress, desc=desc, unit="image") as shown:
        for records in store.buckets(pairs=_member_pairs(members), max_clicks=max_clicks):
            present = np.unique(records["image"])
            keys = _record_keys(records)
            for s in range(0, len(present), chunk_images):
                group = [int(c) for c in present[s : s + chunk_images]]
                asked = np.concatenate([(np.int64(c) << 32) | members[c].astype(np.int64) for c in group])
                counts = _paint_pairs(records, asked, shape, bubble_size, bubble, None, 1, None, keys=keys)
                counts = counts.reshape(-1, *shape)
                offsets = np.cumsum([0] + [len(members[c]) for c in group])
                yield group, {c: counts[offsets[k] : offsets[k + 1]] for k, c in enumerate(group)}
                shown.update(len(group))


def inter_rater_reliability(
    clicks,
    *,
    n_images: int | None = 10_000,
    shape=(256, 256),
    bubble_size: int = 14,
    bubble: str = "square",
    blur: str = "box",
    blur_size: int = 49,
    sigma: float | None = None,
    seed=0,
    chunk_images: int = 64,
    n_jobs: int = 1,
    progress: bool = False,
    min_clicks: int = 0,
    max_clicks: int | None = None,
) -> pd.DataFrame:
    """Per-image inter-rater rank correlations and their null, as in the paper.

    For each of ``n_images`` random images with at least two participants, two distinct random
    participants are drawn, their maps painted and blurred, and Spearman's rho taken over
    pixels (``distribution="human"``). Images are processed in chunks of ``chunk_images`` (the
    images of one bucket of the click store, in random order); within a chunk, the null pairs
    image i's first participant with the second participant of another image of the chunk
    (``distribution="null"``), so each map is ranked once and serves twice while memory stays
    bounded.

    Parameters
    ----------
    clicks : DataFrame or ClickStore
        Tidy clicks (``image_id, participant_id, x, y``) or a
        :class:`~clickme_analysis.clickstore.ClickStore` (large logs).
    n_images : int or None
        Images to sample (paper: 10,000); None or more than available: all eligible images.
    shape, bubble_size, bubble
        Map grid and bubbles (see :func:`clickme_analysis.maps.paint_clicks`).
    blur, blur_size, sigma
        Blur applied to each participant map (see :func:`clickme_analysis.maps.blur_map`).
    seed : int
        Seed for the image and participant draws.
    chunk_images : int
        Images ranked together (>= 2).
    n_jobs : int
        Threads for ranking.
    progress : bool
        Progress bar over images.
    min_clicks, max_clicks
        The ClickMe 2.0 map filters (:func:`clickme_analysis.maps.filter_clicks`).

    Returns
    -------
    DataFrame
        ``image_id, image_id_b, participant_a, participant_b, rho, distribution``.
    """
    if n_images is not None and n_images < 1:
        raise InputError(f"expected n_images >= 1 (or None for all), got {n_images}", field="n_images")
    if chunk_images < 2:
        raise InputError(f"expected chunk_images >= 2, got {chunk_images}", field="chunk_images")
    store = _store(clicks)
    kept, _ = store.kept_pairs(min_clicks, max_clicks)
    rng = np.random.default_rng(seed)
    eligible = _participants_of_images(store, kept, 2)
    if len(eligible) < 2:
        raise InputError(f"expected at least 2 images with 2+ participants, got {len(eligible)}", field="clicks")
    order, chosen = _draw_raters(eligible, n_images, rng)
    rank_in_order = {eligible[name][0]: k for k, name in enumerate(order)}
    wanted = _rater_pairs(chosen)
    ids = np.asarray(store.image_ids, dtype=object), np.asarray(store.participant_ids, dtype=object)
    paint = (shape, bubble_size, bubble, blur, blur_size, sigma)
    frames = []
    with bar(total=len(order), enabled=progress, desc="reliability", unit="image") as shown:
        for group in _chunk_groups(store.buckets(pairs=wanted, max_clicks=max_clicks), rank_in_order, chunk_images):
            frames.extend(_chunk_rows(group, chosen, rng, n_jobs, *ids, paint))
            shown.update(len(group))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["distribution", "image_id"], kind="stable", ignore_index=True)


def _draw_raters(eligible: dict, n_images: int | None, rng) -> tuple[list, dict]:
    """The sampled image ids in draw order, and per image code its two distinct random participants."""
    names = list(eligible)
    order = [names[i] for i in rng.permutation(len(names))[:n_images]]
    chosen = {}
    for name in order:
        code, participants = eligible[name]
        chosen[code] = rng.choice(participants, size=2, replace=False)
    return order, chosen


def _rater_pairs(chosen: dict) -> Pairs:
    """The (image, participant) maps of the drawn raters (image code -> two participant codes)."""
    codes = np.array(sorted(chosen), dtype=np.int64)
    return Pairs(
        np.repeat(codes, 2).astype(np.int32),
        np.concatenate([chosen[c] for c in codes]).astype(np.int32),
        np.zeros(2 * len(codes), np.int64),
    )


def _chunk_groups(buckets, rank_in_order: dict, chunk_images: int):
    """Chunks of ``chunk_images`` (image code, its bucket's records, their keys) entries, in draw
    order within buckets; a last single image joins the chunk before it (a full chunk is held
    back one step for that)."""
    queue: list = []
    ready = None
    for records in buckets:
        present = np.unique(records["image"])
        present = present[np.argsort([rank_in_order[c] for c in present], kind="stable")]
        keys = _record_keys(records)
        queue.extend((c, records, keys) for c in present)
        while len(queue) >= chunk_images:
            group, queue = queue[:chunk_images], queue[chunk_images:]
            if ready is not None:
                yield ready
            ready = group
    if len(queue) == 1 and ready is None:
        raise InputError("expected at least 2 sampled images to form a null pair", field="n_images")
    if len(queue) == 1:
        ready = ready + queue
    elif queue:
        if ready is not None:
            yield ready
        ready = queue
    if ready is not None:
        yield ready


def _chunk_rows(group, chosen, rng, n_jobs, image_ids, participant_ids, paint):
    """Human and null rows of one chunk of (image code, records, record keys) entries."""
    shape, bubble_size, bubble, blur, blur_size, sigma = paint
    parts = []
    for k in range(len(group)):  # entries of one bucket share their records: paint them together
        if k == 0 or group[k][1] is not group[k - 1][1]:
            parts.append([])
        parts[-1].append(group[k])
    maps = []
    for part in parts:
        wanted = np.array([(int(code) << 32) | int(p) for code, _, _ in part for p in chosen[code]], dtype=np.int64)
        maps.append(
            _paint_pairs(part[0][1], wanted, shape, bubble_size, bubble, blur, blur_size, sigma, keys=part[0][2])
        )
    maps = np.concatenate(maps)
    human, null, partner = paired_rank_correlations(maps[0::2], maps[1::2], rng, n_jobs)
    codes = np.array([c for c, _, _ in group])
    images = image_ids[codes]
    first = participant_ids[[chosen[c][0] for c in codes]]
    second = participant_ids[[chosen[c][1] for c in codes]]
    return [
        pd.DataFrame(
            {
                "image_id": images,
                "image_id_b": images,
                "participant_a": first,
                "participant_b": second,
                "rho": human,
                "distribution": "human",
            }
        ),
        pd.DataFrame(
            {
                "image_id": images,
                "image_id_b": images[partner],
                "participant_a": first,
                "participant_b": second[partner],
                "rho": null,
                "distribution": "null",
            }
        ),
    ]


def split_half_reliability(
    clicks,
    *,
    n_iterations: int = 50,
    n_images: int | None = None,
    shape=(256, 256),
    bubble_size: int = 14,
    bubble: str = "square",
    blur: str = "box",
    blur_size: int = 49,
    sigma: float | None = None,
    seed=0,
    n_jobs: int = 1,
    progress: bool = False,
    min_clicks: int = 0,
    max_clicks: int | None = None,
    chunk_images: int = 32,
) -> pd.DataFrame:
    """Split-half reliability: random halves of each image's participants, K iterations.

    Each iteration splits every eligible image's participants (4 or more) into two random
    halves, sums and blurs each half's maps, and takes Spearman's rho; the iteration's value is
    the mean over images, with and without the Spearman-Brown correction ``2 rho / (1 + rho)``
    (which projects the half-size reliability to the full panel). Image i's halves come from
    its own random stream (``seed``, i), so memory stays bounded (images are taken a chunk at
    a time) and results do not depend on how the clicks are stored.

    Returns
    -------
    DataFrame
        ``iteration, rho, rho_spearman_brown, n_images``.
    """
    store, eligible = _split_half_images(clicks, n_iterations, min_clicks, max_clicks, 4)
    names = list(eligible)
    if n_images is not None and n_images < len(names):
        names = sorted(np.random.default_rng(seed).choice(names, size=n_images, replace=False).tolist())
    index_of = {eligible[name][0]: k for k, name in enumerate(names)}
    members = {c: eligible[names[k]][1] for c, k in index_of.items()}
    totals = np.zeros(n_iterations)
    counted = np.zeros(n_iterations)
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
        for iteration in range(n_iterations):
            rho = spearman_rows(*_half_maps(painted, group, streams, blur, blur_size, sigma), n_jobs=n_jobs)
            totals[iteration] += np.nansum(rho)
            counted[iteration] += np.count_nonzero(np.isfinite(rho))
    with np.errstate(invalid="ignore"):
        means = totals / counted
    return pd.DataFrame(
        {
            "iteration": np.arange(n_iterations),
            "rho": means,
            "rho_spearman_brown": spearman_brown(means),
            "n_images": len(names),
        }
    )


def _half_maps(painted: dict, group: list, streams: dict, blur, blur_size: int, sigma) -> tuple:
    """One iteration's two half maps per image of a chunk, blurred and flattened: two (n, P) arrays.

    Each image's participants are permuted by its own stream; the halves are the first ``n // 2``
    and the next ``n // 2`` (an odd one out is left out)."""
    halves_a, halves_b = [], []
    for c in group:
        people = streams[c].permutation(len(painted[c]))
        half = len(people) // 2
        for target, chosen in ((halves_a, people[:half]), (halves_b, people[half : 2 * half])):
            total = painted[c][chosen].sum(axis=0, dtype=np.int64)
            blurred = (
                box_sums(total, blur_size).astype(np.int32)
                if blur == "box"
                else blur_map(total, blur, blur_size, sigma).astype(np.float32)
            )
            target.append(blurred.ravel())
    return np.stack(halves_a), np.stack(halves_b)


def spearman_brown(rho, factor: float = 2.0):
    """Spearman-Brown prophecy: reliability of a panel ``factor`` times larger."""
    rho = np.asarray(rho, dtype=float)
    return factor * rho / (1 + (factor - 1) * rho)


def summarize_reliability(per_image: pd.DataFrame, n_boot: int = 1000, ci: float = 0.95, seed=0) -> pd.DataFrame:
    """Mean rho and bootstrap CI per distribution of :func:`inter_rater_reliability`'s output.

    Returns
    -------
    DataFrame
        ``distribution, mean, ci_low, ci_high, n``.
    """
    rows = []
    for distribution, group in per_image.groupby("distribution", sort=True):
        mean, low, high = bootstrap_mean_ci(group["rho"], n_boot, ci, seed)
        rows.append((distribution, mean, low, high, int(group["rho"].notna().sum())))
    return pd.DataFrame(rows, columns=["distribution", "mean", "ci_low", "ci_high", "n"])


def fraction_of_human_variability(rho_model, ceiling: float = PAPER_CEILING):
    """A model's map correlation as a fraction of the human inter-rater ceiling.

    ``ceiling`` must come from the same method as ``rho_model`` (paper: 0.58 with two random
    participants per image; the successor code's split-half ceiling 0.65753 is not comparable).

    Examples
    --------
    >>> round(fraction_of_human_variability(0.29), 6)
    0.5
    """
    if not ceiling > 0:
        raise InputError(f"expected a positive ceiling, got {ceiling}", field="ceiling")
    return np.asarray(rho_model, dtype=float) / ceiling if np.ndim(rho_model) else float(rho_model) / ceiling
