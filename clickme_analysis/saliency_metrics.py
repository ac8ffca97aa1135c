"""The individual saliency map metrics, with the MIT saliency benchmark's definitions.

Location-based metrics (NSS, AUC-Judd, AUC-Borji, shuffled AUC) score a predicted map against a
binary *fixation map*; distribution-based metrics (CC, SIM, KL, Spearman, Dice/IoU of the top
10 %) score it against a continuous human map. Definitions follow the benchmark's MATLAB code as
described in

    Bylinskii, Judd, Oliva, Torralba & Durand (2019). What do different evaluation metrics tell
    us about saliency models? IEEE TPAMI 41(3), 740-757.

Every function takes maps of one shape; NaN / infinite values raise instead of propagating
(docs/metrics.md). :mod:`clickme_analysis.metrics` re-exports them beside :func:`compare_maps
<clickme_analysis.metrics.compare_maps>` and :func:`score_maps <clickme_analysis.metrics.score_maps>`.
"""

from __future__ import annotations

import math

import numpy as np

from clickme_analysis.errors import InputError
from clickme_analysis.ranks import spearman_rows

__all__ = ["spearman", "cc", "nss", "sim", "kl", "auc_judd", "auc_borji", "auc_shuffled", "dice", "iou"]

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


def auc_borji(saliency_map, fixations, *, n_splits: int = 100, step: float = 0.1, seed=0) -> float:
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


def auc_shuffled(saliency_map, fixations, other_fixations, *, n_splits: int = 100, step: float = 0.1, seed=0) -> float:
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
