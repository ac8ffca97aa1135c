"""The demo's alignment stage on a tiny stand-in of the earlier stages' outputs."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from clickme_analysis.archive import save_maps
from clickme_analysis.errors import InputError

pytest.importorskip("timm")


def _earlier_stages(root):
    from stimuli.build import StimulusConfig, build_stimulus_set

    rng = np.random.default_rng(0)
    clickme = root / "clickme"
    (clickme / "images").mkdir(parents=True)
    ids = ["chelsea", "horse", "coffee", "coins"]
    for image_id in ids:
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(clickme / "images" / f"{image_id}.png")
    save_maps(clickme / "maps.npz", {i: rng.random((40, 40)) for i in ids})
    pd.DataFrame(
        {
            "image_id": ids,
            "label": ["tabby cat", "horse", "espresso", "coin"],
            "category": ["animal", "animal", "non-animal", "non-animal"],
        }
    ).to_csv(clickme / "labels.csv", index=False)
    pd.DataFrame(
        [
            {"image_id": i, "participant_id": f"p{p}", "x": x, "y": y}
            for i in ids
            for p in range(3)
            for x, y in rng.integers(0, 40, (6, 2))
        ]
    ).to_csv(clickme / "clicks.csv", index=False)
    build_stimulus_set(
        clickme / "images",
        {"clickme": clickme / "maps.npz"},
        root / "stimuli",
        labels=clickme / "labels.csv",
        config=StimulusConfig(n_levels=3, size=32),
        progress=False,
    )
    (root / "experiment").mkdir()
    pd.DataFrame(
        {"group": ["clickme"], "threshold": [5.0], "threshold_ci_low": [3.0], "threshold_ci_high": [8.0]}
    ).to_csv(root / "experiment" / "psychometric_params.csv", index=False)


@pytest.mark.slow
def test_alignment_demo_stage(tmp_path):
    from models.alignment import run_demo

    _earlier_stages(tmp_path)
    run_demo(tmp_path, seed=0, progress=False)
    out = tmp_path / "alignment"
    summary = pd.read_csv(out / "alignment_summary.csv")
    assert set(summary["method"]) == {"saliency", "smoothgrad", "integrated_gradients", "layer_gradcam"}
    assert (summary["n_labelled"] == 3).all()  # tabby cat, horse (as sorrel), espresso; no coin
    assert "click logs" in summary["ceiling_source"].iloc[0]
    labels = pd.read_csv(out / "imagenet_labels.csv", keep_default_na=False)
    assert dict(zip(labels["image_id"], labels["label"]))["horse"] == "sorrel"
    thresholds = pd.read_csv(out / "thresholds.csv")
    assert list(thresholds["model"]) == ["human", "resnet18 (random weights)"]
    assert (out / "weights" / "resnet18_random.pth").is_file()


def test_alignment_demo_needs_the_clickme_stage(tmp_path):
    from models.alignment import run_demo

    with pytest.raises(InputError, match="clickme stage"):
        run_demo(tmp_path, progress=False)


@pytest.mark.slow
def test_alignment_demo_draws_gala_before_and_after_maps(tmp_path, tiny_config):
    """Issue 20 item 5: the demo scores ``gala`` (no maps) beside ``gala_clickme`` and names it as
    its before, so the demo report's alignment figure shows an arrow."""
    from models.alignment import run_demo
    from models.train import train

    _earlier_stages(tmp_path)
    for name, lam in (("gala", 0.0), ("gala_clickme", 6.0)):
        train(tiny_config.replace(epochs=1, lam=lam, out=str(tmp_path / "models" / "runs" / name)))
    run_demo(tmp_path, seed=0, progress=False)
    summary = pd.read_csv(tmp_path / "alignment" / "alignment_summary.csv", keep_default_na=False)
    pairs = set(zip(summary["model"], summary["harmonized_from"]))
    assert ("gala_clickme (toolkit)", "gala (toolkit)") in pairs and ("gala (toolkit)", "") in pairs
