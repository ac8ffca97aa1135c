import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

from clickme_analysis.errors import InputError
from clickme_analysis.maps import (
    blur_map,
    bounding_box_map,
    box_sums,
    bubble_stamp,
    build_maps,
    filter_clicks,
    normalize_map,
    paint_clicks,
)


def test_square_bubble_is_14x14_and_accumulates():
    painted, outside = paint_clicks([100, 100], [50, 50], shape=(256, 256))
    assert outside == 0
    assert painted.sum() == 2 * 14 * 14 and painted.max() == 2
    rows, cols = np.nonzero(painted)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (43, 56, 93, 106)


def test_clicks_near_edge_are_clipped_and_outside_counted():
    painted, outside = paint_clicks([0, -1, 300, 5], [0, 5, 5, 256], shape=(256, 256))
    assert outside == 3
    assert painted.sum() == 7 * 7  # only the quarter of the bubble at (0, 0) inside the image


def test_disc_bubble_area_close_to_circle():
    assert abs(bubble_stamp(41, "disc").sum() - np.pi * 20.5**2) / (np.pi * 20.5**2) < 0.02


def test_box_blur_matches_mean_filter_and_keeps_mass_inside():
    painted, _ = paint_clicks([128], [128])
    blurred = blur_map(painted, "box", 49)
    assert np.isclose(blurred.sum(), painted.sum())
    assert np.allclose(blurred, ndimage.uniform_filter(painted.astype(float), 49))
    assert blurred.min() >= 0  # the filter's rounding residue is removed


def test_gaussian_blur_kernel_is_truncated_to_size():
    impulse = np.zeros((101, 101))
    impulse[50, 50] = 1
    out = blur_map(impulse, "gaussian", size=49, sigma=28)
    assert np.count_nonzero(out > 0) == 49 * 49
    assert np.isclose(out.sum(), 1)


def test_disc_blur_of_impulse_is_normalised_disc():
    impulse = np.zeros((64, 64))
    impulse[32, 32] = 1
    out = blur_map(impulse, "disc", size=9)
    disc = bubble_stamp(9, "disc")
    assert np.allclose(out[28:37, 28:37], disc / disc.sum())


def test_normalisations():
    m = np.array([[0.0, 1.0], [2.0, 1.0]])
    assert np.isclose(normalize_map(m, "sum").sum(), 1)
    assert normalize_map(m, "max").max() == 1
    z = normalize_map(m, "z")
    assert np.isclose(z.mean(), 0) and np.isclose(z.std(), 1)
    assert not normalize_map(np.zeros((2, 2)), "z").any()
    with pytest.raises(InputError, match="normalisation"):
        normalize_map(m, "l3")


def test_bounding_box_of_empty_map_is_empty():
    assert not bounding_box_map(np.zeros((3, 3))).any()


def test_bad_shapes_and_kernels():
    with pytest.raises(InputError, match="2-D"):
        blur_map(np.zeros((2, 2, 2)))
    with pytest.raises(InputError, match="kernel"):
        blur_map(np.zeros((2, 2)), "median")
    with pytest.raises(InputError, match="bubble shape"):
        paint_clicks([1], [1], bubble="star")
    with pytest.raises(InputError, match="differ in length"):
        paint_clicks([1, 2], [1])


def test_build_maps_means_over_participants_and_counts():
    clicks = pd.DataFrame(
        {
            "image_id": ["a", "a", "a", "b"],
            "participant_id": ["p", "p", "q", "p"],
            "x": [10, 10, 500, 5],
            "y": [10, 10, 10, 5],
        }
    )
    maps, stats = build_maps(clicks, shape=(32, 32), bubble_size=2, blur=None)
    assert maps["a"][10, 10] == 1.0  # p painted twice, q nothing inside: (2 + 0) / 2
    assert stats.to_dict("records") == [
        {"image_id": "a", "participant_id": "p", "n_clicks": 2, "n_outside": 0},
        {"image_id": "a", "participant_id": "q", "n_clicks": 1, "n_outside": 1},
        {"image_id": "b", "participant_id": "p", "n_clicks": 1, "n_outside": 0},
    ]


def test_filter_clicks_trims_by_time_and_drops_sparse_maps():
    clicks = pd.DataFrame(
        {
            "image_id": ["a"] * 4 + ["a", "b"],
            "participant_id": ["p"] * 4 + ["q", "p"],
            "x": [1, 2, 3, 4, 5, 6],
            "y": 0.0,
            "t": [30, 10, 20, 40, 0, 0],
        }
    )
    kept, excluded = filter_clicks(clicks, min_clicks=1, max_clicks=2)
    assert kept[["participant_id", "x"]].values.tolist() == [["p", 2], ["p", 3]]  # the first two by time
    assert excluded.values.tolist() == [["a", "q", 1], ["b", "p", 1]]
    maps, stats = build_maps(kept, shape=(8, 8), bubble_size=1, blur=None)
    assert stats[["image_id", "participant_id", "n_clicks"]].values.tolist() == [["a", "p", 2]]
    unfiltered, none = filter_clicks(clicks)
    assert len(unfiltered) == 6 and none.empty


@pytest.mark.parametrize("mode", ["reflect", "constant", "nearest", "mirror", "wrap"])
@pytest.mark.parametrize("size", [1, 4, 7])
def test_box_sums_equal_scipy_uniform_filter_times_area(mode, size):
    counts = np.random.default_rng(size).integers(0, 4, size=(13, 11))
    expected = ndimage.uniform_filter(counts.astype(float), size=size, mode=mode) * size**2
    np.testing.assert_array_equal(box_sums(counts, size, mode), np.round(expected).astype(np.int64))


def test_box_blur_of_counts_is_exact_so_equal_sums_tie():
    painted, _ = paint_clicks([40, 90], [40, 90], shape=(128, 128))
    blurred = blur_map(painted, "box", 49)
    # two bubbles with the same neighbourhood give bit-identical values (a running mean would not)
    assert blurred[40, 40] == blurred[90, 90]
    np.testing.assert_allclose(blurred, ndimage.uniform_filter(painted.astype(float), 49), atol=1e-12)
    with pytest.raises(InputError, match="integer array"):
        box_sums(np.zeros((3, 3)), 3)
