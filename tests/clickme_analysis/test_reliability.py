import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clickme_analysis.ceiling import split_half_ceiling
from clickme_analysis.errors import InputError
from clickme_analysis.maps import blur_map, paint_clicks
from clickme_analysis.ranks import paired_rank_correlations, rank_rows, spearman_rows
from clickme_analysis.reliability import (
    bootstrap_mean_ci,
    fraction_of_human_variability,
    inter_rater_reliability,
    spearman_brown,
    split_half_reliability,
    summarize_reliability,
)
from clickme_analysis.reliability_curve import reliability_curve


def blurred_maps(n, seed):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        centre = rng.uniform(40, 88, 2)
        painted, _ = paint_clicks(rng.normal(centre[0], 12, 30), rng.normal(centre[1], 12, 30), shape=(128, 128))
        out.append(blur_map(painted, "box", 25).astype(np.float32).ravel())
    return np.stack(out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_rank_rows_equals_scipy_average_ranks_with_ties(dtype):
    rng = np.random.default_rng(1)
    rows = rng.integers(-3, 4, size=(9, 200)).astype(dtype)
    rows[2] = 5  # one tie run only: ranked without a sort
    rows[3, :150] = 0  # a large zero background, as blurred maps have
    if dtype == np.float32:
        rows[0, :5] = -0.0  # signed zeros tie with zeros
        rows[1] = rng.normal(size=200)
    np.testing.assert_array_equal(rank_rows(rows, n_jobs=2), stats.rankdata(rows, axis=1))


def test_rank_rows_integer_counting_and_sorting_paths_agree_with_scipy():
    rng = np.random.default_rng(2)
    small = rng.integers(0, 50, size=(3, 100))  # counting sort
    large = rng.integers(-(10**12), 10**12, size=(3, 100))  # range too wide to count: sorted
    large[:, :20] = large[:, :1]  # with ties
    for rows in (small, large):
        np.testing.assert_array_equal(rank_rows(rows), stats.rankdata(rows, axis=1))


def test_spearman_rows_matches_scipy_on_blurred_maps():
    a, b = blurred_maps(11, 0), blurred_maps(11, 1)
    expected = [stats.spearmanr(x, y)[0] for x, y in zip(a, b)]
    np.testing.assert_allclose(spearman_rows(a, b), expected, atol=1e-9, rtol=0)
    np.testing.assert_allclose(spearman_rows(a.astype(np.float64), b, n_jobs=2), expected, atol=1e-9, rtol=0)


def test_spearman_rows_constant_row_is_nan_and_shapes_checked():
    out = spearman_rows([[1, 1, 1], [1, 2, 3]], [[1, 2, 3], [3, 2, 1]])
    assert np.isnan(out[0]) and out[1] == pytest.approx(-1)
    with pytest.raises(InputError, match="one shape"):
        spearman_rows(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(InputError, match="NaN"):
        rank_rows([[1.0, np.nan]])


def test_paired_rank_correlations_reuse_ranks_for_null():
    a, b = blurred_maps(6, 2), blurred_maps(6, 3)
    human, null, partner = paired_rank_correlations(a, b, seed=4)
    assert (partner != np.arange(6)).all()
    np.testing.assert_allclose(null, [stats.spearmanr(a[i], b[j])[0] for i, j in enumerate(partner)], atol=1e-9)
    np.testing.assert_allclose(human, [stats.spearmanr(x, y)[0] for x, y in zip(a, b)], atol=1e-9)


def simulated_clicks(n_images=12, n_participants=5, seed=0):
    """Participants click around an image-specific centre: human pairs agree, null pairs don't."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_images):
        centre = rng.uniform(20, 108, 2)
        for p in range(n_participants):
            xy = rng.normal(centre, 8, size=(25, 2))
            rows += [(f"img{i}", f"p{p}", x, y) for x, y in xy]
    return pd.DataFrame(rows, columns=["image_id", "participant_id", "x", "y"])


def test_inter_rater_reliability_beats_null_and_is_deterministic():
    clicks = simulated_clicks()
    kwargs = dict(shape=(128, 128), blur_size=15, chunk_images=5, seed=3)
    table = inter_rater_reliability(clicks, n_images=None, **kwargs)
    assert table.groupby("distribution").size().to_dict() == {"human": 12, "null": 12}
    null = table[table["distribution"] == "null"]
    assert (null["image_id"] != null["image_id_b"]).all()
    human_rho = table.loc[table["distribution"] == "human", "rho"]
    assert human_rho.mean() > 0.5 > null["rho"].mean()
    pd.testing.assert_frame_equal(table, inter_rater_reliability(clicks, n_images=None, **kwargs))
    # each human value is the scipy Spearman of the two participants' blurred maps
    row = table.iloc[0]
    maps = [
        blur_map(
            paint_clicks(
                *clicks[(clicks.image_id == row.image_id) & (clicks.participant_id == p)][["x", "y"]].to_numpy().T,
                shape=(128, 128),
            )[0],
            "box",
            15,
        )
        .astype(np.float32)
        .ravel()
        for p in (row.participant_a, row.participant_b)
    ]
    assert np.isclose(row.rho, stats.spearmanr(*maps)[0], atol=1e-9)
    assert len(inter_rater_reliability(clicks, n_images=4, **kwargs)) == 8


def test_inter_rater_needs_two_images_with_two_participants():
    clicks = simulated_clicks(n_images=1)
    with pytest.raises(InputError, match="at least 2 images"):
        inter_rater_reliability(clicks, shape=(128, 128))


def test_split_half_and_spearman_brown():
    clicks = simulated_clicks(n_images=4, n_participants=6)
    halves = split_half_reliability(clicks, n_iterations=3, shape=(128, 128), blur_size=15, seed=0)
    assert list(halves.columns) == ["iteration", "rho", "rho_spearman_brown", "n_images"]
    np.testing.assert_allclose(halves["rho_spearman_brown"], 2 * halves["rho"] / (1 + halves["rho"]))
    assert (halves["rho_spearman_brown"] >= halves["rho"]).all()
    assert spearman_brown(0.5) == pytest.approx(2 / 3)


def test_summary_bootstrap_and_fraction():
    per_image = pd.DataFrame({"rho": [0.2, 0.4, 0.6, 0.1, 0.1, 0.1], "distribution": ["human"] * 3 + ["null"] * 3})
    summary = summarize_reliability(per_image, n_boot=200, seed=0).set_index("distribution")
    assert summary.loc["human", "mean"] == pytest.approx(0.4)
    assert summary.loc["human", "ci_low"] <= 0.4 <= summary.loc["human", "ci_high"]
    assert summary.loc["null", "ci_low"] == summary.loc["null", "ci_high"] == pytest.approx(0.1)
    mean, low, high = bootstrap_mean_ci([1.0, np.nan, 3.0], n_boot=50)
    assert mean == 2 and 1 <= low <= high <= 3
    assert fraction_of_human_variability(0.29) == pytest.approx(0.5)
    np.testing.assert_allclose(
        fraction_of_human_variability([0.58, 0.1], ceiling=0.65753), [0.58 / 0.65753, 0.1 / 0.65753]
    )
    with pytest.raises(InputError, match="positive ceiling"):
        fraction_of_human_variability(0.3, ceiling=0)


@pytest.mark.filterwarnings("ignore::scipy.stats.ConstantInputWarning")
def test_counting_kernel_for_integer_maps_equals_scipy():
    """Exact box-blurred click counts take the compiled counting path; values must not change."""
    from clickme_analysis.maps import box_sums

    rng = np.random.default_rng(5)
    a = (
        np.stack(
            [
                box_sums(paint_clicks(*rng.normal(64, 15, (2, 30)), shape=(128, 128))[0].astype(int), 25)
                for _ in range(6)
            ]
        )
        .reshape(6, -1)
        .astype(np.int32)
    )
    b = np.roll(a, 1, axis=0) - 3  # other maps, shifted to negative values
    b[2] = 7  # a constant map: undefined correlation
    human, null, partner = paired_rank_correlations(a, b, seed=1)
    expected = [stats.spearmanr(x, y)[0] for x, y in zip(a, b)]
    np.testing.assert_allclose(human, expected, atol=1e-12)
    np.testing.assert_allclose(null, [stats.spearmanr(a[i], b[j])[0] for i, j in enumerate(partner)], atol=1e-12)
    np.testing.assert_allclose(spearman_rows(a, b), expected, atol=1e-12)
    assert np.isnan(human[2])


def _pinned_log() -> pd.DataFrame:
    """A small log with 2 to 6 participants per image, for the pinned values below."""
    rng = np.random.default_rng(1)
    rows = [
        (f"im{i:02d}", f"p{p}", *rng.normal([10 + 2 * i, 20 + i], 5, 2))
        for i in range(12)
        for p in range(2 + i % 5)
        for _ in range(1 + (i + p) % 4)
    ]
    return pd.DataFrame(rows, columns=["image_id", "participant_id", "x", "y"])


def test_split_half_measures_keep_their_values():
    """Values computed before the split-half code was shared (issue 21): same draws, same chunks."""
    clicks, paint = _pinned_log(), dict(shape=(40, 40), bubble_size=3, blur_size=7)
    raters = inter_rater_reliability(clicks, n_images=None, chunk_images=3, seed=2, **paint)
    sums = raters.groupby("distribution")["rho"].sum()
    assert sums.to_dict() == pytest.approx({"human": 4.532470189796, "null": 2.204192551345}, abs=1e-10)
    assert raters["image_id_b"].tolist()[-3:] == ["im02", "im07", "im10"]
    halves = split_half_reliability(clicks, n_iterations=3, chunk_images=2, seed=1, **paint)
    assert halves["rho"].tolist() == pytest.approx([0.522495510532, 0.460424947522, 0.482649305029], abs=1e-10)
    assert halves["n_images"].tolist() == [6, 6, 6]
    ceiling = split_half_ceiling(clicks, n_iterations=3, chunk_images=4, resize=30, crop=24, seed=3, **paint)
    assert ceiling["rho"].iloc[:4].tolist() == pytest.approx(
        [0.390497258201, 0.768774700626, 0.484012186508, 0.772882078587], abs=1e-10
    )
    assert ceiling["rho_floor"].iloc[-2:].tolist() == pytest.approx([0.572796783585, 0.618775285123], abs=1e-10)
    assert ceiling["image_id_floor"].tolist()[:5] == ["im03", "im03", "im03", "im00", "im05"]
    curve = reliability_curve(clicks, n_iterations=2, seed=4, **paint)
    assert curve.groupby(["distribution", "participants_per_image"])["rho"].sum().tolist() == pytest.approx(
        [0.803742112254, 0.578026024387, 0.964728579265, 0.365942218282, -0.033120772887, 0.067169674642], abs=1e-10
    )
