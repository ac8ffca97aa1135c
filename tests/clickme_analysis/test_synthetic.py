import json

import numpy as np
import pytest

from clickme_analysis.errors import InputError
from clickme_analysis.synthetic import demo_images, saliency_standin, simulate_clicks


def test_demo_images_are_balanced_and_parts_follow_mirroring():
    images, labels, parts = demo_images(per_category=6)
    assert labels["category"].value_counts().to_dict() == {"animal": 6, "non-animal": 6}
    assert all(im.shape == (256, 256, 3) and im.dtype == np.uint8 for im in images.values())
    np.testing.assert_array_equal(images["chelsea_mirror"], images["chelsea"][:, ::-1])
    np.testing.assert_allclose(parts["chelsea_mirror"][:, 0], 255 - parts["chelsea"][:, 0])
    with pytest.raises(InputError, match="per category"):
        demo_images(per_category=7)


def test_simulated_players_click_near_parts_and_are_seeded():
    _, _, parts = demo_images(per_category=1)
    clicks = simulate_clicks(parts, participants=(3, 3), clicks=(40, 40), skill=(1.0, 1.0), seed=1)
    assert clicks.groupby("image_id")["participant_id"].nunique().eq(3).all()
    chelsea = clicks[clicks.image_id == "chelsea"][["x", "y"]].to_numpy()
    distance = np.min(np.linalg.norm(chelsea[:, None] - parts["chelsea"][None, :, :2], axis=2), axis=1)
    assert np.median(distance) < 40  # paths run between parts
    assert clicks.equals(simulate_clicks(parts, participants=(3, 3), clicks=(40, 40), skill=(1.0, 1.0), seed=1))


def test_saliency_standin_is_a_unit_max_map():
    images, _, _ = demo_images(per_category=1)
    m = saliency_standin(images["coffee"])
    assert m.shape == (256, 256) and m.dtype == np.float32 and np.isclose(m.max(), 1) and m.min() >= 0


def test_simulated_clicks_per_map_match_real_clickme2_medians(realdata):
    """The demo players paint as many points per map as real ClickMe 2.0 players (median)."""
    folder = realdata / "clickme2_co3d_click_medians"
    real = [
        json.loads((folder / name).read_text())["all"]
        for name in ("click_medians.json", "co3d_train_medians.json", "co3d_val_medians.json")
    ]
    _, _, parts = demo_images(per_category=6)
    per_map = simulate_clicks(parts, seed=0).groupby(["image_id", "participant_id"]).size()
    assert min(real) <= per_map.median() <= max(real)
