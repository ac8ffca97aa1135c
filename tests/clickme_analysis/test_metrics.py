"""Saliency metrics: hand-computed tiny cases, references, invariants and bad input."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage, stats

from clickme_analysis.errors import InputError
from clickme_analysis.metrics import (
    METRICS,
    auc_borji,
    auc_judd,
    auc_shuffled,
    cc,
    compare_maps,
    dice,
    fixations_from_map,
    iou,
    kl,
    nss,
    score_maps,
    sim,
    spearman,
)

A = np.array([[1.0, 2.0], [3.0, 4.0]])


def smooth_map(seed: int, shape=(32, 32), sigma: float = 3.0) -> np.ndarray:
    """A positive, blurred random map with distinct values."""
    noise = np.random.default_rng(seed).random(shape)
    return ndimage.gaussian_filter(noise, sigma) + 0.01


def top_pixels(array: np.ndarray, fraction: float) -> np.ndarray:
    return array >= np.quantile(array, 1 - fraction)


def brute_force_judd(saliency: np.ndarray, fixations: np.ndarray) -> float:
    """AUC-Judd written as the definition reads, with loops (no jitter)."""
    values = ((saliency - saliency.min()) / (saliency.max() - saliency.min())).ravel().tolist()
    fixated = [v for v, f in zip(values, fixations.ravel()) if f]
    n_fix, n_pix = len(fixated), len(values)
    tp, fp = [0.0], [0.0]
    for i, threshold in enumerate(sorted(fixated, reverse=True), start=1):
        above = sum(1 for v in values if v >= threshold)
        tp.append(i / n_fix)
        fp.append((above - i) / (n_pix - n_fix))
    tp.append(1.0)
    fp.append(1.0)
    return sum((fp[k + 1] - fp[k]) * (tp[k + 1] + tp[k]) / 2 for k in range(len(tp) - 1))


def brute_force_steps(positives, negatives, step: float) -> float:
    """The AUC-Borji / sAUC ROC with loops over decimal thresholds."""
    top = max(max(positives), max(negatives))
    thresholds = [round(k * step, 12) for k in range(int(math.floor(top / step + 1e-9)), -1, -1)]
    tp = [0.0] + [sum(p >= t for p in positives) / len(positives) for t in thresholds] + [1.0]
    fp = [0.0] + [sum(n >= t for n in negatives) / len(negatives) for t in thresholds] + [1.0]
    return sum((fp[k + 1] - fp[k]) * (tp[k + 1] + tp[k]) / 2 for k in range(len(tp) - 1))


# ----------------------------------------------------------------------------- Spearman, CC
def test_spearman_by_hand_and_against_scipy():
    assert spearman(A, [[1, 3], [2, 4]]) == pytest.approx(0.8)
    a, b = np.round(smooth_map(0), 2), np.round(smooth_map(1), 2)  # many ties
    assert spearman(a, b) == pytest.approx(stats.spearmanr(a.ravel(), b.ravel())[0], abs=1e-12)


def test_cc_by_hand_and_against_scipy():
    # centred: (-1.5, -.5, .5, 1.5) and (-.5, -1.5, 1.5, .5): sum of products 3, sums of squares 5
    assert cc(A, [[2, 1], [4, 3]]) == pytest.approx(0.6)
    a, b = smooth_map(2), smooth_map(3)
    assert cc(a, b) == pytest.approx(stats.pearsonr(a.ravel(), b.ravel())[0], abs=1e-12)


def test_correlations_self_negation_and_invariance():
    a, b = smooth_map(4), smooth_map(5)
    assert cc(a, a) == pytest.approx(1.0) and spearman(a, a) == pytest.approx(1.0)
    assert cc(a, -a) == pytest.approx(-1.0) and spearman(a, -a) == pytest.approx(-1.0)
    assert cc(3 * a + 7, b) == pytest.approx(cc(a, b))
    assert spearman(np.exp(a), b) == pytest.approx(spearman(a, b))  # any monotone map


def test_correlations_of_constant_map_are_nan():
    assert math.isnan(cc(np.ones((2, 2)), A))
    assert math.isnan(spearman(np.ones((2, 2)), A))


# ----------------------------------------------------------------------------- NSS
def test_nss_by_hand():
    # mean 2.5, sample SD sqrt(5 / 3); z(4) = 1.5 / 1.29099
    assert nss(A, [[0, 0], [0, 1]]) == pytest.approx(1.5 / math.sqrt(5 / 3))
    assert nss(A, [[1, 0], [0, 1]]) == pytest.approx(0.0)  # z = -1.16, +1.16
    assert nss(A, [[0, 0], [0, True]], ddof=0) == pytest.approx(1.5 / math.sqrt(1.25))


def test_nss_counts_each_pixel_once_and_is_affine_invariant():
    assert nss(A, [[0, 0], [1, 5]]) == nss(A, [[0, 0], [1, 1]])
    a = smooth_map(6)
    fixations = top_pixels(smooth_map(7), 0.05)
    assert nss(2 * a + 1, fixations) == pytest.approx(nss(a, fixations))
    assert nss(a, top_pixels(a, 0.05)) > 1.5


def test_nss_of_constant_map_is_nan():
    assert math.isnan(nss(np.full((2, 2), 3.0), [[1, 0], [0, 0]]))


# ----------------------------------------------------------------------------- SIM
def test_sim_by_hand():
    # (0, .5, .5, 1) / 2 and (0, 0, 0, 1): minima sum to .5
    assert sim([[0, 1], [1, 2]], [[0, 0], [0, 1]]) == pytest.approx(0.5)
    assert sim([[1, 0], [0, 0]], [[0, 0], [0, 1]]) == 0.0


def test_sim_identical_invariance_and_degenerate_maps():
    a, b = smooth_map(8), smooth_map(9)
    assert sim(a, a) == pytest.approx(1.0)
    assert sim(5 * a - 2, b) == pytest.approx(sim(a, b))  # min-max first: affine invariant
    assert 0 < sim(a, b) < 1
    assert sim(np.zeros((2, 2)), A) == 0.0  # the benchmark keeps an all-zero map at zero
    assert math.isnan(sim(np.full((2, 2), 2.0), A))


# ----------------------------------------------------------------------------- KL
def test_kl_by_hand():
    uniform = np.ones((2, 2))
    assert kl(uniform, [[0, 0], [0, 1]]) == pytest.approx(math.log(4))
    assert kl(uniform, [[1, 1], [0, 0]]) == pytest.approx(math.log(2))
    # the prediction misses the human mass entirely: log(eps + 1 / eps)
    assert kl([[0, 1]], [[1, 0]]) == pytest.approx(math.log(1 / 2.2204e-16))


def test_kl_identical_zero_scale_invariant_and_asymmetric():
    a, b = smooth_map(10), smooth_map(11)
    assert abs(kl(a, a)) < 1e-12
    assert kl(4 * a, 0.5 * b) == pytest.approx(kl(a, b))
    assert kl(a, b) > 0 and kl(a, b) != pytest.approx(kl(b, a))


def test_kl_rejects_negative_maps():
    with pytest.raises(InputError, match="non-negative") as error:
        kl(A - 2, A)
    assert error.value.field == "saliency_map"


# ----------------------------------------------------------------------------- Dice, IoU
def test_dice_and_iou_by_hand():
    a, b = [[4, 3], [2, 1]], [[1, 4], [3, 2]]  # top halves share one pixel
    assert dice(a, b, top=0.5) == pytest.approx(0.5)
    assert iou(a, b, top=0.5) == pytest.approx(1 / 3)


def test_top_ten_percent_set_size_and_ties():
    ramp = np.arange(100.0).reshape(10, 10)
    shifted = np.roll(ramp, 5)  # top 10 = values 90..99 moved by 5 pixels: 5 shared
    assert dice(ramp, shifted) == pytest.approx(0.5)
    assert iou(ramp, shifted) == pytest.approx(5 / 15)
    tied = ramp.copy()
    tied[-2:] = 99.0  # 20 tied maxima: all in the set
    assert dice(tied, ramp) == pytest.approx(2 * 10 / 30)


def test_dice_iou_identical_and_scale_invariant():
    a, b = smooth_map(12), smooth_map(13)
    assert dice(a, a) == 1.0 and iou(a, a) == 1.0
    assert dice(3 * a, b) == dice(a, b) and iou(3 * a, b) == iou(a, b)


@pytest.mark.parametrize("top", [0, -0.1, 1.5])
def test_dice_rejects_bad_top(top):
    with pytest.raises(InputError, match="top fraction"):
        dice(A, A, top=top)


# ----------------------------------------------------------------------------- AUC-Judd
def test_auc_judd_by_hand():
    # scaled map (1, 0, .5, .25); fixated 1 and .25. ROC (0,0) (0,.5) (.5,1) (1,1): area .875
    assert auc_judd([[0.9, 0.1], [0.5, 0.3]], [[1, 0], [0, 1]], jitter=False) == pytest.approx(0.875)
    # fixated .5: ROC (0,0) (1/3,1) (1,1): area 5/6
    assert auc_judd([[0.9, 0.1], [0.5, 0.3]], [[0, 0], [1, 0]], jitter=False) == pytest.approx(5 / 6)
    # a fixation at the minimum joins (0,0) to (1,1) directly: 0.5 (the trapezoid form), not 0
    assert auc_judd([[0.9, 0.1], [0.5, 0.3]], [[0, 1], [0, 0]], jitter=False) == pytest.approx(0.5)


def test_auc_judd_matches_brute_force():
    a = smooth_map(14, (12, 12))
    fixations = np.random.default_rng(0).random(a.shape) < 0.15
    expected = brute_force_judd(a, fixations)
    assert auc_judd(a, fixations, jitter=False) == pytest.approx(expected, abs=1e-12)
    assert auc_judd(a, fixations) == pytest.approx(expected, abs=1e-4)  # jitter is tiny


def test_auc_judd_own_top_pixels_and_invariance():
    a = smooth_map(15)
    own = top_pixels(a, 0.05)
    assert auc_judd(a, own, jitter=False) == pytest.approx(1.0)
    assert auc_judd(-a, own, jitter=False) < 0.05
    other = top_pixels(smooth_map(16), 0.05)
    assert auc_judd(7 * a + 3, other, jitter=False) == pytest.approx(auc_judd(a, other, jitter=False))


def test_auc_judd_jitter_is_seeded_and_breaks_constant_maps():
    flat = np.zeros((40, 40))
    fixations = np.random.default_rng(1).random(flat.shape) < 0.1
    assert auc_judd(flat, fixations, seed=3) == auc_judd(flat, fixations, seed=3)
    assert auc_judd(flat, fixations, seed=3) == pytest.approx(0.5, abs=0.1)
    assert math.isnan(auc_judd(flat, fixations, jitter=False))


def test_auc_judd_all_pixels_fixated_is_nan():
    assert math.isnan(auc_judd(A, np.ones((2, 2)), jitter=False))


# ----------------------------------------------------------------------------- AUC-Borji, sAUC
def test_step_thresholds_by_hand():
    # other fixations no more than fixations: every split uses all of them, deterministic.
    # positives (1, .5), negatives (0, .5); thresholds 1.0 ... 0: ROC (0,0) (0,.5) (.5,1) (1,1)
    assert auc_shuffled([[1, 0.5], [0, 0.5]], [[1, 1], [0, 0]], [[0, 0], [1, 1]]) == pytest.approx(0.875)
    # 0.3 sits exactly on the decimal threshold 0.3 (not 3 * 0.1 = 0.30000000000000004)
    assert auc_shuffled([[0.3, 0.2], [0, 1]], [[1, 0], [0, 0]], [[0, 1], [0, 0]]) == pytest.approx(1.0)


@pytest.mark.parametrize("step", [0.1, 0.05, 0.3])
def test_step_thresholds_match_brute_force(step):
    rng = np.random.default_rng(2)
    a = rng.random((12, 12)) ** 2
    fixations = rng.random(a.shape) < 0.2
    others = np.zeros(a.size, dtype=bool)
    others[rng.choice(a.size, 10, replace=False)] = True  # fewer than the fixations
    others = others.reshape(a.shape)
    scaled = (a - a.min()) / (a.max() - a.min())
    expected = brute_force_steps(scaled[fixations].tolist(), scaled[others].tolist(), step)
    assert auc_shuffled(a, fixations, others, step=step) == pytest.approx(expected, abs=1e-12)


def test_auc_borji_agrees_with_explicit_uniform_draws():
    rng = np.random.default_rng(3)
    a = smooth_map(30, (12, 12))
    fixations = top_pixels(smooth_map(31, (12, 12)), 0.2)
    scaled = ((a - a.min()) / (a.max() - a.min())).ravel()
    positives = scaled[fixations.ravel()].tolist()
    explicit = np.mean(
        [
            brute_force_steps(positives, scaled[rng.integers(0, a.size, len(positives))].tolist(), 0.1)
            for _ in range(400)
        ]
    )
    assert auc_borji(a, fixations, n_splits=4000) == pytest.approx(explicit, abs=0.01)


@pytest.mark.parametrize("metric", [auc_borji, auc_shuffled])
def test_step_auc_rejects_bad_step(metric):
    extra = [np.eye(2)] if metric is auc_shuffled else []
    with pytest.raises(InputError, match=r"threshold step in \(0, 1\]"):
        metric(A, np.eye(2), *extra, step=0)


def test_auc_borji_expected_value_by_hand():
    # map = its own 10 % region; a random negative lands in the region with p = .1, and a
    # split with k of N negatives there scores 1 - k / (2N): expected 1 - .1 / 2 = .95
    region = np.zeros((10, 10))
    region[2:4, 3:8] = 1
    assert auc_borji(region, region, n_splits=4000, seed=0) == pytest.approx(0.95, abs=0.005)


def test_auc_borji_seeded_and_invariant():
    a, fixations = smooth_map(17), top_pixels(smooth_map(18), 0.05)
    assert auc_borji(a, fixations, seed=5) == auc_borji(a, fixations, seed=5)
    assert auc_borji(a, fixations, seed=5) != auc_borji(a, fixations, seed=6)
    assert auc_borji(2 * a + 1, fixations, seed=5) == pytest.approx(auc_borji(a, fixations, seed=5))
    assert auc_borji(a, top_pixels(a, 0.05)) > 0.95
    assert math.isnan(auc_borji(np.ones((3, 3)), np.eye(3)))


def test_auc_shuffled_by_hand():
    ramp = np.arange(9.0).reshape(3, 3)  # scaled values k / 8
    fixations = (ramp == 8) | (ramp == 4)  # positives 1, .5
    others = (ramp == 6) | (ramp == 2)  # negatives .75, .25 (all used: only two)
    # ROC (0,0) (0,.5) (.5,.5) (.5,1) (1,1): area .75, equal to the pairwise rate 3 / 4
    assert auc_shuffled(ramp, fixations, others) == pytest.approx(0.75)


def test_auc_shuffled_discounts_centre_bias():
    size = 40
    yy, xx = np.mgrid[:size, :size]
    centre = np.exp(-((yy - size / 2) ** 2 + (xx - size / 2) ** 2) / (2 * 6.0**2))
    fixations = fixations_from_map(centre, "sample", n_fixations=60, seed=1)
    others = fixations_from_map(centre, "sample", n_fixations=600, seed=2)
    assert auc_borji(centre, fixations) > 0.8
    assert auc_shuffled(centre, fixations, others, seed=0) == pytest.approx(0.5, abs=0.08)


def test_auc_shuffled_rejects_empty_or_misshapen_other_fixations():
    with pytest.raises(InputError, match="at least one fixated pixel") as error:
        auc_shuffled(A, [[1, 0], [0, 0]], np.zeros((2, 2)))
    assert error.value.field == "other_fixations"
    with pytest.raises(InputError, match=r"shape \(2, 2\), got \(3, 3\)"):
        auc_shuffled(A, [[1, 0], [0, 0]], np.eye(3))


# ----------------------------------------------------------------------------- fixations_from_map
def test_fixations_threshold_by_hand():
    # scaled (0, 1/4, 3/4, 1): at .5 the lower two are out; at .25 one more is in
    np.testing.assert_array_equal(fixations_from_map([[0, 1], [3, 4]]), [[False, False], [True, True]])
    np.testing.assert_array_equal(fixations_from_map([[0, 1], [3, 4]], threshold=0.25), [[False, True], [True, True]])


def test_fixations_sample_follow_the_map_and_are_seeded():
    one_hot = np.zeros((5, 5))
    one_hot[1, 3] = 2.0
    assert np.argwhere(fixations_from_map(one_hot, "sample", n_fixations=50)).tolist() == [[1, 3]]
    a = smooth_map(19)
    first = fixations_from_map(a, "sample", n_fixations=80, seed=4)
    assert first.dtype == bool and 0 < first.sum() <= 80
    np.testing.assert_array_equal(first, fixations_from_map(a, "sample", n_fixations=80, seed=4))
    assert not np.array_equal(first, fixations_from_map(a, "sample", n_fixations=80, seed=5))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(human_map=np.ones((3, 3))), "constant map"),
        (dict(human_map=A - 3, method="sample"), "non-negative"),
        (dict(human_map=A, method="peaks"), "expected method"),
        (dict(human_map=A, threshold=0), r"threshold in \(0, 1\]"),
        (dict(human_map=A, method="sample", n_fixations=0), "n_fixations >= 1"),
    ],
)
def test_fixations_bad_input(kwargs, message):
    with pytest.raises(InputError, match=message):
        fixations_from_map(**kwargs)


# ----------------------------------------------------------------------------- bad input, all metrics
PAIRED = [spearman, cc, sim, kl, dice, iou]
LOCATED = [nss, auc_judd, auc_borji]


@pytest.mark.parametrize("metric", PAIRED)
def test_paired_metrics_reject_shape_mismatch_and_nan(metric):
    with pytest.raises(InputError, match=r"one shape, got \(2, 2\) and \(2, 3\)"):
        metric(A, np.ones((2, 3)))
    with pytest.raises(InputError, match="1 NaN or infinite") as error:
        metric(A, [[1, np.nan], [1, 1]])
    assert error.value.field == "human_map"
    with pytest.raises(InputError, match=r"2-D \(H, W\) map, got shape \(2, 2, 1\)"):
        metric(A[..., None], A[..., None])


@pytest.mark.parametrize("metric", LOCATED)
def test_location_metrics_reject_bad_fixations(metric):
    with pytest.raises(InputError, match="at least one fixated pixel, got none"):
        metric(A, np.zeros((2, 2)))
    with pytest.raises(InputError, match=r"fixation map of shape \(2, 2\), got \(3, 3\)"):
        metric(A, np.eye(3))
    with pytest.raises(InputError, match="non-negative fixation map"):
        metric(A, [[-1, 0], [0, 1]])
    with pytest.raises(InputError, match="NaN") as error:
        metric([[np.nan, 1], [2, 3]], [[1, 0], [0, 0]])
    assert error.value.field == "saliency_map"


def test_string_maps_are_rejected():
    with pytest.raises(InputError, match="numeric map"):
        cc(np.array([["a", "b"]]), np.array([["a", "b"]]))


# ----------------------------------------------------------------------------- compare_maps
def test_compare_maps_equals_the_single_metrics():
    pred, human = smooth_map(20), smooth_map(21)
    scores = compare_maps(pred, human, seed=9)
    assert list(scores) == [m for m in METRICS if m != "auc_shuffled"]
    fixations = fixations_from_map(human)  # threshold method: no randomness
    assert scores["cc"] == cc(pred, human) and scores["sim"] == sim(pred, human)
    assert scores["kl"] == kl(pred, human) and scores["spearman"] == spearman(pred, human)
    assert scores["dice"] == dice(pred, human) and scores["iou"] == iou(pred, human)
    assert scores["nss"] == nss(pred, fixations)
    assert scores["auc_judd"] == pytest.approx(auc_judd(pred, fixations, jitter=False), abs=1e-5)


def test_compare_maps_seed_streams_do_not_depend_on_the_metric_list():
    pred, human = smooth_map(22), smooth_map(23)
    others = top_pixels(smooth_map(24), 0.1)
    everything = compare_maps(pred, human, seed=3, other_fixations=others, fixation_method="sample")
    assert set(everything) == set(METRICS)
    alone = compare_maps(
        pred, human, ["auc_borji", "auc_shuffled"], seed=3, other_fixations=others, fixation_method="sample"
    )
    assert alone == {m: everything[m] for m in alone}
    assert compare_maps(pred, human, "auc_borji", seed=4, fixation_method="sample") != {
        "auc_borji": everything["auc_borji"]
    }


def test_compare_maps_uses_given_fixations():
    pred, human = smooth_map(25), smooth_map(26)
    fixations = top_pixels(pred, 0.02)
    assert compare_maps(pred, human, ["nss"], fixations=fixations)["nss"] == nss(pred, fixations)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(metrics=["auc_shuffled"]), "needs other_fixations"),
        (dict(metrics=["cc", "emd"]), r"got \['emd'\]"),
        (dict(human=np.ones((3, 3))), "one shape"),
    ],
)
def test_compare_maps_bad_input(kwargs, message):
    arguments = dict(pred=A, human=A) | kwargs
    with pytest.raises(InputError, match=message):
        compare_maps(**arguments)


# ----------------------------------------------------------------------------- score_maps
def _maps(n: int, offset: int) -> dict:
    return {f"img{i}": smooth_map(offset + i, (24, 24)) for i in range(n)}


def test_score_maps_tidy_table_matches_compare_maps():
    preds, humans = _maps(3, 100), _maps(3, 200)
    humans = dict(reversed(list(humans.items())))  # humans set the order
    preds["extra"] = np.ones((24, 24))
    table = score_maps(preds, humans, metrics=["cc", "nss", "auc_borji"], seed=2)
    assert list(table.columns) == ["image_id", "metric", "value"]
    assert table["image_id"].tolist() == [i for i in humans for _ in range(3)]
    for index, image_id in enumerate(humans):
        expected = compare_maps(preds[image_id], humans[image_id], ["cc", "nss", "auc_borji"], seed=[2, index])
        got = table[table.image_id == image_id].set_index("metric")["value"].to_dict()
        assert got == expected


def test_score_maps_default_metrics_include_shuffled_auc():
    preds, humans = _maps(4, 300), _maps(4, 400)
    table = score_maps(preds, humans, seed=1, n_other=2, progress=True)
    assert len(table) == 4 * len(METRICS)
    assert table["metric"].tolist()[: len(METRICS)] == list(METRICS)
    assert table["value"].notna().all()
    pd.testing.assert_frame_equal(table, score_maps(preds, humans, seed=1, n_other=2))
    single = score_maps(_maps(1, 0), _maps(1, 0))
    assert "auc_shuffled" not in set(single["metric"])


def test_score_maps_with_given_fixations():
    preds, humans = _maps(2, 500), _maps(2, 600)
    fixations = {k: top_pixels(v, 0.1) for k, v in humans.items()}
    table = score_maps(preds, humans, metrics=["nss"], fixations=fixations)
    assert table["value"].tolist() == [nss(preds[k], fixations[k]) for k in humans]


def test_score_maps_missing_prediction():
    with pytest.raises(InputError, match=r"1 missing \(first: \['img1'\]\)") as error:
        score_maps(_maps(1, 0), _maps(2, 0))
    assert error.value.field == "preds"
    with pytest.raises(InputError, match="1 missing") as error:
        score_maps(_maps(2, 0), _maps(2, 0), fixations={"img0": np.eye(24)})
    assert error.value.field == "fixations"


def test_score_maps_names_the_bad_image():
    preds, humans = _maps(3, 0), _maps(3, 10)
    preds["img1"] = preds["img1"].copy()
    preds["img1"][0, 0] = np.nan
    with pytest.raises(InputError, match="image 'img1': expected finite values"):
        score_maps(preds, humans, metrics=["cc"])
    humans["img2"] = np.full((24, 24), 0.5)  # (an all-zero map is skipped: tests/clickme_analysis/test_shapes.py)
    with pytest.raises(InputError, match="image 'img2': .*constant map"):
        score_maps(_maps(3, 0), humans)


def test_score_maps_shuffled_needs_one_shape():
    preds, humans = _maps(2, 0), _maps(2, 10)
    preds["img1"] = humans["img1"] = smooth_map(1, (20, 20))
    with pytest.raises(InputError, match="maps of one shape"):
        score_maps(preds, humans, metrics=["auc_shuffled"])


def test_score_maps_keeps_its_values():
    """Values computed before score_maps was split into helpers (issue 21): same seeds, same negatives."""
    table = score_maps(_maps(4, 7), _maps(4, 0), seed=3, n_other=2)
    sums = table.groupby("metric", sort=False)["value"].sum().to_dict()
    assert list(sums) == list(METRICS)
    expected = {
        "spearman": -0.411040803255,
        "cc": -0.538926353747,
        "nss": -0.316679341064,
        "sim": 3.083550953542,
        "kl": 0.016080685856,
        "auc_judd": 1.820497179457,
        "auc_borji": 1.918883107566,
        "auc_shuffled": 1.917791193849,
        "dice": 0.241379310345,
        "iou": 0.12861952862,
    }
    assert sums == pytest.approx(expected, abs=1e-10)
