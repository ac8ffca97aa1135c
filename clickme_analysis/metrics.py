"""Saliency map metrics with the MIT saliency benchmark's definitions.

Location-based metrics (NSS, AUC-Judd, AUC-Borji, shuffled AUC) score a predicted map against a
binary *fixation map*; distribution-based metrics (CC, SIM, KL, Spearman, Dice/IoU of the top
10 %) score it against a continuous human map. ClickMe maps are continuous, so "fixations" are
derived from them by :func:`fixations_from_map` (pixels above a fraction of the map's range, or
samples drawn from the map). Definitions follow the benchmark's MATLAB code as described in

    Bylinskii, Judd, Oliva, Torralba & Durand (2019). What do different evaluation metrics tell
    us about saliency models? IEEE TPAMI 41(3), 740-757.

Differences from the benchmark code are listed in docs/metrics.md: :func:`compare_maps` takes maps
of one shape, and :func:`score_maps` resizes a prediction of another size to the human map's as
the benchmark does when the aspect ratio is the same (:func:`clickme_analysis.shapes.fit_map`,
recorded in the table; another aspect ratio is refused); NaN / infinite values raise
instead of propagating.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from clickme_analysis.ranks import spearman_rows
from clickme_analysis.shapes import fit_map, skip_empty

__all__ = [
    "METRICS",
    "spearman",
    "cc",
    "nss",
    "sim",
    "kl",
    "auc_judd",
    "auc_borji",
    "auc_shuffled",
    "dice",
    "iou",
    "fixations_from_map",
    "compare_maps",
    "score_maps",
]

#: Metric names accepted by :func:`compare_maps` and :func:`score_maps`, in output order.
METRICS = ("spearman", "cc", "nss", "sim", "kl", "auc_judd", "auc_borji", "auc_shuffled", "dice", "iou")
_LOCATION_BASED = ("nss", "auc_judd", "auc_borji", "auc_shuffled")
EPS = 2.2204e-16  #: MATLAB's ``eps``, as in the benchmark's KL


# --------------------------------------------------------------------------------------------
# Input checks and shared helpers
# --------------------------------------------------------------------------------------------
def _check_map(array, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2 or array.size == 0:
        raise InputError(f"expected a non-empty 2-D (H, W) map, got shape {array.shape}", field=name)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InputError(f"expected a numeric map, got dtype {array.dtype}", field=name)
    array = array.astype(np.float64)
    if not np.isfinite(array).all():
        raise InputError(
            f"expected finite values, got {np.count_nonzero(~np.isfinite(array))} NaN or infinite", field=name
        )
    return array


def _check_pair(map_a, map_b, names=("saliency_map", "human_map")) -> tuple[np.ndarray, np.ndarray]:
    a, b = _check_map(map_a, names[0]), _check_map(map_b, names[1])
    if a.shape != b.shape:
        raise InputError(
            f"expected maps of one shape, got {a.shape} and {b.shape} (resize the prediction first)",
            field=f"{names[0]}, {names[1]}",
        )
    return a, b


def _check_fixations(fixations, shape: tuple, name: str = "fixations") -> np.ndarray:
    """A fixation map of ``shape``: True (or > 0) where fixated; at least one fixation."""
    fixations = _check_map(fixations, name)
    if fixations.shape != shape:
        raise InputError(f"expected a fixation map of shape {shape}, got {fixations.shape}", field=name)
    if (fixations < 0).any():
        raise InputError("expected a non-negative fixation map (True / count where fixated)", field=name)
    fixated = fixations > 0
    if not fixated.any():
        raise InputError("expected at least one fixated pixel, got none", field=name)
    return fixated


def _check_non_negative(array: np.ndarray, name: str) -> None:
    if (array < 0).any():
        raise InputError(f"expected a non-negative map (a distribution), got minimum {array.min():g}", field=name)


def _min_max(array: np.ndarray) -> np.ndarray:
    """Rescale to [0, 1]; NaN everywhere for a constant map (as the benchmark's 0 / 0)."""
    span = array.max() - array.min()
    if span == 0:
        return np.full_like(array, np.nan)
    return (array - array.min()) / span


def _rng(seed) -> np.random.Generator:
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------------------------
# Distribution-based metrics
# --------------------------------------------------------------------------------------------
def spearman(saliency_map, human_map) -> float:
    """Spearman rank correlation between two maps (average ranks for ties).

    Not part of the MIT benchmark; the ClickMe papers' map-alignment score (Linsley et al. 2019).

    Parameters
    ----------
    saliency_map, human_map : array_like, shape (H, W)
        The maps.

    Returns
    -------
    float
        Rank correlation in [-1, 1]; NaN when a map is constant.

    Examples
    --------
    >>> round(spearman([[1, 2], [3, 4]], [[1, 3], [2, 4]]), 6)
    0.8
    """
    a, b = _check_pair(saliency_map, human_map)
    return float(spearman_rows(a.reshape(1, -1), b.reshape(1, -1))[0])


def cc(saliency_map, human_map) -> float:
    """Pearson's linear correlation coefficient (CC) between two maps.

    The benchmark z-scores both maps and takes MATLAB's ``corr2``; this equals Pearson's r.

    Parameters
    ----------
    saliency_map, human_map : array_like, shape (H, W)
        The maps.

    Returns
    -------
    float
        Correlation in [-1, 1]; NaN when a map is constant.

    References
    ----------
    Bylinskii et al. (2019), section 3.2.3 "Pearson's Correlation Coefficient (CC)".

    Examples
    --------
    >>> cc([[0, 1], [2, 3]], [[0, 2], [4, 6]])
    1.0
    """
    a, b = _check_pair(saliency_map, human_map)
    a, b = a - a.mean(), b - b.mean()
    denominator = math.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else math.nan


def sim(saliency_map, human_map) -> float:
    """Similarity (SIM, histogram intersection) of two maps.

    Each map is min-max scaled to [0, 1] and divided by its sum; SIM is the sum over pixels of
    the smaller of the two. An all-zero map stays zero (SIM 0); a constant non-zero map gives
    NaN, as in the benchmark.

    Parameters
    ----------
    saliency_map, human_map : array_like, shape (H, W)
        The maps.

    Returns
    -------
    float
        In [0, 1]; 1 for maps equal after normalisation.

    References
    ----------
    Bylinskii et al. (2019), section 3.2.1 "Similarity (SIM)"; Swain & Ballard (1991).

    Examples
    --------
    >>> sim([[0, 1], [1, 2]], [[0, 0], [0, 1]])
    0.5
    """
    a, b = _check_pair(saliency_map, human_map)
    a, b = (_min_max(m) if m.any() else m for m in (a, b))
    a, b = (m / m.sum() if m.any() else m for m in (a, b))
    return float(np.minimum(a, b).sum())


def kl(saliency_map, human_map) -> float:
    """KL divergence of the saliency map from the human map, KL(human || saliency).

    Both maps are divided by their sums (P human, Q saliency); then
    ``sum(P * log(eps + P / (Q + eps)))`` with ``eps = 2.2204e-16``, as in the benchmark.

    Parameters
    ----------
    saliency_map, human_map : array_like, shape (H, W)
        Non-negative maps.

    Returns
    -------
    float
        0 for maps equal up to scale; larger is worse.

    Raises
    ------
    InputError
        When a map has negative values.

    References
    ----------
    Bylinskii et al. (2019), section 3.2.2 "Kullback-Leibler divergence (KL)".

    Examples
    --------
    >>> round(kl([[1, 1], [1, 1]], [[0, 0], [0, 1]]), 6)  # log(4)
    1.386294
    """
    q, p = _check_pair(saliency_map, human_map)
    _check_non_negative(q, "saliency_map")
    _check_non_negative(p, "human_map")
    q, p = (m / m.sum() if m.any() else m for m in (q, p))
    return float((p * np.log(EPS + p / (q + EPS))).sum())


def _top_mask(array: np.ndarray, top: float) -> np.ndarray:
    k = max(1, math.ceil(top * array.size - 1e-9))
    kth_largest = np.partition(array.ravel(), array.size - k)[array.size - k]
    return array >= kth_largest


def _top_sets(saliency_map, human_map, top: float) -> tuple[np.ndarray, np.ndarray]:
    if not 0 < top <= 1:
        raise InputError(f"expected a top fraction in (0, 1], got {top}", field="top")
    a, b = _check_pair(saliency_map, human_map)
    return _top_mask(a, top), _top_mask(b, top)


def dice(saliency_map, human_map, top: float = 0.1) -> float:
    """Dice coefficient of the two maps' top-``top`` pixel sets.

    Each map's set holds the pixels whose value is at least its ``ceil(top * H * W)``-th largest
    value (ties at that value are all included, so a set may exceed ``top``). Not part of the
    MIT benchmark.

    Parameters
    ----------
    saliency_map, human_map : array_like, shape (H, W)
        The maps.
    top : float, optional
        Fraction of pixels kept per map (default 0.1, the top 10 %).

    Returns
    -------
    float
        ``2 |A & B| / (|A| + |B|)`` in [0, 1].

    Examples
    --------
    >>> dice([[4, 3], [2, 1]], [[1, 4], [3, 2]], top=0.5)
    0.5
    """
    a, b = _top_sets(saliency_map, human_map, top)
    return float(2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


def iou(saliency_map, human_map, top: float = 0.1) -> float:
    """Intersection over union (Jaccard index) of the two maps' top-``top`` pixel sets.

    The sets are those of :func:`dice`. Not part of the MIT benchmark.

    Parameters
    ----------
    saliency_map, human_map : array_like, shape (H, W)
        The maps.
    top : float, optional
        Fraction of pixels kept per map (default 0.1).

    Returns
    -------
    float
        ``|A & B| / |A | B|`` in [0, 1].

    Examples
    --------
    >>> round(iou([[4, 3], [2, 1]], [[1, 4], [3, 2]], top=0.5), 4)
    0.3333
    """
    a, b = _top_sets(saliency_map, human_map, top)
    return float(np.count_nonzero(a & b) / np.count_nonzero(a | b))


# --------------------------------------------------------------------------------------------
# Location-based metrics
# --------------------------------------------------------------------------------------------
def nss(saliency_map, fixations, ddof: int = 1) -> float:
    """Normalized scanpath saliency: the z-scored map averaged over fixated pixels.

    Parameters
    ----------
    saliency_map : array_like, shape (H, W)
        The predicted map.
    fixations : array_like, shape (H, W)
        Fixation map: True (or > 0) at fixated pixels; each pixel counts once.
    ddof : int, optional
        Delta degrees of freedom of the standard deviation: 1 (default) as MATLAB's ``std`` in
        the benchmark; 0 for the population SD (pysaliency).

    Returns
    -------
    float
        Mean z-score at fixations (0 is chance); NaN for a constant map.

    References
    ----------
    Peters, Iyer, Itti & Koch (2005); Bylinskii et al. (2019), section 3.1.3.

    Examples
    --------
    >>> round(nss([[1, 2], [3, 4]], [[0, 0], [0, 1]]), 4)  # (4 - 2.5) / sqrt(5 / 3)
    1.1619
    """
    s = _check_map(saliency_map, "saliency_map")
    fixated = _check_fixations(fixations, s.shape)
    sd = s.std(ddof=ddof)
    if sd == 0:
        return math.nan
    return float(((s[fixated] - s.mean()) / sd).mean())


def auc_judd(saliency_map, fixations, jitter: bool = True, seed=0) -> float:
    """AUC-Judd: ROC area with a threshold at every fixated pixel's value.

    The map is min-max scaled. At the i-th largest fixated value t_i the true positive rate is
    i / N_fix and the false positive rate ``(#{pixels >= t_i} - i) / (N_pix - N_fix)``, as in the
    benchmark (exact when values are distinct, hence the jitter); (0, 0) and (1, 1) close the
    curve, and the area is the trapezoid rule.

    Parameters
    ----------
    saliency_map : array_like, shape (H, W)
        The predicted map.
    fixations : array_like, shape (H, W)
        Fixation map: True (or > 0) at fixated pixels.
    jitter : bool, optional
        Add uniform noise in [0, 1e-7) before scaling to break ties, as the benchmark does by
        default (a constant map then scores about 0.5 rather than NaN).
    seed : int, optional
        Seed of the jitter.

    Returns
    -------
    float
        Area in [0, 1]; NaN when every pixel is fixated or (without jitter) the map is constant.

    References
    ----------
    Judd, Ehinger, Durand & Torralba (2009), "Learning to predict where humans look", ICCV;
    Bylinskii et al. (2019), section 3.1.1.

    Examples
    --------
    >>> auc_judd([[0.9, 0.1], [0.5, 0.3]], [[1, 0], [0, 1]], jitter=False)
    0.875
    """
    s = _check_map(saliency_map, "saliency_map")
    fixated = _check_fixations(fixations, s.shape).ravel()
    if jitter:
        s = s + _rng(seed).random(s.shape) / 1e7
    s = _min_max(s).ravel()
    n_pixels, n_fixations = s.size, int(fixated.sum())
    if np.isnan(s).any() or n_fixations == n_pixels:
        return math.nan
    thresholds = np.sort(s[fixated])[::-1]
    above = n_pixels - np.searchsorted(np.sort(s), thresholds, side="left")
    rank = np.arange(1, n_fixations + 1)
    tp = np.concatenate([[0.0], rank / n_fixations, [1.0]])
    fp = np.concatenate([[0.0], (above - rank) / (n_pixels - n_fixations), [1.0]])
    return float(np.trapezoid(tp, fp))


def _step_bins(saliency_map, fixations, step: float):
    """Bin every pixel of the min-max scaled map by the thresholds 0, step, 2 step, ... <= 1.

    Returns the bin of each pixel (flat; bin j = j thresholds at or below the value, so a value
    is >= threshold k exactly when its bin is > k), the bin counts of the fixated pixels and the
    number of bins; None for a constant map. Thresholds are ``k * step`` rounded to 12 decimals,
    so that e.g. 0.3 is the double nearest 0.3.
    """
    if not 0 < step <= 1:
        raise InputError(f"expected a threshold step in (0, 1], got {step}", field="step")
    s = _check_map(saliency_map, "saliency_map")
    fixated = _check_fixations(fixations, s.shape).ravel()
    s = _min_max(s).ravel()
    if np.isnan(s).any():
        return None
    thresholds = np.round(np.arange(math.floor(1 / step + 1e-9) + 1) * step, 12)
    bins = np.searchsorted(thresholds, s, side="right")
    n_bins = thresholds.size + 1
    return bins, np.bincount(bins[fixated], minlength=n_bins), n_bins


def _roc_area(positive_counts: np.ndarray, negative_counts: np.ndarray) -> float:
    """Mean trapezoid ROC area over splits, from per-bin counts of positives (bins,) and of
    each split's negatives (splits, bins), thresholds swept from the top down.

    The benchmark stops each split's thresholds at its largest value; higher thresholds only
    repeat the point (0, 0), so sweeping every threshold up to 1 gives the same area.
    """

    def rates(counts):  # fraction at or above each threshold, descending thresholds
        at_or_above = np.cumsum(counts[..., ::-1], axis=-1)[..., :-1]
        return at_or_above / counts.sum(axis=-1, keepdims=True)

    fp = rates(negative_counts)
    tp = np.broadcast_to(rates(positive_counts), fp.shape)
    pad = ((0, 0), (1, 1))
    tp = np.pad(tp, pad, constant_values=(0, 1))
    fp = np.pad(fp, pad, constant_values=(0, 1))
    return float(np.trapezoid(tp, fp, axis=1).mean())


def auc_borji(saliency_map, fixations, n_splits: int = 100, step: float = 0.1, seed=0) -> float:
    """AUC-Borji: ROC area against uniformly random negatives, averaged over splits.

    The map is min-max scaled. Each split draws N_fix pixels uniformly with replacement (from the
    whole map) as negatives; thresholds run from 0 in steps of ``step`` up to the largest
    positive or negative value; the true / false positive rates are the fractions of fixated /
    sampled values at or above each threshold; the area is the trapezoid rule. Only the number
    of negatives between consecutive thresholds matters, so each split draws those counts
    directly (multinomial): the same distribution as drawing pixels, at a cost independent of
    N_fix.

    Parameters
    ----------
    saliency_map : array_like, shape (H, W)
        The predicted map.
    fixations : array_like, shape (H, W)
        Fixation map: True (or > 0) at fixated pixels.
    n_splits : int, optional
        Random negative sets (default 100).
    step : float, optional
        Threshold step (default 0.1).
    seed : int, optional
        Seed of the negative draws.

    Returns
    -------
    float
        Mean area over splits; NaN for a constant map.

    References
    ----------
    Borji, Tavakoli, Sihite & Itti (2013), "Analysis of scores, datasets, and models in visual
    saliency prediction", ICCV; Bylinskii et al. (2019), section 3.1.2.

    Examples
    --------
    >>> region = np.zeros((10, 10)); region[2:4, 3:8] = 1  # 10 % of the pixels
    >>> round(auc_borji(region, region, n_splits=2000), 2)  # 1 - 0.1 / 2: negatives hit the region
    0.95
    """
    binned = _step_bins(saliency_map, fixations, step)
    if binned is None:
        return math.nan
    bins, positive_counts, n_bins = binned
    # N_fix uniform draws with replacement fall into the bins multinomially
    pixel_share = np.bincount(bins, minlength=n_bins) / bins.size
    negatives = _rng(seed).multinomial(positive_counts.sum(), pixel_share, size=n_splits)
    return _roc_area(positive_counts, negatives)


def auc_shuffled(saliency_map, fixations, other_fixations, n_splits: int = 100, step: float = 0.1, seed=0) -> float:
    """Shuffled AUC (sAUC): as AUC-Borji, with negatives at other images' fixated pixels.

    Each split draws ``min(N_fix, N_other)`` distinct pixels from ``other_fixations`` (the union
    of fixations on other images; the benchmark uses 10 images) and takes the map's values there
    as negatives, which discounts a centre bias shared by all images. As in :func:`auc_borji`,
    each split draws the negatives' counts between thresholds directly (multivariate
    hypergeometric).

    Parameters
    ----------
    saliency_map : array_like, shape (H, W)
        The predicted map.
    fixations : array_like, shape (H, W)
        Fixation map of this image: True (or > 0) at fixated pixels.
    other_fixations : array_like, shape (H, W)
        Fixation map of other images' fixations.
    n_splits : int, optional
        Random negative sets (default 100).
    step : float, optional
        Threshold step (default 0.1).
    seed : int, optional
        Seed of the negative draws.

    Returns
    -------
    float
        Mean area over splits; NaN for a constant map.

    References
    ----------
    Zhang, Tong, Marks, Shan & Cottrell (2008), "SUN: a Bayesian framework for saliency using
    natural statistics", JoV; Borji et al. (2013); Bylinskii et al. (2019), section 3.1.2.

    Examples
    --------
    >>> auc_shuffled([[1, 0], [0, 0]], [[1, 0], [0, 0]], [[0, 1], [1, 0]])
    1.0
    """
    binned = _step_bins(saliency_map, fixations, step)
    others = _check_fixations(other_fixations, np.shape(saliency_map), "other_fixations").ravel()
    if binned is None:
        return math.nan
    bins, positive_counts, n_bins = binned
    # distinct pixels drawn from the other fixations fall into the bins hypergeometrically
    available = np.bincount(bins[others], minlength=n_bins)
    n_negatives = min(positive_counts.sum(), available.sum())
    negatives = _rng(seed).multivariate_hypergeometric(available, n_negatives, size=n_splits)
    return _roc_area(positive_counts, negatives)


# --------------------------------------------------------------------------------------------
# Fixations from continuous maps; whole comparisons
# --------------------------------------------------------------------------------------------
def fixations_from_map(
    human_map, method: str = "threshold", threshold: float = 0.5, n_fixations: int = 100, seed=0
) -> np.ndarray:
    """Binary fixation map from a continuous (ClickMe) map.

    Parameters
    ----------
    human_map : array_like, shape (H, W)
        The continuous map.
    method : {"threshold", "sample"}, optional
        ``"threshold"`` (default): pixels whose min-max scaled value is >= ``threshold``.
        ``"sample"``: ``n_fixations`` pixels drawn with replacement with probability
        proportional to the (non-negative) map; repeated draws mark one pixel.
    threshold : float, optional
        Fraction of the map's range, in (0, 1] (default 0.5: at least half-way from the
        minimum to the maximum).
    n_fixations : int, optional
        Draws for ``"sample"`` (default 100).
    seed : int, optional
        Seed of the draws.

    Returns
    -------
    ndarray of bool, shape (H, W)
        True at fixated pixels (at least one).

    Raises
    ------
    InputError
        For a constant map (no fixations can be derived), a negative map with ``"sample"``, or
        an unknown method.

    Examples
    --------
    >>> fixations_from_map([[0, 1], [3, 4]], threshold=0.5).astype(int)
    array([[0, 0],
           [1, 1]])
    """
    m = _check_map(human_map, "human_map")
    if m.max() == m.min():
        raise InputError(
            f"expected a map with some contrast, got a constant map ({m.max():g}): no fixations can be derived",
            field="human_map",
        )
    if method == "threshold":
        if not 0 < threshold <= 1:
            raise InputError(f"expected a threshold in (0, 1], got {threshold}", field="threshold")
        return _min_max(m) >= threshold
    if method == "sample":
        _check_non_negative(m, "human_map")
        if n_fixations < 1:
            raise InputError(f"expected n_fixations >= 1, got {n_fixations}", field="n_fixations")
        drawn = _rng(seed).choice(m.size, size=n_fixations, p=(m / m.sum()).ravel())
        fixated = np.zeros(m.size, dtype=bool)
        fixated[drawn] = True
        return fixated.reshape(m.shape)
    raise InputError(f"expected method 'threshold' or 'sample', got {method!r}", field="method")


def _streams(seed) -> list[np.random.SeedSequence]:
    """Independent seeds for (fixations, AUC-Judd jitter, AUC-Borji, shuffled AUC)."""
    return np.random.SeedSequence(seed).spawn(4)


def _check_metrics(metrics, shuffled_possible: bool) -> tuple[str, ...]:
    if metrics is None:
        return tuple(m for m in METRICS if shuffled_possible or m != "auc_shuffled")
    metrics = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise InputError(f"expected metrics from {METRICS}, got {unknown}", field="metrics")
    return metrics


def compare_maps(
    pred,
    human,
    metrics: Sequence[str] | None = None,
    fixations=None,
    seed=0,
    other_fixations=None,
    fixation_method: str = "threshold",
    threshold: float = 0.5,
    n_fixations: int = 100,
    top: float = 0.1,
) -> dict[str, float]:
    """Score one predicted map against one human map with several metrics.

    Parameters
    ----------
    pred, human : array_like, shape (H, W)
        Predicted (model / saliency) map and human (ClickMe) map.
    metrics : sequence of str, optional
        Names from :data:`METRICS`; default all of them, less ``auc_shuffled`` when
        ``other_fixations`` is not given.
    fixations : array_like, shape (H, W), optional
        Fixation map for the location-based metrics; default
        ``fixations_from_map(human, fixation_method, threshold, n_fixations)``.
    seed : int or sequence of int, optional
        Root seed; the fixation draws, the AUC-Judd jitter and the AUC-Borji / shuffled AUC
        negatives get independent streams from it, so a metric's value does not depend on which
        other metrics are asked for.
    other_fixations : array_like, shape (H, W), optional
        Union of other images' fixations, needed by ``auc_shuffled``.
    fixation_method, threshold, n_fixations
        Passed to :func:`fixations_from_map`.
    top : float, optional
        Top fraction for ``dice`` and ``iou`` (default 0.1).

    Returns
    -------
    dict of str to float
        Metric name -> value, in the order asked.

    Examples
    --------
    >>> human = np.array([[0, 1, 0], [1, 4, 1], [0, 1, 0]], float)
    >>> scores = compare_maps(human, human, metrics=["cc", "sim", "nss"])
    >>> {k: round(v, 3) for k, v in scores.items()}
    {'cc': 1.0, 'sim': 1.0, 'nss': 2.451}
    """
    metrics = _check_metrics(metrics, other_fixations is not None)
    if "auc_shuffled" in metrics and other_fixations is None:
        raise InputError("auc_shuffled needs other_fixations (other images' fixations)", field="other_fixations")
    pred, human = _check_pair(pred, human, ("pred", "human"))
    fixation_seed, judd_seed, borji_seed, shuffled_seed = _streams(seed)
    if fixations is None and any(m in _LOCATION_BASED for m in metrics):
        fixations = fixations_from_map(human, fixation_method, threshold, n_fixations, fixation_seed)
    scorers = {
        "spearman": lambda: spearman(pred, human),
        "cc": lambda: cc(pred, human),
        "nss": lambda: nss(pred, fixations),
        "sim": lambda: sim(pred, human),
        "kl": lambda: kl(pred, human),
        "auc_judd": lambda: auc_judd(pred, fixations, seed=judd_seed),
        "auc_borji": lambda: auc_borji(pred, fixations, seed=borji_seed),
        "auc_shuffled": lambda: auc_shuffled(pred, fixations, other_fixations, seed=shuffled_seed),
        "dice": lambda: dice(pred, human, top),
        "iou": lambda: iou(pred, human, top),
    }
    return {metric: scorers[metric]() for metric in metrics}


def _mask(indices: np.ndarray, shape: tuple) -> np.ndarray:
    mask = np.zeros(int(np.prod(shape)), dtype=bool)
    mask[indices] = True
    return mask.reshape(shape)


def score_maps(
    preds: Mapping,
    humans: Mapping,
    metrics: Sequence[str] | None = None,
    fixations: Mapping | None = None,
    seed: int = 0,
    n_other: int = 10,
    fixation_method: str = "threshold",
    threshold: float = 0.5,
    n_fixations: int = 100,
    top: float = 0.1,
    progress: bool = False,
    match: bool = False,
) -> pd.DataFrame:
    """Score predicted maps against human maps, image by image, as a tidy table.

    Parameters
    ----------
    preds : Mapping[str, array_like]
        Image id -> predicted map (any :func:`clickme_analysis.archive.open_maps` source works).
        Every id of ``humans`` must be present (unless ``match``); other ids are ignored. A
        prediction of another size than its human map is resized to it when its aspect ratio is the
        same, else refused (:func:`clickme_analysis.shapes.fit_map`). Images whose human map is
        all zero (no clicks) are skipped and listed on stderr
        (:func:`clickme_analysis.shapes.skip_empty`).
    humans : Mapping[str, array_like]
        Image id -> human map; sets the images scored and their order.
    metrics : sequence of str, optional
        Names from :data:`METRICS`; default all (``auc_shuffled`` only with two images or more).
    fixations : Mapping[str, array_like or FixationPoints], optional
        Image id -> fixation map, or fixation points
        (:func:`clickme_analysis.fixations.read_fixations`, rasterised at the human map's size);
        default derived from each human map with :func:`fixations_from_map` (``fixation_method``,
        ``threshold``, ``n_fixations``).
    seed : int, optional
        Root seed; image i is scored with ``compare_maps(..., seed=[seed, i])``.
    n_other : int, optional
        Other images whose fixations are pooled as shuffled-AUC negatives (default 10, as in
        Borji et al. 2013), drawn at random per image.
    fixation_method, threshold, n_fixations, top
        See :func:`compare_maps`.
    progress : bool, optional
        Show a progress bar over images (on a terminal).
    match : bool, optional
        Score the images present on every side (:func:`clickme_analysis.ids.match_ids`: an error
        when none match, a warning with the counts when some do not) instead of requiring a
        prediction for every human map.

    Returns
    -------
    pandas.DataFrame
        Columns ``image_id, metric, value``: one row per image and metric (docs/outputs.md,
        ``metrics.csv``); plus ``resized_from`` ("HxW" of the resized prediction, "" otherwise)
        when a prediction was resized.

    Raises
    ------
    InputError
        When a human image has no prediction (or no fixation map), or a map is bad; the message
        names the image id.

    Examples
    --------
    >>> humans = {"a": np.eye(3), "b": np.fliplr(np.eye(3))}
    >>> score_maps(humans, humans, metrics=["cc"])
      image_id metric  value
    0        a     cc    1.0
    1        b     cc    1.0
    """
    from clickme_analysis.fixations import FixationPoints, fixation_map
    from clickme_analysis.progress import progress as bar

    image_ids = list(humans.keys())
    if match:
        from clickme_analysis.ids import match_ids

        image_ids = match_ids(list(preds.keys()), image_ids, what="predictions", other="human maps")
        if fixations is not None:
            image_ids = match_ids(list(fixations.keys()), image_ids, what="fixation sets", other="scored maps")
    for name, mapping in (("preds", preds), ("fixations", fixations)):
        missing = [] if mapping is None else [i for i in image_ids if i not in mapping]
        if missing:
            raise InputError(
                f"expected an entry for every human map, {len(missing)} missing (first: {missing[:5]})", field=name
            )
    image_ids = skip_empty(humans, image_ids, "metrics")
    if not image_ids:
        raise InputError("expected at least one human map with clicks, got none", field="humans")
    metrics = _check_metrics(metrics, len(image_ids) > 1)
    location = any(m in _LOCATION_BASED for m in metrics)
    fixation_options = dict(fixation_method=fixation_method, threshold=threshold, n_fixations=n_fixations)

    def located(function, image_id, *args, **kwargs):
        try:
            return function(*args, **kwargs)
        except InputError as error:
            raise InputError(f"image {image_id!r}: {error.message}", field=error.field) from error

    def fixation_map_of(index: int, image_id, human: np.ndarray) -> np.ndarray:
        if fixations is not None:
            given = fixations[image_id]
            if isinstance(given, FixationPoints):
                return fixation_map(given, np.shape(human))
            return _check_fixations(given, np.shape(human))
        return fixations_from_map(human, fixation_method, threshold, n_fixations, _streams([seed, index])[0])

    pooled = None  # (shape, flat fixated indices) of every image, for shuffled-AUC negatives
    if "auc_shuffled" in metrics:
        pooled = []
        for index, image_id in enumerate(bar(image_ids, enabled=progress, desc="fixations")):
            human = np.asarray(humans[image_id])
            fixated = located(fixation_map_of, image_id, index, image_id, human)
            pooled.append((human.shape, np.flatnonzero(fixated)))
    rng = np.random.default_rng(seed)
    rows = []
    resized = {}
    for index, image_id in enumerate(bar(image_ids, enabled=progress, desc="scoring maps")):
        human = np.asarray(humans[image_id])
        pred = np.asarray(preds[image_id])
        if pred.ndim == 2 and human.ndim == 2 and pred.shape != human.shape:
            resized[image_id] = f"{pred.shape[0]}x{pred.shape[1]}"
            pred = fit_map(pred, human.shape, what="prediction (the human map's shape)", field=image_id)
        fix = other_fixations = None
        if pooled is not None:
            fix = _mask(pooled[index][1], human.shape)
            others = np.delete(np.arange(len(image_ids)), index)
            chosen = rng.choice(others, size=min(n_other, others.size), replace=False)
            if any(pooled[j][0] != human.shape for j in chosen):
                raise InputError(
                    f"image {image_id!r}: shuffled AUC needs human maps of one shape, "
                    f"got {sorted({pooled[j][0] for j in chosen} | {human.shape})}",
                    field="humans",
                )
            other_fixations = _mask(np.concatenate([pooled[j][1] for j in chosen]), human.shape)
        elif location:
            fix = located(fixation_map_of, image_id, index, image_id, human)
        scores = located(
            compare_maps,
            image_id,
            pred,
            human,
            metrics,
            fix,
            [seed, index],
            other_fixations,
            top=top,
            **fixation_options,
        )
        rows.extend((image_id, metric, value) for metric, value in scores.items())
    table = pd.DataFrame(rows, columns=["image_id", "metric", "value"])
    if resized:
        table["resized_from"] = table["image_id"].map(resized).fillna("")
    return table
