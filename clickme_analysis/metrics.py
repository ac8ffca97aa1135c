"""Comparing predicted maps with human maps: one pair (:func:`compare_maps`) or many (:func:`score_maps`).

The metric functions (MIT saliency benchmark definitions) live in
:mod:`clickme_analysis.saliency_metrics` and are re-exported here. ClickMe maps are continuous, so
the location-based metrics' "fixations" are derived from them by :func:`fixations_from_map`
(pixels above a fraction of the map's range, or samples drawn from the map).

Differences from the benchmark code are listed in docs/metrics.md: :func:`compare_maps` takes maps
of one shape, and :func:`score_maps` resizes a prediction of another size to the human map's as
the benchmark does when the aspect ratio is the same (:func:`clickme_analysis.shapes.fit_map`,
recorded in the table; another aspect ratio is refused); NaN / infinite values raise
instead of propagating.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from clickme_analysis.fixations import FixationPoints, fixation_map
from clickme_analysis.ids import match_ids
from clickme_analysis.progress import progress as bar
from clickme_analysis.saliency_metrics import (
    _check_fixations,
    _check_map,
    _check_non_negative,
    _check_pair,
    _min_max,
    _rng,
    auc_borji,
    auc_judd,
    auc_shuffled,
    cc,
    dice,
    iou,
    kl,
    nss,
    sim,
    spearman,
)
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


# --------------------------------------------------------------------------------------------
# Fixations from continuous maps; whole comparisons
# --------------------------------------------------------------------------------------------
def fixations_from_map(
    human_map, method: str = "threshold", *, threshold: float = 0.5, n_fixations: int = 100, seed=0
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
    *,
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
        fixations = fixations_from_map(
            human, fixation_method, threshold=threshold, n_fixations=n_fixations, seed=fixation_seed
        )
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


@contextlib.contextmanager
def _about(image_id):
    """Prefix an :class:`InputError` raised inside with the image id."""
    try:
        yield
    except InputError as error:
        raise InputError(f"image {image_id!r}: {error.message}", field=error.field) from error


def _scored_ids(preds: Mapping, humans: Mapping, fixations: Mapping | None, match: bool) -> list:
    """The ids of ``humans`` to score: matched or checked against the other sides, empty maps skipped."""
    image_ids = list(humans.keys())
    if match:
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
    return image_ids


def _fixations_of(fixations: Mapping | None, seed, options: dict, index: int, image_id, human) -> np.ndarray:
    """Image ``index``'s fixation map: given (a map or points) or derived from its human map."""
    if fixations is not None:
        given = fixations[image_id]
        if isinstance(given, FixationPoints):
            return fixation_map(given, np.shape(human))
        return _check_fixations(given, np.shape(human))
    return fixations_from_map(
        human,
        options["fixation_method"],
        threshold=options["threshold"],
        n_fixations=options["n_fixations"],
        seed=_streams([seed, index])[0],
    )


def _pooled_fixations(image_ids: list, humans: Mapping, fixations_of, progress: bool) -> list:
    """(shape, flat fixated indices) of every image, the shuffled-AUC negatives."""
    pooled = []
    for index, image_id in enumerate(bar(image_ids, enabled=progress, desc="fixations")):
        human = np.asarray(humans[image_id])
        with _about(image_id):
            fixated = fixations_of(index, image_id, human)
        pooled.append((human.shape, np.flatnonzero(fixated)))
    return pooled


def _shuffled_pair(pooled: list, index: int, image_id, shape: tuple, rng, n_other: int):
    """Image ``index``'s fixation map and the union of ``n_other`` other images' fixations, drawn by ``rng``."""
    others = np.delete(np.arange(len(pooled)), index)
    chosen = rng.choice(others, size=min(n_other, others.size), replace=False)
    if any(pooled[j][0] != shape for j in chosen):
        raise InputError(
            f"image {image_id!r}: shuffled AUC needs human maps of one shape, "
            f"got {sorted({pooled[j][0] for j in chosen} | {shape})}",
            field="humans",
        )
    return _mask(pooled[index][1], shape), _mask(np.concatenate([pooled[j][1] for j in chosen]), shape)


def _image_fixations(pooled, fixations_of, index: int, image_id, human: np.ndarray, rng, n_other: int):
    """(fixations, other images' fixations) of image ``index``; None where no metric asked needs them."""
    if pooled is not None:
        return _shuffled_pair(pooled, index, image_id, human.shape, rng, n_other)
    if fixations_of is None:
        return None, None
    with _about(image_id):
        return fixations_of(index, image_id, human), None


def _tidy(rows: list, resized: dict) -> pd.DataFrame:
    """The ``image_id, metric, value`` table, with ``resized_from`` when a prediction was resized."""
    table = pd.DataFrame(rows, columns=["image_id", "metric", "value"])
    if resized:
        table["resized_from"] = table["image_id"].map(resized).fillna("")
    return table


def _fitted_prediction(pred: np.ndarray, human: np.ndarray, image_id, resized: dict) -> np.ndarray:
    """``pred`` at the human map's shape (:func:`fit_map`), its old "HxW" recorded in ``resized``."""
    if pred.ndim == 2 and human.ndim == 2 and pred.shape != human.shape:
        resized[image_id] = f"{pred.shape[0]}x{pred.shape[1]}"
        pred = fit_map(pred, human.shape, what="prediction (the human map's shape)", field=image_id)
    return pred


def score_maps(
    preds: Mapping,
    humans: Mapping,
    metrics: Sequence[str] | None = None,
    *,
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
    """Score predicted maps against human maps, image by image, as a tidy table (docs/metrics.md).

    Parameters
    ----------
    preds : Mapping[str, array_like]
        Image id -> predicted map (any :func:`clickme_analysis.archive.open_maps` source). Every id
        of ``humans`` must be present (unless ``match``); other ids are ignored. A prediction of
        another size is resized to its human map's when the aspect ratio is the same, else refused
        (:func:`clickme_analysis.shapes.fit_map`).
    humans : Mapping[str, array_like]
        Image id -> human map; sets the images scored and their order. All-zero maps (no clicks)
        are skipped and listed on stderr (:func:`clickme_analysis.shapes.skip_empty`).
    metrics : sequence of str, optional
        Names from :data:`METRICS`; default all (``auc_shuffled`` only with two images or more).
    fixations : Mapping[str, array_like or FixationPoints], optional
        Image id -> fixation map or points (:func:`clickme_analysis.fixations.read_fixations`,
        rasterised at the human map's size); default derived from each human map
        (:func:`fixations_from_map` with ``fixation_method``, ``threshold``, ``n_fixations``).
    seed : int, optional
        Root seed; image i is scored with ``compare_maps(..., seed=[seed, i])``.
    n_other : int, optional
        Other images (drawn per image) whose fixations are the shuffled-AUC negatives (default 10).
    fixation_method, threshold, n_fixations, top
        See :func:`compare_maps`.
    progress : bool, optional
        Show a progress bar over images (on a terminal).
    match : bool, optional
        Score the ids present on every side (:func:`clickme_analysis.ids.match_ids`).

    Returns
    -------
    pandas.DataFrame
        ``image_id, metric, value``, one row per image and metric (``metrics.csv``); plus
        ``resized_from`` ("HxW" of a resized prediction, "" otherwise) when one was resized.

    Raises
    ------
    InputError
        When a human image has no prediction (or fixations), or a map is bad, naming the image.

    Examples
    --------
    >>> humans = {"a": np.eye(3), "b": np.fliplr(np.eye(3))}
    >>> score_maps(humans, humans, metrics=["cc"])
      image_id metric  value
    0        a     cc    1.0
    1        b     cc    1.0
    """
    image_ids = _scored_ids(preds, humans, fixations, match)
    metrics = _check_metrics(metrics, len(image_ids) > 1)
    options = dict(fixation_method=fixation_method, threshold=threshold, n_fixations=n_fixations, top=top)
    location = any(m in _LOCATION_BASED for m in metrics)  # auc_shuffled is one
    fixations_of = functools.partial(_fixations_of, fixations, seed, options) if location else None
    pooled = _pooled_fixations(image_ids, humans, fixations_of, progress) if "auc_shuffled" in metrics else None
    rng, rows, resized = np.random.default_rng(seed), [], {}
    for index, image_id in enumerate(bar(image_ids, enabled=progress, desc="scoring maps")):
        human = np.asarray(humans[image_id])
        pred = _fitted_prediction(np.asarray(preds[image_id]), human, image_id, resized)
        fix, others = _image_fixations(pooled, fixations_of, index, image_id, human, rng, n_other)
        with _about(image_id):
            scores = compare_maps(
                pred, human, metrics, fixations=fix, other_fixations=others, seed=[seed, index], **options
            )
        rows.extend((image_id, metric, value) for metric, value in scores.items())
    return _tidy(rows, resized)
